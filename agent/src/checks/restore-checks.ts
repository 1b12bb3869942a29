/**
 * Restore pre-checks (format §8): Moodle version (target ≥ backup), plugins (missing, older,
 * newer), disk space for the archives, engine compatibility, indexes outside XMLDB. Site facts come from the target
 * database (`config`, `config_plugins`), which is what Moodle's code left there.
 */
import type { DbStructure } from '../archive/dbstructure.js';
import type { DbAdapter } from '../db/adapter.js';
import type { CollationConflict } from '../db/collation-conflicts.js';
import { planRestoreIndexes } from '../schema/engine-indexes.js';
import type { BackupFile } from '../transfer/api-client.js';
import { diskSpaceCheck, type CheckResult } from './report.js';

/** Installed versions on the target: core `version` and per-plugin `version`. */
export interface SiteVersions {
  version: string | null;
  release: string | null;
  plugins: Map<string, string>;
}

/** Reads versions from the target database (empty when it has no Moodle tables yet). */
export async function readSiteVersions(db: DbAdapter): Promise<SiteVersions> {
  const out: SiteVersions = { version: null, release: null, plugins: new Map() };
  const cfg = await db.query<{ name: string; value: string }>(`SELECT name, value FROM ${db.prefix}config WHERE name IN ('version', 'release')`).catch(() => []);
  for (const r of cfg) { if (r.name === 'version') out.version = r.value; if (r.name === 'release') out.release = r.value; }
  const pl = await db.query<{ plugin: string; value: string }>(`SELECT plugin, value FROM ${db.prefix}config_plugins WHERE name = 'version'`).catch(() => []);
  for (const r of pl) out.plugins.set(r.plugin, r.value);
  return out;
}

/** Moodle version: fails when the target is older than the backup. */
export function checkVersion(site: SiteVersions, meta: Record<string, unknown>): CheckResult {
  const base = { name: 'version_restore', title: 'Moodle version' };
  const bv = String(meta.version ?? '');
  const details = [`backup: ${bv} (${String(meta.release ?? '')}), site: ${site.version ?? 'none'} (${site.release ?? ''})`];
  if (site.version === null) return { ...base, status: 'warn', summary: 'the target database has no Moodle installation to compare with', details };
  if (Number(site.version) < Number(bv)) return { ...base, status: 'fail', summary: 'this site runs an older Moodle than the backup', details };
  if (Number(site.version) > Number(bv)) return { ...base, status: 'warn', summary: 'this site is newer: run admin/cli/upgrade.php after the restore', details };
  return { ...base, status: 'pass', summary: 'same version', details };
}

/** Plugins: backup versions higher than the site's fail; plugins missing on the site fail unless allowed. */
export function checkPlugins(site: SiteVersions, meta: Record<string, unknown>, opts: { allowMissing: boolean; preserve: readonly string[] }): CheckResult {
  const base = { name: 'plugins_restore', title: 'Add-on plugins' };
  if (site.version === null) return { ...base, status: 'warn', summary: 'no installed plugins to compare with', details: [] };
  const raw = meta.plugins;
  const backup = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, { version?: string }>) : {};
  const skip = new Set(['tool_vault', ...opts.preserve]);
  const older: string[] = [];
  const missing: string[] = [];
  const newer: string[] = [];
  for (const [p, info] of Object.entries(backup)) {
    if (skip.has(p)) continue;
    const sv = site.plugins.get(p);
    const bv = info?.version ?? '';
    if (sv === undefined) missing.push(p);
    else if (Number(bv) > Number(sv)) older.push(`${p}: backup ${bv}, site ${sv}`);
  }
  for (const [p, sv] of site.plugins) {
    if (skip.has(p)) continue;
    const bv = backup[p]?.version;
    if (bv === undefined || Number(sv) > Number(bv)) newer.push(`${p}: site ${sv}${bv ? `, backup ${bv}` : ' (not in backup)'}`);
  }
  const details = [...older.map((s) => `lower code version on this site: ${s}`), ...missing.map((s) => `missing on this site: ${s}`), ...newer.slice(0, 20).map((s) => `needs upgrade after restore: ${s}`)];
  const fail = older.length > 0 || (missing.length > 0 && !opts.allowMissing);
  return { ...base, status: fail ? 'fail' : missing.length || newer.length ? 'warn' : 'pass', summary: `${older.length} older, ${missing.length} missing, ${newer.length} newer on this site`, details };
}

