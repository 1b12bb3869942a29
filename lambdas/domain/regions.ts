/**
 * Storage regions: one S3 bucket per region. The API offers them to sites as `buckets[]`; the
 * CDK app deploys one bucket (and stack) per entry. `id` is what the plugin sends back as
 * `bucket`; `awsRegion` is where the bucket lives. `sseC` says whether passphrase (SSE-C)
 * backups may be stored there: the plugin only sends SSE-C keys to `<bucket>.s3.amazonaws.com`,
 * the legacy global host, which does not serve buckets in opt-in regions (ap-southeast-4).
 */
export interface StorageRegion {
  id: string;
  label: string;
  awsRegion: string;
  sseC: boolean;
}

/** Every storage region we can run a bucket in. */
export const STORAGE_REGIONS = [
  { id: 'eu', label: 'Europe', awsRegion: 'eu-central-1', sseC: true },
  { id: 'usw', label: 'Western North America', awsRegion: 'us-west-1', sseC: true },
  { id: 'ap', label: 'Asia-Pacific', awsRegion: 'ap-southeast-2', sseC: true },
  { id: 'use2', label: 'US (Ohio)', awsRegion: 'us-east-2', sseC: true },
  { id: 'usw2', label: 'US (Oregon)', awsRegion: 'us-west-2', sseC: true },
  { id: 'ca', label: 'Canada', awsRegion: 'ca-central-1', sseC: true },
  { id: 'au', label: 'Australia', awsRegion: 'ap-southeast-4', sseC: false },
  { id: 'uk', label: 'UK', awsRegion: 'eu-west-2', sseC: true },
] as const satisfies readonly StorageRegion[];

/** Id of a storage region. */
export type StorageRegionId = (typeof STORAGE_REGIONS)[number]['id'];

/** The region with this id, or undefined. */
export function findRegion(id: string): StorageRegion | undefined {
  return STORAGE_REGIONS.find((r) => r.id === id);
}
