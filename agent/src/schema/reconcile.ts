/**
 * Reconciles a live table with its install.xml definition the way tool_vault does for
 * `__structure__.xml` (spec §2.1): definition spelling where the database matches it, the
 * database's own shape where it does not, database-only columns and indexes appended.
 */
import type { SqlFamily } from './ddl.js';
import { columnSql } from './ddl.js';
import type { XmldbField, XmldbIndex, XmldbKey, XmldbTable } from './model.js';
import { primaryKeyFields } from './model.js';

const sig = (fields: string[], unique: boolean): string => `${fields.join(',')}|${unique}`;

/** Whether two fields generate the same column SQL (numeric defaults compared by value). */
export function sameColumn(family: SqlFamily, a: XmldbField, b: XmldbField): boolean {
  const norm = (f: XmldbField): XmldbField => {
    if (f.default === undefined) return f;
    if ((f.type === 'int' || f.type === 'number' || f.type === 'float') && f.default.trim() !== '' && !Number.isNaN(Number(f.default))) {
      return { ...f, default: String(Number(f.default)) };
    }
    // Spec §2.1: a NOT NULL char column with an empty-string default counts as no default.
    if (f.type === 'char' && f.notnull && f.default === '') return { ...f, default: undefined };
    return f;
  };
  // MySQL integer display widths (`TINYINT(1)`) are the XMLDB length, which introspection
  // cannot always recover: the same storage type is the same column.
  const sql = (f: XmldbField): string => columnSql(family, norm(f)).replace(/^(\S+ [A-Z]*INT)\(\d+\)/, '$1');
  return sql(a) === sql(b);
}

/** Signatures (`fields|unique`) of the physical indexes a definition implies. */
function definedSignatures(def: XmldbTable): Map<string, XmldbKey | XmldbIndex> {
  const out = new Map<string, XmldbKey | XmldbIndex>();
  for (const k of def.keys) if (k.type !== 'primary') out.set(sig(k.fields, k.type === 'unique' || k.type === 'foreign-unique'), k);
  for (const i of def.indexes) if (!out.has(sig(i.fields, i.unique))) out.set(sig(i.fields, i.unique), i);
  return out;
}

/** The structure entry for a live table, given its definition if any. */
export function reconcileTable(family: SqlFamily, actual: XmldbTable, def: XmldbTable | undefined): XmldbTable {
  if (!def) return { ...actual, component: '?' };
  const liveFields = new Map(actual.fields.map((f) => [f.name, f]));
  const fields: XmldbField[] = [];
  for (const d of def.fields) {
    const a = liveFields.get(d.name);
    if (a) fields.push(sameColumn(family, d, a) ? d : a);
  }
  const defined = new Set(def.fields.map((f) => f.name));
  fields.push(...actual.fields.filter((f) => !defined.has(f.name)));

  const livePk = primaryKeyFields(actual).join(',');
  const liveSigs = new Set(actual.indexes.map((i) => sig(i.fields, i.unique)));
  const keys: XmldbKey[] = [];
  for (const k of def.keys) {
    if (k.type === 'primary' ? k.fields.join(',') === livePk : liveSigs.has(sig(k.fields, k.type === 'unique' || k.type === 'foreign-unique'))) keys.push(k);
  }
  if (livePk && !keys.some((k) => k.type === 'primary')) keys.unshift({ name: 'primary', type: 'primary', fields: primaryKeyFields(actual) });
  const indexes = def.indexes.filter((i) => liveSigs.has(sig(i.fields, i.unique)));
  const definedSigs = definedSignatures(def);
  indexes.push(...actual.indexes.filter((i) => !definedSigs.has(sig(i.fields, i.unique))));
  // Indexes XMLDB cannot express never reach __structure__.xml; they travel in the manifest.
  return { name: actual.name, component: def.component, fields, keys, indexes, ...(actual.engineIndexes ? { engineIndexes: actual.engineIndexes } : {}) };
}