/**
 * Disk space: the restore keeps dbstructure.zip and one other archive on disk at a time (each
 * dbdump is downloaded, verified, imported and deleted in turn), so that is what must fit.
 */
export function checkRestoreDiskSpace(tmpDir: string, files: readonly BackupFile[]): Promise<CheckResult> {
  const size = (f: BackupFile) => f.size ?? f.filesize ?? 0;
  const structure = files.filter((f) => f.name === 'dbstructure.zip').reduce((s, f) => s + size(f), 0);
  const largest = files.filter((f) => f.name !== 'dbstructure.zip').reduce((m, f) => Math.max(m, size(f)), 0);
  return diskSpaceCheck('diskspace_restore', tmpDir, structure + largest, 'dbstructure.zip + the largest archive');
}

/** Engine: the agent restores across PostgreSQL and MySQL/MariaDB. */
export function checkEngine(db: DbAdapter, meta: Record<string, unknown>): CheckResult {
  const from = String(meta.dbengine ?? '?');
  const ok = ['postgres', 'mysql', 'mariadb', 'pgsql', 'mysqli'].includes(from);
  return { name: 'engine', title: 'Database engine', status: ok ? 'pass' : 'fail', summary: `backup from ${from}, restoring into ${db.engine}`, details: [] };
}

/**
 * Indexes outside XMLDB (full-text, expression, …; docs/format.md): what the restore will
 * re-create after the data load, and a warning naming table and index for each it cannot —
 * never a failure, the restore goes on without them. `preserve` are the preserved components.
 */
export function checkEngineIndexes(db: Pick<DbAdapter, 'family' | 'prefix'>, structure: Pick<DbStructure, 'tables' | 'manifest'>, preserve: readonly string[] = []): CheckResult {
  const base = { name: 'engine_indexes', title: 'Indexes outside XMLDB' };
  const skip = new Set(['tool_vault', ...preserve]);
  const tables = structure.tables.filter((t) => !skip.has(t.component));
  const { uncreatable, plan } = planRestoreIndexes(tables, structure.manifest?.engineIndexes, db.family, db.prefix);
  const missing = [...uncreatable, ...plan.skip];
  const source = structure.manifest?.engineIndexes ? 'from the backup' : 'as search_simpledb\'s installer does (backup without the agent\'s index list)';
  const details = [
    ...missing.map((m) => `not re-created: ${m.table} index ${m.name}: ${m.reason}`),
    ...plan.create.map((c) => `will create ${c.name} on ${c.table} (${c.how === 'installer' ? 'as search_simpledb\'s installer' : c.how === 'translated' ? `translated from ${c.from.join(', ')}` : 'source definition'})`),
  ];
  const summary = `${plan.create.length} to create ${source}${missing.length ? `, ${missing.length} cannot be re-created on ${db.family === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'}` : ''}`;
  return { ...base, status: missing.length ? 'warn' : 'pass', summary, details };
}

/**
 * Collation (MySQL/MariaDB targets): backup rows that a unique index would reject under the
 * collation the tables are created with. Fails, naming table, index and rows; the way out is
 * fixing those rows on the source or restoring with another collation (`--collation`).
 */
export function checkCollation(conflicts: readonly CollationConflict[], collation: string, chosen: boolean): CheckResult {
  const base = { name: 'collation_restore', title: 'Collation' };
  const how = chosen ? 'chosen with --collation' : "of this site (config.php dboptions['dbcollation'], else the database's)";
  if (!conflicts.length) return { ...base, status: 'pass', summary: `no unique index conflicts under ${collation}, the collation ${how}`, details: [] };
  const details: string[] = [];
  for (const c of conflicts) {
    for (const g of c.groups) {
      const vals = g.values.map((v) => `(${v.map((x) => (x === null ? 'NULL' : JSON.stringify(x))).join(', ')})`).join(' / ');
      details.push(`table ${c.table}, index ${c.index} (${c.columns.join(', ')}): rows ${c.idColumn} ${g.ids.join(', ')} are equal under ${collation}: ${vals}`);
    }
  }
  const rows = conflicts.reduce((n, c) => n + c.groups.reduce((m, g) => m + g.ids.length, 0), 0);
  return {
    ...base, status: 'fail', details,
    summary: `${rows} row(s) in ${conflicts.length} unique index(es) differ only by case, accents or trailing spaces and cannot live under ${collation}, the collation ${how}; fix them on the source, or restore with --collation <a collation that tells them apart, e.g. utf8mb4_bin> and set the same dbcollation in config.php`,
  };
}
