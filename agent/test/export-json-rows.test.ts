/**
 * The export's byte paths against a real PostgreSQL and MariaDB: chunk files written by
 * DbAdapter.writeJsonRows (COPY text / MySQL row packets transcoded to JSON bytes) are the ones
 * readRows + encodeBinary + TableChunkWriter.add write, for awkward values, NULLs, long rows and
 * chunk boundaries; connections from beginSharedSnapshot read one snapshot; an export over
 * several connections writes the archive one connection writes.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBinary } from '../src/archive/binary-encoding.js';
import { TableChunkWriter } from '../src/archive/table-chunks.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { connectDatabase } from '../src/db/connect.js';
import { exportDatabase } from '../src/db/export-database.js';
import { TEST_ENGINES, freshDatabase, type TestEngine } from './support/databases.js';

const PREFIX = 'tjr_';

/** Values that exercise every escape and encoding path. */
function texts(): (string | null)[] {
  const out: (string | null)[] = [null, '', 'plain', 'a/b "q" \\ back', 'tab\there\nnew\rline\b\f\u000b\u0001\u001f\u007f', 'é ü ß 日本語 🦄 e\u0301 \uffff',
    '\\N', 'N', '\\', 'x'.repeat(70_000), `${'é'.repeat(20_000)}🦄`, '</script>', '0', '-0', '1e-05'];
  for (let i = 0; i < 60; i++) out.push(`row ${i} ${'ü/"\\'.repeat(i)}`);
  return out;
}

const blobs: (Buffer | null)[] = [null, Buffer.alloc(0), Buffer.from('utf8 text ü'), Buffer.from([0xff, 0x00, 0x80]), Buffer.from('\u0000vault-agent:base64:x'), Buffer.from([0xc3])];
const floats = [null, 0, 1.5, 1e-5, -2.5e300, 0.1, 123456.789];

async function createTable(engine: TestEngine, url: string): Promise<number> {
  const t = texts();
  const n = t.length;
  if (engine === 'pg') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`CREATE TABLE ${PREFIX}t (id BIGSERIAL PRIMARY KEY, i INTEGER, big BIGINT, txt TEXT, vc VARCHAR(255), f DOUBLE PRECISION, num NUMERIC(10,5), b BYTEA)`);
    for (let k = 0; k < n; k++) {
      await c.query(`INSERT INTO ${PREFIX}t (i, big, txt, vc, f, num, b) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [k % 3 ? k - 30 : null, k % 4 ? String(2 ** 60 + k) : null, t[k], (t[k] ?? '').slice(0, 200) || null, floats[k % floats.length], k % 2 ? `${k}.12345` : null, blobs[k % blobs.length]]);
    }
    for (let k = 0; k < 6; k++) {
      await c.query(`CREATE TABLE ${PREFIX}a${k} (id BIGSERIAL PRIMARY KEY, v TEXT)`);
      await c.query(`INSERT INTO ${PREFIX}a${k} (v) SELECT repeat('ab/ü', g) FROM generate_series(1, ${k * 40}) g`);
    }
    await c.end();
    return n;
  }
  const c = await mysql.createConnection({ uri: url.replace(/^mariadb:/, 'mysql:'), charset: 'utf8mb4_general_ci' });
  await c.query(`CREATE TABLE ${PREFIX}t (id BIGINT AUTO_INCREMENT PRIMARY KEY, i INT, small SMALLINT, big BIGINT, txt LONGTEXT, vc VARCHAR(255), f DOUBLE, fl FLOAT, num DECIMAL(10,5), b LONGBLOB, d DATETIME) CHARACTER SET utf8mb4`);
  for (let k = 0; k < n; k++) {
    await c.query(`INSERT INTO ${PREFIX}t (i, small, big, txt, vc, f, fl, num, b, d) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [k % 3 ? k - 30 : null, k % 5 ? -k : null, k % 4 ? String(2 ** 60 + k) : null, t[k], (t[k] ?? '').slice(0, 200) || null, floats[k % floats.length], k % 2 ? 0.25 * k : null, k % 2 ? `${k}.12345` : null, blobs[k % blobs.length], k % 2 ? '2024-02-29 12:34:56' : null]);
  }
  for (let k = 0; k < 6; k++) {
    await c.query(`CREATE TABLE ${PREFIX}a${k} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v LONGTEXT) CHARACTER SET utf8mb4`);
    for (let g = 1; g <= k * 40; g++) await c.query(`INSERT INTO ${PREFIX}a${k} (v) VALUES (REPEAT('ab/ü', ?))`, [g]);
  }
  await c.end();
  return n;
}

