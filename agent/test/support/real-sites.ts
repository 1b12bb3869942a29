/**
 * Real Moodle 4.4 sites for tests, from `shared/fixtures/moodle-4.4-S/` (two sites made by
 * Moodle's own installer with tool_vault and one generated course; see the README there).
 * `loadFixtureSite('pgsql' | 'mariadb', services)` creates a fresh database on the run's test
 * PostgreSQL / MariaDB, streams the gzipped dump into it (`psql` / `mariadb` client), unpacks
 * the dataroot into a temp folder and writes a config.php like the README's table (MariaDB with
 * `dboptions['dbcollation'] = 'utf8mb4_unicode_ci'`); `createTargetSite(engine, services)` makes a
 * restore target: empty by default (database, config.php, a dataroot holding only Moodle's
 * `filedir/warning.txt`; the restore creates every table), or with `{ installed: true }` the engine's fixture site loaded under a new name (an
 * installed Moodle, as restores normally find). Both return a {@link RealSite}: the
 * `TestSite` fields the e2e helpers take (`configPath`, `dataroot`, `dbUrl`), `codeDir` for
 * `--moodle-dir` (the shared schema tree stands in for Moodle's code) and `cleanup()`, which drops
 * the database and deletes the folder. `services` is `inject('services')` inside vitest.
 * {@link indexSet} and {@link tableCollations} read a database's index set (engine-neutral,
 * full-text indexes included) and MariaDB table collations straight from the catalogs, without
 * the agent's code, for assertions.
 *
 * ```ts
 * const services = inject('services');
 * const src = await loadFixtureSite('pgsql', services, { dbName: 'rs_src_pg' });
 * const tgt = await createTargetSite('mariadb', services, { dbName: 'rs_tgt_my' });
 * // vault-agent backup --config src.configPath --moodle-dir src.codeDir ... ; restore onto tgt
 * await Promise.all([src.cleanup(), tgt.cleanup()]);
 * ```
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import mysql from 'mysql2/promise';
import type { TestServices } from '../../../test/support/services.js';
import { makeSite, type TestSite } from '../e2e/site-fixture.js';
import { freshDatabase, type TestEngine } from './databases.js';
import { SCHEMA_DIR } from './schema-dir.js';

/** Folder of the two real sites (dumps, dataroots, README). */
export const FIXTURE_DIR = fileURLToPath(new URL('../../../../shared/fixtures/moodle-4.4-S/', import.meta.url));

/** A fixture site by its `$CFG->dbtype`. */
export type FixtureSource = 'pgsql' | 'mariadb';

/** The collation the fixture's MariaDB site has in config.php (and its tables). */
export const FIXTURE_MARIADB_COLLATION = 'utf8mb4_unicode_ci';

/** The test servers a real site needs (`inject('services')` inside vitest). */
export type SiteServices = Pick<TestServices, 'pg' | 'mariadb'>;

/** A Moodle site on disk and in a test database. */
export interface RealSite extends TestSite {
  engine: TestEngine;
  /** Database name on the test server. */
  dbName: string;
  /** `$CFG->dboptions['dbcollation']` written to config.php (MariaDB only). */
  dbcollation?: string;
  /** Code tree for `--moodle-dir` (install.xml files, PLUGINS.tsv). */
  codeDir: string;
  /** Which fixture was loaded into it; undefined for an empty site. */
  fixture?: FixtureSource;
  /** Drops the database and removes the site folder. */
  cleanup(): Promise<void>;
}

/** Options of {@link loadFixtureSite} and {@link createTargetSite}. */
export interface RealSiteOptions {
  /** Database name (default: a unique one). Existing databases of that name are replaced. */
  dbName?: string;
  /** `$CFG->wwwroot` (default the fixture's). */
  wwwroot?: string;
  /**
   * MariaDB: `dboptions['dbcollation']` in config.php (default utf8mb4_unicode_ci); `null`
   * writes none. Ignored on PostgreSQL.
   */
  dbcollation?: string | null;
  /** MariaDB: the database's default collation (default utf8mb4_unicode_ci). */
  databaseCollation?: string;
}

