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
 *   SIGNING_SECRET_ARN       optional  Secrets Manager secret, JSON {"accessKeyId","secretAccessKey"} of a
 *                                      dedicated IAM user used only to presign S3 URLs (URLs up to 7 days)
 *   SIGNING_ROLE_ARN         optional  instead: role assumed only to presign S3 URLs; its session is reused
 *                                      while at least MAX_PRESIGN_SECONDS of it remain
 *   SIGNING_SESSION_SECONDS  optional  session length for SIGNING_ROLE_ARN (default 3600: the role-chaining
 *                                      maximum when assumed from a Lambda role; up to 43200 otherwise)
 *   MAX_PRESIGN_SECONDS      optional  cap of presigned URL lifetimes (default: 604800 with SIGNING_SECRET_ARN,
 *                                      half the session with SIGNING_ROLE_ARN, 900 with neither since the
 *                                      Lambda's own session may end any time)
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
import { assumedRoleSigningCredentials, secretSigningCredentials } from '../store/signing-credentials.js';

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
  const secretArn = env.SIGNING_SECRET_ARN;
  const sessionSeconds = Number(env.SIGNING_SESSION_SECONDS ?? 3600);
  const defaultMax = secretArn ? 7 * 86_400 : roleArn ? Math.floor(sessionSeconds / 2) : 900;
  const maxPresignSeconds = Number(env.MAX_PRESIGN_SECONDS ?? defaultMax);
  if (!Number.isFinite(maxPresignSeconds) || maxPresignSeconds < 60) throw new Error('MAX_PRESIGN_SECONDS must be a number ≥ 60');
  const signingCredentials = secretArn
    ? secretSigningCredentials({ secretArn })
    : roleArn
      ? assumedRoleSigningCredentials({ roleArn, sessionSeconds, minRemainingSeconds: Math.min(maxPresignSeconds, sessionSeconds - 300) })
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
