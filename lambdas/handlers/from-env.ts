/**
 * Builds each function's dependencies from the Lambda environment (set by the CDK stack):
 * `accountDepsFromEnv` (account-env.ts), `siteDepsFromEnv` (site-env.ts), `opsDepsFromEnv`
 * (ops-env.ts), from the parts they share here. Each builds only what its function uses, so the
 * account bundle holds no S3 code, no bundle but site's holds signing code and no bundle but
 * account's holds mail code. This header is the list of every variable.
 *
 * Environment variables:
 *   TABLE_NAME               required  DynamoDB table (schema: store/table-definition.ts)
 *   BUCKETS                  site, ops JSON object, storage region id → bucket name, e.g.
 *                                      {"eu":"vault-eu-123","usw":"vault-usw-123"}; only these regions are offered
 *   VERIFY_SECRET            account (≥ 32 characters): HS256 secret of email-verification tokens;
 *                                      without it a random per-instance one is used (with a warning);
 *                                      the other functions do not read it
 *   PUBLIC_URL               optional  account: public base URL of the API, for verification links
 *   SIGNING_SECRET_ARN       optional  site: Secrets Manager secret, JSON {"accessKeyId","secretAccessKey"} of a
 *                                      dedicated IAM user used only to presign S3 URLs (URLs up to 7 days)
 *   SIGNING_ROLE_ARN         optional  instead: role assumed only to presign S3 URLs; its session is reused
 *                                      while at least MAX_PRESIGN_SECONDS of it remain
 *   SIGNING_SESSION_SECONDS  optional  session length for SIGNING_ROLE_ARN (default 3600: the role-chaining
 *                                      maximum when assumed from a Lambda role; up to 43200 otherwise)
 *   MAX_PRESIGN_SECONDS      optional  cap of presigned URL lifetimes (default: 604800 with SIGNING_SECRET_ARN,
 *                                      half the session with SIGNING_ROLE_ARN, 900 with neither since the
 *                                      Lambda's own session may end any time)
 *   S3_ENDPOINT              optional  site, ops: custom S3 endpoint (path-style URLs), e.g. Ceph RGW; omit on AWS
 *   S3_REGION                optional  signing region with S3_ENDPOINT (default us-east-1)
 *   DDB_ENDPOINT             optional  custom DynamoDB endpoint (DynamoDB Local)
 *   LOG_VERIFICATION_LINKS   optional  "true": print verification links to the log (local/dev only)
 *   MAIL_FROM                optional  account: sender of sign-in codes; with it (and no SMTP_HOST) mail goes
 *                                      through Amazon SES (a verified identity); without either, the
 *                                      /signin routes answer 503 (docs/web.md)
 *   SES_CONFIGURATION_SET    optional  account: SES configuration set for sign-in mail
 *   SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_REQUIRE_TLS, SMTP_USER, SMTP_PASSWORD
 *                            optional  account: send through this SMTP server instead of SES (self-hosting)
 *   DIRECT_REGISTER          optional  account: "false" turns POST /account/register off (docs/web.md)
 *   RATE_LIMITS              optional  account, site: "off" disables the per-IP / per-account rate limits
 *                                      (domain/rate-limits.ts DEFAULT_RATE_LIMITS); on otherwise
 *   OPS_STALE_BACKUP_HOURS   optional  ops: inprogress backups untouched this long are failed (default 48)
 *   OPS_STALE_UPLOAD_DAYS    optional  ops: multipart uploads older than this are aborted (default 7)
 *   AWS_REGION               set by Lambda: region of the table
 */
import { getConnInfo } from 'hono/aws-lambda';
import { DEFAULT_RATE_LIMITS } from '../domain/rate-limits.js';
import type { RateLimiting } from '../routes/deps.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../store/dynamodb-client.js';
import { createRepository, type Repository } from '../store/repository.js';

/** The DynamoDB document client of the function (DDB_ENDPOINT, AWS_REGION). */
export function documentClientFromEnv(env: NodeJS.ProcessEnv = process.env): DynamoDBDocumentClient {
  return createDocumentClient({ region: env.AWS_REGION ?? 'us-east-1', endpoint: env.DDB_ENDPOINT });
}

/** The repository over TABLE_NAME (every function), on `ddb` (default: a client of its own). */
export function repoFromEnv(env: NodeJS.ProcessEnv = process.env, ddb?: DynamoDBDocumentClient): Repository {
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  return createRepository(ddb ?? documentClientFromEnv(env), tableName);
}

/** Rate limiting of the API functions (RATE_LIMITS=off disables it); the caller is API Gateway's `sourceIp`. */
export function rateLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimiting | undefined {
  if (env.RATE_LIMITS === 'off') return undefined;
  return {
    limits: DEFAULT_RATE_LIMITS,
    clientIp: (c) => {
      // Outside a Lambda invocation (no API Gateway event in c.env) there is no address to trust.
      const env: unknown = c.env;
      if (!env || typeof env !== 'object' || !('requestContext' in env)) return 'unknown';
      return getConnInfo(c).remote.address ?? 'unknown';
    },
  };
}

/** BUCKETS: storage region id → bucket name (site and ops). */
export function bucketsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const parsed: unknown = JSON.parse(env.BUCKETS ?? '{}');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new Error('BUCKETS must be a JSON object of region id → bucket name');
  }
  return parsed as Record<string, string>;
}
