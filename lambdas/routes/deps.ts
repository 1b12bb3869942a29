/**
 * Dependencies the route modules receive (injected, so tests use real local services), split by
 * function so that each Lambda builds only what its routes use.
 */
import type { Repository } from '../store/repository.js';
import type { ObjectStorage } from '../store/object-storage.js';
import type { ApiKeyRecord } from '../store/records.js';
import type { Context } from 'hono';
import type { Plan, PlanId } from '../domain/plans.js';
import type { RateLimits } from '../domain/rate-limits.js';
import type { StartedRead } from './early-reads.js';
import type { SigninDeps } from './signin.js';

/** What every route module needs: the table and the request-independent settings. */
export interface CoreDeps {
  repo: Repository;
  /** Clock; tests move it to exercise expiry. */
  now?: () => Date;
  /** Plan table (default `PLANS`); injectable so tests can use tiny limits. */
  plans?: Readonly<Record<PlanId, Plan>>;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Rate limiting (off without it): the limits and how to find the caller's address. */
  rateLimits?: RateLimiting;
}

/** Rate-limit settings: limits, and the source IP of a request (adapter-specific). */
export interface RateLimiting {
  limits: RateLimits;
  clientIp: (c: Context) => string;
}

/** What the account API needs (no object storage: the account function never touches S3). */
export interface AccountDeps extends CoreDeps {
  /** HS256 secret for email-verification tokens (at least 32 bytes). */
  verifySecret: Uint8Array;
  /** Public base URL of the API, used in verification links. */
  publicUrl?: string;
  /** Delivers a verification link (locally: printed to the log). Never given other secrets. */
  sendVerification?: (email: string, link: string) => void | Promise<void>;
  /** E-mail one-time-code sign-in and the web pages (routes/signin.ts, web/); without it they answer 404. */
  signin?: SigninDeps;
  /**
   * `POST /account/register` (a key for any unclaimed address, 409 for a taken one) stays on unless
   * this is false: the test bed and tests use it; deployments with mail should turn it off (docs/web.md).
   */
  directRegister?: boolean;
  /**
   * Object storage where the same process has it (`npm start`, tests: `createApp`): the dashboard's
   * backup delete then deletes the objects at once. The account Lambda has none (no S3 rights):
   * there the ops job deletes them (docs/web.md).
   */
  storage?: ObjectStorage;
}

/** What the site protocol needs. */
export interface SiteDeps extends CoreDeps {
  storage: ObjectStorage;
  /** Longest presigned URL lifetime in seconds (the signing credentials' lifetime; default 12 h). */
  maxPresignSeconds?: number;
}

/** What `createApp` (every route in one app: local server, tests) needs. */
export interface AppDeps extends AccountDeps, SiteDeps {
  storage: ObjectStorage;
}

/** Authenticated caller, set by the key middleware. */
export interface AuthContext {
  key: ApiKeyRecord;
  accountId: string;
  siteId: string;
  siteUrl: string;
}

/** Hono environment of the app. */
export interface AppEnv {
  Variables: { auth: AuthContext; keyLookup?: Promise<ApiKeyRecord | undefined>; early?: StartedRead | undefined };
}

/** Current time in epoch seconds. */
export function nowSeconds(deps: Pick<CoreDeps, 'now'>): number {
  return Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
}
