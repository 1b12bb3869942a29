/** `vault-agent backup`: back up the whole site to Vault Cloud. */
import { Command } from 'commander';
import { runBackup } from '../site/backup.js';
import { action, addPassphraseOptions, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext, readPassphrase, UsageError } from '../site/context.js';

/** The `backup` command. */
export function backupCommand(): Command {
  const cmd = addPassphraseOptions(addSiteOptions(new Command('backup')))
    .description('back up database, dataroot and filedir; prints the backup key')
    .option('--description <text>', 'backup description (default: the site URL)')
    .option('--expiredays <n>', 'days to keep the backup (plan permitting)')
    .option('--bucket <id>', 'storage bucket/region id')
    .option('--exclude-dataroot <names>', 'extra top-level dataroot names to skip (default "muc, antivirus_quarantine")')
    .option('--maintenance', 'keep the site in maintenance mode while the backup runs (files cannot change meanwhile)')
    .option('--resume', 'continue an interrupted backup, uploading only what is missing');
  cmd.action(action(async () => {
    const o = commonOptions(cmd) as ReturnType<typeof commonOptions> & { description?: string; expiredays?: string; bucket?: string; resume?: boolean; excludeDataroot?: string; maintenance?: boolean };
    if (o.expiredays !== undefined && !/^\d+$/.test(o.expiredays)) throw new UsageError('--expiredays must be an integer');
    const ctx = await createContext(o);
    const key = await readPassphrase(o);
    const r = await runBackup(ctx, {
      key, ...(o.description !== undefined ? { description: o.description } : {}), ...(o.expiredays ? { expiredays: Number(o.expiredays) } : {}),
      ...(o.bucket ? { bucket: o.bucket } : {}), ...(o.excludeDataroot !== undefined ? { excludeDataroot: o.excludeDataroot } : {}), resume: Boolean(o.resume), maintenance: Boolean(o.maintenance),
    });
    process.stdout.write(`Backup key: ${r.backupkey}\n`);
  }));
  return cmd;
}
