/** Factories for the AWS SDK clients the API uses; the only place their options are chosen. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** Options shared by the client factories. */
export interface AwsClientOptions {
  region: string;
  /** Custom endpoint (DynamoDB Local, Ceph RGW, s3rver); omit for AWS. */
  endpoint?: string;
  /** Static credentials or a provider; omit for the SDK's default chain. */
  credentials?: S3ClientConfig['credentials'];
}

/**
 * An S3 client that never adds flexible checksums: with SDK defaults, presigned upload URLs carry
 * the CRC32 of an empty body and stream uploads are sent aws-chunked, which S3-compatible stores
 * reject or store corrupted (local-services.md E6).
 */
export function createS3Client(opts: AwsClientOptions & { forcePathStyle?: boolean }): S3Client {
  return new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
    credentials: opts.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A DynamoDB document client that drops `undefined` attributes instead of failing. */
export function createDocumentClient(opts: AwsClientOptions): DynamoDBDocumentClient {
  const base = new DynamoDBClient({ region: opts.region, endpoint: opts.endpoint, credentials: opts.credentials });
  return DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
}