async function chunksVia(db: DbAdapter, bytes: boolean): Promise<string[]> {
  const [table] = (await db.introspect()).filter((t) => t.name === 't');
  if (!table) throw new Error('no table');
  const columns = table.fields.map((f) => f.name);
  const out: string[] = [];
  const w = new TableChunkWriter(table.name, columns, async (name, data) => { out.push(`${name}\n${data.toString('latin1')}`); }, 8 * 1024);
  if (bytes) {
    if (!db.writeJsonRows) throw new Error('no byte path');
    await db.writeJsonRows(table, columns, undefined, w);
  } else {
    const binary = table.fields.map((f) => f.type === 'binary');
    for await (const row of db.readRows(table, columns)) {
      await w.add(row.map((v, i) => (Buffer.isBuffer(v) ? (binary[i] ? encodeBinary(v) : v.toString('utf8')) : v)));
    }
  }
  await w.end();
  return out;
}

describe.each(TEST_ENGINES)('export byte path on %s', (engine) => {
  let url = '';
  let rows = 0;
  beforeAll(async () => {
    url = await freshDatabase(engine, `va_jsonrows_${engine}`);
    rows = await createTable(engine, url);
  }, 120_000);

  it('writes the chunk files the string path writes', async () => {
    const db = await connectDatabase(url, PREFIX);
    try {
      const viaBytes = await chunksVia(db, true);
      const viaStrings = await chunksVia(db, false);
      expect(viaBytes.length).toBeGreaterThan(3);
      expect(viaBytes).toEqual(viaStrings);
      const parsed = viaBytes.flatMap((c) => (JSON.parse(c.slice(c.indexOf('\n') + 1)) as unknown[]).slice(1));
      expect(parsed).toHaveLength(rows);
    } finally {
      await db.close();
    }
  });

  it('gives readers that see the snapshot of the first connection', async () => {
    const db = await connectDatabase(url, PREFIX);
    const other = await connectDatabase(url, PREFIX);
    if (!db.beginSharedSnapshot) throw new Error('no shared snapshot');
    const readers = await db.beginSharedSnapshot(2);
    try {
      expect(readers).toHaveLength(2);
      await other.execute(`INSERT INTO ${PREFIX}t (txt) VALUES ('after the snapshot')`);
      const count = async (a: DbAdapter): Promise<number> => Number((await a.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${PREFIX}t`))[0]?.n);
      expect(await Promise.all([db, ...readers].map(count))).toEqual([rows, rows, rows]);
      expect(await count(other)).toBe(rows + 1);
    } finally {
      await Promise.all(readers.map((r) => r.close()));
      await db.endSnapshot();
      await other.execute(`DELETE FROM ${PREFIX}t WHERE txt = 'after the snapshot'`);
      await Promise.all([db.close(), other.close()]);
    }
  });

  it('writes the same archive over one connection and over several', async () => {
    const dirs = [await mkdtemp(join(tmpdir(), 'va-jr1-')), await mkdtemp(join(tmpdir(), 'va-jr3-'))];
    const one = await exportDatabase({ db: url, prefix: PREFIX, out: dirs[0] as string, connections: 1, chunkBytes: 16 * 1024 });
    const three = await exportDatabase({ db: url, prefix: PREFIX, out: dirs[1] as string, connections: 3, chunkBytes: 16 * 1024 });
    expect(three.archives.map((a) => a.sha256)).toEqual(one.archives.map((a) => a.sha256));
    expect(await readFile(join(dirs[1] as string, 'dbdump.zip'))).toEqual(await readFile(join(dirs[0] as string, 'dbdump.zip')));
    expect(one.tables.map((t) => [t.name, t.rows])).toEqual([...[0, 1, 2, 3, 4, 5].map((k) => [`a${k}`, k * 40]), ['t', rows]]);
    expect(three.tables).toEqual(one.tables);
  });

  it('fails without hanging when the archive sink fails while several connections read', async () => {
    let written = 0;
    const failing = (): Writable => new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb(written > 20_000 ? new Error('sink broke') : null);
      },
    });
    await expect(exportDatabase({ db: url, prefix: PREFIX, out: failing, connections: 3, chunkBytes: 4 * 1024, compressionLevel: 0 })).rejects.toThrow(/sink broke/);
    // The connections are usable afterwards: a full export still works.
    const dir = await mkdtemp(join(tmpdir(), 'va-jr-after-'));
    const res = await exportDatabase({ db: url, prefix: PREFIX, out: dir, connections: 3 });
    expect(res.tables.at(-1)?.rows).toBe(rows);
  }, 60_000);
});
