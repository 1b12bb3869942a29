/** `vault-agent list`: backups visible to the API key (finished ones, oldest first, like the plugin CLI). */
import { Command } from 'commander';
import { humanBytes } from '../checks/report.js';
import { action, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext } from '../site/context.js';

/** The `list` command. */
export function listCommand(): Command {
  const cmd = addSiteOptions(new Command('list')).description('list the finished backups this API key can restore').option('--json', 'print JSON');
  cmd.action(action(async () => {
    const o = commonOptions(cmd) as ReturnType<typeof commonOptions> & { json?: boolean };
    const ctx = await createContext(o);
    const list = (await ctx.api.listBackups()).filter((b) => b.status === 'finished').sort((a, b) => (a.timecreated ?? 0) - (b.timecreated ?? 0));
    if (o.json) { process.stdout.write(`${JSON.stringify(list, null, 2)}\n`); return; }
    for (const b of list) {
      const info = (b.info ?? {}) as Record<string, unknown>;
      const when = new Date((b.timecreated ?? 0) * 1000).toISOString().slice(0, 16).replace('T', ' ');
      process.stdout.write(`${b.backupkey}  ${when}  ${humanBytes(Number(info.totalsize ?? 0)).padStart(10)}  ${info.encrypted === true ? 'Passphrase  ' : '            '}${String(info.description ?? '')}\n`);
    }
    if (!list.length) process.stdout.write('No backups.\n');
  }));
  return cmd;
}
