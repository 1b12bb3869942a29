/**
 * DDL per engine from the XMLDB model, reproducing Moodle's XMLDB generators
 * (lib/ddl/sql_generator.php, postgres_sql_generator.php, mysql_sql_generator.php): the same
 * type mapping, defaults (including `DEFAULT ''` on NOT NULL char columns), BIGSERIAL /
 * AUTO_INCREMENT sequences, table options and — through {@link MoodleNamer} — the same object
 * names, collision counter included, so a restored site has the schema Moodle's installer makes.
 */
import { DdlError } from './errors.js';
import type { XmldbField, XmldbTable } from './model.js';
import { primaryKeyFields } from './model.js';

/** SQL family: MySQL and MariaDB share one dialect here. */
export type SqlFamily = 'postgres' | 'mysql';

/** One secondary index as Moodle creates it: its generated name, columns and uniqueness. */
export interface PlannedIndex {
  name: string;
  fields: string[];
  unique: boolean;
}

/** The physical object names of one table. */
export interface TableNames {
  /** PostgreSQL primary key constraint name (MySQL's is always `PRIMARY`). */
  primaryKey?: string;
  /** Secondary indexes in Moodle's creation order. */
  indexes: PlannedIndex[];
}

/** Options for table creation. */
export interface DdlOptions {
  /** MySQL family: utf8mb4 collation of the table and its text columns (Moodle's `dbcollation`). */
  collation?: string;
  /** MySQL family: `ROW_FORMAT=` value (Moodle: Compressed when the server supports it, else Dynamic). */
  rowFormat?: string;
  /** MySQL family: declare the secondary indexes inside CREATE TABLE (one DDL statement instead of one per index). */
  inlineIndexes?: boolean;
  /** MySQL family: initial AUTO_INCREMENT; InnoDB moves past explicit ids inserted later by itself. */
  autoIncrement?: number;
  /** Object names planned for the whole restore ({@link planTableNames}); else named as if the table were the only one. */
  names?: TableNames;
  /** PostgreSQL: no primary key in CREATE TABLE; {@link addPrimaryKeySql} adds it after the rows. */
  withoutPrimaryKey?: boolean;
}

