/** `vault-agent check`: run the backup pre-checks (and the API key/plan check) and print a report. */
import { Command } from 'commander';
import { formatReport, anyFailed } from '../checks/report.js';
import { connectDatabase } from '../db/connect.js';
import { databaseUrl } from '../moodle/site.js';
import { runBackupChecks } from '../site/backup.js';
import { action, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext } from '../site/context.js';
import { CheckFailedError } from '../transfer/errors.js';

/** The `check` command. */
export function checkCommand(): Command {
  const cmd = addSiteOptions(new Command('check')).description('run the backup pre-checks and print a readable report (exit 3 when one fails)');
  cmd.action(action(async () => {
    const ctx = await createContext(commonOptions(cmd));
    const db = await connectDatabase(databaseUrl(ctx.site), ctx.site.prefix);
    try {
      const { results } = await runBackupChecks(ctx, db);
      try {
        const plan = await ctx.api.precheckBackup();
        results.push({ name: 'api', title: 'Vault API', status: 'pass', summary: `${ctx.apiUrl}: backups allowed; default expiry ${plan.expiredays ?? 0} days${plan.limit ? `, limit ${plan.limit} bytes` : ''}`, details: (plan.buckets ?? []).map((b) => `storage ${b.id}${b.isdefault ? ' (default)' : ''}: ${b.label ?? ''}${b.encryption ? ', passphrase supported' : ''}`) });
      } catch (err) {
        results.push({ name: 'api', title: 'Vault API', status: 'fail', summary: err instanceof Error ? err.message : String(err), details: [] });
      }
      process.stdout.write(formatReport(`Backup pre-checks for ${ctx.site.wwwroot || ctx.site.dataroot}`, results));
      if (anyFailed(results)) throw new CheckFailedError('a pre-check failed');
    } finally {
      await db.close();
    }
  }));
  return cmd;
}
