/**
 * Per-table row count and content hash in an engine-independent form, so a PostgreSQL and a
 * MariaDB copy of the same data compare equal: columns in name order, rows in id order, ints
 * and numbers as the engines print them for the same XMLDB type, floats in JS shortest form,
 * binary as hex.
 */
import { createHash } from 'node:crypto';
import { connectDatabase } from '../../src/db/connect.js';

/** Count and hash of one table. */
export interface TableHash {
  rows: number;
  hash: string;
}

/**
 * Hashes every table with the prefix (or only the tables named in `opts.only`). `where` (table →
 * SQL condition, valid on both engines) hashes only the matching rows of that table, to leave
 * out rows that differ on purpose.
 */
export async function tableHashes(url: string, prefix = 'mdl_', where: Readonly<Record<string, string>> = {}, opts: { only?: ReadonlySet<string> } = {}): Promise<Map<string, TableHash>> {
  const db = await connectDatabase(url, prefix);
  const out = new Map<string, TableHash>();
  try {
    for (const t of await db.introspect()) {
      if (opts.only && !opts.only.has(t.name)) continue;
      const columns = t.fields.map((f) => f.name).sort();
      const h = createHash('sha256').update(JSON.stringify(columns));
      let rows = 0;
      for await (const row of db.readRows(t, columns, where[t.name])) {
        for (const v of row) {
          if (v === null) h.update('\u0000N');
          else if (typeof v === 'string') h.update(`S${v.length}:`).update(v);
          else h.update(`B${v.length}:`).update(v);
        }
        rows++;
      }
      out.set(t.name, { rows, hash: h.digest('hex') });
    }
  } finally {
    await db.close();
  }
  return out;
}

const show = (v: string | Buffer | null): string => (v === null ? 'NULL' : typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : `0x${v.subarray(0, 40).toString('hex')}`);

const same = (u: string | Buffer | null, v: string | Buffer | null): boolean => (u === null || v === null ? u === v : typeof u === 'string' || typeof v === 'string' ? u === v : u.equals(v));

/**
 * Why two copies of `table` hash differently, for failure messages: up to `limit` lines naming
 * the row (by id) and the columns that differ, or the rows only one side has. Rows are read
 * with the same rules as {@link tableHashes} (and the same optional `where`).
 */
export async function differingRows(urlA: string, urlB: string, table: string, opts: { prefix?: string; where?: string; limit?: number } = {}): Promise<string[]> {
  const prefix = opts.prefix ?? 'mdl_';
  const read = async (url: string): Promise<{ columns: string[]; rows: Map<string, (string | Buffer | null)[]> }> => {
    const db = await connectDatabase(url, prefix);
    try {
      const t = (await db.introspect()).find((x) => x.name === table);
      if (!t) return { columns: [], rows: new Map() };
      const columns = t.fields.map((f) => f.name).sort();
      const at = Math.max(0, columns.indexOf('id'));
      const rows = new Map<string, (string | Buffer | null)[]>();
      for await (const row of db.readRows(t, columns, opts.where)) rows.set(String(row[at]), row);
      return { columns, rows };
    } finally {
      await db.close();
    }
  };
  const [a, b] = await Promise.all([read(urlA), read(urlB)]);
  if (a.columns.join() !== b.columns.join()) return [`${table}: columns differ: ${a.columns.join(', ')} ≠ ${b.columns.join(', ')}`];
  const out: string[] = [];
  const limit = opts.limit ?? 5;
  for (const id of new Set([...a.rows.keys(), ...b.rows.keys()])) {
    if (out.length >= limit) { out.push('…'); break; }
    const x = a.rows.get(id);
    const y = b.rows.get(id);
    if (!x || !y) { out.push(`${table} id ${id}: only in ${x ? 'the first' : 'the second'} (${(x ?? y ?? []).map(show).join(', ')})`); continue; }
    const cols = a.columns.filter((_, i) => !same(x[i] ?? null, y[i] ?? null));
    if (cols.length) out.push(`${table} id ${id}: ${cols.map((c) => { const i = a.columns.indexOf(c); return `${c} ${show(x[i] ?? null)} → ${show(y[i] ?? null)}`; }).join('; ')}`);
  }
  return out;
}
