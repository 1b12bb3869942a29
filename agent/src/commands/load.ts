/** `vault-agent load`: restore a database from tool_vault archives in a directory. */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { ImportState } from '../db/import-database.js';
import { importDatabase } from '../db/import-database.js';
import { createLogger } from '../log/logger.js';
import { createProgressReporter } from '../log/progress.js';

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

/** The `load` command. */
export function loadCommand(): Command {
  return new Command('load')
    .description('restore a database from dbstructure.zip and dbdump*.zip in a directory')
    .requiredOption('--db <url>', 'postgres://user:pass@host:port/db, mysql://… or mariadb://…')
    .option('--prefix <prefix>', 'Moodle table prefix', 'mdl_')
    .requiredOption('--in <dir>', 'directory holding the archives')
    .option('--preserve-tables <list>', 'comma-separated table names (no prefix) to leave untouched', list)
    .option('--preserve-plugins <list>', 'comma-separated components whose tables are left untouched', list)
    .option('--concurrency <n>', 'connections loading tables in parallel (default 4 on MySQL/MariaDB, 2 on PostgreSQL)', Number)
    .option('--state <file>', 'resume state file: finished tables are recorded and skipped on the next run')
    .action(async (o: { db: string; prefix: string; in: string; preserveTables?: string[]; preservePlugins?: string[]; state?: string; concurrency?: number }) => {
      const log = createLogger();
      const progress = createProgressReporter('load');
      const resumeState = o.state && existsSync(o.state) ? (JSON.parse(await readFile(o.state, 'utf8')) as ImportState) : undefined;
      if (resumeState) log.info(`resuming: ${resumeState.done.length} tables already restored`);
      const t0 = Date.now();
      const res = await importDatabase({
        db: o.db,
        prefix: o.prefix,
        source: o.in,
        preserveTables: o.preserveTables,
        preserveComponents: o.preservePlugins,
        resumeState,
        concurrency: o.concurrency,
        onTableDone: o.state ? (s) => writeFile(o.state ?? '', JSON.stringify(s)) : undefined,
        onProgress: (p) => progress.update(p),
      }).finally(() => progress.finish());
      const rows = res.tables.reduce((s, t) => s + t.rows, 0);
      if (res.skipped.length) log.info(`preserved (untouched): ${res.skipped.join(', ')}`);
      log.info(`restored ${res.tables.length} tables, ${rows} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
}
