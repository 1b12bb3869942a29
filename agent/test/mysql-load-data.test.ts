/**
 * MySQL/MariaDB chunk-row loads (mysql.ts loadChunkRows) on real MariaDB: `LOAD DATA LOCAL INFILE`
 * (the default where the server allows it) and the multi-row INSERTs it falls back to
 * (VAULT_AGENT_LOAD_DATA=0) store the same values, byte for byte, for every awkward value (and
 * both round a number to its column's decimals); what LOAD DATA LOCAL would only warn about (a
 * value too long, a duplicate key) fails the table and leaves it empty instead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { phpJsonRow } from '../src/archive/php-json.js';
import { openChunk, type ChunkFile } from '../src/archive/table-chunks.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { connectDatabase } from '../src/db/connect.js';
import type { XmldbTable } from '../src/schema/model.js';
import { freshDatabase } from './support/databases.js';

const adapters: DbAdapter[] = [];
afterAll(async () => {
  for (const a of adapters) await a.close().catch(() => undefined);
});

/** Connects with LOAD DATA on or off. */
async function connect(url: string, loadData: boolean): Promise<DbAdapter> {
  const before = process.env.VAULT_AGENT_LOAD_DATA;
  process.env.VAULT_AGENT_LOAD_DATA = loadData ? '1' : '0';
  try {
    const db = await connectDatabase(url, 'mdl_');
    adapters.push(db);
    return db;
  } finally {
    if (before === undefined) delete process.env.VAULT_AGENT_LOAD_DATA;
    else process.env.VAULT_AGENT_LOAD_DATA = before;
  }
}

const table: XmldbTable = {
  name: 'loadtest', component: 'core',
  fields: [
    { name: 'id', type: 'int', length: '10', notnull: true, sequence: true },
    { name: 'name', type: 'char', length: '20', notnull: false, sequence: false },
    { name: 'value', type: 'text', notnull: false, sequence: false },
    { name: 'num', type: 'number', length: '10', decimals: '5', notnull: false, sequence: false },
    { name: 'data', type: 'binary', notnull: false, sequence: false },
  ],
  keys: [{ name: 'primary', type: 'primary', fields: ['id'] }],
  indexes: [{ name: 'name', unique: true, fields: ['name'] }],
};

const AWKWARD = ['', ' ', 'plain', 'tab\tnew\nline\rcr\r\n', 'back\\slash \\N \\0 \\t \\', "it's", '"double"', 'a\u0000b', '\u001a\u0008\u000c',
  'é ü 日本 🦄 e\u0301 \uffff \u{10ffff}', '\\N', 'N', 'NULL', ', NULL);--', 'x'.repeat(70_000), 'trailing   ', '\t', '\n'];

/** Chunk files of the rows (one array per line, as the plugin writes them), `perFile` rows each. */
async function* chunks(rows: (string | null)[][], perFile: number): AsyncGenerator<ChunkFile> {
  for (let at = 0; at < rows.length; at += perFile) {
    const lines = [phpJsonRow(['id', 'name', 'value', 'num', 'data']), ...rows.slice(at, at + perFile).map((r) => phpJsonRow(r))];
    const chunk = openChunk(Buffer.from(`[\n${lines.join(',\n')}\n]`));
    if (!chunk) throw new Error('not a chunk');
    yield chunk;
  }
}

/** Loads `rows` into a fresh `loadtest` table; resolves to the rows counted. */
async function load(db: DbAdapter, rows: (string | null)[][], perFile = 7): Promise<number> {
  await db.createTable(table);
  if (!db.loadChunkRows) throw new Error('no loadChunkRows');
  return db.loadChunkRows(table, ['id', 'name', 'value', 'num', 'data'], { pick: [0, 1, 2, 3, 4], binary: [false, false, false, false, true], marked: true, chunks: chunks(rows, perFile) });
}

/** The table's rows, binary and text as hex (exact bytes). */
async function contents(db: DbAdapter): Promise<unknown[]> {
  return db.query('SELECT id, HEX(name) AS name, HEX(value) AS value, num, HEX(data) AS data, data IS NULL AS nodata, value IS NULL AS novalue FROM mdl_loadtest ORDER BY id');
}

