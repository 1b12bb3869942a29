/**
 * Indexes XMLDB cannot express: classifying a live index as XMLDB-expressible or
 * engine-specific, the manifest extension that carries the engine-specific ones
 * (docs/format.md, "Engine-specific indexes"), and the plan that re-creates them on a restore
 * target — from the source's own definition on the same engine family, from their logical form
 * on the other one, for search_simpledb exactly as its installer
 * (search/engine/simpledb/db/install.php) does on the target engine, and Moodle's
 * `varchar_pattern_ops` index as its PostgreSQL generator does.
 *
 * Everything here except {@link applyEngineIndexes} is pure.
 */
import { z } from 'zod';
import type { SqlFamily } from './ddl.js';
import { indexName, quoteIdent } from './ddl.js';
import type { EngineIndex, EngineIndexLogical, XmldbIndex, XmldbKey, XmldbTable } from './model.js';

/** The table search_simpledb's installer adds full-text indexes to. */
export const SIMPLEDB_TABLE = 'search_simpledb_index';

/** The columns search_simpledb indexes, in its installer's order. */
export const SIMPLEDB_COLUMNS = ['title', 'content', 'description1', 'description2'] as const;

/**
 * Moodle 4.4's XMLDB indexes with the hint `varchar_pattern_ops` (the only HINTS in its
 * install.xml files: lib/db/install.xml, context.path). On PostgreSQL Moodle's generator
 * (postgres_sql_generator::getCreateIndexSQL) adds `<index name>_pattern ... USING btree
 * (<column> varchar_pattern_ops)` beside the plain index; the plugin strips hints from
 * `__structure__.xml`, so a restore must know them.
 */
export const MOODLE_PATTERN_HINTS: readonly { table: string; column: string }[] = [{ table: 'context', column: 'path' }];

/**
 * `engineIndexes` in `__vault_agent__.json`. Present (possibly with no indexes) in every backup
 * the agent writes; its absence means a backup made without it (the plugin's, or an older
 * agent's), where search_simpledb's indexes are created as its installer does.
 */
export interface EngineIndexExtension {
  /** The source engine (`postgres`, `mysql`, `mariadb`). */
  engine: EngineIndex['engine'];
  /** Table prefix of the source site, to rename `<prefix>…` index names on the target. */
  prefix: string;
  indexes: EngineIndex[];
}

/**
 * The shape an extension read from a backup must have. A backup is not trusted: anything else is
 * refused before a restore plans from it (identifiers are quoted and definitions re-checked by
 * {@link sameEngineIndex} as well).
 */
export const EngineIndexExtensionSchema = z.object({
  engine: z.enum(['postgres', 'mysql', 'mariadb']),
  prefix: z.string().max(64),
  indexes: z.array(z.object({
    table: z.string().min(1).max(128),
    name: z.string().min(1).max(128),
    engine: z.enum(['postgres', 'mysql', 'mariadb']),
    reason: z.string().max(200),
    unique: z.boolean(),
    columns: z.array(z.string().min(1).max(128)),
    logical: z.object({ kind: z.enum(['fulltext', 'pattern']), columns: z.array(z.string().min(1).max(128)).min(1), config: z.string().max(63).optional() }).optional(),
    definition: z.string().max(10_000),
  })),
});

/** One PostgreSQL index as pg_catalog describes it (see PostgresAdapter.introspect). */
export interface PgIndexInfo {
  table: string;
  name: string;
  unique: boolean;
  /** Access method (`btree`, `gin`, `gist`, `hash`, …). */
  method: string;
  /** Per key part: the column name, or null for an expression. */
  columns: (string | null)[];
  /** Per key part: `pg_get_indexdef(oid, k, true)`. */
  parts: string[];
  /** Per key part: its operator class when not the type's default (`varchar_pattern_ops`), else ''. */
  opclasses: string[];
  /** The index has a WHERE clause. */
  partial: boolean;
  /** INCLUDE columns beyond the key parts. */
  included: number;
  /** `pg_get_indexdef(oid)`. */
  definition: string;
}

/** One MySQL/MariaDB index as information_schema.STATISTICS describes it. */
export interface MysqlIndexInfo {
  table: string;
  name: string;
  unique: boolean;
  /** INDEX_TYPE: BTREE, FULLTEXT, SPATIAL, HASH. */
  type: string;
  /** Per part: the column (null for a MySQL 8 functional part), its prefix length and DATA_TYPE. */
  parts: { column: string | null; subPart: number | null; dataType: string }[];
}

