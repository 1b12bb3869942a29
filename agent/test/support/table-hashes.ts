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

/** Hashes every table with the prefix. */
export async function tableHashes(url: string, prefix = 'mdl_'): Promise<Map<string, TableHash>> {
  const db = await connectDatabase(url, prefix);
  const out = new Map<string, TableHash>();
  try {
    for (const t of await db.introspect()) {
      const columns = t.fields.map((f) => f.name).sort();
      const h = createHash('sha256').update(JSON.stringify(columns));
      let rows = 0;
      for await (const row of db.readRows(t, columns)) {
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
