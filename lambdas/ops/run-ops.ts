/** The housekeeping run behind the ops Lambda (also called directly by tests). */
import { isExpired } from '../domain/limits.js';
import { PLANS, type Plan, type PlanId } from '../domain/plans.js';
import type { ObjectStorage } from '../store/object-storage.js';
import type { BackupRecord } from '../store/records.js';
import type { Repository } from '../store/repository.js';

/** The storage calls a run makes (no presigning). */
export type OpsStorage = Pick<ObjectStorage, 'regions' | 'sweepPrefix' | 'prefixUsage' | 'abortStaleUploads'>;

/** What a run needs: the table and the buckets, no HTTP app. */
export interface OpsDeps {
  repo: Repository;
  storage: OpsStorage;
  /** Clock; tests move it. */
  now?: () => Date;
  /** Plan table (default `PLANS`), as the API's. */
  plans?: Readonly<Record<PlanId, Plan>>;
}

/** Counts of what one run did. */
export interface OpsReport {
  expiredBackups: number;
  failedStaleBackups: number;
  /** In-progress backups failed because storage held more under them than their plan allows. */
  overLimitBackups: number;
  /** Backups swept once every upload URL issued for them had expired. */
  sweptBackups: number;
  /** In-progress restores failed as timed out. */
  timedOutRestores: number;
  deletedObjects: number;
  abortedUploads: number;
}

/** Thresholds of a run. */
export interface OpsOptions {
  staleBackupHours: number;
  /** Hours without activity after which an in-progress restore fails (`faileddetails: "timed out"`). */
  staleRestoreHours: number;
  staleUploadDays: number;
  /**
   * Seconds after a backup left `inprogress` (or was deleted) when it is swept again: the longest
   * presigned URL lifetime plus slack for an upload begun just before its URL expired.
   */
  sweepDelaySeconds: number;
}

const prefixOf = (b: Pick<BackupRecord, 'accountId' | 'backupKey'>): string => `${b.accountId}/${b.backupKey}/`;

/**
 * Expires, fails, sweeps and cleans up; idempotent. Finds its backups with Queries on the sparse
 * ops index (cost follows the work due and the backups in progress, not the table size);
 * DynamoDB actions: `OPS_TABLE_ACCESS` (table-access.ts).
 */
export async function runOps(deps: OpsDeps, opts: OpsOptions): Promise<OpsReport> {
  const nowDate = deps.now?.() ?? new Date();
  const now = Math.floor(nowDate.getTime() / 1000);
  const plans = deps.plans ?? PLANS;
  const report: OpsReport = { expiredBackups: 0, failedStaleBackups: 0, overLimitBackups: 0, sweptBackups: 0, timedOutRestores: 0, deletedObjects: 0, abortedUploads: 0 };
  const sweep = async (b: BackupRecord, keep?: ReadonlySet<string>): Promise<void> => {
    const r = await deps.storage.sweepPrefix(b.region, prefixOf(b), keep);
    report.deletedObjects += r.deletedObjects;
    report.abortedUploads += r.abortedUploads;
  };

  for (const b of await deps.repo.expiredBackups(now)) {
    if (!deps.storage.regions.has(b.region)) continue;
    await sweep(b);
    await deps.repo.markObjectsDeleted(b, now);
    report.expiredBackups++;
  }

  // In progress: abandoned ones fail; live ones fail if storage holds more under them than their
  // plan allows (archives uploaded and never completed, parts of open multipart uploads).
  const planOf = new Map<string, Plan | undefined>();
  for (const b of await deps.repo.inProgressBackups()) {
    const stale = b.modifiedAt < now - opts.staleBackupHours * 3600;
    let faileddetails: string | undefined;
    if (stale) {
      faileddetails = `Abandoned: no activity for ${opts.staleBackupHours} hours`;
    } else if (deps.storage.regions.has(b.region)) {
      if (!planOf.has(b.accountId)) {
        const account = await deps.repo.getAccount(b.accountId);
        planOf.set(b.accountId, account ? plans[account.plan] ?? plans.free : undefined);
      }
      const limit = planOf.get(b.accountId)?.sizeLimit ?? null;
      if (limit === null) continue;
      const usage = await deps.storage.prefixUsage(b.region, prefixOf(b));
      const stored = usage.objectBytes + usage.partBytes;
      if (stored <= limit) continue;
      faileddetails = `Storage holds ${stored} bytes for this backup, over the plan limit of ${limit} bytes`;
    } else {
      continue;
    }
    try {
      await deps.repo.setBackupStatus(b, 'failed', { faileddetails }, now);
    } catch {
      continue; // changed meanwhile
    }
    if (stale) report.failedStaleBackups++;
    else report.overLimitBackups++;
    if (deps.storage.regions.has(b.region)) {
      await sweep(b);
      // Noted at once: its bytes leave the account's stored total now; the sweep queue keeps it for the second sweep.
      await deps.repo.markObjectsDeleted(b, now);
    }
  }

  // Finished, failed and deleted backups: failed and deleted ones lose their objects at once (if
  // the API could not delete them); once every URL issued for a backup has expired, what was
  // uploaded through such a URL after the fact is deleted too (all of a failed or deleted
  // backup, anything but its recorded archives for a finished one) and open uploads are aborted.
  for (const c of await deps.repo.sweepCandidates()) {
    const b = c.backup;
    if (!deps.storage.regions.has(b.region)) continue;
    const gone = b.status !== 'finished' || b.deletedAt !== undefined || isExpired(b.expiry, now);
    if (gone && !b.objectsDeleted) {
      await sweep(b);
      await deps.repo.markObjectsDeleted(b, now);
    }
    if (c.queuedAt + opts.sweepDelaySeconds > now) continue;
    if (gone) {
      await sweep(b);
    } else {
      const files = await deps.repo.listFiles(b.accountId, b.backupKey);
      await sweep(b, new Set(files.map((f) => `${prefixOf(b)}${f.name}`)));
    }
    await deps.repo.finishSweep(c, now);
    report.sweptBackups++;
  }

  // Restores: the same pattern on the ops index's RESTORING partition.
  for (const r of await deps.repo.staleRestores(now - opts.staleRestoreHours * 3600)) {
    try {
      await deps.repo.setRestoreStatus(r, 'failed', { faileddetails: 'timed out' }, now);
    } catch {
      continue; // changed meanwhile
    }
    report.timedOutRestores++;
  }

  const before = new Date(nowDate.getTime() - opts.staleUploadDays * 86_400_000);
  for (const region of deps.storage.regions) report.abortedUploads += await deps.storage.abortStaleUploads(region, before);
  return report;
}
