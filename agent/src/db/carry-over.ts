/**
 * Carry-over of unchanged empty tables (issue 12, speed): about 80 % of a Moodle site's tables
 * are empty, and most are empty on the target too, with the very definition a restore would
 * create. Such a table is left in place: not staged, not in the switch, not dropped.
 *
 * A table is carried over only when all of these hold:
 * - the backup says it has no rows: our manifest's row count, decided before the load; for a
 *   backup without our manifest (the plugin's) the load decides, when the table's only chunk
 *   file turns out to hold no row ({@link findCarryIfEmpty});
 * - the import would not write to it through its hooks or the staged post-restore actions
 *   ({@link NEVER_CARRIED}) and would build no engine-specific index on it;
 * - the live table is empty;
 * - its live definition is exactly what the restore would create: columns in order with type,
 *   nullability, default, sequence, character set and collation; every index and key by name
 *   with its columns, uniqueness and method; no other constraint, trigger or option (MariaDB:
 *   engine, table collation, row format and options; PostgreSQL: persistence, owner,
 *   privileges, tablespace, inheritance, row security) — read from the catalogs and
 *   compared with what {@link expectedFingerprint} derives from the same DDL plan the import
 *   uses (import-database.ts, planImport);
 * - its next id (MariaDB AUTO_INCREMENT, PostgreSQL owned sequence and its parameters) is what
 *   the restore would set.
 *
 * Emptiness and next ids are checked again under maintenance right before the switch
 * ({@link changedCarried}); the restore stages the tables that changed, and the switch checks
 * the rest once more (PostgreSQL: inside its transaction, the tables locked against writes;
 * MariaDB: in the round trip before the RENAME) and fails, rolling back, if one changed.
 *
 * Table comments are not compared: Moodle's installer gives MariaDB tables their install.xml
 * comment, the restore none (the backup's structure carries no comments); a comment changes
 * nothing a site stores or does, and a carried-over table keeps the installer's.
 *
 * MySQL (not MariaDB) reports column defaults ambiguously (a string `NULL` and no default look
 * alike): nothing is carried over there.
 *
 * MariaDB also carries over tables that hold rows, when they hold exactly the backup's
 * ({@link findCarryIfSame}, {@link sameRowsAsLive}): a restore onto a fresh install of the same
 * Moodle finds about a third of the non-empty tables identical (capabilities, web service
 * functions, roles, MNet …; 27 of 81 at the test bed's size S). Every condition above holds but
 * emptiness; instead the table's only chunk file and the live rows are compared value by value
 * as the load would write them (text, or null), ordered by id, and only for tables whose columns
 * are all integer, decimal, char or text (a value whose text is equal is then stored equal;
 * float and binary columns are never compared). `CHECKSUM TABLE` before and after the
 * comparison must agree; its value is kept, and a table whose checksum has changed by the
 * switch is staged from the chunk saved when it was carried over.
 */
import type { DbStructure } from '../archive/dbstructure.js';
import type { ChunkFile } from '../archive/table-chunks.js';
import { columnSql, columnType, pgSequenceName, quoteIdent, type SqlFamily, type TableNames } from '../schema/ddl.js';
import type { XmldbField, XmldbTable } from '../schema/model.js';
import { primaryKeyFields, sequenceField } from '../schema/model.js';
import type { DbAdapter } from './adapter.js';
import { fromDictionary } from './innodb-dictionary.js';
import { PRESERVE_TABLES } from './excluded-plugin-rows.js';
import type { ImportPlan } from './import-database.js';

/**
 * Tables the restore writes to besides loading them: preserved plugins' rows (PRESERVE_TABLES),
 * kept passwords (`user`), config overrides, version hash and site identifier (`config`,
 * `config_plugins`), killed sessions (`sessions`). Never carried over.
 */
export const NEVER_CARRIED: ReadonlySet<string> = new Set([...PRESERVE_TABLES, 'user', 'config', 'config_plugins', 'sessions']);

/** A table left in place, with the next id the restore would have set (null: no sequence). */
export interface CarriedTable {
  name: string;
  next: number | null;
  /** PostgreSQL: the owned sequence, schema-qualified and quoted. */
  seq?: string;
  /** MariaDB, a table carried over with its rows ({@link sameRowsAsLive}): its `CHECKSUM TABLE` then. */
  checksum?: string;
}

/** Field types whose values {@link sameRowsAsLive} compares (equal text, equal stored value). */
const COMPARABLE_TYPES: ReadonlySet<string> = new Set(['int', 'number', 'char', 'text']);

const canonNumber = (v: string): string | undefined => {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?$/.exec(v.trim());
  if (!m || (!m[2] && !m[3])) return undefined;
  const int = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return m[1] === '-' && body !== '0' ? `-${body}` : body;
};

