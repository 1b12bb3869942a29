/**
 * Options shared by the site commands (register, check, backup, list, restore, verify) and the
 * error → exit code mapping, so every command behaves the same on failure.
 */
import { CommanderError, Option, type Command } from 'commander';
import { DEFAULT_COMPRESSION_LEVEL } from '../archive/zip-writer.js';
import { exitCodeFor } from '../transfer/errors.js';
import type { CommonOptions } from './context.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Adds the site/API/transfer options to a command. */
export function addSiteOptions(cmd: Command): Command {
  return cmd
    .option('--config <path>', 'Moodle config.php to read (env VAULT_CONFIG_PHP)')
    .option('--moodle-dir <path>', 'Moodle code tree: config.php, install.xml files (env VAULT_MOODLE_DIR)')
    .option('--dbtype <type>', 'pgsql, mariadb, mysqli, auroramysql (env VAULT_DBTYPE)')
    .option('--dbhost <host>', 'database host (env VAULT_DBHOST)')
    .option('--dbport <port>', 'database port (env VAULT_DBPORT)')
    .option('--dbsocket <path>', 'database socket (env VAULT_DBSOCKET)')
    .option('--dbname <name>', 'database name (env VAULT_DBNAME)')
    .option('--dbuser <user>', 'database user (env VAULT_DBUSER)')
    .addOption(new Option('--dbpass <pass>', 'database password (prefer env VAULT_DBPASS)'))
    .option('--prefix <prefix>', 'table prefix (env VAULT_PREFIX)')
    .option('--dbcollation <collation>', "MySQL/MariaDB collation, like $CFG->dboptions['dbcollation'] (env VAULT_DBCOLLATION)")
    .option('--dataroot <path>', 'Moodle dataroot (env VAULT_DATAROOT)')
    .option('--wwwroot <url>', 'site URL (env VAULT_WWWROOT)')
    .option('--api-url <url>', 'Vault API base URL (env VAULT_API_URL)')
    .option('--api-key <key>', 'API key for this run (env VAULT_API_KEY; else the stored one)')
    .option('--allow-storage-host <host>', 'also send encryption keys to this storage host[:port] (local runs)', collect, [])
    .option('--storage-proxy <url>', 'HTTP proxy for storage requests, http://host:port (env VAULT_STORAGE_PROXY)')
    .option('--parallel <n>', 'parallel part uploads (default 4)')
    .option('--part-size <size>', 'multipart part size, e.g. 64M (default 8M, minimum 5M); memory for uploads = (parallel + 1) × part size')
    .option('--split-size <size>', 'start a new archive after this many uncompressed bytes (default 1G)')
    .option('--split-files <count>', 'start a new files archive after this many files (default 10000; bounds memory on sites with many files)')
    .option('--compression-level <n>', `ZIP deflate level 0-9 (default ${DEFAULT_COMPRESSION_LEVEL})`)
    .option('--state-dir <path>', 'base folder of the agent state, one sub-folder per site (env VAULT_AGENT_STATE_DIR; default /var/lib/vault-agent as root, else $XDG_STATE_HOME/vault-agent)')
    .option('--tmp-dir <path>', 'temporary folder (default <state folder>/tmp)')
    .option('-q, --quiet', 'only errors');
}

/** Adds the passphrase source options. */
export function addPassphraseOptions(cmd: Command): Command {
  return cmd
    .option('--passphrase-file <path>', 'read the passphrase from this file (one trailing newline dropped)')
    .option('--passphrase-env <name>', 'read the passphrase from this environment variable');
}

/**
 * Wraps a command action: prints the error once and rethrows it as a CommanderError carrying the
 * documented exit code (the CLI's main() returns a CommanderError's exitCode as is).
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'ERR_UNKNOWN';
      process.stderr.write(`${new Date().toISOString()} ERROR ${code}: ${msg}\n`);
      throw new CommanderError(exitCodeFor(err), code, msg);
    }
  };
}

/** The options object of a command as CommonOptions. */
export function commonOptions(cmd: Command): CommonOptions {
  return cmd.opts<CommonOptions>();
}
