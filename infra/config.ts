/**
 * Typed deployment configuration, read from CDK context (`cdk.json` or `-c key=value`). Every
 * value has an offline default so `cdk synth` needs neither AWS credentials nor network.
 */
import { STORAGE_REGIONS, type StorageRegion } from '../lambdas/domain/regions.js';

/**
 * How presigned S3 URLs are signed (docs/deploy.md, "Signing credentials").
 * - `user` (default): a dedicated IAM user's access key, kept in Secrets Manager
 *   (`SIGNING_SECRET_ARN`). URLs can live up to S3's SigV4 maximum of 7 days, which long
 *   multipart uploads need: the plugin gets all part URLs at once and uploads the parts one
 *   after another.
 * - `role`: a dedicated role the site function assumes (`SIGNING_ROLE_ARN`). From Lambda this is
 *   role chaining, which STS caps at 1 hour, so URLs live at most 30 minutes (the API refreshes
 *   the session when less than that remains). No long-term key exists.
 */
export type SigningMode = 'user' | 'role';

export interface VaultConfig {
  /** Lower-case prefix for physical names (bucket names, stack names). */
  prefix: string;
  /** Region of the API, the table and the alarms. */
  apiRegion: string;
  /** Account to deploy to; undefined = environment-agnostic account (resolved at deploy). */
  account: string | undefined;
  /** Storage regions to deploy a bucket for (subset of STORAGE_REGIONS, in that order). */
  regions: StorageRegion[];
  /** Public base URL of the API if behind a custom domain (verification links); default: the API endpoint. */
  publicUrl: string | undefined;
  /** Email subscribed to the alarm topic, if any. */
  alarmEmail: string | undefined;
  signing: SigningMode;
  /** Bump to rotate the signing user's access key (`AWS::IAM::AccessKey` Serial). */
  signingKeySerial: number;
  /** Days to keep function and access logs. */
  logRetentionDays: number;
  /** Stage-wide API throttling. */
  throttle: { rateLimit: number; burstLimit: number };
  /** How often the ops function runs, in minutes. */
  opsIntervalMinutes: number;
  /**
   * Map stack traces through the bundles' source maps (`NODE_OPTIONS=--enable-source-maps`).
   * Costs about 25 ms of module load per cold start (the map is parsed at import).
   */
  runtimeSourceMaps: boolean;
  /**
   * Log email-verification links (bearer tokens) from the account function, for deployments
   * without a mail service. Off by default.
   */
  logVerificationLinks: boolean;
  /**
   * Sender of sign-in codes (e.g. `no-reply@example.org`): enables e-mail sign-in through Amazon
   * SES with an SES identity for it (docs/web.md). Undefined: /signin answers 503.
   */
  mailFrom: string | undefined;
  /** SES identity to create for `mailFrom`: its whole domain (DKIM records to publish) or the one address. */
  mailIdentity: 'domain' | 'email';
  /** Keep `POST /account/register` (false: only e-mail sign-in creates accounts). */
  directRegister: boolean;
}

/** Anything with CDK's `tryGetContext` (an App's node, a Construct's node). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

export const DEFAULTS = {
  prefix: 'vault',
  apiRegion: 'eu-central-1',
  signing: 'user',
  signingKeySerial: 1,
  logRetentionDays: 30,
  throttle: { rateLimit: 50, burstLimit: 100 },
  opsIntervalMinutes: 60,
  runtimeSourceMaps: true,
  logVerificationLinks: false,
  mailIdentity: 'domain',
  directRegister: true,
} as const;

function str(ctx: ContextSource, key: string): string | undefined {
  const v = ctx.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`context ${key} must be a string`);
  return String(v);
}

function bool(ctx: ContextSource, key: string, fallback: boolean): boolean {
  const v = ctx.tryGetContext(key);
  if (typeof v === 'boolean') return v;
  const raw = str(ctx, key);
  if (raw === undefined) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new Error(`context ${key} must be true or false, got ${raw}`);
  return raw === 'true';
}

function int(ctx: ContextSource, key: string, fallback: number, min: number): number {
  const raw = str(ctx, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`context ${key} must be an integer >= ${min}, got ${raw}`);
  return n;
}

/** Region ids from context `regions`: a JSON/array list or a comma-separated string. */
function regionIds(ctx: ContextSource): string[] | undefined {
  const v = ctx.tryGetContext('regions');
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string') throw new Error('context regions must be a list or a comma-separated string');
  const text = v.trim();
  if (text.startsWith('[')) return (JSON.parse(text) as unknown[]).map(String);
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Reads and validates the configuration; throws with a clear message on bad input. */
export function readConfig(ctx: ContextSource): VaultConfig {
  const prefix = str(ctx, 'prefix') ?? DEFAULTS.prefix;
  if (!/^[a-z][a-z0-9-]{1,19}$/.test(prefix)) throw new Error(`context prefix must match [a-z][a-z0-9-]{1,19}, got ${prefix}`);

  const ids = regionIds(ctx);
  let regions: StorageRegion[] = [...STORAGE_REGIONS];
  if (ids) {
    const known = new Set<string>(STORAGE_REGIONS.map((r) => r.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length) throw new Error(`unknown storage region id(s): ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
    regions = STORAGE_REGIONS.filter((r) => ids.includes(r.id));
  }
  if (regions.length === 0) throw new Error('at least one storage region is required');

  const signing = str(ctx, 'signing') ?? DEFAULTS.signing;
  if (signing !== 'user' && signing !== 'role') throw new Error(`context signing must be user or role, got ${signing}`);

  const mailFrom = str(ctx, 'mailFrom');
  if (mailFrom !== undefined && !/^[^\s@<>]+@[a-z0-9.-]+\.[a-z]{2,}$/i.test(mailFrom)) throw new Error(`context mailFrom must be an e-mail address, got ${mailFrom}`);
  const mailIdentity = str(ctx, 'mailIdentity') ?? DEFAULTS.mailIdentity;
  if (mailIdentity !== 'domain' && mailIdentity !== 'email') throw new Error(`context mailIdentity must be domain or email, got ${mailIdentity}`);

  const account = str(ctx, 'account');
  if (account !== undefined && !/^\d{12}$/.test(account)) throw new Error(`context account must be 12 digits, got ${account}`);

  return {
    prefix,
    apiRegion: str(ctx, 'apiRegion') ?? DEFAULTS.apiRegion,
    account,
    regions,
    alarmEmail: str(ctx, 'alarmEmail'),
    publicUrl: str(ctx, 'publicUrl')?.replace(/\/+$/, ''),
    signing,
    signingKeySerial: int(ctx, 'signingKeySerial', DEFAULTS.signingKeySerial, 1),
    logRetentionDays: int(ctx, 'logRetentionDays', DEFAULTS.logRetentionDays, 1),
    throttle: {
      rateLimit: int(ctx, 'throttleRate', DEFAULTS.throttle.rateLimit, 1),
      burstLimit: int(ctx, 'throttleBurst', DEFAULTS.throttle.burstLimit, 1),
    },
    opsIntervalMinutes: int(ctx, 'opsIntervalMinutes', DEFAULTS.opsIntervalMinutes, 1),
    runtimeSourceMaps: bool(ctx, 'runtimeSourceMaps', DEFAULTS.runtimeSourceMaps),
    logVerificationLinks: bool(ctx, 'logVerificationLinks', DEFAULTS.logVerificationLinks),
    mailFrom,
    mailIdentity,
    directRegister: bool(ctx, 'directRegister', DEFAULTS.directRegister),
  };
}
