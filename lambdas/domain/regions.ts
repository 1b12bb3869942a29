/**
 * Storage regions: one S3 bucket per region. The API offers them to sites as `buckets[]`; the
 * CDK app deploys one bucket (and stack) per entry. `id` is what the plugin sends back as
 * `bucket`; `awsRegion` is where the bucket lives.
 */
export interface StorageRegion {
  id: string;
  label: string;
  awsRegion: string;
}

export const STORAGE_REGIONS = [
  { id: 'eu', label: 'Europe', awsRegion: 'eu-central-1' },
  { id: 'usw', label: 'Western North America', awsRegion: 'us-west-1' },
  { id: 'ap', label: 'Asia-Pacific', awsRegion: 'ap-southeast-2' },
  { id: 'use2', label: 'US (Ohio)', awsRegion: 'us-east-2' },
  { id: 'usw2', label: 'US (Oregon)', awsRegion: 'us-west-2' },
  { id: 'ca', label: 'Canada', awsRegion: 'ca-central-1' },
  { id: 'au', label: 'Australia', awsRegion: 'ap-southeast-4' },
  { id: 'uk', label: 'UK', awsRegion: 'eu-west-2' },
] as const satisfies readonly StorageRegion[];

export type StorageRegionId = (typeof STORAGE_REGIONS)[number]['id'];
