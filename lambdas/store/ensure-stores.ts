/** Creates the table and buckets when they do not exist (local server and tests only; AWS uses CDK). */
import { CreateTableCommand, DescribeTableCommand, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { GSI1, OPS_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from './table-definition.js';

/** Creates the table (with gsi1, the ops index and TTL) unless it exists. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  await client.send(new CreateTableCommand({
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [TABLE_KEYS.partition, TABLE_KEYS.sort, GSI1.partition, GSI1.sort, OPS_INDEX.partition, OPS_INDEX.sort].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
    KeySchema: [{ AttributeName: TABLE_KEYS.partition, KeyType: 'HASH' }, { AttributeName: TABLE_KEYS.sort, KeyType: 'RANGE' }],
    GlobalSecondaryIndexes: [{
      IndexName: GSI1.name,
      KeySchema: [{ AttributeName: GSI1.partition, KeyType: 'HASH' }, { AttributeName: GSI1.sort, KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    }, {
      IndexName: OPS_INDEX.name,
      KeySchema: [{ AttributeName: OPS_INDEX.partition, KeyType: 'HASH' }, { AttributeName: OPS_INDEX.sort, KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    }],
  }));
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }));
}

/** Creates each bucket unless it exists. */
export async function ensureBuckets(s3: S3Client, buckets: string[]): Promise<void> {
  for (const Bucket of buckets) {
    try {
      await s3.send(new HeadBucketCommand({ Bucket }));
    } catch {
      await s3.send(new CreateBucketCommand({ Bucket }));
    }
  }
}
