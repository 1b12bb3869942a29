/** The housekeeping run behind the ops Lambda (also called directly by tests). */
import type { AppDeps } from '../routes/deps.js';

/** Counts of what one run did. */
export interface OpsReport {
  expiredBackups: number;
  failedStaleBackups: number;
  deletedObjects: number;
  abortedUploads: number;
}

/** Thresholds of a run. */
export interface OpsOptions {
  staleBackupHours: number;
  staleUploadDays: number;
}

/** Expires, fails and cleans up; idempotent. */
export async function runOps(deps: AppDeps, opts: OpsOptions): Promise<OpsReport> {
  const nowDate = deps.now?.() ?? new Date();
  const now = Math.floor(nowDate.getTime() / 1000);
  const report: OpsReport = { expiredBackups: 0, failedStaleBackups: 0, deletedObjects: 0, abortedUploads: 0 };

  for (const b of await deps.repo.scanBackups('expired', now, 0)) {
    if (!deps.storage.regions.has(b.region)) continue;
    report.deletedObjects += await deps.storage.deletePrefix(b.region, `${b.accountId}/${b.backupKey}/`);
    await deps.repo.markObjectsDeleted(b.accountId, b.backupKey);
    report.expiredBackups++;
  }

  for (const b of await deps.repo.scanBackups('stale-inprogress', now, now - opts.staleBackupHours * 3600)) {
    try {
      await deps.repo.setBackupStatus(b, 'failed', { faileddetails: `Abandoned: no activity for ${opts.staleBackupHours} hours` }, now);
    } catch {
      continue; // changed meanwhile
    }
    report.failedStaleBackups++;
    if (deps.storage.regions.has(b.region)) report.deletedObjects += await deps.storage.deletePrefix(b.region, `${b.accountId}/${b.backupKey}/`);
  }

  const before = new Date(nowDate.getTime() - opts.staleUploadDays * 86_400_000);
  for (const region of deps.storage.regions) report.abortedUploads += await deps.storage.abortStaleUploads(region, before);
  return report;
}