describe('MySQL/MariaDB chunk-row loads', () => {
  it('LOAD DATA and INSERTs store the same bytes for every awkward value, NULL, empty string and binary', async () => {
    const url = await freshDatabase('mariadb', 'load_data');
    const viaLoad = await connect(url, true);
    const rows = AWKWARD.map((v, i) => [String(i + 1), i % 4 === 1 ? null : `n${i}`, i % 5 === 4 ? null : v, i % 3 ? `${i}.25000` : null, i % 6 === 5 ? null : v.slice(0, 200)]);
    rows.push(['500', 'bytes', 'all bytes', '1', String.fromCharCode(...Array.from({ length: 256 }, (_x, k) => k))]);
    // More decimals than the column's 5: rounded with a note, not a warning, on both paths.
    rows.push(['501', 'rounded', 'r', '2.1234567', null]);
    expect(await load(viaLoad, rows)).toBe(rows.length);
    const loaded = await contents(viaLoad);
    const viaInsert = await connect(url, false);
    await viaInsert.dropTable('loadtest');
    expect(await load(viaInsert, rows)).toBe(rows.length);
    const inserted = await contents(viaInsert);
    expect(loaded).toEqual(inserted);
    expect(loaded).toHaveLength(rows.length);
    const [check] = await viaLoad.query<{ v: string; d: string; n: number }>("SELECT value AS v, HEX(data) AS d, name IS NULL AS n FROM mdl_loadtest WHERE id = 8");
    expect(check?.v).toBe('a\u0000b');
    expect(check?.d).toBe(Buffer.from('a\u0000b').toString('hex').toUpperCase());
    // The binary value of every code point below 256 arrives as the UTF-8 bytes the format holds.
    expect(await viaLoad.query('SELECT num FROM mdl_loadtest WHERE id = 501')).toEqual([{ num: '2.12346' }]);
    const [all] = await viaLoad.query<{ d: string }>('SELECT HEX(data) AS d FROM mdl_loadtest WHERE id = 500');
    expect(all?.d).toBe(Buffer.from(String.fromCharCode(...Array.from({ length: 256 }, (_x, k) => k))).toString('hex').toUpperCase());
  });

  it('fails a table on what LOAD DATA LOCAL only warns about (too long, duplicate key), leaving it empty', async () => {
    const url = await freshDatabase('mariadb', 'load_data_bad');
    const db = await connect(url, true);
    const good = Array.from({ length: 50 }, (_x, i) => [String(i + 1), `n${i}`, 'v', '1', null]);
    const tooLong = [...good, ['51', 'x'.repeat(21), 'v', '1', null]];
    await expect(load(db, tooLong)).rejects.toThrow(/loadtest.*warning/s);
    expect(await db.query('SELECT COUNT(*) AS n FROM mdl_loadtest')).toEqual([{ n: '0' }]);
    const duplicate = [...good, ['51', 'n3', 'v', '1', null]];
    await db.dropTable('loadtest');
    await expect(load(db, duplicate)).rejects.toThrow(/loadtest/);
    expect(await db.query('SELECT COUNT(*) AS n FROM mdl_loadtest')).toEqual([{ n: '0' }]);
    // The connection is usable afterwards, with its checks back on.
    await db.dropTable('loadtest');
    expect(await load(db, good)).toBe(50);
    expect(await db.query('SELECT @@foreign_key_checks AS f, @@unique_checks AS u')).toEqual([{ f: '1', u: '1' }]);
  });

  it('loads with foreign key checks off for the load only, and turns the checks back on', async () => {
    const url = await freshDatabase('mariadb', 'load_data_fk');
    const db = await connect(url, true);
    const rows = Array.from({ length: 20 }, (_x, i) => [String(i + 1), `n${i}`, 'v', '1', null]);
    await db.query('CREATE TABLE mdl_loadparent (id BIGINT(10) NOT NULL PRIMARY KEY)');
    await db.createTable(table);
    await db.query('ALTER TABLE mdl_loadtest ADD CONSTRAINT mdl_loadtest_fk FOREIGN KEY (id) REFERENCES mdl_loadparent (id)');
    if (!db.loadChunkRows) throw new Error('no loadChunkRows');
    // No parent row exists: with the checks on, LOAD DATA LOCAL would skip every row with a warning.
    expect(await db.loadChunkRows(table, ['id', 'name', 'value', 'num', 'data'], { pick: [0, 1, 2, 3, 4], binary: [false, false, false, false, true], marked: true, chunks: chunks(rows, 7) })).toBe(20);
    expect(await db.query('SELECT COUNT(*) AS n FROM mdl_loadtest')).toEqual([{ n: '20' }]);
    expect(await db.query('SELECT @@foreign_key_checks AS f, @@unique_checks AS u, @@sql_notes AS s, @@in_transaction AS t')).toEqual([{ f: '1', u: '1', s: '1', t: '0' }]);
    await expect(db.query("INSERT INTO mdl_loadtest (id, name) VALUES (99, 'orphan')")).rejects.toThrow(/foreign key constraint fails/);
  });
});