/** What introspection makes of one index. */
export type ClassifiedIndex = { kind: 'xmldb'; index: XmldbIndex } | { kind: 'engine'; reasons: string[]; logical?: EngineIndexLogical };

/**
 * tool_vault's own rule (classes/local/xmldb/specialrules.php, is_actual_index_ignored): on
 * search_simpledb_index, an index whose first column mentions `to_tsvector` or whose columns
 * include `description1` is left out of `__structure__.xml`. Applied on top of the generic
 * rules so our structure never describes more than the plugin's does.
 */
export function pluginIgnoresIndex(table: string, columns: string[]): boolean {
  if (table !== SIMPLEDB_TABLE) return false;
  return /to_tsvector/.test(columns[0] ?? '') || columns.includes('description1');
}

/** `to_tsvector('<config>'::regconfig, <column>)` → config and column, else undefined. */
export function parseTsvectorPart(part: string): { config: string; column: string } | undefined {
  const m = /^to_tsvector\('((?:[^']|'')+)'::regconfig,\s*("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\)$/.exec(part.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const col = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/""/g, '"') : m[2];
  return { config: m[1].replace(/''/g, "'"), column: col };
}

/** Classifies a non-primary PostgreSQL index. */
export function classifyPostgresIndex(i: PgIndexInfo): ClassifiedIndex {
  const reasons: string[] = [];
  if (i.method !== 'btree') reasons.push(`method:${i.method}`);
  if (i.columns.some((c) => c === null)) reasons.push('expression');
  if (i.partial) reasons.push('partial');
  if (i.included > 0) reasons.push('include');
  if (i.opclasses.some(Boolean)) reasons.push('opclass');
  if (!reasons.length && pluginIgnoresIndex(i.table, i.parts)) reasons.push('plugin-rule');
  if (!reasons.length) return { kind: 'xmldb', index: { name: i.name, unique: i.unique, fields: i.columns.filter((c): c is string => c !== null) } };
  let logical: EngineIndexLogical | undefined;
  if (i.method === 'gin' && !i.partial && !i.unique && i.included === 0 && i.parts.length > 0) {
    const parsed = i.parts.map(parseTsvectorPart);
    const config = parsed[0]?.config;
    if (parsed.every((p) => p && p.config === config)) logical = { kind: 'fulltext', columns: parsed.map((p) => p?.column ?? ''), config };
  }
  if (reasons.length === 1 && reasons[0] === 'opclass' && !i.unique && i.opclasses.every((o) => /_pattern_ops$/.test(o))) {
    logical = { kind: 'pattern', columns: i.columns.filter((c): c is string => c !== null) };
  }
  return { kind: 'engine', reasons, logical };
}

const TEXT_TYPES = new Set(['tinytext', 'text', 'mediumtext', 'longtext', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'json']);

/** Classifies a non-primary MySQL/MariaDB index. A prefix index over VARCHAR stays XMLDB (the plugin reads it so). */
export function classifyMysqlIndex(i: MysqlIndexInfo): ClassifiedIndex {
  const type = i.type.toUpperCase();
  const columns = i.parts.map((p) => p.column);
  const reasons: string[] = [];
  if (type === 'FULLTEXT') reasons.push('fulltext');
  else if (type === 'SPATIAL') reasons.push('spatial');
  else if (type !== 'BTREE') reasons.push(`method:${type.toLowerCase()}`);
  if (columns.some((c) => c === null)) reasons.push('expression');
  if (i.parts.some((p) => p.subPart !== null && TEXT_TYPES.has(p.dataType.toLowerCase()))) reasons.push('prefix');
  const plain = columns.filter((c): c is string => c !== null);
  if (!reasons.length && pluginIgnoresIndex(i.table, plain)) reasons.push('plugin-rule');
  if (!reasons.length) return { kind: 'xmldb', index: { name: i.name, unique: i.unique, fields: plain } };
  const logical: EngineIndexLogical | undefined = type === 'FULLTEXT' && plain.length === columns.length ? { kind: 'fulltext', columns: plain } : undefined;
  return { kind: 'engine', reasons, logical };
}