/** Options of {@link createTargetSite}. */
export interface TargetSiteOptions extends RealSiteOptions {
  /** Load the engine's fixture (an installed Moodle) instead of leaving the database empty. */
  installed?: boolean;
}

/** filedir/warning.txt as Moodle 4.4 writes it (lib/filestorage/file_system_filedir.php). */
export const MOODLE_FILEDIR_WARNING = 'This directory contains the content of uploaded files and is controlled by Moodle code. '
  + 'Do not manually move, change or rename any of the files and subdirectories here.';

const engineOf = (s: FixtureSource): TestEngine => (s === 'pgsql' ? 'pg' : 'mariadb');
const DATAROOT_TOP: Record<FixtureSource, string> = { pgsql: 'moodledata', mariadb: 'moodledata2' };
const WWWROOT: Record<FixtureSource, string> = { pgsql: 'http://localhost/moodle', mariadb: 'http://localhost/moodle2' };
let counter = 0;
const uniqueName = (tag: string): string => `rs_${tag}_${process.pid}_${++counter}`;

function serverUrl(engine: TestEngine, services: SiteServices): string {
  const s = engine === 'pg' ? services.pg : services.mariadb;
  if (!s) throw new Error(`real sites need the '${engine}' test service (VAULT_TEST_SERVICES)`);
  return s.url;
}

/** Runs `cmd`, feeding it `input` (a gzipped file, decompressed on the way); rejects with its stderr. */
async function runWithGzInput(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 20_000) stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  const fed = pipeline(createReadStream(input), createGunzip(), child.stdin).catch((e: unknown) => e);
  const code = await exited;
  const feedErr = await fed;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} < ${input} exited ${code}: ${stderr.trim().slice(0, 4000)}`);
  if (feedErr instanceof Error) throw new Error(`feeding ${input} into ${cmd}: ${feedErr.message}`);
}

/** Unpacks a `.tar.gz` into `dir` with the system tar. */
async function untar(archive: string, dir: string): Promise<void> {
  const child = spawn('tar', ['-xzf', archive, '-C', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  if (code !== 0) throw new Error(`tar -xzf ${archive} exited ${code}: ${stderr.trim()}`);
}

/** Loads a fixture dump into the (fresh, empty) database at `dbUrl`. */
async function loadDump(source: FixtureSource, dbUrl: string, services: SiteServices): Promise<void> {
  const dump = join(FIXTURE_DIR, `${source}.sql.gz`);
  if (source === 'pgsql') {
    const bin = services.pg?.bin ?? '/usr/lib/postgresql/15/bin';
    await runWithGzInput(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dbUrl, '-f', '-'], dump);
    return;
  }
  const u = new URL(dbUrl);
  // The password goes through the environment, not argv (ps shows argv).
  await runWithGzInput('mariadb', ['--no-defaults', '--batch', '-h', u.hostname, '-P', u.port || '3306', '-u', decodeURIComponent(u.username),
    '--default-character-set=utf8mb4', decodeURIComponent(u.pathname.slice(1))], dump, { ...process.env, MYSQL_PWD: decodeURIComponent(u.password) });
}

async function dropDatabase(engine: TestEngine, dbName: string, services: SiteServices): Promise<void> {
  const base = serverUrl(engine, services);
  if (engine === 'pg') {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try { await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`); } finally { await c.end(); }
    return;
  }
  const c = await mysql.createConnection(base.replace(/^mariadb:/, 'mysql:'));
  try { await c.query(`DROP DATABASE IF EXISTS \`${dbName}\``); } finally { await c.end(); }
}

