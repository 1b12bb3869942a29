/**
 * Builds the app's dependencies from the Lambda environment (set by the CDK stack).
 *
 * Environment variables:
 *   TABLE_NAME               required  DynamoDB table (schema: store/table-definition.ts)
 *   BUCKETS                  required  JSON object, storage region id → bucket name, e.g.
 *                                      {"eu":"vault-eu-123","usw":"vault-usw-123"}; only these regions are offered
 *   VERIFY_SECRET            required for the account function (≥ 32 characters): HS256 secret of
 *                                      email-verification tokens; elsewhere a random one is used
 *   PUBLIC_URL               optional  public base URL of the API, for verification links
 *   SIGNING_ROLE_ARN         optional  role assumed (long session) only to presign S3 URLs, so URLs
 *                                      outlive the Lambda's own short role session
 *   SIGNING_SESSION_SECONDS  optional  session length for SIGNING_ROLE_ARN (default 43200 = 12 h)
 *   MAX_PRESIGN_SECONDS      optional  cap of presigned URL lifetimes (default 21600 = 6 h with
 *                                      SIGNING_ROLE_ARN, as sessions are refreshed when < 6 h remain;
 *                                      3600 without it)
 *   S3_ENDPOINT              optional  custom S3 endpoint (path-style URLs), e.g. Ceph RGW; omit on AWS
 *   S3_REGION                optional  signing region with S3_ENDPOINT (default us-east-1)
 *   DDB_ENDPOINT             optional  custom DynamoDB endpoint (DynamoDB Local)
 *   LOG_VERIFICATION_LINKS   optional  "true": print verification links to the log (local/dev only)
 *   OPS_STALE_BACKUP_HOURS   optional  ops: inprogress backups untouched this long are failed (default 48)
 *   OPS_STALE_UPLOAD_DAYS    optional  ops: multipart uploads older than this are aborted (default 7)
 *   AWS_REGION               set by Lambda: region of the table
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { createApp, type AppDeps } from '../app.js';
import type { AppEnv } from '../routes/deps.js';
import { createDocumentClient } from '../store/aws-clients.js';
import { createObjectStorage } from '../store/object-storage.js';
import { createRepository } from '../store/repository.js';
import { assumedRoleSigningCredentials } from '../store/signing-credentials.js';

function parseBuckets(raw: string | undefined): Record<string, string> {
  const parsed: unknown = JSON.parse(raw ?? '{}');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new Error('BUCKETS must be a JSON object of region id → bucket name');
  }
  return parsed as Record<string, string>;
}

/** Dependencies of the app from `env`. */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): AppDeps {
  const region = env.AWS_REGION ?? 'us-east-1';
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  const buckets = parseBuckets(env.BUCKETS);
  const roleArn = env.SIGNING_ROLE_ARN;
  const sessionSeconds = Number(env.SIGNING_SESSION_SECONDS ?? 43_200);
  const maxPresignSeconds = Number(env.MAX_PRESIGN_SECONDS ?? (roleArn ? Math.floor(sessionSeconds / 2) : 3600));
  const signingCredentials = roleArn
    ? assumedRoleSigningCredentials({ roleArn, sessionSeconds, minRemainingSeconds: maxPresignSeconds })
    : undefined;
  const secret = env.VERIFY_SECRET;
  if (!secret) console.warn('VERIFY_SECRET is not set: verification links will not survive this instance');
  else if (secret.length < 32) throw new Error('VERIFY_SECRET must be at least 32 characters');
  const logLinks = env.LOG_VERIFICATION_LINKS === 'true';
  return {
    repo: createRepository(createDocumentClient({ region, endpoint: env.DDB_ENDPOINT }), tableName),
    storage: createObjectStorage({ buckets, endpoint: env.S3_ENDPOINT, endpointRegion: env.S3_REGION, signingCredentials }),
    verifySecret: secret ? createHash('sha256').update(secret).digest() : randomBytes(32),
    publicUrl: env.PUBLIC_URL,
    maxPresignSeconds,
    sendVerification: (email, link) => {
      // The link is a bearer token: only print it when explicitly asked (local runs).
      console.log(JSON.stringify({ level: 'info', msg: 'verification issued', email: email.replace(/^(.).*@/, '$1***@'), ...(logLinks ? { link } : {}) }));
    },
  };
}

/** The app over `depsFromEnv(env)`. */
export function createAppFromEnv(env: NodeJS.ProcessEnv = process.env): Hono<AppEnv> {
  return createApp(depsFromEnv(env));
}
