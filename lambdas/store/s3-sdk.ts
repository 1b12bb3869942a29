/**
 * The S3 SDK surface object storage uses. `object-storage.ts` imports it dynamically, so a Lambda
 * bundle compiles and evaluates S3's schemas (about 100 KB) on the first S3 call, not at cold
 * start: site requests that never reach S3 (most of the protocol) do not pay for it.
 */
export {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectsCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  ListPartsCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
export { getSignedUrl } from '@aws-sdk/s3-request-presigner';
export { createS3Client } from './s3-client.js';