/** Quotes an identifier so reserved words (`order`, `user`, `group`) work. */
export function quoteIdent(family: SqlFamily, name: string): string {
  return family === 'postgres' ? `"${name.replace(/"/g, '""')}"` : `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal for DEFAULT clauses. */
export function quoteLiteral(family: SqlFamily, value: string): string {
  const s = value.replace(/'/g, "''");
  return family === 'mysql' ? `'${s.replace(/\\/g, '\\\\')}'` : `'${s}'`;
}

/** XMLDB length as Moodle reads it: empty or 0 means "not given". */
const len = (v: string | undefined): number => Number(v ?? '') || 0;

/** The column type for a field on the engine, without NULL/DEFAULT (getTypeSQL of Moodle's generators). */
export function columnType(family: SqlFamily, f: XmldbField): string {
  switch (f.type) {
    case 'int': {
      const n = len(f.length) || 10;
      if (family === 'postgres') return n > 9 ? 'BIGINT' : n > 4 ? 'INTEGER' : 'SMALLINT';
      // MySQL keeps the XMLDB length as display width: information_schema shows `bigint(10)`, `tinyint(1)`.
      return `${n > 9 ? 'BIGINT' : n > 6 ? 'INT' : n > 4 ? 'MEDIUMINT' : n > 2 ? 'SMALLINT' : 'TINYINT'}(${n})`;
    }
    case 'number': {
      const p = len(f.length);
      const s = len(f.decimals);
      const base = family === 'postgres' ? 'NUMERIC' : 'DECIMAL';
      return p ? `${base}(${p}${s ? `,${s}` : ''})` : base;
    }
    case 'float': {
      // Moodle: single precision when fewer than 6 decimals are asked for, double otherwise.
      const p = len(f.length);
      const s = len(f.decimals);
      const single = s > 0 && s < 6;
      if (family === 'postgres') return single ? 'REAL' : 'DOUBLE PRECISION';
      // Moodle writes DOUBLE(M,D) when a length is given, which rounds to D decimals. Introspected
      // structures (the plugin's and ours) give every double length 20 and 8 decimals (spec §2.1),
      // so following that would round restored values; core 4.4 declares no double with a length.
      if (!single) return 'DOUBLE';
      return p ? `FLOAT(${p},${s})` : 'FLOAT';
    }
    case 'char':
      return `VARCHAR(${len(f.length) || 255})`;
    case 'text':
      return family === 'postgres' ? 'TEXT' : 'LONGTEXT';
    case 'binary':
      return family === 'postgres' ? 'BYTEA' : 'LONGBLOB';
    case 'datetime':
    case 'timestamp':
      return family === 'postgres' ? 'TIMESTAMP' : 'DATETIME';
    default:
      throw new DdlError(`unknown XMLDB type ${String(f.type)} for field ${f.name}`);
  }
}

/** DEFAULT clause value for a field, or undefined (getDefaultValue of Moodle's generator). */
function defaultSql(family: SqlFamily, f: XmldbField): string | undefined {
  if (f.sequence) return undefined;
  if (f.default === undefined) {
    // Moodle forces DEFAULT '' on NOT NULL char columns without one (default_for_char), so code
    // inserting a partial record (no `password`, say) works: the installer's schema has it.
    return f.type === 'char' && f.notnull ? "''" : undefined;
  }
  // TEXT/BLOB defaults are dropped by the plugin's structure reader; MySQL < 8 rejects them too.
  if (f.type === 'text' || f.type === 'binary') return undefined;
  if (f.type === 'int' || f.type === 'number' || f.type === 'float') {
    const v = f.default.trim();
    if (v === '' || !/^[-+]?[0-9.eE+-]+$/.test(v)) return undefined;
    return v;
  }
  return quoteLiteral(family, f.default);
}

/** Full column definition (name, type, sequence, default, nullability); `collation` for MySQL text columns. */
export function columnSql(family: SqlFamily, f: XmldbField, collation?: string): string {
  const name = quoteIdent(family, f.name);
  if (f.sequence) {
    // Moodle's sequence_name_small: SERIAL for lengths up to 9.
    if (family === 'postgres') return `${name} ${len(f.length) && len(f.length) <= 9 ? 'SERIAL' : 'BIGSERIAL'}`;
    return `${name} ${columnType(family, f)} NOT NULL AUTO_INCREMENT`;
  }
  let s = `${name} ${columnType(family, f)}`;
  if (collation && family === 'mysql' && (f.type === 'char' || f.type === 'text')) s += ` COLLATE ${collation}`;
  const def = defaultSql(family, f);
  if (def !== undefined) s += ` DEFAULT ${def}`;
  s += f.notnull ? ' NOT NULL' : ' NULL';
  return s;
}

/** Moodle's limit for generated object names (sql_generator::$names_max_length, kept by both engines). */
export const NAMES_MAX_LENGTH = 30;

/**
 * Moodle's object naming (sql_generator::getNameForObject): `<prefix>` + the first 4 letters of
 * each `_`-part of the table name + `_` + the first 3 letters of each field, cut to 30
 * characters with the suffix; a name already used in this run (or present in the database)
 * gets a counter before the suffix, continuing from the last counter of the same stem. The
 * state lives for the whole run, like the generator's static cache, so names depend on the
 * order tables are created in — hence {@link installOrder}.
 */
export class MoodleNamer {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  /** `inUse` reports names the database already holds (Moodle's isNameInUse). */
  constructor(readonly prefix: string, private readonly inUse: (name: string, suffix: string, table: string) => boolean = () => false) {}

  /** The next name for an object on `table` over `fields` with `suffix` (`pk`, `ix`, `uix`, …). */
  name(table: string, fields: string[], suffix: string): string {
    let stem = table.split('_').map((p) => p.trim().slice(0, 4)).join('') + '_' + fields.map((f) => f.trim().slice(0, 3)).join('');
    stem = (this.prefix + stem).trim();
    const max = NAMES_MAX_LENGTH - suffix.length - (suffix ? 1 : 0);
    const tail = suffix ? `_${suffix}` : '';
    const withCounter = (n: number): string => stem.slice(0, max - String(n).length) + String(n) + tail;
    const prev = this.counters.get(stem);
    let counter = prev === undefined ? 1 : prev + 1;
    let name = prev === undefined ? stem.slice(0, max) + tail : withCounter(counter);
    while (this.used.has(name) || this.inUse(name, suffix, this.prefix + table)) name = withCounter(++counter);
    this.used.add(name);
    this.counters.set(stem, counter);
    return name.toLowerCase();
  }

  /**
   * Names a table's objects in the order sql_generator::getCreateTableSQL asks for them: the
   * primary key (named twice on PostgreSQL — the second, unused name still takes a counter),
   * then the XMLDB indexes, then indexes for unique, foreign and foreign-unique keys. Nothing is
   * deduplicated: Moodle creates every one of them.
   */
  planTable(family: SqlFamily, t: XmldbTable): TableNames {
    const out: TableNames = { indexes: [] };
    const pkKeys = t.keys.filter((k) => k.type === 'primary');
    // MySQL's generator has primary_key_name = '': no name is generated for it.
    if (family === 'postgres') for (const k of pkKeys) out.primaryKey ??= this.name(t.name, k.fields, 'pk');
    for (const i of t.indexes) out.indexes.push({ name: this.name(t.name, i.fields, i.unique ? 'uix' : 'ix'), fields: i.fields, unique: i.unique });
    for (const k of t.keys) {
      if (k.type === 'primary') {
        if (family === 'postgres') this.name(t.name, k.fields, 'pk');
        continue;
      }
      const unique = k.type !== 'foreign';
      out.indexes.push({ name: this.name(t.name, k.fields, unique ? 'uix' : 'ix'), fields: k.fields, unique });
    }
    return out;
  }
}

/**
 * Plugin types in the order Moodle 4.4 installs them (core_component::fetch_plugintypes: the
 * types of lib/components.json, then subplugin types of mod, editor and tool plugins in
 * plugin order). Components of other types follow, alphabetically.
 */
export const INSTALL_TYPE_ORDER: readonly string[] = [
  'antivirus', 'availability', 'qtype', 'mod', 'auth', 'calendartype', 'communication', 'customfield', 'enrol', 'message', 'block',
  'media', 'filter', 'editor', 'format', 'dataformat', 'profilefield', 'report', 'coursereport', 'gradeexport', 'gradeimport',
  'gradereport', 'gradingform', 'mlbackend', 'mnetservice', 'webservice', 'repository', 'portfolio', 'search', 'qbank',
  'qbehaviour', 'qformat', 'plagiarism', 'tool', 'cachestore', 'cachelock', 'fileconverter', 'contenttype', 'theme', 'local',
  'h5plib', 'paygw',
  'assignsubmission', 'assignfeedback', 'bbbext', 'booktool', 'datafield', 'datapreset', 'forumreport', 'ltisource', 'ltiservice',
  'quiz', 'quizaccess', 'scormreport', 'workshopform', 'workshopallocation', 'workshopeval', 'atto', 'tiny', 'logstore', 'factor',
];

/**
 * Tables in the order Moodle's installer creates them: core, then plugins by type (see
 * {@link INSTALL_TYPE_ORDER}) and name, each component's tables in install.xml order when
 * `definitions` (the code tree's) are given, else in the given order; tables no install.xml
 * defines (COMPONENT `?` or '') come last.
 */
export function installOrder(tables: readonly XmldbTable[], definitions?: readonly XmldbTable[]): XmldbTable[] {
  const defPos = new Map((definitions ?? []).map((t, i) => [t.name, i]));
  const typeRank = (component: string): [number, string] => {
    if (component === 'core' || component.startsWith('core_')) return [0, ''];
    if (!component || component === '?') return [3, ''];
    const u = component.indexOf('_');
    const type = u < 0 ? component : component.slice(0, u);
    const i = INSTALL_TYPE_ORDER.indexOf(type);
    return i < 0 ? [2, component] : [1, `${String(i).padStart(3, '0')}|${component.slice(u + 1)}`];
  };
  return tables
    .map((t, i) => ({ t, i, rank: typeRank(t.component), pos: defPos.get(t.name) ?? Number.MAX_SAFE_INTEGER }))
    .sort((a, b) => a.rank[0] - b.rank[0] || (a.rank[1] < b.rank[1] ? -1 : a.rank[1] > b.rank[1] ? 1 : 0) || a.pos - b.pos || a.i - b.i)
    .map((x) => x.t);
}

/**
 * Object names for a set of tables created in one run, as Moodle's installer would give them:
 * tables named in {@link installOrder}; `reserved` names (objects the database keeps, e.g. of
 * preserved tables) are treated as taken.
 */
export function planTableNames(family: SqlFamily, prefix: string, tables: readonly XmldbTable[], opts: { definitions?: readonly XmldbTable[]; reserved?: Iterable<string> } = {}): Map<string, TableNames> {
  const reserved = new Set([...(opts.reserved ?? [])].map((n) => n.toLowerCase()));
  const namer = new MoodleNamer(prefix, (name) => reserved.has(name.toLowerCase()));
  const out = new Map<string, TableNames>();
  for (const t of installOrder(tables, opts.definitions)) out.set(t.name, namer.planTable(family, t));
  return out;
}

/** Names for a table created on its own (no other table in the run). */
function namesFor(family: SqlFamily, prefix: string, t: XmldbTable, opts: DdlOptions): TableNames {
  if (!opts.names) return new MoodleNamer(prefix).planTable(family, t);
  // Planned on the backup's definition: keep only what this table (maybe trimmed of indexes the
  // target cannot create) still declares, so the others keep the names Moodle would give them.
  const sig = (fields: string[], unique: boolean): string => `${fields.join(',')}|${unique}`;
  const declared = new Set([...t.indexes.map((i) => sig(i.fields, i.unique)), ...t.keys.filter((k) => k.type !== 'primary').map((k) => sig(k.fields, k.type !== 'foreign'))]);
  return { ...opts.names, indexes: opts.names.indexes.filter((i) => declared.has(sig(i.fields, i.unique))) };
}

/**
 * Moodle's name for one index named on its own (no collision with other objects of the run):
 * right when no other object shares its stem, e.g. for the `_pattern` companion of a hint.
 */
export function indexName(prefix: string, table: string, fields: string[], unique: boolean): string {
  return new MoodleNamer(prefix).name(table, fields, unique ? 'uix' : 'ix');
}

/** CREATE TABLE (with primary key; MySQL with its secondary indexes when `inlineIndexes`). */
export function createTableSql(family: SqlFamily, prefix: string, t: XmldbTable, opts: DdlOptions = {}): string {
  const collation = family === 'mysql' ? (opts.collation ?? 'utf8mb4_unicode_ci') : undefined;
  const cols = t.fields.map((f) => `  ${columnSql(family, f, collation)}`);
  const pk = primaryKeyFields(t);
  const names = namesFor(family, prefix, t, opts);
  const pkCols = pk.map((c) => quoteIdent(family, c)).join(', ');
  const name = quoteIdent(family, prefix + t.name);
  if (family === 'postgres') {
    if (pk.length && !opts.withoutPrimaryKey) cols.push(`  ${pgPrimaryKeyClause(t, names)}`);
    return `CREATE TABLE ${name} (\n${cols.join(',\n')}\n)`;
  }
  if (pk.length) cols.push(`  PRIMARY KEY (${pkCols})`);
  if (opts.inlineIndexes) {
    for (const i of names.indexes) {
      cols.push(`  ${i.unique ? 'UNIQUE ' : ''}KEY ${quoteIdent(family, i.name)} (${i.fields.map((c) => quoteIdent(family, c)).join(', ')})`);
    }
  }
  const autoInc = opts.autoIncrement && opts.autoIncrement > 1 ? ` AUTO_INCREMENT=${Math.floor(opts.autoIncrement)}` : '';
  const rowFormat = opts.rowFormat ? ` ROW_FORMAT=${opts.rowFormat}` : '';
  return `CREATE TABLE ${name} (\n${cols.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}${rowFormat}${autoInc}`;
}

/** The PRIMARY KEY clause of a PostgreSQL table, with its planned constraint name. */
function pgPrimaryKeyClause(t: XmldbTable, names: TableNames): string {
  const pkCols = primaryKeyFields(t).map((c) => quoteIdent('postgres', c)).join(', ');
  return `${names.primaryKey ? `CONSTRAINT ${quoteIdent('postgres', names.primaryKey)} ` : ''}PRIMARY KEY (${pkCols})`;
}

/**
 * PostgreSQL: the primary key of a table created {@link DdlOptions.withoutPrimaryKey}, as
 * pg_restore adds it (one sorted build after the rows instead of an index insert per row); the
 * same constraint and index as in CREATE TABLE. None for a table without one.
 */
export function addPrimaryKeySql(prefix: string, t: XmldbTable, opts: Pick<DdlOptions, 'names'> = {}): string | undefined {
  if (!primaryKeyFields(t).length) return undefined;
  return `ALTER TABLE ${quoteIdent('postgres', prefix + t.name)} ADD ${pgPrimaryKeyClause(t, namesFor('postgres', prefix, t, opts))}`;
}

/** CREATE INDEX statements for the table's keys and indexes. */
export function createIndexesSql(family: SqlFamily, prefix: string, t: XmldbTable, opts: Pick<DdlOptions, 'names'> = {}): string[] {
  return namesFor(family, prefix, t, opts).indexes.map((i) => {
    const cols = i.fields.map((c) => quoteIdent(family, c)).join(', ');
    return `CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(family, i.name)} ON ${quoteIdent(family, prefix + t.name)} (${cols})`;
  });
}

/** DROP TABLE IF EXISTS (PostgreSQL drops the owned sequence with it). */
export function dropTableSql(family: SqlFamily, prefix: string, table: string): string {
  return `DROP TABLE IF EXISTS ${quoteIdent(family, prefix + table)}`;
}

/** Name of the PostgreSQL sequence BIGSERIAL creates for a column. */
export function pgSequenceName(prefix: string, table: string, column: string): string {
  return `${prefix}${table}_${column}_seq`;
}
