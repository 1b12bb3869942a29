/** The S3 client factory: the only place its options are chosen. */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** Options of `createS3Client`. */
export interface S3ClientOptions {
  region: string;
  /** Custom endpoint (Ceph RGW, s3rver); omit for AWS. */
  endpoint?: string;
  /** Static credentials or a provider; omit for the SDK's default chain. */
  credentials?: S3ClientConfig['credentials'];
  /** Path-style URLs (default: with a custom endpoint). */
  forcePathStyle?: boolean;
}

/**
 * An S3 client that never adds flexible checksums: with SDK defaults, presigned upload URLs carry
 * the CRC32 of an empty body and stream uploads are sent aws-chunked, which S3-compatible stores
 * reject or store corrupted (local-services.md E6).
 */
export function createS3Client(opts: S3ClientOptions): S3Client {
  return new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
    credentials: opts.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