const numeric = (f: XmldbField): boolean => f.type === 'int' || f.type === 'number' || f.type === 'float';

/** The default of a column as the import's DDL declares it: `none`, `n:<number>`, `s:<text>`, `seq:<name>`, `?` (unpredictable). */
function expectedDefault(family: SqlFamily, prefix: string, table: string, f: XmldbField): string {
  if (f.sequence) return family === 'postgres' ? `seq:${pgSequenceName(prefix, table, f.name)}` : 'none';
  // The same DDL the import runs: the DEFAULT clause of columnSql.
  const sql = columnSql(family, f);
  const m = / DEFAULT (.*?) (?:NOT )?NULL$/s.exec(sql);
  if (!m) return family === 'mysql' && !f.notnull ? 'null' : 'none';
  const d = m[1] ?? '';
  if (d.startsWith("'")) {
    // quoteLiteral: '' for ', and on MySQL \\ for \; a value needing neither is compared as is.
    const inner = d.slice(1, -1);
    if (/['\\]/.test(inner)) return '?';
    return numeric(f) ? `n:${canonNumber(inner) ?? '?'}` : `s:${inner}`;
  }
  const n = canonNumber(d);
  return n === undefined ? '?' : `n:${n}`;
}

/** MariaDB COLUMN_DEFAULT in the same notation. */
function liveDefaultMariadb(def: string | null, f: { numeric: boolean }): string {
  if (def === null) return 'none';
  if (def === 'NULL') return 'null';
  const m = /^'((?:[^'\\]|'')*)'$/s.exec(def);
  if (m) {
    const inner = (m[1] ?? '').replace(/''/g, "'");
    return f.numeric ? `n:${canonNumber(inner) ?? '?'}` : /'/.test(inner) ? '?' : `s:${inner}`;
  }
  const n = canonNumber(def);
  return n === undefined ? `x:${def}` : `n:${n}`;
}

/** PostgreSQL pg_get_expr of a column default in the same notation. */
function liveDefaultPg(def: string | null, isNumeric: boolean): string {
  if (def === null) return 'none';
  const seq = /^nextval\('([^'"]+)'::regclass\)$/.exec(def);
  if (seq) return `seq:${seq[1]}`;
  const lit = /^'((?:[^']|'')*)'::[a-z ]+(?:\(\d+(?:,\d+)?\))?$/.exec(def);
  if (lit) {
    const inner = (lit[1] ?? '').replace(/''/g, "'");
    if (isNumeric) return `n:${canonNumber(inner) ?? '?'}`;
    return /['\\]/.test(inner) ? '?' : `s:${inner}`;
  }
  const n = canonNumber(def.replace(/^\((.*)\)$/, '$1'));
  return n === undefined ? `x:${def}` : `n:${n}`;
}

/** The indexes a table is created with: its planned names, less those it no longer declares (createTableSql's namesFor). */
function plannedIndexes(t: XmldbTable, names: TableNames | undefined): { name: string; fields: string[]; unique: boolean }[] {
  if (!names) return [];
  const sig = (fields: string[], unique: boolean): string => `${fields.join(',')}|${unique}`;
  const declared = new Set([...t.indexes.map((i) => sig(i.fields, i.unique)), ...t.keys.filter((k) => k.type !== 'primary').map((k) => sig(k.fields, k.type !== 'foreign'))]);
  return names.indexes.filter((i) => declared.has(sig(i.fields, i.unique)));
}

/** A FULLTEXT index the import builds after the load (MariaDB), as {@link expectedFingerprint} describes it. */
export interface FulltextIndex {
  name: string;
  fields: string[];
}

/**
 * MariaDB: the engine-specific indexes the import builds on `table` when every one is a plain
 * FULLTEXT index over whole columns (search_simpledb's, as its installer creates it); undefined
 * when the table has another kind, or one the import skips (the table is then never carried over).
 */
function fulltextOnly(plan: ImportPlan, table: string): FulltextIndex[] | undefined {
  if (plan.plan.skip.some((x) => x.table === table) || plan.uncreatable.some((u) => u.table === table)) return undefined;
  const out: FulltextIndex[] = [];
  for (const a of plan.plan.create.filter((x) => x.table === table)) {
    if (!a.fulltext) return undefined;
    out.push({ name: a.name, fields: a.fulltext });
  }
  return out;
}

/** What the target server is, for {@link expectedFingerprint}. */
export interface TargetInfo {
  family: SqlFamily;
  prefix: string;
  /** MariaDB: table and text column collation, ROW_FORMAT. */
  collation?: string;
  rowFormat?: string;
}

/**
 * The catalog description, in one canonical JSON text, of the table the import would create
 * for `t` (as planned: indexes the target cannot create left out, names of the plan), empty,
 * with `next` as next id. {@link liveFingerprints} describes live tables the same way.
 */
