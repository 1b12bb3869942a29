/**
 * The collation pre-check (db/collation-conflicts.ts) on a real MariaDB, with hand-made tables
 * and a dbdump in the plugin's chunk layout: equality is the server's under the column types the
 * restore creates, indexes of the same key types share a check table without their rows mixing,
 * and rows with a NULL in the index never collide.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { phpJsonRow } from '../src/archive/php-json.js';
import { chunkName } from '../src/archive/names.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import { findCollationConflicts } from '../src/db/collation-conflicts.js';
import { connectDatabase } from '../src/db/connect.js';
import type { XmldbField, XmldbTable } from '../src/schema/model.js';
import { freshDatabase } from './support/databases.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const id: XmldbField = { name: 'id', type: 'int', length: '10', notnull: true, sequence: true };
/** A table with an id and the given fields, unique over `unique`. */
function table(name: string, fields: XmldbField[], unique: string[]): XmldbTable {
  return {
    name, component: 'local_test', fields: [id, ...fields],
    keys: [{ name: 'primary', type: 'primary', fields: ['id'] }],
    indexes: [{ name: `${name}_uix`, unique: true, fields: unique }],
  };
}

/**
 * A dbdump archive holding one chunk file per table (header, then rows), as the plugin writes them
 * (one array per line), or for the tables in `oneLine` as a single line (read by decoding it whole).
 */
async function dbdump(rows: Record<string, (string | null)[][]>, tables: XmldbTable[], oneLine: string[] = []): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'va-collation-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'dbdump.zip');
  const zip = new ZipArchiveWriter('dbdump.zip', createWriteStream(path));
  for (const t of tables) {
    const lines = [phpJsonRow(t.fields.map((f) => f.name)), ...(rows[t.name] ?? []).map((r) => phpJsonRow(r))];
    await zip.add(chunkName(t.name, 0), Buffer.from(oneLine.includes(t.name) ? `[${lines.join(',')}]` : `[\n${lines.join(',\n')}\n]`));
  }
  await zip.close();
  return path;
}

