/**
 * Dependencies the route modules receive (injected, so tests use real local services), split by
 * function so that each Lambda builds only what its routes use.
 */
import type { Repository } from '../store/repository.js';
import type { ObjectStorage } from '../store/object-storage.js';
import type { ApiKeyRecord } from '../store/records.js';
import type { Plan, PlanId } from '../domain/plans.js';

/** What every route module needs: the table and the request-independent settings. */
export interface CoreDeps {
  repo: Repository;
  /** Clock; tests move it to exercise expiry. */
  now?: () => Date;
  /** Plan table (default `PLANS`); injectable so tests can use tiny limits. */
  plans?: Readonly<Record<PlanId, Plan>>;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
}

/** What the account API needs (no object storage: the account function never touches S3). */
export interface AccountDeps extends CoreDeps {
  /** HS256 secret for email-verification tokens (at least 32 bytes). */
  verifySecret: Uint8Array;
  /** Public base URL of the API, used in verification links. */
  publicUrl?: string;
  /** Delivers a verification link (locally: printed to the log). Never given other secrets. */
  sendVerification?: (email: string, link: string) => void | Promise<void>;
}

/** What the site protocol needs. */
export interface SiteDeps extends CoreDeps {
  storage: ObjectStorage;
  /** Longest presigned URL lifetime in seconds (the signing credentials' lifetime; default 12 h). */
  maxPresignSeconds?: number;
}

/** What `createApp` (every route in one app: local server, tests) needs. */
export interface AppDeps extends AccountDeps, SiteDeps {}

/** Authenticated caller, set by the key middleware. */
export interface AuthContext {
  key: ApiKeyRecord;
  accountId: string;
  siteId: string;
  siteUrl: string;
}

/** Hono environment of the app. */
export interface AppEnv {
  Variables: { auth: AuthContext };
}

/** Current time in epoch seconds. */
export function nowSeconds(deps: Pick<CoreDeps, 'now'>): number {
  return Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
}
