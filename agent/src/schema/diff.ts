/**
 * Differences between a live database and a Moodle code tree's definitions (spec §6.1,
 * tool_vault's "Database modifications" check): extra/missing tables, and per table
 * extra/missing/changed columns and extra/missing indexes (keys and indexes share the index
 * kinds; compared by column list and uniqueness only, names ignored).
 */
import type { SqlFamily } from './ddl.js';
import type { XmldbField, XmldbTable } from './model.js';
import { physicalIndexes, primaryKeyFields } from './model.js';
import { sameColumn } from './reconcile.js';

/** Per-table differences, one list per kind (column names, index descriptions `a,b` / `UNIQUE a,b`). */
export interface TableDiff {
  extracolumns: string[];
  missingcolumns: string[];
  changedcolumns: { name: string; expected: XmldbField; actual: XmldbField }[];
  extraindexes: string[];
  missingindexes: string[];
}

/** The dbstatus report. */
export interface SchemaDiff {
  extratables: string[];
  missingtables: string[];
  changedtables: Record<string, TableDiff>;
  /** 3 = modified, 1 = clean (validation status 4 is not computed here). */
  status: 1 | 3;
}

const idxLabel = (fields: string[], unique: boolean): string => `${unique ? 'UNIQUE ' : ''}${fields.join(',')}`;

function tableDiff(family: SqlFamily, def: XmldbTable, live: XmldbTable): TableDiff | undefined {
  const d: TableDiff = { extracolumns: [], missingcolumns: [], changedcolumns: [], extraindexes: [], missingindexes: [] };
  const liveFields = new Map(live.fields.map((f) => [f.name, f]));
  const defFields = new Set(def.fields.map((f) => f.name));
  for (const f of def.fields) {
    const a = liveFields.get(f.name);
    if (!a) d.missingcolumns.push(f.name);
    else if (!sameColumn(family, f, a)) d.changedcolumns.push({ name: f.name, expected: f, actual: a });
  }
  d.extracolumns = live.fields.filter((f) => !defFields.has(f.name)).map((f) => f.name);
  const want = new Set(physicalIndexes(def).map((i) => idxLabel(i.fields, i.unique)));
  const have = new Set(live.indexes.map((i) => idxLabel(i.fields, i.unique)));
  const defPk = primaryKeyFields(def).join(',');
  const livePk = primaryKeyFields(live).join(',');
  if (defPk !== livePk) {
    if (defPk) d.missingindexes.push(`PRIMARY ${defPk}`);
    if (livePk) d.extraindexes.push(`PRIMARY ${livePk}`);
  }
  for (const w of want) if (!have.has(w)) d.missingindexes.push(w);
  for (const h of have) if (!want.has(h)) d.extraindexes.push(h);
  const changed = Object.values(d).some((v: unknown[]) => v.length > 0);
  return changed ? d : undefined;
}

/** Compares live tables with definitions. */
export function diffSchema(family: SqlFamily, definitions: XmldbTable[], live: XmldbTable[]): SchemaDiff {
  const defs = new Map(definitions.map((t) => [t.name, t]));
  const lives = new Map(live.map((t) => [t.name, t]));
  const out: SchemaDiff = { extratables: [], missingtables: [], changedtables: {}, status: 1 };
  for (const t of live) if (!defs.has(t.name)) out.extratables.push(t.name);
  for (const t of definitions) {
    const l = lives.get(t.name);
    if (!l) {
      out.missingtables.push(t.name);
      continue;
    }
    const d = tableDiff(family, t, l);
    if (d) out.changedtables[t.name] = d;
  }
  if (out.extratables.length || out.missingtables.length || Object.keys(out.changedtables).length) out.status = 3;
  return out;
}
