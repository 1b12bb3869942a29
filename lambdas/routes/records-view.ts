/** How records look on the wire (spec §6), and loaders shared by the route modules. */
import { BackupNotFoundError, ApiError } from '../domain/errors.js';
import { isExpired } from '../domain/limits.js';
import { PLANS, type Plan } from '../domain/plans.js';
import type { AccountRecord, BackupRecord, FileRecord } from '../store/records.js';
import type { CoreDeps, SiteDeps } from './deps.js';

/** Backup record as the plugin reads it; `faileddetails` is kept server-side only. */
export function backupView(b: BackupRecord, siteId: string, files?: FileRecord[]): Record<string, unknown> {
  const { faileddetails: _omit, ...info } = b.info;
  return {
    backupkey: b.backupKey,
    status: b.status,
    timecreated: b.createdAt,
    timemodified: b.modifiedAt,
    info: {
      ...info,
      description: b.description,
      encrypted: b.encrypted,
      totalsize: b.status === 'finished' ? b.archivedBytes : typeof info.totalsize === 'number' ? info.totalsize : b.archivedBytes,
      ...(b.finishedAt !== undefined ? { timefinished: b.finishedAt } : {}),
      samesite: siteId !== '' && b.siteId === siteId,
    },
    ...(files ? { files: files.map(fileView).sort(byArchiveOrder) } : {}),
  };
}

/** File entry: never an `id` (the plugin would update an unrelated row). */
export function fileView(f: FileRecord): { name: string; size: number; filesize: number; origsize: number; etag: string; timecreated: number } {
  return { name: f.name, size: f.size, filesize: f.size, origsize: f.origsize, etag: f.etag, timecreated: f.createdAt };
}

/** `dbdump2.zip` after `dbdump1.zip`, `dbdump10.zip` after both; made once (localeCompare with options builds one per call). */
const ARCHIVE_NAME_ORDER = new Intl.Collator('en', { numeric: true });

function byArchiveOrder(a: { name: string }, b: { name: string }): number {
  return ARCHIVE_NAME_ORDER.compare(a.name, b.name);
}

/** The backup (account, key), refusing missing and expired ones alike with 404. */
export async function loadBackup(deps: CoreDeps, accountId: string, backupKey: string, now: number): Promise<BackupRecord> {
  return presentBackup(await deps.repo.getBackup(accountId, backupKey), now);
}

/** A backup as read, refusing a missing or expired one with 404. */
export function presentBackup(b: BackupRecord | undefined, now: number): BackupRecord {
  if (!b || isExpired(b.expiry, now)) throw new BackupNotFoundError();
  return b;
}

/** The caller's account and its plan. */
export async function loadAccount(deps: CoreDeps, accountId: string): Promise<{ account: AccountRecord; plan: Plan }> {
  return withPlan(deps, await deps.repo.getAccount(accountId));
}

/** An account as read and its plan; a missing account means the key is no longer valid. */
export function withPlan(deps: Pick<CoreDeps, 'plans'>, account: AccountRecord | undefined): { account: AccountRecord; plan: Plan } {
  if (!account) throw new ApiError('ERR_UNAUTHENTICATED', 'The API key is not valid');
  const plans = deps.plans ?? PLANS;
  return { account, plan: plans[account.plan] ?? plans.free };
}

/**
 * Deletes a backup's objects from S3 now, aborts its open multipart uploads and notes it on the
 * record. Failed, over-limit and deleted backups keep no data; where this cannot run, the next ops
 * run does it, and the ops run sweeps again once every URL issued for the backup has expired.
 */
export async function purgeObjects(deps: SiteDeps, b: BackupRecord): Promise<void> {
  if (b.objectsDeleted || !deps.storage.regions.has(b.region)) return;
  await deps.storage.sweepPrefix(b.region, `${b.accountId}/${b.backupKey}/`);
  await deps.repo.markObjectsDeleted(b, Math.floor((deps.now?.() ?? new Date()).getTime() / 1000));
}

/**
 * At `finished`: deletes what storage holds under the backup besides its recorded archives
 * (uploaded through a URL but never completed) and aborts its open multipart uploads, so a
 * finished backup holds only the bytes that were counted against the plan. A storage error is
 * logged: the ops run sweeps the backup again later.
 */
export async function sweepUnrecorded(deps: SiteDeps, b: BackupRecord): Promise<void> {
  if (!deps.storage.regions.has(b.region)) return;
  const prefix = `${b.accountId}/${b.backupKey}/`;
  try {
    const files = await deps.repo.listFiles(b.accountId, b.backupKey);
    await deps.storage.sweepPrefix(b.region, prefix, new Set(files.map((f) => `${prefix}${f.name}`)));
  } catch (err) {
    console.error(JSON.stringify({ level: 'error', event: 'sweep-failed', backupKey: b.backupKey, error: err instanceof Error ? err.name : 'unknown' }));
  }
}

/**
 * Deletes a backup for its owner (`DELETE /account/backups/{key}` and the dashboard's delete):
 * it is gone for every endpoint at once and its stored-backup slot is free. Idempotent: a deleted
 * or expired backup still on record is deleted again, which finishes whatever a failed attempt
 * left. `purge` deletes the objects now where the caller has S3 access (site function); without
 * it (account function) the next ops run deletes them. Either way the record is queued on the ops
 * index for a second sweep once every URL issued for it has expired.
 */
export async function deleteBackup(deps: CoreDeps, accountId: string, backupKey: string, now: number, purge?: (b: BackupRecord) => Promise<void>): Promise<void> {
  const b = await deps.repo.getBackup(accountId, backupKey);
  if (!b) throw new BackupNotFoundError();
  await deps.repo.markBackupDeleted(b, now);
  await purge?.(b);
}

/** `purgeObjects` after a failure was recorded: a storage error is logged (the ops job retries at expiry), not answered. */
export async function purgeAfterFailure(deps: SiteDeps, b: BackupRecord): Promise<void> {
  await purgeObjects(deps, b).catch((err: unknown) => {
    console.error(JSON.stringify({ level: 'error', event: 'purge-failed', backupKey: b.backupKey, error: err instanceof Error ? err.name : 'unknown' }));
  });
}

/** S3 object key of an archive: built only from our records. */
export function objectKey(b: BackupRecord, name: string): string {
  return `${b.accountId}/${b.backupKey}/${name}`;
}

/** Longest presign lifetime configured. */
export function maxPresign(deps: SiteDeps): number {
  return deps.maxPresignSeconds ?? 12 * 3600;
}

/** Cuts a free-text field to at most `max` characters. */
export function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}\n[truncated]` : text;
}
