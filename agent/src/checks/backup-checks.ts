/**
 * Backup pre-checks (format §6): database modifications against the code tree's install.xml
 * files, disk space for the agent's bounded temp use, config.php overrides, environment.
 */
import { freemem } from 'node:os';
import type { ConfigOverride } from '../archive/dbstructure.js';
import type { DbAdapter } from '../db/adapter.js';
import { installTreeCacheFile, type SiteConfig } from '../moodle/site.js';
import { diffSchema } from '../schema/diff.js';
import { loadInstallTree } from '../schema/install-tree.js';
import { diskSpaceCheck, humanBytes, type CheckResult } from './report.js';

/** Core settings that are never carried as overrides (format §6.3). */
const ALWAYS_EXCLUDED = new Set(['dbtype', 'dblibrary', 'dbhost', 'dbname', 'dbuser', 'dbpass', 'prefix', 'dboptions', 'wwwroot', 'dataroot', 'dirroot', 'libdir',
  'yui2version', 'yui3version', 'yuipatchlevel', 'yuipatchedmodules', 'phpunit_dataroot', 'phpunit_prefix', 'behat_wwwroot', 'behat_prefix', 'behat_dataroot',
  'behat_dbname', 'behat_dbuser', 'behat_dbpass', 'behat_dbhost', 'supportuserid', 'sessioncookiepath', 'forced_plugin_settings', 'admin', 'tempdir', 'backuptempdir',
  'cachedir', 'localcachedir', 'localrequestdir', 'langotherroot', 'langlocalroot', 'directorypermissions', 'filepermissions', 'umaskpermissions']);

/** Database modifications (dbstatus): needs `--moodle-dir`; invalid table names fail. */
export async function checkDbStatus(db: DbAdapter, site: SiteConfig): Promise<CheckResult> {
  const base = { name: 'dbstatus', title: 'Database modifications' };
  const live = await db.introspect();
  const invalid = live.filter((t) => !/^[a-z][a-z0-9_]*$/.test(t.name)).map((t) => t.name);
  if (invalid.length) return { ...base, status: 'fail', summary: `${invalid.length} table name(s) Moodle cannot handle`, details: invalid.map((n) => `invalid: ${site.prefix}${n}`) };
  if (!site.moodleDir) return { ...base, status: 'warn', summary: `not compared (pass --moodle-dir to compare ${live.length} tables with install.xml)`, details: [] };
  const defs = await loadInstallTree(site.moodleDir, { cacheFile: installTreeCacheFile(site) });
  const d = diffSchema(db.family, defs, live);
  const changed = Object.keys(d.changedtables);
  const details = [
    ...d.extratables.map((t) => `extra table: ${t}`),
    ...d.missingtables.map((t) => `missing table: ${t}`),
    ...changed.map((t) => `changed table: ${t}`),
  ];
  return d.status === 1
    ? { ...base, status: 'pass', summary: `no modifications (${live.length} tables)`, details: [] }
    : { ...base, status: 'warn', summary: `${details.length} modification(s); they are included in the backup`, details: details.slice(0, 50) };
}

/** Space the agent writes during a backup: its state file and log, never archive data. */
const BACKUP_STATE_BYTES = 16 * 1024 * 1024;

/**
 * Disk space in the agent's folder: a backup writes no temporary archive files (parts are
 * buffered in memory), only its resume state and log, so the need is small and fixed.
 */
export function checkBackupDiskSpace(dir: string): Promise<CheckResult> {
  return diskSpaceCheck('diskspace', dir, BACKUP_STATE_BYTES, 'resume state and log; archives are never written to disk');
}

/**
 * Memory for part buffers: a backup writes no temporary files; it holds the part being filled plus
 * `parallel` parts in flight in memory, (parallel + 1) × part size in all.
 */
export function checkBackupMemory(partSize: number, concurrency: number, available = freemem()): CheckResult {
  const need = (concurrency + 1) * partSize;
  const summary = `part buffers need ${humanBytes(need)} of memory ((${concurrency} parallel + 1) × ${humanBytes(partSize)} parts), ${humanBytes(available)} available; no temporary disk`;
  return { name: 'memory', title: 'Memory for uploads', status: available > need ? 'pass' : 'fail', summary, details: need < available ? [] : ['lower --parallel or --part-size'] };
}

/** Classifies config.php overrides (never fails); returns the ones to carry in the backup. */
export async function checkConfigOverrides(db: DbAdapter, site: SiteConfig): Promise<{ result: CheckResult; included: ConfigOverride[] }> {
  const ph = db.family === 'postgres' ? '$1' : '?';
  const included: ConfigOverride[] = [];
  const notIncluded: string[] = [];
  for (const [name, value] of Object.entries(site.cfgOverrides)) {
    if (ALWAYS_EXCLUDED.has(name)) continue;
    const exists = name === 'supportemail' || (await db.query(`SELECT 1 AS x FROM ${db.prefix}config WHERE name = ${ph}`, [name]).catch(() => [])).length > 0;
    if (exists) included.push({ name, value, plugin: null });
    else notIncluded.push(name);
  }
  const ph2 = db.family === 'postgres' ? '$2' : '?';
  for (const [plugin, settings] of Object.entries(site.forcedPluginSettings)) {
    for (const [name, value] of Object.entries(settings)) {
      const rows = await db.query(`SELECT 1 AS x FROM ${db.prefix}config_plugins WHERE plugin = ${ph} AND name = ${ph2}`, [plugin, name]).catch(() => []);
      if (rows.length) included.push({ name, value, plugin });
      else notIncluded.push(`${plugin}/${name}`);
    }
  }
  return {
    included,
    result: {
      name: 'configoverride', title: 'Config overrides', status: 'pass',
      summary: `${included.length} included, ${notIncluded.length} not included`,
      details: [...included.map((o) => `included: ${o.plugin ? `${o.plugin}/` : ''}${o.name}`), ...notIncluded.map((n) => `not included: ${n}`)],
    },
  };
}

/** Environment: the agent has no execution time limit; reports Node and engine. */
export function checkEnvironment(db: DbAdapter): CheckResult {
  return { name: 'environ', title: 'Environment check', status: 'pass', summary: `Node ${process.versions.node}, ${db.engine}, no execution time limit`, details: [] };
}