export function expectedFingerprint(target: TargetInfo, t: XmldbTable, names: TableNames | undefined, next: number | null, fulltext: readonly FulltextIndex[] = []): string {
  const { family, prefix } = target;
  const pk = primaryKeyFields(t);
  const columns = t.fields.map((f) => {
    const notnull = f.sequence || f.notnull || pk.includes(f.name);
    if (family === 'postgres') {
      let type = columnType('postgres', f).toLowerCase();
      if (f.sequence) type = f.length && Number(f.length) > 0 && Number(f.length) <= 9 ? 'integer' : 'bigint';
      type = type.replace(/^numeric\((\d+)\)$/, 'numeric($1,0)').replace(/^varchar\(/, 'character varying(').replace(/^timestamp$/, 'timestamp without time zone');
      const text = f.type === 'char' || f.type === 'text';
      return [f.name, type, notnull, expectedDefault(family, prefix, t.name, f), text ? 'default' : ''];
    }
    const text = f.type === 'char' || f.type === 'text';
    let type = columnType('mysql', f).toLowerCase();
    if (type === 'decimal') type = 'decimal(10,0)';
    return [f.name, type, notnull ? 'NO' : 'YES', expectedDefault(family, prefix, t.name, f), f.sequence ? 'auto_increment' : '',
      text ? 'utf8mb4' : null, text ? (target.collation ?? null) : null, '', 'NEVER'];
  });
  const secondary = plannedIndexes(t, names);
  const indexes: unknown[][] = [];
  if (family === 'postgres') {
    if (pk.length) indexes.push([names?.primaryKey ?? '?', true, true, pk]);
    for (const i of secondary) indexes.push([i.name, i.unique, false, i.fields]);
  } else {
    if (pk.length) indexes.push(['PRIMARY', true, pk]);
    for (const i of secondary) indexes.push([i.name, i.unique, i.fields]);
    for (const i of fulltext) indexes.push([i.name, 'fulltext', i.fields]);
  }
  indexes.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const seq = sequenceField(t);
  const table = family === 'postgres'
    ? { plain: true, constraints: pk.length ? [`p:${names?.primaryKey ?? '?'}`] : [], sequence: seq ? expectedPgSequence(prefix, t.name, seq, next) : null }
    : { engine: 'InnoDB', collation: target.collation ?? null, rowFormat: target.rowFormat ?? null, options: target.rowFormat ? `row_format=${target.rowFormat.toUpperCase()}` : '', extras: 0, autoIncrement: seq ? Math.max(1, Math.floor(next ?? 1)) : null };
  return JSON.stringify({ columns, indexes, table });
}

function expectedPgSequence(prefix: string, table: string, f: XmldbField, next: number | null): unknown[] {
  const small = Boolean(f.length) && Number(f.length) > 0 && Number(f.length) <= 9;
  return [pgSequenceName(prefix, table, f.name), small ? 'integer' : 'bigint', '1', '1', '1', small ? '2147483647' : '9223372036854775807', '1', false, String(Math.max(1, Math.floor(next ?? 0)))];
}

/** The next id the restore sets for a table (null: no sequence). */
export function restoreNextId(structure: DbStructure, t: XmldbTable): number | null {
  if (!sequenceField(t)) return null;
  return Math.max(1, Math.floor(structure.sequences.get(t.name) ?? 0));
}

/** Tables per catalog query or UNION ALL statement (a Moodle site has ~500). */
const IN_BATCH = 1000;

/**
 * Catalog descriptions of live tables (names without prefix), in {@link expectedFingerprint}'s
 * form; tables that do not exist are absent. Also returns PostgreSQL's owned sequences.
 */
export async function liveFingerprints(db: DbAdapter, names: readonly string[]): Promise<{ prints: Map<string, string>; seqs: Map<string, string> }> {
  const prints = new Map<string, string>();
  const seqs = new Map<string, string>();
  for (let i = 0; i < names.length; i += IN_BATCH) {
    const part = names.slice(i, i + IN_BATCH);
    const got = db.family === 'postgres' ? await pgPrints(db, part) : await mariadbPrints(db, part);
    for (const [k, v] of got.prints) prints.set(k, v);
    for (const [k, v] of got.seqs) seqs.set(k, v);
  }
  return { prints, seqs };
}

async function mariadbPrints(db: DbAdapter, names: readonly string[]): Promise<{ prints: Map<string, string>; seqs: Map<string, string> }> {
  const full = names.map((n) => db.prefix + n);
  const strip = (t: string): string => t.slice(db.prefix.length);
  const tables = await db.query<{ T: string; ENGINE: string | null; TABLE_COLLATION: string | null; ROW_FORMAT: string | null; CREATE_OPTIONS: string | null; AUTO_INCREMENT: number | string | null }>(
    `SELECT TABLE_NAME AS T, ENGINE, TABLE_COLLATION, ROW_FORMAT, CREATE_OPTIONS, AUTO_INCREMENT FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME IN (?)`, [full]);
  const cols = await db.query<{ T: string; COLUMN_NAME: string; COLUMN_TYPE: string; DATA_TYPE: string; IS_NULLABLE: string; COLUMN_DEFAULT: string | null; EXTRA: string;
    CHARACTER_SET_NAME: string | null; COLLATION_NAME: string | null; COLUMN_COMMENT: string; IS_GENERATED: string | null }>(
    `SELECT TABLE_NAME AS T, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT, IS_GENERATED
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) ORDER BY TABLE_NAME, ORDINAL_POSITION`, [full]);
  const stats = await db.query<{ T: string; INDEX_NAME: string; NON_UNIQUE: number | string; COLUMN_NAME: string | null; SUB_PART: unknown; INDEX_TYPE: string; COLLATION: string | null; INDEX_COMMENT: string | null }>(
    `SELECT TABLE_NAME AS T, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE, COLLATION, INDEX_COMMENT FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, [full]);
  // Foreign keys, CHECK constraints and triggers: from InnoDB's dictionary and CHECK_CONSTRAINTS
  // where the user may read it (one table definition opened per table), else from
  // TABLE_CONSTRAINTS, which opens each table's definition three times (75–110 ms for a Moodle
  // site's ~490 tables not in the cache, against 30–45 ms).
  const extras = await fromDictionary(db, full, (qualified) => db.query<{ T: string; n: number | string }>(
    `SELECT T, COUNT(*) AS n FROM (
       SELECT SUBSTRING(FOR_NAME, LOCATE('/', FOR_NAME) + 1) AS T FROM information_schema.INNODB_SYS_FOREIGN WHERE BINARY FOR_NAME IN (?)
       UNION ALL SELECT TABLE_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN (?)
       UNION ALL SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN (?)) x GROUP BY T`, [qualified, full, full]))
    ?? await db.query<{ T: string; n: number | string }>(
    `SELECT T, COUNT(*) AS n FROM (
       SELECT TABLE_NAME AS T FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN (?) AND CONSTRAINT_TYPE NOT IN ('PRIMARY KEY', 'UNIQUE')
       UNION ALL SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN (?)) x GROUP BY T`, [full, full]);
  const numericType = /^(tinyint|smallint|mediumint|int|integer|bigint|decimal|float|double)$/;
  const columns = new Map<string, unknown[][]>();
  for (const c of cols) {
    const list = columns.get(c.T) ?? [];
    list.push([c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, /auto_increment/i.test(c.EXTRA) && c.COLUMN_DEFAULT === null ? 'none' : liveDefaultMariadb(c.COLUMN_DEFAULT, { numeric: numericType.test(c.DATA_TYPE) }),
      c.EXTRA, c.CHARACTER_SET_NAME, c.COLLATION_NAME, c.COLUMN_COMMENT, c.IS_GENERATED]);
    columns.set(c.T, list);
  }
  type LiveIndex = { unique: boolean; fulltext: boolean; fields: string[]; odd: boolean };
  const indexes = new Map<string, Map<string, LiveIndex>>();
  for (const s of stats) {
    const byName = indexes.get(s.T) ?? new Map<string, LiveIndex>();
    indexes.set(s.T, byName);
    const fulltext = s.INDEX_TYPE === 'FULLTEXT';
    const e = byName.get(s.INDEX_NAME) ?? { unique: Number(s.NON_UNIQUE) === 0, fulltext, fields: [], odd: false };
    byName.set(s.INDEX_NAME, e);
    e.fields.push(s.COLUMN_NAME ?? '');
    // A FULLTEXT index over whole columns is described as such (the import builds search_simpledb's).
    const plain = fulltext ? !e.unique && s.COLLATION === null : s.INDEX_TYPE === 'BTREE' && s.COLLATION === 'A';
    if (s.COLUMN_NAME === null || s.SUB_PART !== null || !plain || (s.INDEX_COMMENT ?? '') !== '') e.odd = true;
  }
  const extraCount = new Map(extras.map((e) => [e.T, Number(e.n)]));
  const prints = new Map<string, string>();
  for (const t of tables) {
    const idx = [...(indexes.get(t.T) ?? new Map<string, LiveIndex>())]
      .map(([name, e]) => (e.odd ? ['?', name] : [name, e.fulltext ? 'fulltext' : e.unique, e.fields]))
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const table = { engine: t.ENGINE, collation: t.TABLE_COLLATION, rowFormat: t.ROW_FORMAT, options: t.CREATE_OPTIONS ?? '', extras: extraCount.get(t.T) ?? 0,
      autoIncrement: t.AUTO_INCREMENT === null ? null : Number(t.AUTO_INCREMENT) };
    prints.set(strip(t.T), JSON.stringify({ columns: columns.get(t.T) ?? [], indexes: idx, table }));
  }
  return { prints, seqs: new Map() };
}

async function pgPrints(db: DbAdapter, names: readonly string[]): Promise<{ prints: Map<string, string>; seqs: Map<string, string> }> {
  const full = names.map((n) => db.prefix + n);
  const strip = (t: string): string => t.slice(db.prefix.length);
  // Tables of the current schema, with what a freshly created table has: permanent, no
  // options, privileges, tablespace, inheritance, triggers, rules or row security, owned by us.
  const tables = await db.query<{ t: string; plain: boolean }>(
    `SELECT c.relname AS t,
            (c.relkind = 'r' AND c.relpersistence = 'p' AND c.reloptions IS NULL AND c.relacl IS NULL AND c.reltablespace = 0
             AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND NOT c.relrowsecurity AND NOT c.relhastriggers
             AND NOT c.relhasrules AND NOT c.relispartition AND NOT c.relhassubclass AND c.relreplident = 'd'
             AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)) AS plain
       FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)`, [full]);
  const cols = await db.query<{ t: string; name: string; type: string; notnull: boolean; def: string | null; odd: boolean; coll: string; typcategory: string }>(
    `SELECT c.relname AS t, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_get_expr(d.adbin, d.adrelid) AS def, (a.attidentity <> '' OR a.attgenerated <> '' OR a.attacl IS NOT NULL) AS odd,
            COALESCE((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '') AS coll, ty.typcategory
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type ty ON ty.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`, [full]);
  const idx = await db.query<{ t: string; name: string; u: boolean; p: boolean; cols: string[] | null; plain: boolean }>(
    `SELECT t.relname AS t, i.relname AS name, x.indisunique AS u, x.indisprimary AS p,
            (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum) AS cols,
            (am.amname = 'btree' AND x.indexprs IS NULL AND x.indpred IS NULL AND x.indnatts = x.indnkeyatts AND i.reloptions IS NULL AND i.reltablespace = 0
             AND x.indimmediate AND NOT x.indisexclusion AND x.indisvalid
             AND NOT EXISTS (SELECT 1 FROM unnest(x.indkey::int2[]) k WHERE k = 0)
             AND (SELECT bool_and(oc.opcdefault) FROM unnest(x.indclass::oid[]) c(oid) JOIN pg_opclass oc ON oc.oid = c.oid)
             AND (SELECT bool_and(o = 0) FROM unnest(x.indoption::int2[]) o)
             AND (SELECT bool_and(co IN (0, 100)) FROM unnest(x.indcollation::oid[]) co)) AS plain
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_am am ON am.oid = i.relam
      WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)`, [full]);
  const cons = await db.query<{ t: string; c: string }>(
    `SELECT t.relname AS t, k.contype::text || ':' || k.conname::text AS c FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
      WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1) AND k.contype <> 'n' ORDER BY 1, 2`, [full]);
  const seqRows = await db.query<{ t: string; seq: string; qseq: string; type: string; start: string; inc: string; min: string; max: string; cache: string; cycle: boolean; plain: boolean }>(
    `SELECT t.relname AS t, s.relname AS seq, quote_ident(n.nspname) || '.' || quote_ident(s.relname) AS qseq, format_type(q.seqtypid, NULL) AS type,
            q.seqstart::text AS start, q.seqincrement::text AS inc, q.seqmin::text AS min, q.seqmax::text AS max, q.seqcache::text AS cache, q.seqcycle AS cycle,
            (s.relacl IS NULL AND s.relpersistence = 'p') AS plain
       FROM pg_class s JOIN pg_sequence q ON q.seqrelid = s.oid JOIN pg_namespace n ON n.oid = s.relnamespace
       JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
       JOIN pg_class t ON t.oid = d.refobjid
      WHERE s.relkind = 'S' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)`, [full]);
  const next = new Map<string, string>();
  if (seqRows.length) {
    const sql = seqRows.map((r, j) => `SELECT ${j} AS k, (last_value + CASE WHEN is_called THEN 1 ELSE 0 END)::text AS v FROM ${r.qseq}`).join(' UNION ALL ');
    for (const v of await db.query<{ k: number; v: string }>(sql)) next.set(seqRows[v.k]?.t ?? '', v.v);
  }
  const group = <T extends { t: string }>(rows: T[]): Map<string, T[]> => {
    const m = new Map<string, T[]>();
    for (const r of rows) m.set(r.t, [...(m.get(r.t) ?? []), r]);
    return m;
  };
  const colsBy = group(cols);
  const idxBy = group(idx);
  const consBy = group(cons);
  const seqBy = group(seqRows);
  const prints = new Map<string, string>();
  const seqs = new Map<string, string>();
  for (const t of tables) {
    const columns = (colsBy.get(t.t) ?? []).map((c) => (c.odd ? ['?', c.name] : [c.name, c.type, c.notnull, liveDefaultPg(c.def, c.typcategory === 'N'), c.coll]));
    const indexes = (idxBy.get(t.t) ?? []).map((i) => (i.plain ? [i.name, i.u, i.p, i.cols ?? []] : ['?', i.name])).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const owned = seqBy.get(t.t) ?? [];
    const s = owned[0];
    if (s) seqs.set(strip(t.t), s.qseq);
    const sequence = owned.length > 1 || (s && !s.plain) ? ['?'] : s ? [s.seq, s.type, s.start, s.inc, s.min, s.max, s.cache, s.cycle, next.get(t.t) ?? '?'] : null;
    prints.set(strip(t.t), JSON.stringify({ columns, indexes, table: { plain: t.plain, constraints: (consBy.get(t.t) ?? []).map((c) => c.c), sequence } }));
  }
  return { prints, seqs };
}

/** Live tables of `names` holding at least one row: one UNION ALL query per 1000 tables. */
export async function nonEmptyTables(db: DbAdapter, names: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  const q = (n: string): string => quoteIdent(db.family, db.prefix + n);
  for (let i = 0; i < names.length; i += IN_BATCH) {
    const part = names.slice(i, i + IN_BATCH);
    const sql = db.family === 'postgres'
      ? part.map((n, j) => `SELECT ${j} AS k WHERE EXISTS (SELECT 1 FROM ${q(n)})`).join(' UNION ALL ')
      : part.map((n, j) => `(SELECT ${j} AS k FROM ${q(n)} LIMIT 1)`).join(' UNION ALL ');
    for (const r of await db.query<{ k: number | string }>(sql)) out.add(part[Number(r.k)] ?? '');
  }
  return out;
}

/**
 * The live half of the analysis: the catalog description ({@link liveFingerprints}) of every
 * table of the prefix, and which of them hold rows. It needs nothing of the backup, so a restore
 * reads it while the API and the download are still answering (on a cold MariaDB the catalog
 * queries took ~0.25 s of a restore at the test bed's size S).
 */
export interface LiveCatalog {
  prints: Map<string, string>;
  seqs: Map<string, string>;
  nonEmpty: Set<string>;
}

/** Reads the {@link LiveCatalog} of every live table of `db`'s prefix (nothing on MySQL, which carries nothing over). */
export async function readLiveCatalog(db: DbAdapter): Promise<LiveCatalog> {
  if (db.engine === 'mysql') return { prints: new Map(), seqs: new Map(), nonEmpty: new Set() };
  const names = await db.listTables();
  const { prints, seqs } = await liveFingerprints(db, names);
  return { prints, seqs, nonEmpty: await nonEmptyTables(db, names) };
}

/** Options of {@link findCarriedOver} and {@link findCarryIfEmpty}. */
export interface CarryOptions {
  /** Told why each candidate that differs is not carried over. */
  debug?: (message: string) => void;
  /** The live catalog read ahead ({@link readLiveCatalog}); read from `db` when absent. */
  live?: LiveCatalog;
}

/**
 * The tables of the restore (`plan`, import-database.ts) to carry over; see the file header.
 * `db` is the live connection (MariaDB: its collation and row format are the restore's).
 */
export async function findCarriedOver(db: DbAdapter, structure: DbStructure, plan: ImportPlan, opts: CarryOptions = {}): Promise<CarriedTable[]> {
  const manifest = structure.manifest;
  if (!manifest) return [];
  return carryCandidates(db, structure, plan, (t) => manifest.tables[t]?.rows === 0, opts);
}

/**
 * For a backup without our manifest (the plugin's, which records no row counts): the tables that
 * meet every condition of the file header but the backup's emptiness, which the import finds out
 * as it reads each table's chunk files (import-database.ts, `carryIfEmpty`: a table whose only
 * chunk file holds no row, as the plugin writes an empty table). Empty for a backup with our
 * manifest ({@link findCarriedOver} decides those up front).
 */
export async function findCarryIfEmpty(db: DbAdapter, structure: DbStructure, plan: ImportPlan, opts: CarryOptions = {}): Promise<CarriedTable[]> {
  if (structure.manifest) return [];
  return carryCandidates(db, structure, plan, () => true, opts);
}

/**
 * MariaDB, any backup: the tables that meet every condition of the file header but emptiness,
 * and hold rows live. The import carries one over when its only chunk file holds exactly the
 * live rows ({@link sameRowsAsLive}). Empty elsewhere.
 */
export async function findCarryIfSame(db: DbAdapter, structure: DbStructure, plan: ImportPlan, opts: CarryOptions = {}): Promise<CarriedTable[]> {
  if (db.engine !== 'mariadb') return [];
  const comparable = new Set(plan.tables.filter((t) => t.fields.every((f) => COMPARABLE_TYPES.has(f.type))).map((t) => t.name));
  const rowsInBackup = (t: string): boolean => comparable.has(t) && structure.manifest?.tables[t]?.rows !== 0;
  return carryCandidates(db, structure, plan, rowsInBackup, opts, 'rows');
}

async function carryCandidates(db: DbAdapter, structure: DbStructure, plan: ImportPlan, inBackup: (table: string) => boolean, { debug, live }: CarryOptions, liveRows: 'empty' | 'rows' = 'empty'): Promise<CarriedTable[]> {
  if (db.engine === 'mysql') return [];
  const engineIndexed = new Set([...plan.plan.create.map((a) => a.table), ...plan.plan.skip.map((s) => s.table), ...plan.uncreatable.map((u) => u.table)]);
  // MariaDB: a table whose only engine-specific indexes are FULLTEXT ones is compared with them.
  const fulltext = new Map<string, FulltextIndex[]>();
  if (db.family === 'mysql') {
    for (const t of engineIndexed) {
      const f = fulltextOnly(plan, t);
      if (f) fulltext.set(t, f);
    }
  }
  const candidates = plan.tables.filter((t) => inBackup(t.name) && !NEVER_CARRIED.has(t.name) && (!engineIndexed.has(t.name) || fulltext.has(t.name)) && t.fields.length > 0);
  if (!candidates.length) return [];
  const target: TargetInfo = { family: db.family, prefix: db.prefix, ...(db.collation ? { collation: db.collation } : {}), ...rowFormatOf(db) };
  const { prints, seqs } = live ?? await liveFingerprints(db, candidates.map((t) => t.name));
  const same = candidates.filter((t) => {
    const now = prints.get(t.name);
    const want = expectedFingerprint(target, t, plan.names.get(t.name), restoreNextId(structure, t), fulltext.get(t.name));
    if (now !== want) debug?.(`carry-over: ${t.name} differs:\n  live ${now ?? 'absent'}\n  want ${want}`);
    return now === want;
  });
  const full = live?.nonEmpty ?? await nonEmptyTables(db, same.map((t) => t.name));
  return same.filter((t) => full.has(t.name) === (liveRows === 'rows')).map((t) => {
    const seq = seqs.get(t.name);
    return { name: t.name, next: restoreNextId(structure, t), ...(seq ? { seq } : {}) };
  });
}

/** MariaDB `CHECKSUM TABLE` of live tables (full names), by full name. */
async function checksums(db: DbAdapter, full: readonly string[]): Promise<Map<string, string>> {
  if (!full.length) return new Map();
  const rows = await db.query<{ Table: string; Checksum: number | string | null }>(`CHECKSUM TABLE ${full.map((n) => quoteIdent('mysql', n)).join(', ')}`);
  // `Table` is `<database>.<table>`.
  return new Map(rows.map((r) => [r.Table.slice(r.Table.indexOf('.') + 1), String(r.Checksum)]));
}

/** Live rows {@link sameRowsAsLive} reads per query: the first page turns away most tables that differ. */
const SAME_ROWS_PAGE = 256;

/**
 * MariaDB: whether the live table `liveTable` (full name) holds exactly the rows of `chunk`, the
 * table's only chunk file, as the load would write them: every column of `table` in the chunk,
 * each value's text (or null) equal, in the same id order (the chunk's ids increasing, as every
 * writer orders them). Returns the table's `CHECKSUM TABLE`, read before and after the
 * comparison (they must agree), or undefined at the first difference.
 */
export async function sameRowsAsLive(db: DbAdapter, liveTable: string, table: XmldbTable, chunk: ChunkFile): Promise<{ checksum: string } | undefined> {
  if (db.engine !== 'mariadb' || !table.fields.every((f) => COMPARABLE_TYPES.has(f.type))) return undefined;
  const names = table.fields.map((f) => f.name);
  const at = names.map((n) => chunk.columns.indexOf(n));
  const idAt = names.indexOf('id');
  if (at.some((i) => i < 0) || idAt < 0 || chunk.count === 0) return undefined;
  // The load writes each value as its text (chunk-rows.ts, the string path): compared as such.
  const text = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : String(v));
  const backup = chunk.rows()[Symbol.iterator]();
  const select = `SELECT ${names.map((n) => quoteIdent('mysql', n)).join(', ')} FROM ${quoteIdent('mysql', liveTable)}`;
  const before = (await checksums(db, [liveTable])).get(liveTable);
  let seen = 0;
  let lastId = -Infinity;
  for (;;) {
    const page = await db.query<Record<string, unknown>>(`${select}${seen ? ` WHERE id > ${lastId}` : ''} ORDER BY id LIMIT ${SAME_ROWS_PAGE}`);
    for (const got of page) {
      const next = backup.next();
      if (next.done) return undefined;
      const id = Number(text(next.value[at[idAt] ?? -1]));
      if (!(id > lastId)) return undefined;
      lastId = id;
      for (let c = 0; c < names.length; c++) if (text(got[names[c] ?? '']) !== text(next.value[at[c] ?? -1])) return undefined;
    }
    seen += page.length;
    if (page.length < SAME_ROWS_PAGE) break;
  }
  if (seen !== chunk.count) return undefined;
  const after = (await checksums(db, [liveTable])).get(liveTable);
  return before !== undefined && before === after ? { checksum: before } : undefined;
}

function rowFormatOf(db: DbAdapter): { rowFormat?: string } {
  const rf = (db as DbAdapter & { rowFormat?: unknown }).rowFormat;
  return typeof rf === 'string' ? { rowFormat: rf } : {};
}

/**
 * Carried-over tables that are no longer as the restore would leave them: holding a row (one
 * carried over with its rows: another `CHECKSUM TABLE`), gone, or with another next id. Three
 * round trips on MariaDB (rows, checksums, AUTO_INCREMENT), one per 1000 tables on PostgreSQL
 * (rows and sequence together).
 */
export async function changedCarried(db: DbAdapter, carried: readonly CarriedTable[]): Promise<string[]> {
  if (!carried.length) return [];
  const changed = new Set<string>();
  const q = (n: string): string => quoteIdent(db.family, db.prefix + n);
  const live = new Set(await db.listTables());
  const present = carried.filter((c) => {
    if (!live.has(c.name)) changed.add(c.name);
    return live.has(c.name);
  });
  if (db.family === 'postgres') {
    for (let i = 0; i < present.length; i += IN_BATCH) {
      const part = present.slice(i, i + IN_BATCH);
      const sql = part.map((c, j) => `SELECT ${j} AS k, EXISTS (SELECT 1 FROM ${q(c.name)}) AS full, ${c.seq ? `(SELECT (last_value + CASE WHEN is_called THEN 1 ELSE 0 END)::text FROM ${c.seq})` : 'NULL::text'} AS next`).join(' UNION ALL ');
      for (const r of await db.query<{ k: number; full: boolean; next: string | null }>(sql)) {
        const c = part[r.k];
        if (c && (r.full || (r.next === null ? null : Number(r.next)) !== c.next)) changed.add(c.name);
      }
    }
  } else {
    const empty = present.filter((c) => c.checksum === undefined);
    for (const n of await nonEmptyTables(db, empty.map((c) => c.name))) changed.add(n);
    const withRows = present.filter((c) => c.checksum !== undefined);
    const now = await checksums(db, withRows.map((c) => db.prefix + c.name));
    for (const c of withRows) if (now.get(db.prefix + c.name) !== c.checksum) changed.add(c.name);
    // MySQL 8 caches information_schema statistics; MariaDB has no such variable.
    if (db.engine === 'mysql') await db.execute('SET SESSION information_schema_stats_expiry = 0');
    const rows = await db.query<{ T: string; AUTO_INCREMENT: number | string | null }>(
      'SELECT TABLE_NAME AS T, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)', [present.map((c) => db.prefix + c.name)]);
    const ai = new Map(rows.map((r) => [r.T.slice(db.prefix.length), r.AUTO_INCREMENT === null ? null : Number(r.AUTO_INCREMENT)]));
    for (const c of present) if ((ai.get(c.name) ?? null) !== c.next) changed.add(c.name);
  }
  return carried.filter((c) => changed.has(c.name)).map((c) => c.name);
}

/**
 * PostgreSQL, inside the switch transaction: locks the carried-over tables against writes until
 * the commit (SHARE: reads go on), then {@link changedCarried}.
 */
export async function lockAndCheckCarried(db: DbAdapter, carried: readonly CarriedTable[]): Promise<string[]> {
  if (!carried.length) return [];
  if (db.family === 'postgres') {
    const live = new Set(await db.listTables());
    const present = carried.filter((c) => live.has(c.name));
    for (let i = 0; i < present.length; i += IN_BATCH) {
      await db.execute(`LOCK TABLE ${present.slice(i, i + IN_BATCH).map((c) => quoteIdent('postgres', db.prefix + c.name)).join(', ')} IN SHARE MODE`);
    }
  }
  return changedCarried(db, carried);
}
