/**
 * Whole-site backup/restore through the local API (wall time, temp disk peak, RSS). Needs the
 * agent's whole-site backup/restore commands and the API's backup routes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type BenchContext } from './context.js';
import type { SectionResult } from './report.js';

export async function runSiteSection(_ctx: BenchContext): Promise<SectionResult> {
  const missing: string[] = [];
  if (!existsSync(join(ROOT, 'agent', 'src', 'commands', 'backup.ts'))) missing.push('agent backup command (agent/src/commands/backup.ts)');
  if (!existsSync(join(ROOT, 'agent', 'src', 'commands', 'restore.ts'))) missing.push('agent restore command (agent/src/commands/restore.ts)');
  if (!existsSync(join(ROOT, 'test', 'support', 'api-server.ts'))) missing.push('API test server (test/support/api-server.ts)');
  return {
    id: 'site',
    tables: [],
    targets: [],
    data: null,
    notMeasured: [`whole-site backup/restore through the local API: waiting for the agent end-to-end issue${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`],
  };
}
