/**
 * The crash matrix of issue 12: a vault-agent restore onto a real Moodle site either completes or
 * leaves the site exactly as it was, and after a kill `--resume` finishes it to exactly the
 * backup's content. Used by `agent/test/e2e/restore-crash.test.ts`.
 *
 * Set-up ({@link MatrixSetup}): both fixture sites, one per engine (installed Moodles), each
 * with a few dataroot files a backup carries (the fixtures' dataroots hold only cache, temp and
 * other names a backup skips), backed up through the local API. Each site is then the target
 * of its engine's chain ({@link CrashMatrix}): it starts holding its own backup, and every case
 * restores the backup it does not hold (the other site's, then its own again, …), so each
 * restore changes the site (the tables with content, 66 of 74 blobs, the dataroot); a completed
 * case leaves the target holding that backup and the next case restores the other one onto it
 * (no reload). The cases of one engine run one after the other; the two engines' chains run at
 * the same time ({@link crashMatrixSuite}).
 *
 * Every case runs the real CLI as a child process (`node agent/bin/vault-agent.js restore`), with
 * failpoints (agent/src/failpoints.ts) in `VAULT_AGENT_FAILPOINTS`, so SIGKILL hits the real
 * process. A failpoint that never fires is a failure, never a pass.
 *
 * What is compared ({@link SiteState}): every table of the database (all schemas on PostgreSQL,
 * so staging schemas count; the whole database on MariaDB, so `vault_stg_*`/`vault_old_*`
 * count), the rows of every prefix table (a server-side hash per table: {@link fastHashes}),
 * column definitions, every index, PostgreSQL sequences / MariaDB AUTO_INCREMENT values, every
 * file and folder of the site's folder (config.php, the dataroot with content hashes, the
 * filedir by path and size: blob names are their SHA-1).
 *
 * - "exactly as before" ({@link sameAsBefore}): all of it equal, nothing left out.
 * - "the backup's content" ({@link CrashMatrix.restoredProblems}): prefix tables equal the backup's source
 *   but for the rows a restore changes on purpose (support/restore-differences.ts). The first
 *   time a backup is restored onto an engine this is checked with the engine-neutral row hashes
 *   of support/table-hashes.ts against those of its site before the backup; the
 *   server-side hashes of that checked result are then the reference for later restores of the
 *   same backup. Indexes: those Moodle has on the target engine. filedir: the source's blobs
 *   (plus the target's own non-blob files such as warning.txt). dataroot: what the backup
 *   carries plus what a restore keeps of the target ({@link RESTORE_KEEPS}), {@link PURGED}
 *   left out, nothing else (no staging folders, no `.vaultpart`); maintenance mode off;
 *   config.php untouched.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, readlink, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api-server.js';
import { service } from '../../../test/support/services.js';
import { runBackup } from '../../src/site/backup.js';
import { createContext } from '../../src/site/context.js';
import { TEST_ENGINES, type TestEngine } from './databases.js';
import { noise, writeTree } from '../e2e/site-fixture.js';
import { createTargetSite, indexSet, type IndexInfo, type RealSite, type SiteServices } from './real-sites.js';
import { COMPARED_ROWS, isVaultTable } from './restore-differences.js';
import { tableHashes, type TableHash } from './table-hashes.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/vault-agent.js', import.meta.url));
const PREFIX = 'mdl_';
const MiB = 1024 * 1024;

/**
 * Top-level dataroot names a backup never carries and a restore keeps as the target had them
 * (docs/agent.md "What is and is not backed up"; agent/src/files/names.ts ALWAYS_SKIPPED), besides
 * every name starting with `.`. `filedir` is compared on its own; `climaintenance.html` (the
 * maintenance flag) must be gone after every restore.
 */
export const RESTORE_KEEPS: readonly string[] = ['cache', 'localcache', 'temp', 'sessions', 'trashdir', 'lock', 'phpunit', 'phpunittestdir.txt',
  'originaldatafiles.json', 'behattestdir.txt', 'behat_dump', 'behat', '__vault_restore__', 'vault-agent'];

/** Names a backup also leaves out by default (the `backupexcludedataroot` setting); a restore deletes them on the target. */
const BACKUP_EXCLUDES: readonly string[] = ['muc', 'antivirus_quarantine'];

/**
 * Dataroot folders whose content a finished restore changes on purpose, left out when the target
 * is compared with a backup: `cache` and `localcache` are emptied by the post-restore cache
 * purge, `sessions` by killing every session (format §10). Nothing else is left out: `temp`,
 * `lock`, `trashdir` and dot files are the target's and must come through unchanged, and anything
 * the agent leaves behind (staging folders, partial files) is a failure. A failed restore must
 * not touch these either: {@link sameAsBefore} compares them too.
 */
export const PURGED: readonly string[] = ['cache', 'localcache', 'sessions'];

const MAINTENANCE_FLAG = 'climaintenance.html';

/**
 * What only the agent creates, mid-restore (docs/agent.md; issue 12): staging and old tables
 * (PostgreSQL schemas `vault_agent_staging` / `vault_agent_old`, MariaDB tables `vault_stg_*` /
 * `vault_old_*`), the dataroot's `.vault-agent-*` folders, partial files. When a case starts
 * with such leftovers (an earlier case failed), they are never expected to survive a restore;
 * left after one, they are problems like any unexpected entry.
 */
const agentTable = (t: string): boolean => /^(vault_agent_staging|vault_agent_old)\./.test(t) || /^vault_(stg|old)_/.test(t);
const agentFile = (rel: string): boolean => rel.startsWith('.vault-agent') || /\.(vaultpart|vaulttmp)$/.test(rel) || /[0-9a-f]{40}\.[^/]*\.tmp$/.test(rel);
const BLOB = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{40}$/;
const topOf = (rel: string): string => rel.split('/')[0] as string;
const keptByRestore = (top: string): boolean => top.startsWith('.') || RESTORE_KEEPS.includes(top);
const carriedByBackup = (top: string): boolean => !top.startsWith('.') && !RESTORE_KEEPS.includes(top) && !BACKUP_EXCLUDES.includes(top)
  && top !== 'filedir' && top !== MAINTENANCE_FLAG;

/** Everything of a site the matrix compares. */
export interface SiteState {
  /** Every table of the database: `schema.table` over all non-system schemas (PostgreSQL), names (MariaDB). */
  tables: string[];
  /** Every prefix table, all rows: name without prefix → `rows:hash` ({@link fastHashes}). */
  rows: Record<string, string>;
  /** The same with {@link COMPARED_ROWS} applied (rows a restore changes on purpose left out). */
  compared: Record<string, string>;
  /** Column definitions of every prefix table. */
  columns: Record<string, string>;
  /** Every index of the prefix tables: engine-neutral key with its name → catalog definition. */
  indexes: Record<string, string>;
  /** PostgreSQL sequences (every schema) / MariaDB AUTO_INCREMENT values: name → value. */
  sequences: Record<string, string>;
  /** Files and folders of the site folder outside the dataroot (config.php): path → `size:sha256` or `dir`. */
  outside: Record<string, string>;
  /** Files and folders of the dataroot except filedir: path → `size:sha256`, `dir` or `link:<target>`. */
  dataroot: Record<string, string>;
  /** Files of the filedir: path → size (blobs; names are SHA-1s) or `size:sha256` (other files). */
  filedir: Record<string, string>;
}