/** The index clause for `name` in `SHOW CREATE TABLE` output (without the trailing comma). */
export function mysqlIndexClause(createTable: string, name: string): string | undefined {
  const quoted = `\`${name.replace(/`/g, '``')}\``;
  for (const raw of createTable.split('\n')) {
    const line = raw.trim().replace(/,$/, '');
    const m = /^(?:UNIQUE |FULLTEXT |SPATIAL )?(?:KEY|INDEX) (`(?:[^`]|``)+`)/.exec(line);
    if (m?.[1] === quoted) return line;
  }
  return undefined;
}

/** One index the restore creates after the data load. */
export interface EngineIndexAction {
  table: string;
  /** Name on the target, prefix included. */
  name: string;
  sql: string;
  /**
   * `definition`: the source's own; `translated`: from the logical form; `installer`:
   * search_simpledb's installer; `hint`: Moodle's PostgreSQL generator for a `varchar_pattern_ops` hint.
   */
  how: 'definition' | 'translated' | 'installer' | 'hint';
  /** Source index names it stands for (empty for `installer` without an extension). */
  from: string[];
  /**
   * MySQL/MariaDB: the columns of a FULLTEXT index over whole columns, which is all such an index
   * is (the carry-over compares it with the live one); undefined for every other index.
   */
  fulltext?: string[];
}

/** An index the restore does not create, and why. */
export interface EngineIndexSkip {
  table: string;
  name: string;
  reason: string;
}

/** What a restore does about indexes outside XMLDB. */
export interface EngineIndexPlan {
  create: EngineIndexAction[];
  skip: EngineIndexSkip[];
}

/** `<srcPrefix>rest` → `<dstPrefix>rest`; other names are kept. */
export function renameIndex(name: string, srcPrefix: string, dstPrefix: string): string {
  return srcPrefix && name.startsWith(srcPrefix) ? dstPrefix + name.slice(srcPrefix.length) : name;
}

const familyOf = (engine: string): SqlFamily => (engine === 'postgres' ? 'postgres' : 'mysql');

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[^\s"(]+)`;

/** Index access methods a PostgreSQL definition may name. */
const PG_METHODS = new Set(['btree', 'hash', 'gist', 'spgist', 'gin', 'brin']);

/**
 * Whether `text` is one SQL fragment with balanced parentheses and quotes and nothing that ends
 * or comments out a statement. A definition comes from the backup, which is not trusted: it must
 * never smuggle a second statement or an extra ALTER TABLE clause onto the target.
 */
function isSingleFragment(text: string): boolean {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) {
        if (text[i + 1] === quote) i++;
        else quote = null;
      }
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') { if (--depth < 0) return false; }
    else if (c === ';' || c === '\\') return false;
    else if ((c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) return false;
  }
  return depth === 0 && quote === null;
}

/**
 * Re-creates a source index on the same engine family from its definition, or undefined when the
 * definition is not one this grammar accepts. PostgreSQL: `USING <method> (<parts>)` with optional
 * INCLUDE, WITH and WHERE (index expressions and predicates may call only IMMUTABLE functions,
 * which PostgreSQL enforces); no TABLESPACE. MySQL/MariaDB: rebuilt from its backquoted columns
 * and prefix lengths only; `fulltext` names the columns of a FULLTEXT index over whole columns.
 */
