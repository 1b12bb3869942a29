/**
 * The vault-agent command line. Each command lives in its own module under `commands/` and is
 * registered here with one `addCommand` call.
 */
import { Command, CommanderError } from 'commander';
import { backupCommand } from './commands/backup.js';
import { checkCommand } from './commands/check.js';
import { dumpCommand } from './commands/dump.js';
import { listCommand } from './commands/list.js';
import { registerCommand } from './commands/register.js';
import { restoreCommand } from './commands/restore.js';
import { verifyCommand } from './commands/verify.js';
import { loadCommand } from './commands/load.js';
import { AGENT_VERSION } from './db/export-database.js';
import { createLogger } from './log/logger.js';
import { VaultAgentError } from './schema/errors.js';

/** The program with all commands registered. */
export function createProgram(): Command {
  const program = new Command('vault-agent')
    .description('Moodle site agent for Vault Cloud (tool_vault compatible backups)')
    .version(AGENT_VERSION)
    .exitOverride()
    .showHelpAfterError();
  program.addCommand(dumpCommand());
  program.addCommand(loadCommand());
  program.addCommand(registerCommand());
  program.addCommand(checkCommand());
  program.addCommand(backupCommand());
  program.addCommand(listCommand());
  program.addCommand(restoreCommand());
  program.addCommand(verifyCommand());
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const log = createLogger();
    if (err instanceof VaultAgentError) log.error(`${err.code}: ${err.message}`);
    else log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return 1;
  }
}