/** One of the two backups the matrix restores. */
export interface MatrixBackup {
  /** For messages: "P (the pgsql fixture site)". */
  name: string;
  key: string;
  /** Engine-neutral hashes of the compared rows of the source's prefix tables (tool_vault's left out), read before the backup. */
  compared: Record<string, string>;
  /** The source's prefix tables (tool_vault's included: the target keeps its own). */
  tables: string[];
  /** The source's blobs: path under filedir → size. */
  blobs: Record<string, string>;
  /** The dataroot files and folders the backup carries: path → `size:sha256` or `dir`. */
  dataroot: Record<string, string>;
}

/** Outcome of one CLI run. */
export interface AgentRun {
  args: string[];
  failpoints: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The test killed it after the run's time limit. */
  timedOut: boolean;
}

const hashOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const mapRecord = (m: Map<string, TableHash>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [k, `${v.rows}:${v.hash}`]));
const rowCount = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v.split(':')[0]));
const sizeOf = (v: string): number => (v === 'dir' || v.startsWith('link:') ? 0 : Number(v.split(':')[0]) || 0);

/**
 * Walks `root` (files, folders and symlinks, without following links). `skip(rel)` leaves an
 * entry out with everything below it; files are hashed unless `hashContent(rel)` says no.
 */
async function walk(root: string, opts: { skip?: (rel: string) => boolean; hashContent?: (rel: string) => boolean } = {}, rel = '', out: Record<string, string> = {}): Promise<Record<string, string>> {
  const entries = await readdir(rel ? join(root, rel) : root, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' && rel === '') return [];
    throw e;
  });
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (opts.skip?.(r)) continue;
    const p = join(root, r);
    if (e.isSymbolicLink()) out[r] = `link:${await readlink(p)}`;
    else if (e.isDirectory()) {
      out[r] = 'dir';
      await walk(root, opts, r, out);
    } else {
      const st = await lstat(p);
      out[r] = opts.hashContent && !opts.hashContent(r) ? String(st.size) : `${st.size}:${hashOf(await readFile(p))}`;
    }
  }
  return out;
}

/** Lines naming what differs between two records (capped), empty when equal. */
export function diffRecords(what: string, expected: Record<string, string>, actual: Record<string, string>, cap = 12): string[] {
  const out: string[] = [];
  for (const k of Object.keys(expected)) {
    if (!(k in actual)) out.push(`${what}: missing ${k}`);
    else if (expected[k] !== actual[k]) out.push(`${what}: changed ${k} (${expected[k]} → ${actual[k]})`);
  }
  for (const k of Object.keys(actual)) if (!(k in expected)) out.push(`${what}: unexpected ${k} (${actual[k]})`);
  return out.length > cap ? [...out.slice(0, cap), `${what}: … and ${out.length - cap} more`] : out;
}

const asRecord = (names: readonly string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, 'table']));
const pick = (r: Record<string, string>, keep: (k: string) => boolean): Record<string, string> => Object.fromEntries(Object.entries(r).filter(([k]) => keep(k)));

/** Engine-neutral index key with its name (primary keys by columns only: MariaDB names every one PRIMARY). */
export const indexKey = (i: IndexInfo): string => (i.primary
  ? `${i.table} PRIMARY KEY (${i.columns.join(', ')})`
  : `${i.table} ${i.unique ? 'UNIQUE ' : ''}${i.kind.toUpperCase()} ${i.name} (${i.columns.join(', ')})`);

const isPg = (url: string): boolean => url.startsWith('postgres');

