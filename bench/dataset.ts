/**
 * Deterministic (seeded) Moodle 4.4 databases for the benchmarks: all 485 tables of the 4.4
 * schema, read and created by the agent's own XMLDB code (agent/src/schema loadInstallTree and
 * its DDL, through the agent's database adapter), so the bench measures the schema the agent
 * really produces. The data has the shapes of a real site — a large logstore_standard_log,
 * text-heavy forum posts, `files` rows with a matching filedir (some contents already
 * compressed) and many small tables. The rows are written once as tab-separated files (the COPY / LOAD DATA text format both
 * engines read), then bulk-loaded into PostgreSQL (COPY) and MariaDB (LOAD DATA LOCAL INFILE), so
 * both engines hold the same data.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import mysql from 'mysql2/promise';
import { connectDatabase } from '../agent/src/db/connect.js';
import { quoteIdent, type SqlFamily } from '../agent/src/schema/ddl.js';
import { loadInstallTree } from '../agent/src/schema/install-tree.js';
import type { XmldbField, XmldbTable } from '../agent/src/schema/model.js';
import type { Scale } from './context.js';
import { prng } from '../agent/test/support/prng.js';
import { SCHEMA_DIR } from '../agent/test/support/schema-dir.js';

export const PREFIX = 'mdl_';

/**
 * Collation of the MariaDB source tables: Moodle's own default for MySQL/MariaDB sites, so the
 * source database is the one a real site would be backed up from. Passed to the agent's adapter
 * with its `?collation=` option. (The adapter's default for tables it restores,
 * utf8mb4_nopad_bin, is collation id 1070, which pgloader 3.6.7's MySQL driver does not know:
 * pgloader then hangs instead of failing.)
 */
export const MARIADB_SOURCE_COLLATION = 'utf8mb4_unicode_ci';

/** The Moodle 4.4 code tree stand-in: every install.xml of the 485 tables. */
export { SCHEMA_DIR };

/**
 * All tables of the Moodle 4.4 schema, read by the agent's own XMLDB loader and sorted by name
 * (the order fixes each table's PRNG seed, so the generated data stays the same).
 */
export async function loadSchema(dir = SCHEMA_DIR): Promise<XmldbTable[]> {
  return (await loadInstallTree(dir)).sort((a, b) => a.name.localeCompare(b.name));
}

/** XMLDB LENGTH / DECIMALS as numbers (0 when absent). */
const num = (v: string | undefined): number => Number(v ?? 0) || 0;

/** Row counts at scale S; M is ×10, L is ×40 (the small tables grow slower). */
export const SCALE_FACTOR: Record<Scale, number> = { S: 1, M: 10, L: 40 };

const BIG_TABLES_S: Record<string, number> = {
  logstore_standard_log: 90_000,
  forum_posts: 6_000,
  forum_discussions: 1_200,
  files: 2_400,
  user: 2_000,
  course: 120,
  course_modules: 2_400,
  context: 5_000,
  grade_grades: 30_000,
  grade_grades_history: 20_000,
  question_attempt_steps: 20_000,
  question_attempt_step_data: 30_000,
  user_enrolments: 12_000,
  role_assignments: 12_000,
  config_plugins: 3_000,
  sessions: 400,
  events: 3_000,
};
const SMALL_ROWS_S = 12;

export { prng };

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ' +
  'student course quiz assignment grade forum discussion reply teacher lesson module activity resource section topic week ' +
  'submission feedback rubric outcome competency badge certificate enrolment cohort group grouping calendar event deadline ' +
  'learning analytics report completion criteria question answer attempt review overview summary introduction conclusion ' +
  'moodle vault backup restore migration database table index column row value schema archive upload download').split(' ');

function words(rnd: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rnd() * WORDS.length)] as string);
  return out.join(' ');
}

