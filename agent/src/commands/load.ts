/** `vault-agent load`: restore a database from tool_vault archives in a directory. */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { ImportState } from '../db/import-database.js';
import { join } from 'node:path';
import { readDbStructure } from '../archive/dbstructure.js';
import { ZipArchiveReader } from '../archive/zip-reader.js';
import { checkCollation } from '../checks/restore-checks.js';
import { findCollationConflicts } from '../db/collation-conflicts.js';
import { connectDatabase, withCollation } from '../db/connect.js';
import { importDatabase, listDumpArchives } from '../db/import-database.js';
import type { XmldbTable } from '../schema/model.js';
import { CheckFailedError } from '../transfer/errors.js';
import { loadInstallTree } from '../schema/install-tree.js';
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
    .option('--concurrency <n>', 'connections loading tables in parallel (default on MySQL/MariaDB 3 with LOAD DATA, 4 with INSERTs; 2 on PostgreSQL)', Number)
    .option('--state <file>', 'resume state file: finished tables are recorded and skipped on the next run')
    .option('--moodle-dir <path>', "the target's Moodle code tree: index names follow its install.xml order, as Moodle's installer gives them")
    .option('--collation <name>', 'MySQL/MariaDB: utf8mb4 collation of the created tables (default: as Moodle detects it on the target)')
    .action(async (o: { db: string; prefix: string; in: string; preserveTables?: string[]; preservePlugins?: string[]; state?: string; concurrency?: number; moodleDir?: string; collation?: string }) => {
      const log = createLogger();
      const progress = createProgressReporter('load');
      const resumeState = o.state && existsSync(o.state) ? (JSON.parse(await readFile(o.state, 'utf8')) as ImportState) : undefined;
      if (resumeState) log.info(`resuming: ${resumeState.done.length} tables already restored`);
      const url = withCollation(o.db, o.collation);
      const definitions = o.moodleDir ? await loadInstallTree(o.moodleDir) : undefined;
      if (!resumeState) await collationPreCheck(url, o.prefix, o.in, definitions, Boolean(o.collation), o.preservePlugins ?? []);
      const t0 = Date.now();
      const res = await importDatabase({
        db: url,
        ...(definitions ? { definitions } : {}),
        prefix: o.prefix,
        source: o.in,
        preserveTables: o.preserveTables,
        preserveComponents: o.preservePlugins,
        resumeState,
        concurrency: o.concurrency,
        onTableDone: o.state ? (s) => writeFile(o.state ?? '', JSON.stringify(s)) : undefined,
        onProgress: (p) => progress.update(p),
        warn: (m) => log.warn(m),
      }).finally(() => progress.finish());
      const rows = res.tables.reduce((s, t) => s + t.rows, 0);
      if (res.skipped.length) log.info(`preserved (untouched): ${res.skipped.join(', ')}`);
      if (res.engineIndexes.created.length) log.info(`indexes outside XMLDB: created ${res.engineIndexes.created.map((c) => `${c.table}.${c.name}`).join(', ')}`);
      log.info(`restored ${res.tables.length} tables, ${rows} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
}

/**
 * MySQL/MariaDB targets: fails before any table is touched when backup rows would collide in a
 * unique index under the collation the tables get (see collation-conflicts.ts).
 */
async function collationPreCheck(url: string, prefix: string, dir: string, definitions: XmldbTable[] | undefined, chosen: boolean, preserve: string[]): Promise<void> {
  // Only MySQL/MariaDB tables get a collation: no connection to a PostgreSQL target for it.
  if (!/^(mysql|mariadb):/i.test(url)) return;
  const db = await connectDatabase(url, prefix);
  try {
    if (db.family !== 'mysql' || !db.collation) return;
    const zip = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
    const structure = await readDbStructure(zip).finally(() => zip.close());
    const skip = new Set(['tool_vault', ...preserve]);
    const archives = (await listDumpArchives(dir)).map((n) => join(dir, n));
    const conflicts = await findCollationConflicts(db, { tables: structure.tables.filter((t) => !skip.has(t.component)), archives, collation: db.collation, ...(definitions ? { definitions } : {}) });
    const c = checkCollation(conflicts, db.collation, chosen);
    if (c.status === 'fail') throw new CheckFailedError(`${c.title}: ${c.summary}\n${c.details.join('\n')}`);
  } finally {
    await db.close();
  }
}
