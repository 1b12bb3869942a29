/** The housekeeping run behind the ops Lambda (also called directly by tests). */
import type { ObjectStorage } from '../store/object-storage.js';
import type { Repository } from '../store/repository.js';

/** The storage calls a run makes (no presigning). */
export type OpsStorage = Pick<ObjectStorage, 'regions' | 'deletePrefix' | 'abortStaleUploads'>;

/** What a run needs: the table and the buckets, no HTTP app. */
export interface OpsDeps {
  repo: Repository;
  storage: OpsStorage;
  /** Clock; tests move it. */
  now?: () => Date;
}

/** Counts of what one run did. */
export interface OpsReport {
  expiredBackups: number;
  failedStaleBackups: number;
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
}

/**
 * Expires, fails and cleans up; idempotent. Finds its backups with Queries on the sparse ops
 * index (cost follows the work due, not the table size); DynamoDB actions: `OPS_TABLE_ACCESS` (table-access.ts).
 */
export async function runOps(deps: OpsDeps, opts: OpsOptions): Promise<OpsReport> {
  const nowDate = deps.now?.() ?? new Date();
  const now = Math.floor(nowDate.getTime() / 1000);
  const report: OpsReport = { expiredBackups: 0, failedStaleBackups: 0, timedOutRestores: 0, deletedObjects: 0, abortedUploads: 0 };

  for (const b of await deps.repo.expiredBackups(now)) {
    if (!deps.storage.regions.has(b.region)) continue;
    report.deletedObjects += await deps.storage.deletePrefix(b.region, `${b.accountId}/${b.backupKey}/`);
    await deps.repo.markObjectsDeleted(b, now);
    report.expiredBackups++;
  }

  for (const b of await deps.repo.staleBackups(now - opts.staleBackupHours * 3600)) {
    try {
      await deps.repo.setBackupStatus(b, 'failed', { faileddetails: `Abandoned: no activity for ${opts.staleBackupHours} hours` }, now);
    } catch {
      continue; // changed meanwhile
    }
    report.failedStaleBackups++;
    if (deps.storage.regions.has(b.region)) {
      report.deletedObjects += await deps.storage.deletePrefix(b.region, `${b.accountId}/${b.backupKey}/`);
      // Noted at once: its bytes leave the account's stored total now, and the expiry run has nothing left to do.
      await deps.repo.markObjectsDeleted(b, now);
    }
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