/** Escape a value for the COPY text format (also what LOAD DATA reads with its defaults). */
export function tsv(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

type Gen = (i: number, rnd: () => number) => string | number | null;

const EVENTS = ['\\core\\event\\course_viewed', '\\mod_forum\\event\\discussion_viewed', '\\core\\event\\user_loggedin',
  '\\mod_quiz\\event\\attempt_submitted', '\\mod_assign\\event\\submission_status_viewed', '\\core\\event\\dashboard_viewed',
  '\\mod_resource\\event\\course_module_viewed', '\\core\\event\\user_graded', '\\mod_forum\\event\\post_created'];
const MIMES: [string, string, boolean][] = [
  ['application/pdf', 'pdf', false], ['image/jpeg', 'jpg', true], ['image/png', 'png', true], ['text/plain', 'txt', false],
  ['application/zip', 'zip', true], ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx', true],
  ['text/html', 'html', false],
];

function sha1(s: string | Buffer): string {
  return createHash('sha1').update(s).digest('hex');
}

/** Per-table overrides giving the big tables a realistic shape. */
function overrides(table: string, scale: number): Record<string, Gen> {
  const userMax = BIG_TABLES_S.user! * scale;
  const courseMax = BIG_TABLES_S.course! * scale;
  switch (table) {
    case 'logstore_standard_log':
      return {
        eventname: (i) => EVENTS[i % EVENTS.length] as string,
        component: (i) => ['core', 'mod_forum', 'mod_quiz', 'mod_assign', 'mod_resource'][i % 5] as string,
        action: (i) => ['viewed', 'created', 'submitted', 'loggedin', 'graded'][i % 5] as string,
        target: (i) => ['course', 'discussion', 'attempt', 'user', 'course_module'][i % 5] as string,
        crud: (i) => 'crud'[i % 4] as string,
        userid: (_i, r) => 1 + Math.floor(r() * userMax),
        courseid: (_i, r) => 1 + Math.floor(r() * courseMax),
        other: (i, r) => (i % 3 === 0 ? 'N;' : JSON.stringify({ forumid: Math.floor(r() * 1000), discussionid: i, triggeredfrom: words(r, 2) })),
        timecreated: (i) => 1_700_000_000 + i * 7,
        origin: (i) => (i % 4 === 0 ? 'cli' : 'web'),
        ip: (_i, r) => `10.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`,
      };
    case 'forum_posts':
      return {
        subject: (_i, r) => `Re: ${words(r, 6)}`,
        message: (_i, r) => {
          const paras: string[] = [];
          const n = 1 + Math.floor(r() * 6);
          for (let p = 0; p < n; p++) paras.push(`<p>${words(r, 20 + Math.floor(r() * 60))}</p>`);
          return paras.join('\n');
        },
        userid: (_i, r) => 1 + Math.floor(r() * userMax),
      };
    case 'user':
      return {
        username: (i) => `user${i}`,
        email: (i) => `user${i}@example.org`,
        firstname: (_i, r) => words(r, 1),
        lastname: (_i, r) => words(r, 1),
        description: (_i, r) => `<p>${words(r, 30)}</p>`,
      };
    default:
      return {};
  }
}

function genericGen(f: XmldbField, seed: number): Gen {
  const length = num(f.length);
  const decimals = num(f.decimals);
  const timeLike = f.type === 'int' && length >= 10 && /^time|date|expir/.test(f.name);
  switch (f.type) {
    case 'int': {
      if (timeLike) return (i) => 1_700_000_000 + i * 13;
      const cap = 10 ** Math.min(length, 9) - 1;
      return (i) => (i + seed) % (cap + 1);
    }
    case 'number': {
      const intDigits = Math.max(1, length - decimals - 1);
      const cap = 10 ** Math.min(intDigits, 9);
      return (i) => (decimals > 0 ? `${(i + seed) % cap}.${'5'.padEnd(decimals, '0')}` : (i + seed) % cap);
    }
    case 'float':
      return (i) => (i + seed) * 1.5;
    case 'char': {
      const base = f.name.slice(0, 8);
      return (i) => {
        const s = `${base}${i}`;
        return s.length <= length ? s : String(i).slice(-length);
      };
    }
    case 'text':
      return (_i, r) => words(r, 6 + Math.floor(r() * 10));
    case 'binary':
      return () => null;
    // Moodle 4.4's install.xml files have no datetime/timestamp columns; NULL if one ever appears.
    case 'datetime':
    case 'timestamp':
      return () => null;
  }
}

export interface TableData {
  table: XmldbTable;
  file: string;
  rows: number;
  bytes: number;
}

export interface Dataset {
  scale: Scale;
  dir: string;
  tables: TableData[];
  /** Sum of the TSV bytes of every table: the logical data size used for MB/s. */
  bytes: number;
  rows: number;
  filedir: string;
  filedirBytes: number;
  filedirFiles: number;
}

async function writeLines(ws: WriteStream, line: () => string | null): Promise<void> {
  for (;;) {
    const l = line();
    if (l === null) break;
    if (!ws.write(l)) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Write the files' contents into a Moodle filedir (`ab/cd/<sha1>`) and return the `files` generators. */
function filesShape(filedir: string, scale: number, seed: number): { gens: Record<string, Gen>; bytes: () => number; count: () => number } {
  const r = prng(seed ^ 0xf11e);
  let bytes = 0;
  let count = 0;
  const seen = new Set<string>();
  const meta = new Map<number, { hash: string; size: number; mime: string; name: string }>();
  const contentFor = (i: number) => {
    const cached = meta.get(i);
    if (cached) return cached;
    const [mime, ext, compressed] = MIMES[i % MIMES.length] as [string, string, boolean];
    // 1 in 8 rows reuses an earlier content (same contenthash), as Moodle deduplicates files.
    const dupOf = i > 8 && i % 8 === 0 ? meta.get(i - 7) : undefined;
    if (dupOf) {
      const m = { ...dupOf, name: `copy${i}.${ext}` };
      meta.set(i, m);
      return m;
    }
    const size = 1024 + Math.floor(r() * r() * 48 * 1024);
    let buf: Buffer;
    if (compressed) {
      buf = Buffer.alloc(size);
      for (let b = 0; b < size; b += 4) buf.writeUInt32LE(Math.floor(r() * 4294967296), Math.min(b, size - 4));
    } else {
      buf = Buffer.from(words(r, Math.ceil(size / 7)).slice(0, size));
    }
    const hash = sha1(buf);
    if (!seen.has(hash)) {
      seen.add(hash);
      const d = join(filedir, hash.slice(0, 2), hash.slice(2, 4));
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, hash), buf);
      bytes += buf.length;
      count++;
    }
    const m = { hash, size: buf.length, mime, name: `file${i}.${ext}` };
    meta.set(i, m);
    return m;
  };
  void scale;
  return {
    gens: {
      contenthash: (i) => contentFor(i).hash,
      pathnamehash: (i) => sha1(`/${i}/mod_resource/content/0/${contentFor(i).name}`),
      filesize: (i) => contentFor(i).size,
      mimetype: (i) => contentFor(i).mime,
      filename: (i) => contentFor(i).name,
      filepath: () => '/',
      component: () => 'mod_resource',
      filearea: () => 'content',
      contextid: (i) => i,
      itemid: () => 0,
    },
    bytes: () => bytes,
    count: () => count,
  };
}

/** Generate the dataset's TSV files and filedir under `dir`. Deterministic for a given scale and seed. */
export async function generateDataset(scale: Scale, dir: string, seed = 20241204): Promise<Dataset> {
  const tables = await loadSchema();
  const factor = SCALE_FACTOR[scale];
  const dataDir = join(dir, 'data');
  const filedir = join(dir, 'filedir');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(filedir, { recursive: true });
  const out: TableData[] = [];
  let files: ReturnType<typeof filesShape> | undefined;
  for (const [tNo, t] of tables.entries()) {
    const big = BIG_TABLES_S[t.name];
    const rows = big !== undefined ? big * factor : SMALL_ROWS_S * Math.ceil(Math.sqrt(factor));
    const rnd = prng(seed + tNo * 7919);
    const special = t.name === 'files' ? (files = filesShape(filedir, factor, seed)).gens : overrides(t.name, factor);
    const gens = t.fields.map((f, fNo) => (f.sequence ? ((i: number) => i) : special[f.name] ?? genericGen(f, fNo * 17)));
    const file = join(dataDir, `${t.name}.tsv`);
    let i = 0;
    await writeLines(createWriteStream(file, { highWaterMark: 1 << 20 }), () => {
      if (i >= rows) return null;
      // Batch 256 rows per write for speed.
      const parts: string[] = [];
      for (let n = 0; n < 256 && i < rows; n++) {
        i++;
        parts.push(`${gens.map((g) => tsv(g(i, rnd))).join('\t')}\n`);
      }
      return parts.join('');
    });
    out.push({ table: t, file, rows, bytes: statSync(file).size });
  }
  return {
    scale,
    dir,
    tables: out,
    bytes: out.reduce((a, t) => a + t.bytes, 0),
    rows: out.reduce((a, t) => a + t.rows, 0),
    filedir,
    filedirBytes: files?.bytes() ?? 0,
    filedirFiles: files?.count() ?? 0,
  };
}

/** Connection URL with a different database name. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Runs `statements` in order on a PostgreSQL server (a connection of its own). */
async function onPostgres(serverUrl: string, statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    for (const sql of statements) await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Runs `statements` in order on a MariaDB server (a connection of its own). */
async function onMariaDb(serverUrl: string, statements: string[]): Promise<void> {
  const c = await mysql.createConnection({ uri: serverUrl.replace(/^mariadb:/, 'mysql:') });
  try {
    for (const sql of statements) await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * An empty database `db` (dropped first if there), after a checkpoint: the pages earlier steps left
 * dirty are written before the step, not during it.
 */
export const pgCreateDatabase = (serverUrl: string, db: string): Promise<void> =>
  onPostgres(serverUrl, [`DROP DATABASE IF EXISTS "${db}"`, `CREATE DATABASE "${db}"`, 'CHECKPOINT']);

/** Drops `db` (autovacuum workers on it are ended with it). */
export const pgDropDatabase = (serverUrl: string, db: string): Promise<void> =>
  onPostgres(serverUrl, [`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`]);

/** Drops `db`. */
export const mariadbDropDatabase = (serverUrl: string, db: string): Promise<void> =>
  onMariaDb(serverUrl, [`DROP DATABASE IF EXISTS \`${db}\``]);

/** An empty database `db` (dropped first if there), in the source's collation. */
export const mariadbCreateDatabase = (serverUrl: string, db: string): Promise<void> =>
  onMariaDb(serverUrl, [`DROP DATABASE IF EXISTS \`${db}\``, `CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE ${MARIADB_SOURCE_COLLATION}`]);

const columnList = (family: SqlFamily, t: XmldbTable): string => t.fields.map((f) => quoteIdent(family, f.name)).join(', ');

/**
 * Schema + COPY of every table into PostgreSQL database `db`. The tables, indexes and sequences
 * are created by the agent's own database adapter (its XMLDB DDL), as `vault-agent load` creates
 * them; only the rows go in through COPY of the TSV files.
 */
export async function loadIntoPostgres(ds: Dataset, serverUrl: string, db: string): Promise<void> {
  await pgCreateDatabase(serverUrl, db);
  const url = withDatabase(serverUrl, db);
  const agentDb = await connectDatabase(url, PREFIX);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const t of ds.tables) {
      await agentDb.createTable(t.table, { exists: false, deferIndexes: true });
      if (t.rows > 0) {
        const stream = c.query(copyStreams.from(`COPY ${quoteIdent('postgres', PREFIX + t.table.name)} (${columnList('postgres', t.table)}) FROM STDIN`));
        await pipeline(createReadStream(t.file), stream);
      }
      // Secondary indexes after the rows (as the agent does), sequence past MAX(id).
      await agentDb.finishTable(t.table);
    }
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
    await agentDb.close();
  }
}

/**
 * Schema + LOAD DATA LOCAL INFILE of every table into MariaDB database `db`, the tables created
 * by the agent's adapter (its DDL and index naming) with {@link MARIADB_SOURCE_COLLATION}.
 * Returns the tables whose secondary indexes MariaDB refused (none expected).
 */
export async function loadIntoMariaDb(ds: Dataset, serverUrl: string, db: string): Promise<string[]> {
  await mariadbCreateDatabase(serverUrl, db);
  const url = withDatabase(serverUrl, db);
  const agentUrl = new URL(url);
  agentUrl.searchParams.set('collation', MARIADB_SOURCE_COLLATION);
  const agentDb = await connectDatabase(agentUrl.toString(), PREFIX);
  const c = await mysql.createConnection({
    uri: url.replace(/^mariadb:/, 'mysql:'),
    infileStreamFactory: (path: string) => createReadStream(path),
    multipleStatements: false,
  });
  const skipped: string[] = [];
  try {
    await c.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'");
    await c.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
    for (const t of ds.tables) {
      await agentDb.createTable(t.table, { exists: false, deferIndexes: true });
      if (t.rows > 0) {
        await c.query({ sql: `LOAD DATA LOCAL INFILE ? INTO TABLE ${quoteIdent('mysql', PREFIX + t.table.name)} CHARACTER SET utf8mb4 (${columnList('mysql', t.table)})`, values: [t.file] });
      }
      try {
        await agentDb.finishTable(t.table);
      } catch (err) {
        skipped.push(`${t.table.name}: ${(err as Error).message}`);
      }
    }
    await c.query('SET SESSION unique_checks = 1, foreign_key_checks = 1');
  } finally {
    await c.end();
    await agentDb.close();
  }
  return skipped;
}
