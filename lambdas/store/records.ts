/** Shapes of the records the repository stores and returns (plain data, no AWS types). */
import type { Scope } from '../domain/api-keys.js';
import type { BackupStatus, RestoreStatus } from '../domain/backup-state.js';
import type { PlanId } from '../domain/plans.js';

/** Scalar values a site may merge into `info`. */
export type InfoValue = string | number | boolean;

/** An account. */
export interface AccountRecord {
  accountId: string;
  email: string;
  plan: PlanId;
  verified: boolean;
  createdAt: number;
  /** Set by the operator (`npm run admin -- suspend`): when, and the reason shown to the account's callers. */
  suspendedAt?: number;
  suspendedReason?: string;
  /**
   * Dashboard sessions and sign-in tokens carry the epoch they were issued in and are refused once
   * it changed: "sign out everywhere" adds 1 (absent: 0).
   */
  sessionEpoch?: number;
}

/** An API key as stored (never the key itself). */
export interface ApiKeyRecord {
  keyId: string;
  accountId: string;
  name: string;
  scopes: Scope[];
  /** First characters of the key, for recognising it in lists. */
  hint: string;
  createdAt: number;
  /**
   * Copy of the account's suspension reason on every key item while it is suspended, so that the
   * key lookup every request makes refuses it without reading the account.
   */
  suspendedReason?: string;
}

/** A backup. Times are epoch seconds; `expiry` 0 = never. */
export interface BackupRecord {
  accountId: string;
  backupKey: string;
  status: BackupStatus;
  siteId: string;
  siteUrl: string;
  description: string;
  encrypted: boolean;
  region: string;
  expireDays: number;
  expiry: number;
  createdAt: number;
  modifiedAt: number;
  finishedAt?: number;
  /** Sum of the S3 sizes of the recorded archives. */
  archivedBytes: number;
  /** Fields merged from PATCH `info` (totalsize, faileddetails, ...). */
  info: Record<string, InfoValue>;
  vaultVersion: string;
  vaultEnv?: Record<string, unknown>;
  /** Stored-backup quota slot held by this backup (plans with a limit). */
  slot?: number;
  /** When the owner deleted it (account API); its expiry is then that time. */
  deletedAt?: number;
  /** Set once its objects are deleted from S3 (expiry, failure or deletion). */
  objectsDeleted?: boolean;
}

/** One archive of a backup, recorded at `uploadcompleted`. */
export interface FileRecord {
  name: string;
  size: number;
  origsize: number;
  etag: string;
  createdAt: number;
  uploadId?: string;
}

/** A multipart upload seen at step 2 (`uploadid` given by the site, verified against S3). */
export interface UploadRecord {
  name: string;
  uploadId: string;
  parts: number;
  createdAt: number;
}

/** A restore or dry run. */
export interface RestoreRecord {
  accountId: string;
  restoreKey: string;
  backupKey: string;
  dryrun: boolean;
  status: RestoreStatus;
  siteId: string;
  siteUrl: string;
  createdAt: number;
  modifiedAt: number;
  info: Record<string, InfoValue>;
  vaultVersion: string;
  vaultEnv?: Record<string, unknown>;
}

/** One account's metered usage in one UTC month (`yyyy-mm`); absent counters are 0. */
export interface UsageRecord {
  month: string;
  /** Requests with one of the account's keys (counted with the rate limit). */
  requests: number;
  /** Backups created (`PUT /backups`, not prechecks). */
  backups: number;
  /** Restores created, not counting dry runs, and dry runs. */
  restores: number;
  dryruns: number;
  /** Archive bytes recorded at `uploadcompleted`, and bytes whose objects were deleted (expiry, deletion, failure). */
  uploadedBytes: number;
  deletedBytes: number;
}

/** One page of a listing; `cursor` is opaque and absent on the last page. */
export interface Page<T> {
  items: T[];
  cursor?: string;
}
