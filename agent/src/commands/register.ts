/** `vault-agent register`: create an account with an e-mail, or store an existing API key. */
import { join } from 'node:path';
import { Command } from 'commander';
import { stateDir } from '../moodle/site.js';
import { action, addSiteOptions, commonOptions } from '../site/cli-options.js';
import { createContext, rememberApiKey, UsageError } from '../site/context.js';

/** The `register` command. */
export function registerCommand(): Command {
  const cmd = addSiteOptions(new Command('register'))
    .description('register this site: create an account by e-mail, or store an existing --api-key after validating it')
    .option('--email <address>', 'e-mail address of the new account');
  cmd.action(action(async () => {
    const o = commonOptions(cmd) as ReturnType<typeof commonOptions> & { email?: string };
    const ctx = await createContext(o);
    if (o.apiKey) {
      if (!(await ctx.api.validateApiKey(o.apiKey))) throw new UsageError('the API key is not valid');
      await rememberApiKey(ctx, o.apiKey);
      process.stdout.write(`API key ${o.apiKey.slice(0, 8)}... stored for site ${ctx.state.siteid} in ${join(stateDir(ctx.site), 'state.json')}\n`);
      return;
    }
    if (!o.email) throw new UsageError('give --email <address> (or --api-key <key> to store an existing key)');
    const r = await ctx.api.register(o.email);
    if (typeof r.apikey === 'string' && r.apikey) {
      await rememberApiKey(ctx, r.apikey);
      process.stdout.write(`Registered ${o.email}; API key ${r.apikey.slice(0, 8)}... stored in ${join(stateDir(ctx.site), 'state.json')} (shown once: ${r.apikey})\n`);
    } else {
      process.stdout.write(`Registration requested for ${o.email}: ${typeof r.message === 'string' ? r.message : 'check your e-mail, then run register --api-key <key>'}\n`);
    }
  }));
  return cmd;
}
