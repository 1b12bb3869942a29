/**
 * Restore pre-checks (format §8): Moodle version (target ≥ backup), plugins (missing, older,
 * newer), disk space for the archives and for the staged copies of database and dataroot, engine
 * compatibility, indexes outside XMLDB, and what the atomic switch needs (staging.ts): no foreign
 * key from a table that stays onto one that is replaced, the right to create the staging schema
 * (PostgreSQL), staging names within MySQL's limit. Site facts come from the target database
 * (`config`, `config_plugins`), which is what Moodle's code left there.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { DbStructure } from '../archive/dbstructure.js';
import type { DbAdapter } from '../db/adapter.js';
import type { CollationConflict } from '../db/collation-conflicts.js';
import { fromDictionary } from '../db/innodb-dictionary.js';
import { isLocalDatabase } from '../db/connect.js';
import { MYSQL_NAME_MAX, OLD_TABLE_PREFIX, STAGING_SCHEMA, STAGING_TABLE_PREFIX, OLD_SCHEMA } from '../db/staging.js';
import { planRestoreIndexes } from '../schema/engine-indexes.js';
import { backupFileSize, type BackupFile } from '../transfer/api-client.js';
import { diskSpaceCheck, humanBytes, type CheckResult } from './report.js';

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

/** Where the restore writes, for {@link checkRestoreDiskSpace}. */
export interface RestoreDiskPlaces {
  /** Temporary folder of the downloaded archives. */
  tmpDir: string;
  /** The dataroot: staged dataroot copy and new filedir blobs. */
  dataroot?: string;
  /** The database server's data directory when it is on this machine (see {@link localDataDirectory}). */
  dbDataDir?: string;
}

/** Room the staged database copy is estimated to take: its uncompressed dumps × this. */
export const DB_STAGING_FACTOR = 1.5;

/**
 * Disk space, per filesystem (places on one filesystem add up): the temp folder keeps
 * dbstructure.zip, one database archive and one files archive at a time (the database and the
 * files are staged side by side; each archive is downloaded, verified, applied and deleted in
 * turn); the dataroot's filesystem the staged dataroot (the dataroot archives'
 * uncompressed size) and the new filedir blobs (at most the filedir archives' uncompressed
 * size), while the old ones stay until the switch; the database's filesystem, when it is on this
 * machine, the staged copy of every table ({@link DB_STAGING_FACTOR} × the dumps' uncompressed
 * size: rows plus indexes) beside the live ones. Without a local data directory that last figure
 * is a warning, not checked.
 */
export async function checkRestoreDiskSpace(places: RestoreDiskPlaces, files: readonly BackupFile[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const e of await restoreDiskNeeds(places, files, false)) out.push(await diskSpaceCheck('diskspace_restore', e.dir, e.bytes, e.why.join(' + ')));
  if (!places.dbDataDir) {
    const dbBytes = Math.ceil(uncompressed(files, 'dbdump') * DB_STAGING_FACTOR);
    out.push({ name: 'diskspace_restore_db', title: 'Disk space', status: 'warn', details: [],
      summary: `the database server needs about ${humanBytes(dbBytes)} free for the staged copy of the tables (${DB_STAGING_FACTOR} × the dumps' uncompressed size) beside the live ones; not checked: its data directory is not on this machine or not readable` });
  }
  return out;
}

/**
 * Whether every filesystem also has room for all database archives in the temp folder at once
 * (instead of one at a time): then those the collation pre-check reads are kept for the load
 * rather than downloaded again. Same figures as {@link checkRestoreDiskSpace} otherwise.
 */
export async function roomForAllDumps(places: RestoreDiskPlaces, files: readonly BackupFile[]): Promise<{ room: boolean; summary: string }> {
  const checks = await Promise.all((await restoreDiskNeeds(places, files, true)).map((e) => diskSpaceCheck('diskspace_restore', e.dir, e.bytes, e.why.join(' + '))));
  const short = checks.find((c) => c.status !== 'pass');
  return { room: !short, summary: (short ?? checks[0])?.summary ?? '' };
}

const ofType = (f: BackupFile, type: string): boolean => f.name === `${type}.zip` || f.name.startsWith(`${type}-`);
const uncompressed = (files: readonly BackupFile[], type: string): number => files.filter((f) => ofType(f, type)).reduce((s, f) => s + (f.origsize ?? backupFileSize(f)), 0);