/** Database, folder and config.php of a site; the dataroot is `<root>/<datarootName>`. */
async function newSite(engine: TestEngine, services: SiteServices, opts: RealSiteOptions, datarootName: string, wwwroot: string, fill: (root: string, dbUrl: string) => Promise<void>): Promise<Omit<RealSite, 'fixture'>> {
  const dbName = opts.dbName ?? uniqueName(engine);
  const dbUrl = await freshDatabase(engine, dbName, { baseUrl: serverUrl(engine, services), ...(opts.databaseCollation ? { collation: opts.databaseCollation } : {}) });
  const root = await mkdtemp(join(tmpdir(), `real-site-${engine}-`));
  const cleanup = async (): Promise<void> => {
    await Promise.all([dropDatabase(engine, dbName, services), rm(root, { recursive: true, force: true })]);
  };
  try {
    await fill(root, dbUrl);
    const dbcollation = engine === 'mariadb' && opts.dbcollation !== null ? (opts.dbcollation ?? FIXTURE_MARIADB_COLLATION) : undefined;
    const site = await makeSite(dbUrl, opts.wwwroot ?? wwwroot, { root, datarootName, ...(dbcollation ? { dboptions: { dbcollation } } : {}) });
    return { ...site, engine, dbName, codeDir: SCHEMA_DIR, cleanup, ...(dbcollation ? { dbcollation } : {}) };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/**
 * A real Moodle 4.4 site from the fixture: fresh database `opts.dbName` loaded from the dump,
 * dataroot unpacked (with its filedir of 75 files), config.php as on the original site.
 */
export async function loadFixtureSite(source: FixtureSource, services: SiteServices, opts: RealSiteOptions = {}): Promise<RealSite> {
  const engine = engineOf(source);
  const site = await newSite(engine, services, { ...opts, dbName: opts.dbName ?? uniqueName(`fx_${source}`) }, DATAROOT_TOP[source], WWWROOT[source], async (root, dbUrl) => {
    await Promise.all([loadDump(source, dbUrl, services), untar(join(FIXTURE_DIR, `${source}-dataroot.tar.gz`), root)]);
  });
  return { ...site, fixture: source };
}

/**
 * A restore target on `engine`: by default an empty database with an empty dataroot (holding
 * only `filedir/`) and config.php; with `installed` the engine's fixture site (different ids,
 * timestamps and identifiers than the other engine's fixture, same code and schema).
 */
export async function createTargetSite(engine: TestEngine, services: SiteServices, opts: TargetSiteOptions = {}): Promise<RealSite> {
  const source: FixtureSource = engine === 'pg' ? 'pgsql' : 'mariadb';
  if (opts.installed) return loadFixtureSite(source, services, { ...opts, dbName: opts.dbName ?? uniqueName(`tgt_${engine}`), wwwroot: opts.wwwroot ?? `https://target-${engine}.example.org` });
  return newSite(engine, services, { ...opts, dbName: opts.dbName ?? uniqueName(`tgt_${engine}`) }, 'moodledata', opts.wwwroot ?? `https://target-${engine}.example.org`, async (root) => {
    // Moodle writes this file when it creates the file pool (file_system_filedir::__construct),
    // so every site's filedir has it; no archive carries it (the plugin backs up blobs only).
    await mkdir(join(root, 'moodledata', 'filedir'), { recursive: true });
    await writeFile(join(root, 'moodledata', 'filedir', 'warning.txt'), MOODLE_FILEDIR_WARNING);
  });
}

/** One index as Moodle sees it, in an engine-neutral form. */
export interface IndexInfo {
  /** Table name without the prefix. */
  table: string;
  /** Index name as in the catalog (`PRIMARY` on MariaDB). */
  name: string;
  unique: boolean;
  primary: boolean;
  /** `fulltext`: PostgreSQL GIN over `to_tsvector(...)` or MariaDB FULLTEXT; `btree` otherwise. */
  kind: 'btree' | 'fulltext' | 'other';
  /** Column names in index order (the column inside `to_tsvector(...)` for a full-text index). */
  columns: string[];
  /** The raw definition (PostgreSQL `pg_get_indexdef`, MariaDB `INDEX_TYPE`) for messages. */
  definition: string;
}

const unquote = (s: string): string => s.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"');

/** Splits an index column list at top-level commas. */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote: string | null = null;
  for (const ch of s) {
    if (quote) { cur += ch; if (ch === quote) quote = null; continue; }
    if (ch === "'" || ch === '"') { quote = ch; cur += ch; continue; }
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Every index of the tables with `prefix`, read from the catalogs (not through the agent). */
export async function indexSet(dbUrl: string, prefix = 'mdl_'): Promise<IndexInfo[]> {
  const like = `${prefix.replace(/_/g, '\\_')}%`;
  if (dbUrl.startsWith('postgres')) {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      const r = await c.query<{ tbl: string; name: string; uniq: boolean; prim: boolean; am: string; def: string }>(
        `SELECT t.relname AS tbl, i.relname AS name, ix.indisunique AS uniq, ix.indisprimary AS prim, am.amname AS am, pg_get_indexdef(ix.indexrelid) AS def
           FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam
          WHERE n.nspname = current_schema() AND t.relname LIKE $1 ORDER BY 1, 2`, [like]);
      return r.rows.map((x) => {
        const open = x.def.indexOf(`USING ${x.am} (`);
        const list = open >= 0 ? x.def.slice(open + `USING ${x.am} (`.length, x.def.lastIndexOf(')')) : '';
        const parts = splitTopLevel(list);
        const ts = parts.map((p) => /^to_tsvector\('[^']*'::regconfig,\s*(.+)\)$/.exec(p));
        const fulltext = x.am === 'gin' && parts.length > 0 && ts.every(Boolean);
        const columns = fulltext ? ts.map((m) => unquote(m?.[1] ?? '')) : parts.map(unquote);
        return { table: x.tbl.slice(prefix.length), name: x.name, unique: x.uniq, primary: x.prim, kind: fulltext ? 'fulltext' : x.am === 'btree' ? 'btree' : 'other', columns, definition: x.def };
      });
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection(dbUrl.replace(/^mariadb:/, 'mysql:'));
  try {
    const [rows] = await c.query(
      `SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, NON_UNIQUE AS nonuniq, INDEX_TYPE AS type, COLUMN_NAME AS col, SEQ_IN_INDEX AS seq
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, [like]);
    const byKey = new Map<string, IndexInfo>();
    for (const r of rows as { tbl: string; name: string; nonuniq: number | string; type: string; col: string }[]) {
      const key = `${r.tbl}\u0000${r.name}`;
      let ix = byKey.get(key);
      if (!ix) {
        ix = { table: r.tbl.slice(prefix.length), name: r.name, unique: Number(r.nonuniq) === 0, primary: r.name === 'PRIMARY', kind: r.type === 'FULLTEXT' ? 'fulltext' : r.type === 'BTREE' ? 'btree' : 'other', columns: [], definition: r.type };
        byKey.set(key, ix);
      }
      ix.columns.push(r.col);
    }
    return [...byKey.values()];
  } finally {
    await c.end();
  }
}

/** MariaDB: table name (without prefix) → its collation. */
export async function tableCollations(dbUrl: string, prefix = 'mdl_'): Promise<Map<string, string>> {
  const c = await mysql.createConnection(dbUrl.replace(/^mariadb:/, 'mysql:'));
  try {
    const [rows] = await c.query(`SELECT TABLE_NAME AS t, TABLE_COLLATION AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?`, [`${prefix.replace(/_/g, '\\_')}%`]);
    return new Map((rows as { t: string; c: string }[]).map((r) => [r.t.slice(prefix.length), r.c]));
  } finally {
    await c.end();
  }
}

/** MariaDB: `table.column` → collation of every character column of the tables with `prefix`. */
export async function columnCollations(dbUrl: string, prefix = 'mdl_'): Promise<Map<string, string>> {
  const c = await mysql.createConnection(dbUrl.replace(/^mariadb:/, 'mysql:'));
  try {
    const [rows] = await c.query(`SELECT TABLE_NAME AS t, COLUMN_NAME AS col, COLLATION_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? AND COLLATION_NAME IS NOT NULL`, [`${prefix.replace(/_/g, '\\_')}%`]);
    return new Map((rows as { t: string; col: string; c: string }[]).map((r) => [`${r.t.slice(prefix.length)}.${r.col}`, r.c]));
  } finally {
    await c.end();
  }
}
