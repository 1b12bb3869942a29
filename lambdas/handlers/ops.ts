/**
 * Scheduled Lambda (EventBridge, hourly): deletes the objects of expired backups, fails backups
 * left `inprogress` (client crash) and deletes their objects, and aborts stale multipart uploads.
 */
import { depsFromEnv } from './from-env.js';
import { runOps, type OpsReport } from '../ops/run-ops.js';

/** Entry point. */
export async function handler(): Promise<OpsReport> {
  const deps = depsFromEnv();
  const report = await runOps(deps, {
    staleBackupHours: Number(process.env.OPS_STALE_BACKUP_HOURS ?? 48),
    staleUploadDays: Number(process.env.OPS_STALE_UPLOAD_DAYS ?? 7),
  });
  console.log(JSON.stringify({ level: 'info', msg: 'ops run', ...report }));
  return report;
}
