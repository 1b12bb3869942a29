/**
 * The presigning half of `ObjectStorage` (see object-storage.ts), without an S3 client: one
 * presigner (presign.ts) per storage region, signed for the bucket's region with the signing
 * credentials.
 */
import { STORAGE_REGIONS } from '../domain/regions.js';
import type { ObjectStorage, ObjectStorageConfig, SignedRequest } from './object-storage.js';
import { createPresigner, type Presign, type PresignInput } from './presign.js';

/** The presigning calls of `ObjectStorage`, and its regions. */
export type PresignStorage = Pick<ObjectStorage, 'regions' | 'presignPut' | 'presignCreateMultipart' | 'presignUploadParts' | 'presignGet' | 'presignHead'>;

const SSE_C_ALGORITHM = 'AES256';
const CONTENT_TYPE = 'application/zip';

/** AWS region of a storage region's bucket (with a custom endpoint: its region, default us-east-1). */
export function awsRegionOf(config: ObjectStorageConfig, region: string): string {
  return config.endpoint
    ? config.endpointRegion ?? 'us-east-1'
    : STORAGE_REGIONS.find((r) => r.id === region)?.awsRegion ?? 'us-east-1';
}

/** The bucket of a storage region; throws for a region without one. */
export function bucketOf(config: ObjectStorageConfig, region: string): string {
  const b = config.buckets[region];
  if (!b) throw new Error(`No bucket configured for region ${region}`);
  return b;
}

/** Presigned URLs over the configured buckets. */
export function createPresignStorage(config: ObjectStorageConfig): PresignStorage {
  const presigners = new Map<string, Presign>();
  const presignerFor = (region: string): Presign => {
    let p = presigners.get(region);
    if (!p) {
      // AWS: the global virtual-hosted host `<bucket>.s3.amazonaws.com`, signed for the bucket's region.
      p = createPresigner({ region: awsRegionOf(config, region), endpoint: config.endpoint, credentials: config.signingCredentials ?? config.credentials });
      presigners.set(region, p);
    }
    return p;
  };
  const sign = (region: string, input: PresignInput, expiresIn: number): Promise<string> => presignerFor(region)(input, expiresIn);
  const sse = (encrypted: boolean) => (encrypted ? { sseAlgorithm: SSE_C_ALGORITHM } : {});
  const sseHeaders = (encrypted: boolean) => (encrypted ? [`x-amz-server-side-encryption-customer-algorithm: ${SSE_C_ALGORITHM}`] : []);

  return {
    regions: new Set(Object.keys(config.buckets)),

    async presignPut(region, key, encrypted, expiresIn): Promise<SignedRequest> {
      const url = await sign(region, { op: 'PutObject', bucket: bucketOf(config, region), key, contentType: CONTENT_TYPE, ...sse(encrypted) }, expiresIn);
      return { url, headers: [`Content-Type: ${CONTENT_TYPE}`, ...sseHeaders(encrypted)] };
    },

    async presignCreateMultipart(region, key, encrypted, expiresIn) {
      const url = await sign(region, { op: 'CreateMultipartUpload', bucket: bucketOf(config, region), key, contentType: CONTENT_TYPE, ...sse(encrypted) }, expiresIn);
      // curl's empty POST would otherwise set the object's type to x-www-form-urlencoded.
      return { url, headers: [`Content-Type: ${CONTENT_TYPE}`, ...sseHeaders(encrypted)] };
    },

    async presignUploadParts(region, key, uploadId, parts, encrypted, expiresIn) {
      const bucket = bucketOf(config, region);
      const urls = await Promise.all(Array.from({ length: parts }, (_, i) =>
        sign(region, { op: 'UploadPart', bucket, key, uploadId, partNumber: i + 1, ...sse(encrypted) }, expiresIn)));
      return { url: urls[0] ?? '', urls, headers: sseHeaders(encrypted) };
    },

    async presignGet(region, key, encrypted, expiresIn) {
      const url = await sign(region, { op: 'GetObject', bucket: bucketOf(config, region), key, ...sse(encrypted) }, expiresIn);
      return { url, headers: sseHeaders(encrypted) };
    },

    async presignHead(region, key, encrypted, expiresIn) {
      const url = await sign(region, { op: 'HeadObject', bucket: bucketOf(config, region), key, ...sse(encrypted) }, expiresIn);
      return { url, headers: sseHeaders(encrypted) };
    },
  };
}
