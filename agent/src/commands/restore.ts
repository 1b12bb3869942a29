/** `vault-agent restore <backupkey>`: restore a backup onto this site (or only pre-check it). */
import { Command } from 'commander';
import { action, addPassphraseOptions, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext, readPassphrase, UsageError } from '../site/context.js';
import { abandonRestore, runRestore } from '../site/restore.js';

/** The `restore` command. */
export function restoreCommand(): Command {
  const cmd = addPassphraseOptions(addSiteOptions(new Command('restore')))
    .argument('<backupkey>', 'backup key (see vault-agent list)')
    .description('restore database, dataroot and filedir of a backup onto this site')
    .option('--dry-run', 'only run the restore pre-checks')
    .option('--resume', 'continue an interrupted restore of this backup')
    .option('--abandon', 'undo an interrupted restore of this backup (possible until its cleanup began): the site is left as it was before it')
    .option('--allow-missing-plugins', 'restore although plugins of the backup are missing here')
    .option('--reset-site-identifier', 'give the restored site a new site identifier')
    .option('--preserve-dataroot <names>', 'extra top-level dataroot names to keep')
    .option('--collation <name>', "MySQL/MariaDB: create the tables with this utf8mb4 collation instead of the site's (config.php dbcollation, else the database's)");
  cmd.action(action(async (backupkey: string) => {
    const o = commonOptions(cmd) as ReturnType<typeof commonOptions> & { dryRun?: boolean; resume?: boolean; abandon?: boolean; allowMissingPlugins?: boolean; resetSiteIdentifier?: boolean; preserveDataroot?: string; collation?: string };
    const ctx = await createContext(o);
    if (o.abandon) {
      if (o.resume || o.dryRun) throw new UsageError('--abandon cannot be combined with --resume or --dry-run');
      const a = await abandonRestore(ctx, backupkey);
      process.stdout.write(`Restore ${a.restorekey}: abandoned; the site is as it was before it\n`);
      return;
    }
    const key = await readPassphrase(o);
    const r = await runRestore(ctx, backupkey, {
      key, dryRun: Boolean(o.dryRun), resume: Boolean(o.resume), allowMissingPlugins: Boolean(o.allowMissingPlugins),
      resetSiteIdentifier: Boolean(o.resetSiteIdentifier), ...(o.preserveDataroot ? { preserveDataroot: o.preserveDataroot } : {}), ...(o.collation ? { collation: o.collation } : {}),
    });
    process.stdout.write(`Restore ${r.restorekey}: ${o.dryRun ? 'pre-checks passed' : 'finished'}\n${r.notes.map((n) => `- ${n}\n`).join('')}`);
  }));
  return cmd;
}
