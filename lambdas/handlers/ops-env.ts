/** The ops function's dependencies and thresholds from the environment (see the header of from-env.ts). */
import { RESTORE_STALE_HOURS } from '../domain/backup-state.js';
import { sweepDelaySeconds as sweepDelayFor } from '../domain/limits.js';
import type { OpsDeps, OpsOptions } from '../ops/run-ops.js';
import { lazyServerStorage } from '../store/lazy-object-storage.js';
import { bucketsFromEnv, repoFromEnv } from './from-env.js';

/**
 * Table and buckets with the function's own credentials: ops presigns nothing. The S3 code loads
 * on the run's first S3 call (lazy-object-storage.ts), after the table queries.
 */
export function opsDepsFromEnv(env: NodeJS.ProcessEnv = process.env): OpsDeps {
  return {
    repo: repoFromEnv(env),
    storage: lazyServerStorage({ buckets: bucketsFromEnv(env), endpoint: env.S3_ENDPOINT, endpointRegion: env.S3_REGION }),
  };
}

/**
 * OPS_STALE_BACKUP_HOURS (default 48), OPS_STALE_RESTORE_HOURS (default RESTORE_STALE_HOURS),
 * OPS_STALE_UPLOAD_DAYS (default 7) and OPS_SWEEP_DELAY_SECONDS (default: the site function's
 * MAX_PRESIGN_SECONDS, or SigV4's 7-day maximum, through `sweepDelaySeconds`; the stack sets it).
 */
export function opsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): OpsOptions {
  const staleBackupHours = Number(env.OPS_STALE_BACKUP_HOURS ?? 48);
  const staleRestoreHours = Number(env.OPS_STALE_RESTORE_HOURS ?? RESTORE_STALE_HOURS);
  const staleUploadDays = Number(env.OPS_STALE_UPLOAD_DAYS ?? 7);
  const sweepDelaySeconds = Number(env.OPS_SWEEP_DELAY_SECONDS ?? sweepDelayFor(Number(env.MAX_PRESIGN_SECONDS ?? 7 * 86_400)));
  if (!(staleBackupHours > 0) || !(staleRestoreHours > 0) || !(staleUploadDays > 0) || !(sweepDelaySeconds > 0)) {
    throw new Error('OPS_STALE_BACKUP_HOURS, OPS_STALE_RESTORE_HOURS, OPS_STALE_UPLOAD_DAYS and OPS_SWEEP_DELAY_SECONDS must be positive numbers');
  }
  return { staleBackupHours, staleRestoreHours, staleUploadDays, sweepDelaySeconds };
}