/** Opens a client, runs `fn`, closes it. */
async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function withMy<T>(url: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection(url.replace(/^mariadb:/, 'mysql:'));
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Runs SQL statements, one after the other, on the database at `url`; the rows of each. */
export async function sql(url: string, statements: readonly string[]): Promise<Record<string, unknown>[][]> {
  if (isPg(url)) {
    return withPg(url, async (c) => {
      const out: Record<string, unknown>[][] = [];
      for (const st of statements) out.push((await c.query(st)).rows as Record<string, unknown>[]);
      return out;
    });
  }
  return withMy(url, async (c) => {
    const out: Record<string, unknown>[][] = [];
    for (const st of statements) {
      const [rows] = await c.query(st);
      out.push(Array.isArray(rows) ? rows as Record<string, unknown>[] : []);
    }
    return out;
  });
}

/** Every table, and every sequence / AUTO_INCREMENT, of the database at `url`. */
async function catalog(url: string): Promise<{ tables: string[]; sequences: Record<string, string> }> {
  if (isPg(url)) {
    return withPg(url, async (c) => {
      const t = await c.query<{ name: string }>(`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`);
      const s = await c.query<{ name: string; value: string | null }>(`SELECT schemaname || '.' || sequencename AS name, last_value::text AS value FROM pg_sequences ORDER BY 1`);
      return { tables: t.rows.map((r) => r.name), sequences: Object.fromEntries(s.rows.map((r) => [r.name, r.value ?? 'unused'])) };
    });
  }
  return withMy(url, async (c) => {
    const [rows] = await c.query(`SELECT TABLE_NAME AS name, AUTO_INCREMENT AS ai FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`);
    const list = rows as { name: string; ai: number | string | null }[];
    return { tables: list.map((r) => r.name), sequences: Object.fromEntries(list.filter((r) => r.ai !== null).map((r) => [r.name, String(r.ai)])) };
  });
}

/** Prefix tables as the catalog names them (site schema on PostgreSQL). */
const isSiteTable = (t: string): boolean => t.replace(/^public\./, '').startsWith(PREFIX) && (!t.includes('.') || t.startsWith('public.'));

/**
 * Server-side hashes of every prefix table of the site schema, in one statement per engine
 * (per batch on MariaDB): row count and MD5 over the sorted MD5s of the rows (PostgreSQL
 * `to_jsonb(row)`, MariaDB `QUOTE()` of every column); `compared` applies {@link COMPARED_ROWS}.
 * Engine-specific, so only ever compared with hashes from the same engine. Column definitions too.
 */
export async function fastHashes(url: string): Promise<{ rows: Record<string, string>; compared: Record<string, string>; columns: Record<string, string> }> {
  const rows: Record<string, string> = {};
  const compared: Record<string, string> = {};
  const columns: Record<string, string> = {};
  const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  if (isPg(url)) {
    await withPg(url, async (c) => {
      const cols = await c.query<{ t: string; cols: string }>(`SELECT c.relname AS t, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
          || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum) AS cols
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND left(c.relname, ${PREFIX.length}) = ${lit(PREFIX)} GROUP BY c.relname`);
      for (const r of cols.rows) columns[r.t.slice(PREFIX.length)] = r.cols;
      const part = (key: string, table: string, where?: string): string => `SELECT ${lit(key)} AS k, count(*)::int AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS h
        FROM (SELECT md5(to_jsonb(x)::text) AS h FROM "${PREFIX}${table}" x${where ? ` WHERE ${where}` : ''}) s`;
      const tables = Object.keys(columns);
      const parts = [...tables.map((t) => part(t, t)), ...tables.filter((t) => COMPARED_ROWS[t]).map((t) => part(`?${t}`, t, COMPARED_ROWS[t]))];
      const r = await c.query<{ k: string; n: number; h: string }>(parts.join('\nUNION ALL\n'));
      for (const x of r.rows) (x.k.startsWith('?') ? compared : rows)[x.k.replace(/^\?/, '')] = `${x.n}:${x.h}`;
    });
  } else {
    await withMy(url, async (c) => {
      await c.query('SET SESSION group_concat_max_len = 1073741824');
      const [list] = await c.query(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, IS_NULLABLE AS nl, COLUMN_DEFAULT AS df, COLLATION_NAME AS co, EXTRA AS ex
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ${PREFIX.length}) = ${lit(PREFIX)} ORDER BY TABLE_NAME, ORDINAL_POSITION`);
      const byTable = new Map<string, string[]>();
      for (const r of list as { t: string; c: string; ty: string; nl: string; df: string | null; co: string | null; ex: string }[]) {
        const t = r.t.slice(PREFIX.length);
        byTable.set(t, [...(byTable.get(t) ?? []), r.c]);
        columns[t] = `${columns[t] ? `${columns[t]}, ` : ''}${r.c} ${r.ty}${r.nl === 'NO' ? ' NOT NULL' : ''}${r.df !== null ? ` DEFAULT ${r.df}` : ''}${r.co ? ` ${r.co}` : ''}${r.ex ? ` ${r.ex}` : ''}`;
      }
      const part = (key: string, table: string, where?: string): string => {
        const row = `MD5(CONCAT_WS(',', ${(byTable.get(table) ?? []).map((col) => `QUOTE(\`${col}\`)`).join(', ')}))`;
        return `SELECT ${lit(key)} AS k, COUNT(*) AS n, MD5(IFNULL(GROUP_CONCAT(h ORDER BY h SEPARATOR ''), '')) AS h
          FROM (SELECT ${row} AS h FROM \`${PREFIX}${table}\` x${where ? ` WHERE ${where}` : ''}) s`;
      };
      const tables = [...byTable.keys()];
      const parts = [...tables.map((t) => part(t, t)), ...tables.filter((t) => COMPARED_ROWS[t]).map((t) => part(`?${t}`, t, COMPARED_ROWS[t]))];
      for (let i = 0; i < parts.length; i += 60) {
        const [res] = await c.query(parts.slice(i, i + 60).join('\nUNION ALL\n'));
        for (const x of res as { k: string; n: number | string; h: string }[]) (x.k.startsWith('?') ? compared : rows)[x.k.replace(/^\?/, '')] = `${x.n}:${x.h}`;
      }
    });
  }
  return { rows, compared: { ...rows, ...compared }, columns };
}

/** Reads everything {@link SiteState} holds. */
export async function siteState(site: RealSite): Promise<SiteState> {
  const dataroot = relative(site.root, site.dataroot).split(sep).join('/');
  const [cat, hashes, idx, outside, dr, filedir] = await Promise.all([
    catalog(site.dbUrl),
    fastHashes(site.dbUrl),
    indexSet(site.dbUrl, PREFIX),
    walk(site.root, { skip: (r) => r === dataroot }),
    walk(site.dataroot, { skip: (r) => r === 'filedir' }),
    walk(join(site.dataroot, 'filedir'), { hashContent: (r) => !BLOB.test(r) }),
  ]);
  return {
    tables: cat.tables, sequences: cat.sequences, ...hashes,
    indexes: Object.fromEntries(idx.map((i) => [indexKey(i), i.definition])),
    outside, dataroot: dr, filedir: pick(filedir, (k) => filedir[k] !== 'dir'),
  };
}

/** What differs between two states, for "exactly as before" (nothing left out). */
export function sameAsBefore(before: SiteState, after: SiteState): string[] {
  return [
    ...diffRecords('table', asRecord(before.tables), asRecord(after.tables)),
    ...diffRecords('table content (rows:hash)', before.rows, after.rows),
    ...diffRecords('columns', before.columns, after.columns),
    ...diffRecords('index', before.indexes, after.indexes),
    ...diffRecords('sequence', before.sequences, after.sequences),
    ...diffRecords('site folder (outside the dataroot)', before.outside, after.outside),
    ...diffRecords('dataroot', before.dataroot, after.dataroot),
    ...diffRecords('filedir', before.filedir, after.filedir),
  ];
}

/** Dataroot files only (folders implied by them), {@link PURGED} left out. */
const comparableDataroot = (r: Record<string, string>): Record<string, string> => pick(r, (k) => r[k] !== 'dir' && !PURGED.includes(topOf(k)));

/** The dataroot files the backup carries (the fixtures' dataroots hold nothing a backup carries). */
function datarootExtras(engine: TestEngine): Record<string, string | Buffer> {
  const files: Record<string, string | Buffer> = {};
  const tag = engine === 'pg' ? 'P' : 'M';
  const lang = engine === 'pg' ? 'de' : 'fr';
  for (let i = 0; i < 12; i++) files[`lang/${lang}_crash/strings_${i}.php`] = `<?php // ${tag}\n$string['s${i}'] = '${'x'.repeat(200 + i * 37)}';\n`;
  for (let i = 0; i < 12; i++) files[`repository/course_${tag}/notes-${i}.txt`] = noise(`${tag} notes ${i}`, 2_000 + i * 500);
  files[engine === 'pg' ? 'models/crash/weights.bin' : 'h5p/libraries/crash.js'] = noise(`${tag} big`, 1_500_000);
  return files;
}

/** Collects the facts of a backup's source (before the backup, so nothing the agent does can change them). */
async function describeSource(name: string, source: RealSite): Promise<Omit<MatrixBackup, 'key'>> {
  const [compared, cat, dr, fd] = await Promise.all([
    tableHashes(source.dbUrl, PREFIX, COMPARED_ROWS),
    catalog(source.dbUrl),
    walk(source.dataroot, { skip: (r) => r === 'filedir' }),
    walk(join(source.dataroot, 'filedir'), { hashContent: () => false }),
  ]);
  return {
    name,
    blobs: pick(fd, (k) => BLOB.test(k)),
    dataroot: pick(dr, (k) => carriedByBackup(topOf(k))),
    compared: pick(mapRecord(compared), (t) => !isVaultTable(t)),
    tables: cat.tables.filter(isSiteTable).map((t) => t.replace(/^public\./, '').slice(PREFIX.length)),
  };
}

/**
 * What both engines' chains share: the API and its account, and the two fixture sites (one per
 * engine, each with its dataroot files) backed up. Each site is then the target of its engine's
 * chain: its own backup is the one it holds at the start, the other site's is the other.
 */
export class MatrixSetup {
  private constructor(
    readonly api: TestApi,
    readonly apikey: string,
    readonly sites: ReadonlyMap<TestEngine, RealSite>,
    /** The backup of each engine's site, taken before any restore. */
    readonly backups: ReadonlyMap<TestEngine, MatrixBackup>,
    /** Moodle's indexes on each engine (its fixture's, tool_vault's left out): key → 'index'. */
    readonly indexes: ReadonlyMap<TestEngine, Record<string, string>>,
    /** Per engine: `--state-dir` of the backup and of every restore of its chain. */
    readonly stateDirs: ReadonlyMap<TestEngine, string>,
  ) {}

  /** Loads both fixture sites, adds dataroot files, backs both up (in-process: the restores are the subject). */
  static async create(services: SiteServices): Promise<MatrixSetup> {
    const engines: TestEngine[] = ['pg', 'mariadb'];
    const [api, ...sites] = await Promise.all([
      startTestApi({ regions: ['eu'] }),
      ...engines.map((e) => createTargetSite(e, services, { installed: true, dbName: `crash_matrix_${e}` })),
    ]);
    try {
      const { apikey } = await api.registerAccount(undefined, 'pro');
      const host = new URL(service('rgw').endpoint).host;
      const made = await Promise.all(engines.map(async (e, i) => {
        const site = sites[i] as RealSite;
        const stateDir = await mkdtemp(join(tmpdir(), `crash-${e}-state-`));
        await writeTree(site.dataroot, datarootExtras(e));
        const [facts, idx] = await Promise.all([describeSource(`${e === 'pg' ? 'P (the pgsql' : 'M (the mariadb'} fixture site)`, site), indexSet(site.dbUrl, PREFIX)]);
        const ctx = await createContext({ config: site.configPath, moodleDir: site.codeDir, stateDir, apiUrl: api.url, apiKey: apikey, allowStorageHost: [host], partSize: '5M', quiet: true, retry: { attempts: 4, baseDelayMs: 50 } });
        const key = (await runBackup(ctx, { key: null, description: `crash matrix ${facts.name}` })).backupkey;
        return { stateDir, backup: { ...facts, key }, indexes: Object.fromEntries(idx.filter((x) => !isVaultTable(x.table)).map((x) => [indexKey(x), 'index'])) };
      }));
      const by = <T>(f: (x: (typeof made)[number]) => T): Map<TestEngine, T> => new Map(engines.map((e, i) => [e, f(made[i] as (typeof made)[number])]));
      return new MatrixSetup(api, apikey, new Map(engines.map((e, i) => [e, sites[i] as RealSite])), by((x) => x.backup), by((x) => x.indexes), by((x) => x.stateDir));
    } catch (err) {
      await api.close();
      await Promise.all(sites.map((s) => s.cleanup().catch(() => undefined)));
      throw err;
    }
  }

  /** The chain of `engine`. */
  matrix(engine: TestEngine): CrashMatrix {
    const other: TestEngine = engine === 'pg' ? 'mariadb' : 'pg';
    const get = <T>(m: ReadonlyMap<TestEngine, T>, e: TestEngine): T => {
      const v = m.get(e);
      if (v === undefined) throw new Error(`no ${e} site in the set-up`);
      return v;
    };
    return new CrashMatrix(engine, this.api, this.apikey, get(this.sites, engine), [get(this.backups, engine), get(this.backups, other)],
      get(this.stateDirs, engine), get(this.indexes, engine));
  }

  /** Stops the API, drops the databases and folders. */
  async close(): Promise<void> {
    await this.api.close();
    await Promise.all([...this.sites.values()].map((s) => s.cleanup().catch(() => undefined)));
    await Promise.all([...this.stateDirs.values()].map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** One engine's chain: its target, the two backups, the agent's folders. */
export class CrashMatrix {
  /** The backup whose content the target holds now (after the last case). */
  holds: MatrixBackup;
  /** The target's state at the end of the last case that checked it completely, reused as the next "before". */
  private known: SiteState | null = null;
  /** Per backup: server-side hashes and columns of the target once it was checked to hold exactly that backup. */
  private readonly references = new Map<MatrixBackup, Pick<SiteState, 'compared' | 'columns'>>();
  private readonly mounts: string[] = [];
  /** `VAULT_AGENT_FAILPOINT_DIR`: where a paused agent writes `<name>.paused`. */
  readonly failpointDir: string;
  /** Wall time of every agent run and case, for the report. */
  readonly timings: string[] = [];

  constructor(
    readonly engine: TestEngine,
    private readonly api: TestApi,
    private readonly apikey: string,
    readonly target: RealSite,
    /** The target's own backup (what it holds at the start), then the other site's. */
    readonly backups: readonly [MatrixBackup, MatrixBackup],
    /** `--state-dir` of every run (restore.json of an interrupted restore lives here). */
    readonly stateDir: string,
    /** Moodle's indexes on this engine: key → 'index'. */
    readonly expectedIndexes: Record<string, string>,
  ) {
    this.holds = backups[0];
    this.failpointDir = mkdtempSync(join(tmpdir(), `crash-${engine}-failpoints-`));
  }

  /** The backup the target does not hold: what the next case restores. */
  other(): MatrixBackup {
    return this.holds === this.backups[0] ? this.backups[1] : this.backups[0];
  }

  /** The target's state now. */
  state(): Promise<SiteState> {
    return siteState(this.target);
  }

  /** The target's state before a case: the last case's checked end state, else read now. */
  async before(): Promise<SiteState> {
    return this.known ?? this.state();
  }

  /** Records a fully checked end state (the next case's "before"). */
  remember(s: SiteState): void {
    this.known = s;
  }

  /** The target may have changed in ways not checked: the next case reads its state again. */
  forget(): void {
    this.known = null;
  }

  /**
   * What differs between the target's state `after` a restore of `backup` and the backup's
   * content (see the module doc); `before` is the target before that restore.
   */
  async restoredProblems(after: SiteState, backup: MatrixBackup, before: SiteState): Promise<string[]> {
    const problems: string[] = [];
    // Tables: the source's prefix tables, every other table as before (a staging or old table
    // left behind, in any schema, is a problem).
    const qualify = (t: string): string => (before.tables.some((x) => x.includes('.')) ? `public.${PREFIX}${t}` : `${PREFIX}${t}`);
    problems.push(...diffRecords('table', asRecord([...before.tables.filter((t) => !isSiteTable(t) && !agentTable(t)), ...backup.tables.map(qualify)]), asRecord(after.tables)));
    const compared = (r: Record<string, string>): Record<string, string> => pick(r, (t) => !isVaultTable(t));
    const ref = this.references.get(backup);
    if (ref) {
      // Server-side hashes of a target already checked to hold exactly this backup.
      problems.push(...diffRecords(`table content (as when ${backup.name.split(' ')[0]} was last restored and checked)`, compared(ref.compared), compared(after.compared)));
      problems.push(...diffRecords('columns', compared(ref.columns), compared(after.columns)));
    } else {
      const neutral = pick(mapRecord(await tableHashes(this.target.dbUrl, PREFIX, COMPARED_ROWS)), (t) => !isVaultTable(t));
      problems.push(...diffRecords('table content (rows:hash, backup → target)', backup.compared, neutral));
    }
    const sessions = rowCount(after.rows.sessions);
    if (sessions !== 0) problems.push(`sessions: ${sessions ?? 'no table'} rows left (every session is killed after a restore)`);
    const indexes = Object.fromEntries(Object.keys(after.indexes).filter((k) => !isVaultTable(k.split(' ')[0] as string)).map((k) => [k, 'index']));
    problems.push(...diffRecords("index (Moodle's on this engine)", this.expectedIndexes, indexes));
    // filedir: the backup's blobs, and the target's own other files (warning.txt).
    problems.push(...diffRecords('filedir', { ...pick(before.filedir, (k) => !BLOB.test(k) && !agentFile(k)), ...backup.blobs }, after.filedir));
    // dataroot: what the backup carries, plus what a restore keeps of the target; no maintenance flag.
    if (MAINTENANCE_FLAG in after.dataroot) problems.push(`maintenance mode is still on (${MAINTENANCE_FLAG} in the dataroot)`);
    const kept = pick(before.dataroot, (k) => keptByRestore(topOf(k)) && !agentFile(k));
    problems.push(...diffRecords('dataroot file', comparableDataroot({ ...kept, ...backup.dataroot }), comparableDataroot(after.dataroot)));
    // Folders are not compared one by one, but no top-level name may appear from nowhere (an
    // empty staging folder left behind).
    const tops = new Set([...Object.keys(kept), ...Object.keys(backup.dataroot)].map(topOf).concat(PURGED, ['filedir']));
    const stray = [...new Set(Object.keys(after.dataroot).map(topOf))].filter((t) => !tops.has(t));
    if (stray.length) problems.push(`dataroot: unexpected top-level entries ${stray.join(', ')}`);
    problems.push(...diffRecords('site folder (outside the dataroot)', before.outside, after.outside));
    if (problems.length === 0 && !ref) this.references.set(backup, { compared: after.compared, columns: after.columns });
    return problems;
  }

  /** `restore <backup>` as a child process; `failpoints` go to VAULT_AGENT_FAILPOINTS; `during` runs alongside. */
  run(backup: MatrixBackup, opts: { resume?: boolean; failpoints?: string; timeoutMs?: number; during?: (exited: Promise<void>) => Promise<void> } = {}): Promise<AgentRun> {
    const args = [BIN, 'restore', backup.key, '--config', this.target.configPath, '--moodle-dir', this.target.codeDir, '--state-dir', this.stateDir,
      '--api-url', this.api.url, '--api-key', this.apikey, '--allow-storage-host', new URL(service('rgw').endpoint).host, '--part-size', '5M',
      ...(opts.resume ? ['--resume'] : [])];
    const env: NodeJS.ProcessEnv = { ...process.env, VAULT_AGENT_FAILPOINT_DIR: this.failpointDir };
    delete env.VAULT_AGENT_FAILPOINTS;
    if (opts.failpoints) env.VAULT_AGENT_FAILPOINTS = opts.failpoints;
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout = (stdout + d.toString()).slice(-20_000); });
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 240_000);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const during = opts.during ? opts.during(exited.then(() => undefined, () => undefined)) : Promise.resolve();
    return Promise.all([exited, during]).then(([r]) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      this.timings.push(`${opts.resume ? 'resume' : 'restore'} ${backup.name.split(' ')[0]}${opts.failpoints ? ` ${opts.failpoints}` : ''} ${(ms / 1000).toFixed(1)} s`);
      return { args: args.slice(1).map((a) => (a === this.apikey ? '<apikey>' : a)), failpoints: opts.failpoints ?? '', ...r, stdout, stderr, ms, timedOut };
    }, (err: unknown) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      throw err;
    });
  }

  /**
   * Puts the target's dataroot on a tmpfs of `bytes` (its content copied over), or resizes the
   * one already there. Needs root with mount permission (CAP_SYS_ADMIN): a failure says so.
   */
  async datarootOnTmpfs(bytes: number): Promise<void> {
    const dir = this.target.dataroot;
    const size = Math.ceil(bytes / 4096) * 4096;
    if (this.mounts.includes(dir)) {
      await run('mount', ['-o', `remount,size=${size}`, dir]);
      return;
    }
    const away = await mkdtemp(join(tmpdir(), 'crash-dataroot-copy-'));
    try {
      await run('cp', ['-a', `${dir}/.`, away]);
      try {
        await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0777`, 'tmpfs', dir]);
      } catch (err) {
        throw new Error(`the full-disk cases put the dataroot on a small tmpfs, and 'mount -t tmpfs -o size=${size} tmpfs ${dir}' failed `
          + `(${err instanceof Error ? err.message.trim() : String(err)}). Run the tests as root where mounting is allowed `
          + '(in a container: --privileged or --cap-add SYS_ADMIN); these cases are never skipped.');
      }
      this.mounts.push(dir);
      await run('cp', ['-a', `${away}/.`, dir]);
    } finally {
      await rm(away, { recursive: true, force: true });
    }
  }

  /** Bytes used on the file system of the target's dataroot. */
  async datarootUsedBytes(): Promise<number> {
    const s = await statfs(this.target.dataroot);
    return (s.blocks - s.bfree) * s.bsize;
  }

  /** Unmounts the tmpfs (the set-up drops the sites). */
  async close(): Promise<void> {
    for (const dir of this.mounts.splice(0)) await run('umount', [dir]).catch(() => run('umount', ['-l', dir])).catch(() => undefined);
    rmSync(this.failpointDir, { recursive: true, force: true });
  }
}

/** Fills the file system holding `dir` with one file (returned, to be removed later) until it has no space left. */
export async function fillFileSystem(dir: string): Promise<{ path: string; bytes: number }> {
  const path = join(dir, 'crash-matrix-filler.bin');
  const fh = await open(path, 'w');
  let bytes = 0;
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          const { bytesWritten } = await fh.write(buf);
          bytes += bytesWritten;
          if (bytesWritten < chunk) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await fh.close();
  }
  return { path, bytes };
}

/** Waits until `file` exists or `exited` settles; true when the file appeared. */
async function waitForFile(file: string, exited: Promise<void>, timeoutMs = 180_000): Promise<boolean> {
  let done = false;
  void exited.then(() => { done = true; });
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(file)) return true;
    if (done) return existsSync(file);
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/** The last lines of a run's output, for failure messages. */
export function tail(r: AgentRun, lines = 12): string {
  const text = `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-lines).join('\n');
  return `\n--- vault-agent ${r.args.slice(1, 3).join(' ')}${r.args.includes('--resume') ? ' --resume' : ''}${r.failpoints ? ` (VAULT_AGENT_FAILPOINTS=${r.failpoints})` : ''}, ${(r.ms / 1000).toFixed(1)} s, ${ended(r)}:\n${text}\n---`;
}

/** How a run ended, in words. */
export function ended(r: AgentRun): string {
  if (r.timedOut) return 'did not finish in time (killed by the test)';
  return r.signal ? `was killed by ${r.signal}` : `exited ${r.code}`;
}

/** A kill point of the matrix: `name[@N]` and where in a restore that is. */
export interface KillPoint {
  point: string;
  when: string;
  /** Before the database switch: Moodle's tables must still be the old site's right after the kill. */
  beforeSwitch: boolean;
}

/**
 * The kill points, in restore order. Counts behind the `@N`: 485 tables travel, 404 of them empty
 * on both sites and defined on the target exactly as the restore creates them, so carried over
 * (db/carry-over.ts): 81 are staged and switched, and 81 old tables dropped (batches of 50). On
 * MariaDB search_simpledb's empty table (FULLTEXT index and all) and the 32 tables both sites
 * hold identically are carried over too: 48 are staged, switched and dropped (one batch);
 * each backup's dataroot carries 25 files, and each restore writes 66 new blobs (the two sites
 * share 8 of their 74); the first case of each engine checks these facts, so every `@N` is
 * mid-way.
 */
export const KILL_POINTS = {
  download: { point: 'restore.download.archive@3', when: 'as the third archive is downloaded (dbstructure.zip and the first dbdump came before: the staging phase, files beside the database load)', beforeSwitch: true },
  firstTable: { point: 'restore.load.table@1', when: 'after the first table of the staging load', beforeSwitch: true },
  midLoad: { point: 'restore.load.table@25', when: 'part-way through the staging load (table 25 of the 81 staged on PostgreSQL, of 48 on MariaDB)', beforeSwitch: true },
  engineIndexes: { point: 'restore.load.engine-indexes', when: 'before the engine-specific indexes are built', beforeSwitch: true },
  dataroot: { point: 'restore.files.dataroot@12', when: 'mid-way through the dataroot extraction (entry 12 of 25)', beforeSwitch: true },
  filedir: { point: 'restore.files.filedir@30', when: 'mid-way through the filedir extraction (new blob 30 of 66)', beforeSwitch: true },
  switchBefore: { point: 'restore.switch.before', when: 'right before the one-step database switch', beforeSwitch: true },
  switchAfterDb: { point: 'restore.switch.after-db', when: 'right after the database switch, before the dataroot switch', beforeSwitch: false },
  switchDataroot: { point: 'restore.switch.dataroot@1', when: 'during the dataroot switch (after its first rename)', beforeSwitch: false },
  oldTables: { point: 'restore.cleanup.old-tables@1', when: 'after the first batch of old tables is dropped (50 of 81 on PostgreSQL, all 48 on MariaDB)', beforeSwitch: false },
  blobs: { point: 'restore.post.blobs', when: "before the old site's orphan blobs are removed", beforeSwitch: false },
  finish: { point: 'restore.post.finish', when: 'right before maintenance mode off and PATCH finished', beforeSwitch: false },
} as const satisfies Record<string, KillPoint>;

/** What a failed restore must say about the site. */
export const SAYS_UNCHANGED = /\b(unchanged|not (been )?changed|nothing (was |has been )?changed|(left )?(exactly )?as it was)\b/i;

/**
 * Kill case: the restore of the other backup is killed (SIGKILL from the failpoint) at `k.point`;
 * before the switch Moodle's tables must still be the old ones; `--resume` must exit 0 and leave
 * exactly the backup's content. Returns the problems found (none: passed).
 */
export async function killCase(m: CrashMatrix, k: KillPoint): Promise<string[]> {
  const backup = m.other();
  const before = await m.before();
  // Whatever happens now, the target holds (or should hold) this backup at the end.
  m.forget();
  m.holds = backup;
  const killed = await m.run(backup, { failpoints: `${k.point}=kill` });
  if (killed.signal !== 'SIGKILL' || killed.timedOut) return [`the process ${ended(killed)} but should have been killed at ${k.point} (${k.when})${tail(killed)}`];
  const problems: string[] = [];
  if (k.beforeSwitch) {
    const [cat, hashes] = await Promise.all([catalog(m.target.dbUrl), fastHashes(m.target.dbUrl)]);
    problems.push(...[
      ...diffRecords('Moodle table', asRecord(before.tables.filter(isSiteTable)), asRecord(cat.tables.filter(isSiteTable))),
      ...diffRecords('Moodle table content (rows:hash)', before.rows, hashes.rows),
    ].map((p) => `killed before the switch, Moodle's tables must still be the old site's: ${p}`));
  }
  const resumed = await m.run(backup, { resume: true });
  if (resumed.code !== 0) return [...problems, `after the kill at ${k.point}, the resumed restore ${ended(resumed)}; it must finish (exit 0)${tail(resumed)}`];
  const after = await m.state();
  const restored = await m.restoredProblems(after, backup, before);
  problems.push(...restored.map((p) => `killed at ${k.point} and resumed, the target must hold exactly backup ${backup.name}: ${p}`));
  if (restored.length === 0) m.remember(after);
  return problems;
}

/**
 * Carry-over under a live site: the restore is killed right before the switch; while it waits
 * for `--resume`, the site writes a row into one of the tables the restore carries over (empty
 * in the backup, left in place). The resumed restore must notice, stage that table (empty, as in
 * the backup) and end as exactly the backup's content.
 */
export async function carriedWriteCase(m: CrashMatrix): Promise<string[]> {
  const backup = m.other();
  const before = await m.before();
  m.forget();
  m.holds = backup;
  const killed = await m.run(backup, { failpoints: 'restore.switch.before=kill' });
  if (killed.signal !== 'SIGKILL' || killed.timedOut) return [`the process ${ended(killed)} but should have been killed at restore.switch.before${tail(killed)}`];
  // The agent's state lives in a folder per site under --state-dir.
  const stateFile = (await readdir(m.stateDir, { recursive: true })).map(String).find((f) => f.endsWith(`${sep}restore.json`) || f === 'restore.json');
  if (!stateFile) return [`no restore.json under ${m.stateDir} after the kill`];
  const state = JSON.parse(readFileSync(join(m.stateDir, stateFile), 'utf8')) as { carried?: { name: string; checksum?: string }[] };
  const carried = (state.carried ?? []).map((c) => c.name);
  if (carried.length < 300) return [`the restore carries over ${carried.length} tables; the two sites share over 300 empty ones`];
  // A table a row can be written into with its defaults (NOT NULL columns without one refuse).
  let written = '';
  for (const t of carried) {
    const ok = await sql(m.target.dbUrl, [isPg(m.target.dbUrl) ? `INSERT INTO ${PREFIX}${t} DEFAULT VALUES` : `INSERT INTO ${PREFIX}${t} () VALUES ()`]).then(() => true, () => false);
    if (ok) {
      written = t;
      break;
    }
  }
  if (!written) return ['no carried-over table took a row of default values'];
  // MariaDB also carries over tables holding the very rows of the backup: one loses a row.
  const withRows = (state.carried ?? []).filter((c) => c.checksum !== undefined).map((c) => c.name);
  if (isPg(m.target.dbUrl) !== (withRows.length === 0)) return [`tables carried over with their rows: ${withRows.length} (${withRows.join(', ')}); expected some on MariaDB only`];
  const shrunk = withRows[0];
  if (shrunk) await sql(m.target.dbUrl, [`DELETE FROM ${PREFIX}${shrunk} ORDER BY id DESC LIMIT 1`]);
  const resumed = await m.run(backup, { resume: true });
  if (resumed.code !== 0) return [`after a row was written into ${written}, the resumed restore ${ended(resumed)}; it must finish (exit 0)${tail(resumed)}`];
  const problems: string[] = [];
  for (const t of [written, ...(shrunk ? [shrunk] : [])]) {
    if (!new RegExp(`staged as in the backup: .*\\b${t}\\b`).test(resumed.stderr)) problems.push(`the resumed restore must say it staged ${t}${tail(resumed)}`);
  }
  const after = await m.state();
  const restored = await m.restoredProblems(after, backup, before);
  problems.push(...restored.map((p) => `a row written into the carried-over ${written} while the restore waited, the resumed restore must leave exactly backup ${backup.name}: ${p}`));
  if (restored.length === 0) m.remember(after);
  return problems;
}

/** A restore that must fail from inside and leave the site exactly as before. */
export interface FailureCase {
  /** What makes it fail, for messages. */
  cause: string;
  /** VAULT_AGENT_FAILPOINTS of the run; its injected failure must be what the agent reports. */
  failpoints?: string;
  /** Changes the target before its "before" state is read (a table with a foreign key, an event trigger, a small disk). */
  arrange?: () => Promise<void>;
  /** Undoes `arrange` after the checks; always runs. */
  cleanup?: () => Promise<void>;
  /** Runs alongside the agent (e.g. fills the disk at a pause); gets the promise of its exit. */
  during?: (exited: Promise<void>) => Promise<void>;
  /** Runs after the agent exited, before the state is compared (e.g. removes a filler file). */
  afterRun?: () => Promise<void>;
  /** The exit code the agent must give (default: any but 0). */
  exitCode?: number;
  /** Must the output say the site is unchanged (default true; a pre-check refusal names its reason instead). */
  saysUnchanged?: boolean;
  /** What the output must also say. */
  says?: { re: RegExp; what: string }[];
  /** Further checks after the run: the problems found. */
  check?: (r: AgentRun) => Promise<string[]> | string[];
}

/** Runs a {@link FailureCase}: nonzero exit, the right message, and the site exactly as before. Returns the problems found. */
export async function failureCase(m: CrashMatrix, c: FailureCase): Promise<string[]> {
  const backup = m.other();
  m.forget();
  try {
    await c.arrange?.();
    const before = await m.state();
    const r = await m.run(backup, { ...(c.failpoints ? { failpoints: c.failpoints } : {}), ...(c.during ? { during: c.during } : {}) });
    await c.afterRun?.();
    if (r.code === 0) m.holds = backup;
    const problems: string[] = [];
    if (r.code === 0 || r.signal) problems.push(`the restore ${ended(r)}, but ${c.cause} should have made it fail`);
    else if (c.exitCode !== undefined && r.code !== c.exitCode) problems.push(`exit code ${r.code}, expected ${c.exitCode} (${c.cause})`);
    const out = `${r.stderr}\n${r.stdout}`;
    if (r.code !== 0) {
      for (const fp of (c.failpoints ?? '').split(',').filter((x) => x.endsWith('=error'))) {
        const name = fp.split(/[@=]/)[0] as string;
        if (!out.includes(`failpoint ${name}: injected failure`)) problems.push(`the agent must report the injected failure at ${name}`);
      }
      if ((c.saysUnchanged ?? true) && !SAYS_UNCHANGED.test(out)) problems.push(`the message must say that the site is unchanged (${SAYS_UNCHANGED})`);
      for (const s of c.says ?? []) if (!s.re.test(out)) problems.push(`the message must say ${s.what} (${s.re})`);
    }
    problems.push(...await (c.check?.(r) ?? []));
    const after = await m.state();
    const changed = sameAsBefore(before, after);
    problems.push(...changed.map((p) => `after ${c.cause}, the site must be exactly as before: ${p}`));
    if (changed.length === 0 && problems.length === 0) m.remember(after);
    return problems.length ? [...problems, tail(r)] : [];
  } finally {
    await c.cleanup?.();
    // `cleanup` changed the site again (dropped a table): the next case reads it afresh.
    if (c.cleanup) m.forget();
  }
}

/** A size figure in a message: "12345 bytes", "12.3 MB", "40 MiB", … */
const FIGURE = /\d[\d.,]*\s?(bytes|[kKMGT]i?B)\b/;

/** One case of a chain: a title and what it runs (the problems it finds; none is a pass). */
interface MatrixCase {
  title: string;
  run(m: CrashMatrix): Promise<string[]>;
}

/** An engine's part of the matrix. */
export interface EngineMatrix {
  engine: TestEngine;
  /** Kill points run on this engine, in restore order. */
  kills: readonly KillPoint[];
  /** The engine's case that makes the staging DDL fail (for real where the engine allows). */
  ddlFailure: { title: string; make(m: CrashMatrix): FailureCase };
}

/** The cases of one engine, in chain order. */
function casesOf(e: EngineMatrix): MatrixCase[] {
  const newCopy = (m: CrashMatrix): number => {
    const b = m.other();
    const blobs = Object.entries(b.blobs).filter(([k]) => !(k in m.holds.blobs)).reduce((n, [, v]) => n + Number(v), 0);
    return blobs + Object.values(b.dataroot).reduce((n, v) => n + sizeOf(v), 0);
  };
  const fkTarget = async (url: string): Promise<string[]> => ((await sql(url, [isPg(url)
    ? "SELECT confrelid::regclass::text AS t FROM pg_constraint WHERE conrelid = 'crash_user_notes'::regclass AND contype = 'f'"
    : "SELECT REFERENCED_TABLE_NAME AS t FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'crash_user_notes'"]))[0] ?? [])
    .map((r) => String(r.t));
  return [
    {
      title: 'the two backups differ as the @N counts assume: 485 tables, 25 dataroot files and 66 new blobs each way',
      run: async (m) => {
        const [x, y] = m.backups;
        const newBlobs = (a: MatrixBackup, b: MatrixBackup): number => Object.keys(a.blobs).filter((k) => !(k in b.blobs)).length;
        const files = (b: MatrixBackup): number => Object.values(b.dataroot).filter((v) => v !== 'dir').length;
        const differing = Object.keys(x.compared).filter((t) => x.compared[t] !== y.compared[t]);
        const facts = { tables: [Object.keys(x.compared).length, Object.keys(y.compared).length], datarootFiles: [files(x), files(y)], newBlobs: [newBlobs(x, y), newBlobs(y, x)] };
        const problems = JSON.stringify(facts) === JSON.stringify({ tables: [485, 485], datarootFiles: [25, 25], newBlobs: [66, 66] }) ? [] : [`facts: ${JSON.stringify(facts)}`];
        const mustDiffer = ['user', 'course', 'files', 'course_modules', 'forum_posts', 'config'].filter((t) => !differing.includes(t));
        if (mustDiffer.length) problems.push(`tables with the same content on both sites (every restore must change them): ${mustDiffer.join(', ')}`);
        return problems;
      },
    },
    ...e.kills.map((k) => ({ title: `killed ${k.when} (${k.point}), then --resume: exactly the backup`, run: (m: CrashMatrix) => killCase(m, k) })),
    {
      title: 'killed right before the switch, a row written meanwhile into a table the restore carries over (MariaDB: and one deleted from a table carried over with its rows), then --resume: those tables staged, exactly the backup',
      run: (m) => carriedWriteCase(m),
    },
    {
      title: 'fails mid-way through the staging load (restore.load.table@30=error): the site exactly as before',
      run: (m) => failureCase(m, { cause: 'the failpoint restore.load.table@30=error', failpoints: 'restore.load.table@30=error' }),
    },
    { title: `${e.ddlFailure.title}: the site exactly as before`, run: (m) => failureCase(m, e.ddlFailure.make(m)) },
    {
      title: `a table outside the prefix with a FOREIGN KEY to ${PREFIX}user: a pre-check refuses (exit 3), the site exactly as before`,
      run: (m) => failureCase(m, {
        cause: `a foreign key from crash_user_notes to ${PREFIX}user`,
        arrange: async () => {
          const note = "INSERT INTO crash_user_notes (userid, note) VALUES (2, 'the admin''s note, not Moodle''s')";
          await sql(m.target.dbUrl, isPg(m.target.dbUrl)
            ? [`CREATE TABLE crash_user_notes (id BIGSERIAL PRIMARY KEY, userid BIGINT NOT NULL REFERENCES ${PREFIX}user (id), note TEXT)`, note]
            : [`CREATE TABLE crash_user_notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, userid BIGINT(10) NOT NULL, note TEXT,
                CONSTRAINT crash_user_notes_user FOREIGN KEY (userid) REFERENCES ${PREFIX}user (id)) ENGINE=InnoDB`, note]);
          const fk = await fkTarget(m.target.dbUrl);
          if (fk.join() !== `${PREFIX}user`) throw new Error(`set-up: crash_user_notes references ${fk.join(', ') || 'nothing'}`);
        },
        exitCode: 3,
        saysUnchanged: false,
        says: [{ re: /crash_user_notes/, what: 'which table holds the foreign key' }],
        check: async () => {
          const problems: string[] = [];
          const fk = await fkTarget(m.target.dbUrl);
          if (fk.join() !== `${PREFIX}user`) problems.push(`the foreign key of crash_user_notes now references ${fk.join(', ') || 'nothing'}, not ${PREFIX}user`);
          const rows = (await sql(m.target.dbUrl, ['SELECT userid FROM crash_user_notes']))[0] ?? [];
          if (rows.map((r) => String(r.userid)).join() !== '2') problems.push(`crash_user_notes holds ${rows.length} rows, not its one row`);
          return problems;
        },
        cleanup: async () => { await sql(m.target.dbUrl, ['DROP TABLE IF EXISTS crash_user_notes']); },
      }),
    },
    {
      title: 'full disk, the dataroot on a tmpfs too small for both copies: the space pre-check refuses with the figure (exit 3), the site exactly as before',
      run: async (m) => {
        const need = newCopy(m);
        if (need < 4 * MiB) return [`the new copy is only ${need} bytes: too small for a meaningful full-disk case`];
        return failureCase(m, {
          cause: `a dataroot file system with ${Math.floor(need / 3)} bytes free for a new copy of ${need} bytes`,
          arrange: async () => {
            await m.datarootOnTmpfs(need * 4 + 64 * MiB);
            await m.datarootOnTmpfs(await m.datarootUsedBytes() + Math.floor(need / 3));
          },
          exitCode: 3,
          saysUnchanged: false,
          says: [{ re: FIGURE, what: 'the space needed or free, as a figure' }, { re: /space|disk/i, what: 'that disk space is the problem' }],
        });
      },
    },
    {
      title: 'full disk, the dataroot filled up during the extraction (paused at restore.files.dataroot@1): ENOSPC, the site exactly as before',
      run: async (m) => {
        const need = newCopy(m);
        const point = 'restore.files.dataroot';
        const marker = join(m.failpointDir, `${point}.paused`);
        let paused = false;
        let filler: { path: string; bytes: number } | undefined;
        return failureCase(m, {
          cause: `a full disk (filled while the agent was paused at ${point}@1)`,
          failpoints: `${point}@1=pause`,
          arrange: async () => {
            await m.datarootOnTmpfs(need * 4 + 64 * MiB);
            // Room for both copies and more: the pre-check must let it start.
            await m.datarootOnTmpfs(await m.datarootUsedBytes() + 3 * need + 16 * MiB);
          },
          during: async (exited) => {
            paused = await waitForFile(marker, exited);
            if (!paused) return;
            filler = await fillFileSystem(m.target.dataroot);
            await rm(marker, { force: true });
          },
          afterRun: async () => { if (filler) await rm(filler.path, { force: true }); },
          says: [{ re: /ENOSPC|no space left/i, what: 'that the disk is full' }],
          check: () => (paused ? [] : [`the agent never paused at ${point}@1 (the failpoint did not fire)`]),
        });
      },
    },
  ];
}

/**
 * The matrix in vitest: per engine (those of `VAULT_TEST_ENGINES`, default both) a chain of
 * cases, the chains of the engines at the same time (vitest gives a file one worker, and on
 * a 2-core machine it runs one file at a time, so two files would not run in parallel). Each
 * test awaits its case's outcome; a case that throws fails its test and the chain goes on.
 */
export function crashMatrixSuite(engines: readonly EngineMatrix[]): void {
  const selected = engines.filter((e) => TEST_ENGINES.includes(e.engine));
  const chains = new Map<TestEngine, { matrix: Promise<CrashMatrix>; outcomes: Promise<string[]>[]; done: Promise<unknown> }>();
  const t0 = performance.now();
  const secs = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;

  let setup: Promise<MatrixSetup> | undefined;

  beforeAll(() => {
    setup = MatrixSetup.create(inject('services'));
    setup.catch(() => undefined); // reported by every test through its chain
    for (const e of selected) {
      const matrix = setup.then((s) => {
        const m = s.matrix(e.engine);
        m.timings.push(`set-up ${secs(t0)}`);
        return m;
      });
      matrix.catch(() => undefined);
      const outcomes: Promise<string[]>[] = [];
      let prev: Promise<unknown> = matrix.catch(() => undefined);
      for (const c of casesOf(e)) {
        const outcome = prev.then(async () => {
          const m = await matrix;
          const t = performance.now();
          try {
            return await c.run(m);
          } catch (err) {
            m.forget();
            return [`${c.title}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`];
          } finally {
            m.timings.push(`[case ${secs(t)}] ${c.title.slice(0, 60)}`);
          }
        });
        outcome.catch(() => undefined);
        outcomes.push(outcome);
        prev = outcome.catch(() => undefined);
      }
      chains.set(e.engine, { matrix, outcomes, done: prev });
    }
  });

  afterAll(async () => {
    for (const [engine, chain] of chains) {
      await chain.done;
      const m = await chain.matrix.catch(() => null);
      if (!m) continue;
      console.log(`[measure] crash matrix ${engine}: ${secs(t0)} in all; ${m.timings.join('; ')}`);
      await m.close();
    }
    await (await setup?.catch(() => null))?.close();
  }, 900_000);

  for (const e of selected) {
    describe(`vault-agent restore onto ${e.engine === 'pg' ? 'PostgreSQL' : 'MariaDB'}`, () => {
      casesOf(e).forEach((c, i) => {
        it(c.title, async () => {
          const chain = chains.get(e.engine);
          if (!chain) throw new Error('the chain was not started');
          const problems = await (chain.outcomes[i] as Promise<string[]>);
          expect(problems, c.title).toEqual([]);
        }, 900_000);
      });
    });
  }
}
