/** The DynamoDB client factory (apart from S3's, so the account bundle carries no S3 SDK). */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Options of `createDocumentClient`. */
export interface DynamoDbClientOptions {
  region: string;
  /** Custom endpoint (DynamoDB Local); omit for AWS. */
  endpoint?: string;
  /** Static credentials or a provider; omit for the SDK's default chain. */
  credentials?: DynamoDBClientConfig['credentials'];
}

/** A DynamoDB document client that drops `undefined` attributes instead of failing. */
export function createDocumentClient(opts: DynamoDbClientOptions): DynamoDBDocumentClient {
  const base = new DynamoDBClient({ region: opts.region, endpoint: opts.endpoint, credentials: opts.credentials });
  return DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
}
