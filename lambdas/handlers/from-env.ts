/** Builds the app's dependencies from the Lambda environment (set by the CDK stack). */
import { createApp } from '../app.js';
import { createDocumentClient, createS3Client } from '../store/aws-clients.js';
import type { Hono } from 'hono';

export function createAppFromEnv(env: NodeJS.ProcessEnv = process.env): Hono {
  const region = env.AWS_REGION ?? 'us-east-1';
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  const buckets = JSON.parse(env.BUCKETS ?? '{}') as Record<string, string>;
  return createApp({ ddb: createDocumentClient({ region }), tableName, s3: createS3Client({ region }), buckets });
}