export function sameEngineIndex(family: SqlFamily, ix: EngineIndex, name: string, prefix: string): { sql: string; fulltext?: string[] } | undefined {
  const table = quoteIdent(family, prefix + ix.table);
  const def = ix.definition.trim();
  if (family === 'postgres') {
    const m = new RegExp(String.raw`^CREATE (UNIQUE )?INDEX ${IDENT} ON (?:ONLY )?${IDENT}(?:\.${IDENT})? USING ([a-z]+) (\(.+)$`, 's').exec(def);
    const method = m?.[2];
    const rest = m?.[3];
    if (!method || !rest || !PG_METHODS.has(method) || !isSingleFragment(rest) || /\btablespace\b/i.test(rest)) return undefined;
    return { sql: `CREATE ${m[1] ?? ''}INDEX ${quoteIdent(family, name)} ON ${table} USING ${method} ${rest}` };
  }
  const m = /^(UNIQUE |FULLTEXT |SPATIAL )?(?:KEY|INDEX) `(?:[^`]|``)+` \(((?:`(?:[^`]|``)+`(?:\(\d+\))?(?: (?:ASC|DESC))?,?)+)\)(?: USING (?:BTREE|HASH))?$/s.exec(def);
  if (!m?.[2] || m[2].endsWith(',')) return undefined;
  // Each part: the column (unquoted), then its prefix length and order as written.
  const parts = [...m[2].matchAll(/`((?:[^`]|``)+)`(\(\d+\))?( (?:ASC|DESC))?/g)].map((p) => ({ column: (p[1] as string).replace(/``/g, '`'), tail: `${p[2] ?? ''}${p[3] ?? ''}` }));
  const sql = `ALTER TABLE ${table} ADD ${m[1] ?? ''}INDEX ${quoteIdent(family, name)} (${parts.map((p) => `${quoteIdent('mysql', p.column)}${p.tail}`).join(', ')})`;
  return m[1] === 'FULLTEXT ' && parts.every((p) => !p.tail) ? { sql, fulltext: parts.map((p) => p.column) } : { sql };
}

/** PostgreSQL: a GIN index over `to_tsvector('<config>', <column>)`, as search_simpledb's installer writes it. */
function ginSql(prefix: string, table: string, name: string, column: string, config: string): { name: string; sql: string } {
  const q = (s: string): string => quoteIdent('postgres', s);
  return { name, sql: `CREATE INDEX ${q(name)} ON ${q(prefix + table)} USING gin(to_tsvector('${config.replace(/'/g, "''")}', ${q(column)}))` };
}

/** A full-text index over `columns` in the target's form (one GIN index per column on PostgreSQL). */
function fulltextSql(family: SqlFamily, prefix: string, table: string, name: string, columns: string[], config: string): { name: string; sql: string; fulltext?: string[] }[] {
  if (family === 'mysql') {
    const q = (s: string): string => quoteIdent('mysql', s);
    return [{ name, sql: `CREATE FULLTEXT INDEX ${q(name)} ON ${q(prefix + table)} (${columns.map(q).join(', ')})`, fulltext: [...columns] }];
  }
  return columns.map((c) => ginSql(prefix, table, columns.length === 1 ? name : `${name}_${c}`.slice(0, 63), c, config));
}

/**
 * What search_simpledb's installer creates on `family` (install.php): PostgreSQL four
 * `{search_simpledb_<column>}` GIN indexes over `to_tsvector('simple', <column>)`; MySQL and
 * MariaDB one FULLTEXT `{search_simpledb_index_index}` over the four columns (every supported
 * version passes its is_fulltext_search_supported()).
 */
export function simpledbInstallerIndexes(family: SqlFamily, prefix: string, tablePrefix = prefix): { name: string; sql: string; fulltext?: string[] }[] {
  const cols = [...SIMPLEDB_COLUMNS];
  if (family === 'mysql') return fulltextSql(family, tablePrefix, SIMPLEDB_TABLE, `${prefix}search_simpledb_index_index`, cols, 'simple');
  return cols.map((c) => ginSql(tablePrefix, SIMPLEDB_TABLE, `${prefix}search_simpledb_${c}`, c, 'simple'));
}

/** Options of {@link planEngineIndexes}. */
export interface PlanOptions {
  /** The tables the restore creates (preserved ones left out), as they will be created. */
  tables: XmldbTable[];
  /** The backup's extension; undefined for a backup without one (the plugin's). */
  extension: EngineIndexExtension | undefined;
  family: SqlFamily;
  /** Target table prefix. */
  prefix: string;
  /**
   * Prefix of the tables the statements act on, when not `prefix`: the staging tables of an
   * atomic restore on MySQL/MariaDB (`vault_stg_<prefix>`). Index names keep `prefix`.
   */
  tablePrefix?: string;
}

