/**
 * createApp(deps): the Hono app behind every Lambda and the local server. Routes are composed
 * here; errors are mapped to `{"message": "..."}` in one place.
 */
import { Hono } from 'hono';
import { ListBucketsCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface AppDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  s3: S3Client;
  /** Bucket name per storage region id. */
  buckets: Record<string, string>;
  now?: () => Date;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get('/health', async (c) => {
    await deps.ddb.send(new DescribeTableCommand({ TableName: deps.tableName }));
    const first = Object.values(deps.buckets)[0];
    if (first) await deps.s3.send(new HeadBucketCommand({ Bucket: first }));
    else await deps.s3.send(new ListBucketsCommand({}));
    return c.json({ status: 'ok' });
  });

  app.notFound((c) => c.json({ message: 'Not found' }, 404));
  app.onError((_err, c) => c.json({ message: 'Internal error' }, 500));
  return app;
}
