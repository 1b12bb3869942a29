/** `vault-agent dump`: export a database into tool_vault archives in a directory. */
import { Command, Option } from 'commander';
import { DEFAULT_COMPRESSION_LEVEL } from '../archive/zip-writer.js';
import { DEFAULT_EXPORT_CONNECTIONS, exportDatabase } from '../db/export-database.js';
import { createLogger } from '../log/logger.js';
import { createProgressReporter } from '../log/progress.js';

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

/** The `dump` command. */
export function dumpCommand(): Command {
  return new Command('dump')
    .description('write dbdump*.zip and dbstructure.zip of a Moodle database into a directory')
    .requiredOption('--db <url>', 'postgres://user:pass@host:port/db, mysql://… or mariadb://…')
    .option('--prefix <prefix>', 'Moodle table prefix', 'mdl_')
    .requiredOption('--out <dir>', 'output directory (created if missing)')
    .option('--moodle <dir>', 'Moodle code tree (install.xml files) for table components and definitions')
    .option('--exclude-tables <list>', 'comma-separated prefixed names or * patterns of non-Moodle tables to skip', list)
    .option('--exclude-plugins <list>', 'comma-separated components whose tables and shared-table rows are left out (tool_vault always is)', list)
    .addOption(new Option('--compression-level <n>', 'deflate level 0-9').argParser(Number).default(DEFAULT_COMPRESSION_LEVEL))
    .option('--wwwroot <url>', 'site URL recorded in __metadata__.json')
    .addOption(new Option('--connections <n>', 'database connections reading tables at once, in one snapshot').argParser(Number).default(DEFAULT_EXPORT_CONNECTIONS))
    .action(async (o: { db: string; prefix: string; out: string; moodle?: string; excludeTables?: string[]; excludePlugins?: string[]; compressionLevel: number; wwwroot?: string; connections: number }) => {
      const log = createLogger();
      const progress = createProgressReporter('dump');
      const t0 = Date.now();
      const res = await exportDatabase({
        db: o.db,
        prefix: o.prefix,
        out: o.out,
        schemaDir: o.moodle,
        excludeTables: o.excludeTables,
        excludeComponents: o.excludePlugins,
        compressionLevel: o.compressionLevel,
        connections: o.connections,
        metadata: o.wwwroot ? { wwwroot: o.wwwroot } : {},
        onProgress: (p) => progress.update(p),
      }).finally(() => progress.finish());
      const rows = res.tables.reduce((s, t) => s + t.rows, 0);
      for (const a of res.archives) log.info(`${a.name}: ${a.size} bytes (${a.origsize} uncompressed) sha256 ${a.sha256}`);
      log.info(`dumped ${res.tables.length} tables, ${rows} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s into ${o.out}`);
    });
}