/** The bytes a restore writes, per filesystem (places on one filesystem add up). */
async function restoreDiskNeeds(places: RestoreDiskPlaces, files: readonly BackupFile[], allDumps: boolean): Promise<{ dir: string; bytes: number; why: string[] }[]> {
  const structure = files.filter((f) => f.name === 'dbstructure.zip').reduce((s, f) => s + backupFileSize(f), 0);
  const largest = (db: boolean) => files.filter((f) => f.name !== 'dbstructure.zip' && f.name.startsWith('dbdump') === db).reduce((m, f) => Math.max(m, backupFileSize(f)), 0);
  const dumps = allDumps ? files.filter((f) => ofType(f, 'dbdump')).reduce((s, f) => s + backupFileSize(f), 0) : largest(true);
  const needs: { dir: string; bytes: number; why: string }[] = [{
    dir: places.tmpDir, bytes: structure + dumps + largest(false),
    why: `dbstructure.zip + ${allDumps ? 'every database archive' : 'the largest database archive'} + the largest files archive (staged side by side)`,
  }];
  if (places.dataroot) needs.push({ dir: places.dataroot, bytes: uncompressed(files, 'dataroot') + uncompressed(files, 'filedir'), why: 'staged dataroot + new filedir blobs' });
  if (places.dbDataDir) needs.push({ dir: places.dbDataDir, bytes: Math.ceil(uncompressed(files, 'dbdump') * DB_STAGING_FACTOR), why: `staged database, ${DB_STAGING_FACTOR} × the dumps` });
  const byDevice = new Map<number, { dir: string; bytes: number; why: string[] }>();
  for (const n of needs) {
    const dev = (await stat(n.dir)).dev;
    const e = byDevice.get(dev);
    if (e) { e.bytes += n.bytes; e.why.push(`${n.why} in ${n.dir}`); } else byDevice.set(dev, { dir: n.dir, bytes: n.bytes, why: [n.why] });
  }
  return [...byDevice.values()];
}

/**
 * The database server's data directory when the server runs on this machine (socket or loopback
 * host) and the directory is readable here; undefined otherwise (PostgreSQL shows it to
 * superusers and `pg_read_all_settings` only).
 */
export async function localDataDirectory(db: DbAdapter, url: string): Promise<string | undefined> {
  if (!isLocalDatabase(url)) return undefined;
  const rows = db.family === 'postgres'
    ? await db.query<{ d: string | null }>("SELECT current_setting('data_directory', true) AS d").catch(() => [])
    : await db.query<{ d: string | null }>('SELECT @@datadir AS d').catch(() => []);
  const dir = rows[0]?.d ?? undefined;
  return dir && existsSync(dir) ? dir : undefined;
}

/**
 * MariaDB: the foreign keys onto `names` (with prefix) of tables not among them, read from
 * InnoDB's own dictionary. `information_schema.REFERENTIAL_CONSTRAINTS` cannot look up by the
 * referenced table: it opens every table of every database on the server (110 ms of a restore at
 * the test bed's size M, where the server holds five Moodle databases), INNODB_SYS_FOREIGN
 * reads one system table. Undefined where the dictionary cannot be read (innodb-dictionary.ts).
 */
function innodbForeignKeys(db: DbAdapter, names: readonly string[]): Promise<{ conname: string; src: string; dst: string }[] | undefined> {
  return fromDictionary(db, names, (full) => db.query<{ conname: string; src: string; dst: string }>(
    `SELECT SUBSTRING(ID, LOCATE('/', ID) + 1) AS conname, REPLACE(FOR_NAME, '/', '.') AS src, SUBSTRING(REF_NAME, LOCATE('/', REF_NAME) + 1) AS dst
       FROM information_schema.INNODB_SYS_FOREIGN
      WHERE BINARY REF_NAME IN (?) AND BINARY FOR_NAME NOT IN (?)
      ORDER BY 2, 1`, [full, full]));
}

/**
 * Foreign keys from tables the restore does not replace onto tables it replaces (`replaced`,
 * without prefix): the switch would leave them pointing at the old tables, and dropping those
 * would fail or take the constraint with it. Moodle declares none; a site's own additions might.
 */