/** Decides which engine-specific indexes a restore creates, and which it cannot. */
export function planEngineIndexes(o: PlanOptions): EngineIndexPlan {
  const plan: EngineIndexPlan = { create: [], skip: [] };
  const on = o.tablePrefix ?? o.prefix;
  const tables = new Map(o.tables.map((t) => [t.name, t]));
  const hasColumns = (table: string, cols: readonly string[]): boolean => {
    const t = tables.get(table);
    return Boolean(t) && cols.every((c) => t?.fields.some((f) => f.name === c));
  };
  const installer = (from: string[]): void => {
    if (!hasColumns(SIMPLEDB_TABLE, SIMPLEDB_COLUMNS)) {
      plan.skip.push({ table: SIMPLEDB_TABLE, name: from.join(', ') || 'search_simpledb full-text indexes', reason: `the table lacks one of the columns ${SIMPLEDB_COLUMNS.join(', ')}` });
      return;
    }
    for (const x of simpledbInstallerIndexes(o.family, o.prefix, on)) plan.create.push({ table: SIMPLEDB_TABLE, ...x, how: 'installer', from });
  };
  // Moodle's pattern indexes, when the backup cannot carry them: from the plugin, or from MySQL.
  if (o.family === 'postgres' && (!o.extension || familyOf(o.extension.engine) !== 'postgres')) {
    for (const h of MOODLE_PATTERN_HINTS) {
      const t = tables.get(h.table);
      if (!t?.indexes.some((i) => !i.unique && i.fields.join(',') === h.column)) continue;
      const q = (x: string): string => quoteIdent('postgres', x);
      const name = `${indexName(o.prefix, h.table, [h.column], false)}_pattern`;
      plan.create.push({ table: h.table, name, sql: `CREATE INDEX ${q(name)} ON ${q(on + h.table)} USING btree (${q(h.column)} varchar_pattern_ops)`, how: 'hint', from: [] });
    }
  }
  if (!o.extension) {
    if (tables.has(SIMPLEDB_TABLE)) installer([]);
    return plan;
  }
  const src = o.extension.prefix;
  const simpledbFulltext: string[] = [];
  for (const ix of o.extension.indexes) {
    if (!tables.has(ix.table)) continue;
    const name = renameIndex(ix.name, src, o.prefix);
    if (familyOf(ix.engine) === o.family) {
      const same = sameEngineIndex(o.family, ix, name, on);
      if (same) plan.create.push({ table: ix.table, name, ...same, how: 'definition', from: [ix.name] });
      else plan.skip.push({ table: ix.table, name: ix.name, reason: `its definition could not be read: ${ix.definition}` });
      continue;
    }
    // MySQL/MariaDB serve LIKE 'x%' from the plain index XMLDB already gives them.
    if (ix.logical?.kind === 'pattern') continue;
    if (ix.logical?.kind === 'fulltext') {
      if (ix.table === SIMPLEDB_TABLE) {
        simpledbFulltext.push(ix.name);
        continue;
      }
      if (!hasColumns(ix.table, ix.logical.columns)) {
        plan.skip.push({ table: ix.table, name: ix.name, reason: `the table lacks one of its columns ${ix.logical.columns.join(', ')}` });
        continue;
      }
      for (const x of fulltextSql(o.family, on, ix.table, name, ix.logical.columns, ix.logical.config ?? 'simple')) {
        plan.create.push({ table: ix.table, ...x, how: 'translated', from: [ix.name] });
      }
      continue;
    }
    plan.skip.push({ table: ix.table, name: ix.name, reason: `${ix.engine} index (${ix.reason}) has no ${o.family === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} form: ${ix.definition}` });
  }
  if (simpledbFulltext.length) installer(simpledbFulltext);
  return plan;
}

/** A key or index of a table that cannot be created on `family`, and why. */
export interface UncreatableIndex {
  table: string;
  name: string;
  reason: string;
}

const indexable = (t: XmldbTable, family: SqlFamily, fields: string[]): string | undefined => {
  if (!fields.length) return 'it has no columns (an expression index XMLDB cannot describe)';
  const missing = fields.filter((f) => !t.fields.some((x) => x.name === f));
  if (missing.length) return `no such column: ${missing.join(', ')}`;
  const text = fields.filter((f) => {
    const type = t.fields.find((x) => x.name === f)?.type;
    return type === 'text' || type === 'binary';
  });
  if (family === 'mysql' && text.length) return `text/binary column ${text.join(', ')} cannot be indexed on MySQL/MariaDB without a prefix length`;
  return undefined;
};

/**
 * Removes keys and indexes a backup's `__structure__.xml` describes but the target cannot
 * create (an empty FIELDS list, a missing column, a TEXT column on MySQL) or that the plugin's
 * rule keeps out of XMLDB ({@link pluginIgnoresIndex}): the restore creates the table without
 * them and reports them instead of failing.
 */
