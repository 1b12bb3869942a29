/**
 * Scheduled Lambda (EventBridge, hourly): deletes the objects of expired backups, fails backups
 * left `inprogress` (client crash) and deletes their objects, and aborts stale multipart uploads.
 * No HTTP app: the bundle holds the repository, the S3 client and the run only.
 */
import { runOps, type OpsReport } from '../ops/run-ops.js';
import { opsDepsFromEnv, opsOptionsFromEnv } from './ops-env.js';

// Built at cold start (a broken configuration fails there), reused by warm invocations.
const deps = opsDepsFromEnv();
const options = opsOptionsFromEnv();

/** Entry point. */
export async function handler(): Promise<OpsReport> {
  const report = await runOps(deps, options);
  console.log(JSON.stringify({ level: 'info', msg: 'ops run', ...report }));
  return report;
}
