/**
 * Child process for the API benchmark (bundled by esbuild, run under plain node): serves either
 * the real API (createApp over DynamoDB Local + Ceph RGW, built like test/support/api-server.ts)
 * or the baseline — a bare Hono app doing one DynamoDB GetItem per request on the same table.
 * The API runs with rate limits on, as the Lambda functions do (the limits raised so that the
 * load is never refused: the bench measures the work, not the refusals).
 * Prints `{"port": N}` once listening. Settings in env BENCH_API (JSON).
 */
import { serve } from '@hono/node-server';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { createApp } from '../lambdas/app.js';
import type { RateLimits } from '../lambdas/domain/rate-limits.js';
import { createObjectStorage } from '../lambdas/store/object-storage.js';
import { createRepository } from '../lambdas/store/repository.js';
import { TABLE_KEYS } from '../lambdas/store/table-definition.js';

export interface ApiChildSettings {
  mode: 'api' | 'baseline';
  ddbEndpoint: string;
  rgw: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  tableName: string;
  buckets: Record<string, string>;
}

/** The deployed code path (rate limiting and metering on), with limits no bench run reaches. */
const BENCH_RATE_LIMITS: RateLimits = {
  anonymousPerIp: { limit: 1_000_000, windowSeconds: 60 },
  perAccount: { limit: 1_000_000, windowSeconds: 60 },
};

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.BENCH_API ?? '{}') as ApiChildSettings;
  const raw = new DynamoDBClient({ endpoint: cfg.ddbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  let fetchFn: (req: Request) => Response | Promise<Response>;
  if (cfg.mode === 'api') {
    const app = createApp({
      repo: createRepository(DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }), cfg.tableName),
      storage: createObjectStorage({ buckets: cfg.buckets, endpoint: cfg.rgw.endpoint, credentials: { accessKeyId: cfg.rgw.accessKeyId, secretAccessKey: cfg.rgw.secretAccessKey } }),
      verifySecret: randomBytes(32),
      maxPresignSeconds: 3600,
      sendVerification: () => undefined,
      rateLimits: { limits: BENCH_RATE_LIMITS, clientIp: () => '127.0.0.1' },
    });
    fetchFn = app.fetch;
  } else {
    const Key = { [TABLE_KEYS.partition]: { S: 'BENCH#baseline' }, [TABLE_KEYS.sort]: { S: 'BENCH' } };
    await raw.send(new PutItemCommand({ TableName: cfg.tableName, Item: { ...Key, value: { S: 'x'.repeat(200) } } }));
    const app = new Hono();
    app.get('/baseline', async (c) => {
      const r = await raw.send(new GetItemCommand({ TableName: cfg.tableName, Key }));
      return c.json({ ok: Boolean(r.Item) });
    });
    fetchFn = app.fetch;
  }
  const server = serve({ fetch: fetchFn, port: 0, hostname: '127.0.0.1' }, () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
