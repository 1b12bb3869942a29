/**
 * The XMLDB schema model: the same shape Moodle's install.xml files and tool_vault's
 * `__structure__.xml` describe, so parsing, introspection, diff and DDL all speak one language.
 */

/** XMLDB field types (Moodle `XMLDB_TYPE_*`). */
export type XmldbFieldType = 'int' | 'number' | 'float' | 'char' | 'text' | 'binary' | 'datetime' | 'timestamp';

/** One column. `length`/`decimals` are kept as the strings XMLDB writes. */
export interface XmldbField {
  name: string;
  type: XmldbFieldType;
  length?: string;
  notnull: boolean;
  /** Default value as XMLDB spells it (unquoted); undefined = no default. */
  default?: string;
  sequence: boolean;
  decimals?: string;
}

export type XmldbKeyType = 'primary' | 'unique' | 'foreign' | 'foreign-unique';

/** A key: primary keys become the table's PRIMARY KEY, the others indexes (as Moodle does). */
export interface XmldbKey {
  name: string;
  type: XmldbKeyType;
  fields: string[];
  reftable?: string;
  reffields?: string[];
}

export interface XmldbIndex {
  name: string;
  unique: boolean;
  fields: string[];
}

/** One table, name without the site prefix. */
export interface XmldbTable {
  name: string;
  /** Frankenstyle component defining the table, `?` when none does, '' when unknown. */
  component: string;
  fields: XmldbField[];
  keys: XmldbKey[];
  indexes: XmldbIndex[];
  /**
   * Live indexes XMLDB cannot express (introspection only; never in `__structure__.xml`).
   * Absent when there are none.
   */
  engineIndexes?: EngineIndex[];
}

/** The physical indexes a table needs: non-primary keys plus indexes, deduplicated. */
export interface PhysicalIndex {
  fields: string[];
  unique: boolean;
  /** Name in the XMLDB definition (key or index name). */
  xmldbName: string;
}

/** Primary key fields of a table (empty when none). */
export function primaryKeyFields(table: XmldbTable): string[] {
  return table.keys.find((k) => k.type === 'primary')?.fields ?? [];
}

/**
 * The indexes to create for a table. Moodle turns unique keys into unique indexes and foreign
 * keys into plain indexes; an index with the same column list as an earlier one is skipped
 * (a unique one wins), since the database would just carry a duplicate.
 */
export function physicalIndexes(table: XmldbTable): PhysicalIndex[] {
  const out = new Map<string, PhysicalIndex>();
  const pk = primaryKeyFields(table).join(',');
  const add = (fields: string[], unique: boolean, xmldbName: string): void => {
    const sig = fields.join(',');
    if (sig === pk) return;
    const prev = out.get(sig);
    if (prev && (prev.unique || !unique)) return;
    out.set(sig, { fields, unique, xmldbName });
  };
  for (const k of table.keys) {
    if (k.type !== 'primary') add(k.fields, k.type === 'unique' || k.type === 'foreign-unique', k.name);
  }
  for (const i of table.indexes) add(i.fields, i.unique, i.name);
  return [...out.values()];
}

/** The column rows are ordered by: `id` when present, else the first column (spec §3.3). */
export function orderColumn(table: XmldbTable): string {
  const id = table.fields.find((f) => f.name === 'id');
  const first = id ?? table.fields[0];
  if (!first) throw new Error(`table ${table.name} has no columns`);
  return first.name;
}

/** The sequence (auto-increment) column, if any. */
export function sequenceField(table: XmldbTable): XmldbField | undefined {
  return table.fields.find((f) => f.sequence);
}

/**
 * The engine-neutral meaning of an engine-specific index, where it has one. `fulltext`: a word
 * index over text columns — PostgreSQL `USING gin (to_tsvector('<config>', <column>))` (one
 * column per index expression), MySQL/MariaDB `FULLTEXT (<columns>)`. `pattern`: a PostgreSQL
 * btree with `*_pattern_ops` for `LIKE 'x%'` (Moodle's XMLDB hint `varchar_pattern_ops`), which
 * MySQL/MariaDB need not have: their plain btree index serves such queries.
 */
export interface EngineIndexLogical {
  kind: 'fulltext' | 'pattern';
  columns: string[];
  /** PostgreSQL text search configuration (`simple`); absent from MySQL sources. */
  config?: string;
}

/**
 * An index XMLDB cannot express (expression, partial, covering, non-btree method on
 * PostgreSQL; FULLTEXT, SPATIAL, functional or prefix-over-TEXT on MySQL/MariaDB). It is left
 * out of `__structure__.xml` (as the plugin leaves search_simpledb's out) and travels in our
 * manifest (docs/format.md, "Engine-specific indexes").
 */
export interface EngineIndex {
  /** Table name without prefix. */
  table: string;
  /** The index name on the source, prefix included. */
  name: string;
  /** The source engine (`postgres`, `mysql`, `mariadb`). */
  engine: 'postgres' | 'mysql' | 'mariadb';
  /** Why XMLDB cannot express it: `method:<am>`, `expression`, `partial`, `include`, `opclass`, `fulltext`, `spatial`, `prefix`, `plugin-rule`. */
  reason: string;
  unique: boolean;
  /** Plain columns the index covers, when all its parts are columns. */
  columns: string[];
  /** Engine-neutral form, when one exists. */
  logical?: EngineIndexLogical;
  /**
   * The source's own definition: `pg_get_indexdef()` on PostgreSQL, the index clause of
   * `SHOW CREATE TABLE` on MySQL/MariaDB (e.g. ``FULLTEXT KEY `n` (`a`,`b`)``).
   */
  definition: string;
}
