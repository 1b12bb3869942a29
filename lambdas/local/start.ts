/**
 * `npm start`: the API on http://127.0.0.1:8787 (PORT) over DynamoDB Local and s3rver, with data
 * kept in .vault-data/ across restarts. Ctrl-C stops every child process.
 */
import { serve } from '@hono/node-server';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import S3rver from 's3rver';
import { startDynamoDbLocal, freePort, reapOrphans } from '../../scripts/services/index.js';
import { createApp } from '../app.js';
import { DEFAULT_RATE_LIMITS } from '../domain/rate-limits.js';
import { STORAGE_REGIONS } from '../domain/regions.js';
import { createS3Client } from '../store/aws-clients.js';
import { ensureBuckets, ensureTable } from '../store/ensure-stores.js';
import { createObjectStorage } from '../store/object-storage.js';
import { createRepository } from '../store/repository.js';
import { createHash } from 'node:crypto';
import { startLocalSmtp } from '../mail/local-smtp.js';
import { smtpMailer, smtpSettingsFromEnv } from '../mail/mailer.js';
import { createSigninStore } from '../store/signin-store.js';
import { nodeClientIp } from './client-ip.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_REQUEST_CHECKSUM_CALCULATION ??= 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION ??= 'WHEN_REQUIRED';

const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

async function main(): Promise<void> {
  reapOrphans();
  const t0 = Date.now();
  const dataDir = resolve(process.env.VAULT_DATA_DIR ?? '.vault-data');
  mkdirSync(`${dataDir}/ddb`, { recursive: true });
  mkdirSync(`${dataDir}/s3`, { recursive: true });
  const port = Number(process.env.PORT ?? 8787);
  const host = process.env.HOST ?? '127.0.0.1';

  const ddbLocal = await startDynamoDbLocal({ dataDir: `${dataDir}/ddb` });
  log(`DynamoDB Local on ${ddbLocal.endpoint} (data in ${dataDir}/ddb)`);

  const s3Port = Number(process.env.S3_PORT ?? (await freePort()));
  const s3rver = new S3rver({ address: '127.0.0.1', port: s3Port, directory: `${dataDir}/s3`, silent: true });
  await s3rver.run();
  const s3Endpoint = `http://127.0.0.1:${s3Port}`;
  log(`s3rver on ${s3Endpoint} (data in ${dataDir}/s3; signatures and SSE-C are NOT enforced locally)`);

  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const raw = new DynamoDBClient({ endpoint: ddbLocal.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const tableName = process.env.TABLE_NAME ?? 'vault';
  await ensureTable(raw, tableName);
  const s3 = createS3Client({ endpoint: s3Endpoint, region: 'us-east-1', credentials });
  const buckets = Object.fromEntries(STORAGE_REGIONS.map((r) => [r.id, `vault-local-${r.id}`]));
  await ensureBuckets(s3, Object.values(buckets));

  // Sign-in mail: to a real SMTP server when SMTP_HOST is set, else to the embedded one, which keeps
  // every message as an .eml file and never relays it.
  const smtpSettings = smtpSettingsFromEnv();
  const localSmtp = smtpSettings ? undefined : await startLocalSmtp(`${dataDir}/mail`, log);
  if (localSmtp) log(`mail: SMTP on 127.0.0.1:${localSmtp.port}, messages kept in ${localSmtp.dir}`);
  const mailer = smtpMailer(smtpSettings ?? { host: '127.0.0.1', port: localSmtp?.port ?? 0, from: 'Vault Cloud <no-reply@localhost>' });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });

  const app = createApp({
    repo: createRepository(doc, tableName),
    signin: { store: createSigninStore(doc, tableName), mailer, clientIp: nodeClientIp },
    // The same limits as on AWS (RATE_LIMITS=off disables them), per socket address.
    ...(process.env.RATE_LIMITS === 'off' ? {} : { rateLimits: { limits: DEFAULT_RATE_LIMITS, clientIp: (c) => nodeClientIp(c) ?? 'unknown' } }),
    storage: createObjectStorage({ buckets, endpoint: s3Endpoint, credentials }),
    verifySecret: createHash('sha256').update(process.env.VERIFY_SECRET ?? 'vault-cloud-local-development-secret').digest(),
    publicUrl: `http://${host}:${port}`,
    // Locally the verification link is printed instead of mailed.
    sendVerification: (email, link) => {
      log(`verify ${email}: ${link}`);
    },
  });
  const server = serve({ fetch: app.fetch, port, hostname: host });
  const url = `http://${host}:${port}`;
  // DynamoDB Local and s3rver listen on free ports: tools (the operator CLI, scripts/admin.ts) find them here.
  const endpointsFile = `${dataDir}/endpoints.json`;
  writeFileSync(endpointsFile, `${JSON.stringify({ api: url, dynamodb: ddbLocal.endpoint, s3: s3Endpoint, table: tableName }, null, 2)}\n`);
  log(`Vault Cloud API ready on ${url} in ${Date.now() - t0} ms`);
  log(`Get an API key in the browser: ${url}/getapikey?siteurl=<your Moodle URL> (framed by the Vault plugin), or`);
  log(`register an account:  curl -s -X POST ${url}/account/register -H 'Content-Type: application/json' -d '{"email":"you@example.com"}'`);
  log(`Then point tool_vault (apiurl) or vault-agent (--api-url) at ${url}. Ctrl-C stops everything.`);
  log(`Operator CLI: npm run admin -- create-account --email you@example.com --plan pro (stores in ${endpointsFile})`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping ...');
    rmSync(endpointsFile, { force: true });
    server.close();
    mailer.close?.();
    await localSmtp?.close();
    await s3rver.close();
    await ddbLocal.stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