describe('collation pre-check on mariadb', () => {
  it('compares keys in the types the restore creates, per index, and leaves rows with a NULL out', async () => {
    const url = await freshDatabase('mariadb', 'collation_check');
    const db = await connectDatabase(`${url}?collation=utf8mb4_unicode_ci`, 'mdl_');
    cleanups.push(() => db.close());
    const name: XmldbField = { name: 'name', type: 'char', length: '20', notnull: false, sequence: false };
    const amount: XmldbField = { name: 'amount', type: 'number', length: '10', decimals: '0', notnull: false, sequence: false };
    // Same key types (char, number): one check table for both.
    const priced = table('priced', [name, amount], ['name', 'amount']);
    const other = table('other', [name, amount], ['name', 'amount']);
    const plain = table('plain', [name], ['name']);
    // The id in the index: never colliding (the ids differ).
    const withId = table('withid', [name], ['name', 'id']);
    const rows = {
      // 'a' = 'A' under the collation, and DECIMAL(10,0) rounds 1.5 and 2.4 to 2: the restored index refuses them.
      priced: [['1', 'a', '1.5'], ['2', 'A', '2.4'], ['3', 'a', '7'], ['4', null, '2'], ['5', null, '2']],
      // The same keys as `priced` in another index: no collision across indexes.
      other: [['1', 'a', '2']],
      // Trailing spaces (PAD SPACE) and accents; the NULLs never collide.
      plain: [['10', 'cafe'], ['11', 'Café '], ['12', 'tea'], ['13', null], ['14', null]],
      withid: [['1', 'x'], ['2', 'X']],
    };
    const tables = [priced, other, plain, withId];
    const want = [
      { table: 'priced', columns: ['name', 'amount'], groups: [{ ids: ['1', '2'], values: [['a', '2'], ['A', '2']] }] },
      { table: 'plain', columns: ['name'], groups: [{ ids: ['10', '11'], values: [['cafe'], ['Café ']] }] },
    ];
    const conflicts = await findCollationConflicts(db, { tables, archives: [await dbdump(rows, tables)], collation: 'utf8mb4_unicode_ci' });
    expect(conflicts.map((c) => ({ table: c.table, columns: c.columns, groups: c.groups }))).toEqual(want);
    // The same from chunk files in the other layout (one line), and with a lone surrogate in a value.
    const odd = { ...rows, plain: [...rows.plain, ['15', '\ud800']] };
    const again = await findCollationConflicts(db, { tables, archives: [await dbdump(odd, tables, ['priced'])], collation: 'utf8mb4_unicode_ci' });
    expect(again.map((c) => ({ table: c.table, columns: c.columns, groups: c.groups }))).toEqual(want);
    // A collation that tells them apart leaves only the rounding collision.
    const binary = await findCollationConflicts(db, { tables, archives: [await dbdump({ ...rows, priced: [['1', 'a', '1.5'], ['2', 'a', '2.4']] }, tables)], collation: 'utf8mb4_bin' });
    expect(binary.map((c) => ({ table: c.table, ids: c.groups.map((g) => g.ids) }))).toEqual([{ table: 'priced', ids: [['1', '2']] }]);
    // Nothing is left behind in the database.
    expect(await db.listTables()).toEqual([]);
  });

  it('finds the same conflicts when most rows are printable ASCII (pre-grouped before the server sees them)', async () => {
    const url = await freshDatabase('mariadb', 'collation_ascii');
    const db = await connectDatabase(`${url}?collation=utf8mb4_unicode_ci`, 'mdl_');
    cleanups.push(() => db.close());
    const name: XmldbField = { name: 'name', type: 'char', length: '20', notnull: false, sequence: false };
    const course: XmldbField = { name: 'course', type: 'int', length: '10', notnull: false, sequence: false };
    const users = table('users', [name], ['name']);
    // A non-ASCII value first: every later row of the index goes to the server too.
    const tags = table('tags', [name], ['name']);
    const perCourse = table('percourse', [course, name], ['course', 'name']);
    const many = Array.from({ length: 300 }, (_x, i) => [String(100 + i), `user${i}`]);
    const rows = {
      users: [['1', 'Admin'], ...many, ['2', 'admin'], ['3', 'x'], ['4', 'x  '], ['5', 'x-y'], ['6', 'x_y']],
      tags: [['1', 'Café'], ['2', 'tea'], ['3', 'cafe']],
      // 05 and 5 are the same BIGINT.
      percourse: [['1', '5', 'abc'], ['2', '05', 'abc'], ['3', '6', 'ABC']],
    };
    const tables = [users, tags, perCourse];
    const want = [
      { table: 'users', ids: [['1', '2'], ['3', '4']] },
      { table: 'tags', ids: [['1', '3']] },
      { table: 'percourse', ids: [['1', '2']] },
    ];
    const conflicts = await findCollationConflicts(db, { tables, archives: [await dbdump(rows, tables)], collation: 'utf8mb4_unicode_ci' });
    expect(conflicts.map((c) => ({ table: c.table, ids: c.groups.map((g) => g.ids) }))).toEqual(want);
    // Memory bounded: past 10 rows held back, an index sends all its rows; the same conflicts.
    const bounded = await findCollationConflicts(db, { tables, archives: [await dbdump(rows, tables)], collation: 'utf8mb4_unicode_ci', maxHeldRows: 10 });
    expect(bounded.map((c) => ({ table: c.table, ids: c.groups.map((g) => g.ids) }))).toEqual(want);
    // A binary collation (PAD SPACE) tells case and accents apart, not trailing spaces nor 05 from 5.
    const binary = await findCollationConflicts(db, { tables, archives: [await dbdump(rows, tables)], collation: 'utf8mb4_bin' });
    expect(binary.map((c) => ({ table: c.table, ids: c.groups.map((g) => g.ids) }))).toEqual([{ table: 'users', ids: [['3', '4']] }, { table: 'percourse', ids: [['1', '2']] }]);
  });
});
