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