export async function checkForeignKeys(db: DbAdapter, replaced: readonly string[]): Promise<CheckResult> {
  const base = { name: 'foreign_keys_restore', title: 'Foreign keys onto replaced tables' };
  const names = replaced.map((t) => db.prefix + t);
  let rows: { conname: string; src: string; dst: string }[] = [];
  if (names.length && db.family === 'postgres') {
    rows = await db.query<{ conname: string; src: string; dst: string }>(
      `SELECT k.conname, quote_ident(sn.nspname) || '.' || quote_ident(s.relname) AS src, d.relname AS dst
         FROM pg_constraint k
         JOIN pg_class s ON s.oid = k.conrelid JOIN pg_namespace sn ON sn.oid = s.relnamespace
         JOIN pg_class d ON d.oid = k.confrelid JOIN pg_namespace dn ON dn.oid = d.relnamespace
        WHERE k.contype = 'f' AND dn.nspname = current_schema() AND d.relname = ANY($1)
          AND NOT (sn.nspname = current_schema() AND s.relname = ANY($1))
        ORDER BY 2, 1`, [names]);
  } else if (names.length) {
    rows = await innodbForeignKeys(db, names) ?? await db.query<{ conname: string; src: string; dst: string }>(
      `SELECT CONSTRAINT_NAME AS conname, CONCAT(CONSTRAINT_SCHEMA, '.', TABLE_NAME) AS src, REFERENCED_TABLE_NAME AS dst
         FROM information_schema.REFERENTIAL_CONSTRAINTS
        WHERE UNIQUE_CONSTRAINT_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IN (?)
          AND NOT (CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN (?))
        ORDER BY 2, 1`, [names, names]);
  }
  if (!rows.length) return { ...base, status: 'pass', summary: 'no table that stays references a replaced table', details: [] };
  return {
    ...base, status: 'fail',
    summary: `${rows.length} foreign key(s) of tables the restore keeps reference tables it replaces; drop them (and re-create them after the restore) first`,
    details: rows.map((r) => `constraint ${r.conname} on ${r.src} references ${r.dst}`),
  };
}

/**
 * What the atomic switch needs of this database. PostgreSQL: CREATE on the database (for the
 * staging and old schemas), unless both exist with CREATE on them, and ownership of every table
 * it moves (`moved`, without prefix). MySQL/MariaDB: a table prefix, and staging and old names
 * within the 64-character identifier limit.
 */
export async function checkStagingRights(db: DbAdapter, moved: readonly string[]): Promise<CheckResult> {
  const base = { name: 'staging_restore', title: 'Staging area' };
  if (db.family === 'postgres') {
    const [r] = await db.query<{ db: string; usr: string; can: boolean }>(
      `SELECT current_database() AS db, current_user AS usr,
              has_database_privilege(current_database(), 'CREATE')
              OR (SELECT count(*) = 2 FROM pg_namespace WHERE nspname IN ($1, $2) AND has_schema_privilege(oid, 'CREATE')) AS can`, [STAGING_SCHEMA, OLD_SCHEMA]);
    if (!r?.can) {
      const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;
      return { ...base, status: 'fail', summary: `user ${r?.usr ?? '?'} cannot create the schemas ${STAGING_SCHEMA} and ${OLD_SCHEMA} the restore stages in; run as a superuser: GRANT CREATE ON DATABASE ${q(r?.db ?? '?')} TO ${q(r?.usr ?? '?')};`, details: [] };
    }
    const names = moved.map((t) => db.prefix + t);
    const foreign = names.length ? await db.query<{ t: string; owner: string }>(
      `SELECT c.relname AS t, pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1`, [names]) : [];
    if (foreign.length) {
      return { ...base, status: 'fail', summary: `${foreign.length} table(s) the restore replaces belong to another role: the switch cannot move them; make ${r.usr} their owner (ALTER TABLE … OWNER TO) or a member of the owner role`, details: foreign.map((f) => `${f.t} (owner ${f.owner})`) };
    }
    return { ...base, status: 'pass', summary: `tables are staged in schema ${STAGING_SCHEMA} and switched in one transaction`, details: [] };
  }
  if (!db.prefix) return { ...base, status: 'fail', summary: 'the site has no table prefix: staged tables could not be told from the site tables', details: [] };
  const longest = Math.max(STAGING_TABLE_PREFIX.length, OLD_TABLE_PREFIX.length) + db.prefix.length;
  const tooLong = moved.filter((t) => longest + t.length > MYSQL_NAME_MAX);
  if (tooLong.length) {
    return { ...base, status: 'fail', summary: `${tooLong.length} staging table name(s) would exceed ${MYSQL_NAME_MAX} characters with prefix ${STAGING_TABLE_PREFIX}${db.prefix}`, details: tooLong.map((t) => db.prefix + t) };
  }
  return { ...base, status: 'pass', summary: `tables are staged as ${STAGING_TABLE_PREFIX}${db.prefix}… and switched with one RENAME TABLE`, details: [] };
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