export function withoutUncreatableIndexes(t: XmldbTable, family: SqlFamily): { table: XmldbTable; dropped: UncreatableIndex[] } {
  const dropped: UncreatableIndex[] = [];
  const keep = <T extends XmldbIndex | XmldbKey>(list: T[]): T[] => list.filter((i) => {
    if ('type' in i && i.type === 'primary') return true;
    // Older agent backups described search_simpledb's full-text index as a plain one; the
    // plugin never does (specialrules), and the installer's form is created after the load.
    const reason = pluginIgnoresIndex(t.name, i.fields)
      ? "search_simpledb's full-text index described as a plain index (older vault-agent backup); created as its installer does instead"
      : indexable(t, family, i.fields);
    if (reason) dropped.push({ table: t.name, name: i.name, reason });
    return !reason;
  });
  const keys = keep(t.keys);
  const indexes = keep(t.indexes);
  return dropped.length ? { table: { ...t, keys, indexes }, dropped } : { table: t, dropped };
}

/** Outcome of {@link applyEngineIndexes}. */
export interface EngineIndexResult {
  created: EngineIndexAction[];
  /** Indexes not created: the plan's skips plus statements that failed. */
  skipped: EngineIndexSkip[];
}

/** The subset of DbAdapter {@link applyEngineIndexes} needs. */
export interface IndexTarget {
  readonly family: SqlFamily;
  readonly prefix: string;
  execute(sql: string): Promise<void>;
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** Index names on a table of the target (prefixed table name). */
async function indexNames(db: IndexTarget, table: string): Promise<Set<string>> {
  const rows = db.family === 'postgres'
    ? await db.query<{ n: string }>('SELECT indexname AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1', [table])
    : await db.query<{ n: string }>('SELECT DISTINCT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table]);
  return new Set(rows.map((r) => r.n));
}

/**
 * Runs a plan: each index that does not exist yet (a resumed restore may have made it) is
 * created on its own; a statement that fails is reported through `warn` and in the result,
 * never thrown, so an index the target refuses cannot fail a restore.
 */
export async function applyEngineIndexes(db: IndexTarget, plan: EngineIndexPlan, warn: (message: string) => void = () => undefined): Promise<EngineIndexResult> {
  const out: EngineIndexResult = { created: [], skipped: [...plan.skip] };
  for (const s of plan.skip) warn(`index ${s.name} on ${s.table} not re-created: ${s.reason}`);
  const existing = new Map<string, Set<string>>();
  for (const a of plan.create) {
    try {
      let names = existing.get(a.table);
      if (!names) existing.set(a.table, (names = await indexNames(db, db.prefix + a.table)));
      if (names.has(a.name)) continue;
      await db.execute(a.sql);
      names.add(a.name);
      out.created.push(a);
    } catch (err) {
      const reason = `${(err as Error).message} (${a.sql})`;
      out.skipped.push({ table: a.table, name: a.name, reason });
      warn(`index ${a.name} on ${a.table} not created: ${reason}`);
    }
  }
  return out;
}

/** What a restore does about indexes: tables as created, what they leave out, and the plan for the rest. */
export interface RestoreIndexPlan {
  /** The tables to create, without {@link uncreatable}. */
  tables: XmldbTable[];
  /** Keys and indexes of `__structure__.xml` the target cannot create. */
  uncreatable: UncreatableIndex[];
  plan: EngineIndexPlan;
}

/**
 * The index side of a restore of `tables` (the backup's, preserved ones left out) onto
 * `family`: used by the import and, before anything changes, by the restore pre-check.
 * `tablePrefix`: see {@link PlanOptions.tablePrefix}.
 */
export function planRestoreIndexes(tables: XmldbTable[], extension: EngineIndexExtension | undefined, family: SqlFamily, prefix: string, tablePrefix = prefix): RestoreIndexPlan {
  const creatable = tables.map((t) => withoutUncreatableIndexes(t, family));
  const out = creatable.map((c) => c.table);
  return { tables: out, uncreatable: creatable.flatMap((c) => c.dropped), plan: planEngineIndexes({ tables: out, extension, family, prefix, tablePrefix }) };
}
