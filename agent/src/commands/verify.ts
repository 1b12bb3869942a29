/** `vault-agent verify <backupkey>`: download every archive and check its SHA-256, without restoring. */
import { Command } from 'commander';
import { action, addPassphraseOptions, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext, readPassphrase } from '../site/context.js';
import { runVerify } from '../site/restore.js';

/** The `verify` command. */
export function verifyCommand(): Command {
  const cmd = addPassphraseOptions(addSiteOptions(new Command('verify'))).argument('<backupkey>', 'backup key').description('download and re-hash every archive of a backup (nothing is restored)');
  cmd.action(action(async (backupkey: string) => {
    const o = commonOptions(cmd);
    const ctx = await createContext(o);
    const r = await runVerify(ctx, backupkey, await readPassphrase(o));
    for (const a of r) process.stdout.write(`${a.verified ? 'OK        ' : 'UNCHECKED '} ${a.name}  ${a.size} bytes  ${a.sha256}\n`);
    process.stdout.write(`${r.length} archive(s) downloaded; ${r.filter((a) => a.verified).length} verified\n`);
  }));
  return cmd;
}
