/**
 * Loading chunk rows into PostgreSQL on each of the import's paths — small tables batched (rows as
 * an INSERT where they fit one heap page, else a COPY in the batch's round trips) and larger
 * tables copied on their own — gives the values the chunk files hold, byte for byte, in row order
 * on disk as COPY would place them. A failing table in a batch fails as it would alone (named),
 * in place and in staging; tables the hooks apply to are loaded on their own, hooks called.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBinary } from '../src/archive/binary-encoding.js';
import { phpJsonRow } from '../src/archive/php-json.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { connectDatabase } from '../src/db/connect.js';
import { importDatabase } from '../src/db/import-database.js';
import { stagingArea, STAGING_SCHEMA } from '../src/db/staging.js';
import { freshDatabase } from './support/databases.js';

/** Values no escaping may change: escapes, quotes, backslashes, controls, non-ASCII, lookalikes of COPY and SQL syntax. */
const AWKWARD = ['', ' ', 'plain', 'tab\tnew\nline\rcr', 'back\\slash \\N \\. \\x41', "it's ''quoted''", '"double"', 'slash / </script>',
  'é ü 日本 🦄 e\u0301 \uffff \u{10ffff}', '\u0001\u0008\u000b\u000c\u001f\u007f', ', NULL);--', '1.50000', '-0', '1e-05', 'x'.repeat(3000)];

const FIELDS = `
        <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
        <FIELD NAME="name" TYPE="char" LENGTH="255" NOTNULL="false" SEQUENCE="false"/>
        <FIELD NAME="value" TYPE="text" NOTNULL="false" SEQUENCE="false"/>
        <FIELD NAME="num" TYPE="number" LENGTH="10" DECIMALS="5" NOTNULL="false" SEQUENCE="false"/>
        <FIELD NAME="data" TYPE="binary" NOTNULL="false" SEQUENCE="false"/>`;

const table = (name: string, extra = ''): string => `
    <TABLE NAME="${name}" COMPONENT="?">
      <FIELDS>${FIELDS}${extra}
      </FIELDS>
      <KEYS>
        <KEY NAME="primary" TYPE="primary" FIELDS="id"/>
      </KEYS>
      <INDEXES>
        <INDEX NAME="name" UNIQUE="false" FIELDS="name"/>
      </INDEXES>
    </TABLE>`;

/** Rows of `n` ids: awkward text, numbers as strings, nulls, binary as the format encodes it (UTF-8 text). */
function rowsOf(n: number): (string | null)[][] {
  return Array.from({ length: n }, (_x, i) => {
    const v = AWKWARD[i % AWKWARD.length] ?? '';
    return [String(i + 1), i % 7 === 3 ? null : `n${i}`, i % 5 === 2 ? null : v, i % 3 ? `${i}.25000` : null, i % 4 ? `bin ${v.slice(0, 20)}` : null];
  });
}

/** A dump directory with the given tables (name → rows; `raw` rows written as they are). */
async function dumpDir(tables: Record<string, { rows?: (string | null)[][]; raw?: string[]; files?: string[]; extraFields?: string }>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'va-pgrows-'));
  const structure = `<?xml version="1.0" encoding="UTF-8" ?>\n<XMLDB>\n  <TABLES>${Object.entries(tables).map(([n, t]) => table(n, t.extraFields)).join('')}\n  </TABLES>\n</XMLDB>\n`;
  const s = ZipArchiveWriter.toFile(join(dir, 'dbstructure.zip'), 'dbstructure.zip');
  await s.add('__structure__.xml', Buffer.from(structure));
  await s.add('__metadata__.json', Buffer.from('{"wwwroot":"http:\\/\\/x","dbengine":"postgres","plugins":[]}'));
  await s.add('__sequences__.json', Buffer.from('{}'));
  await s.close();
  const d = ZipArchiveWriter.toFile(join(dir, 'dbdump.zip'), 'dbdump.zip');
  for (const [name, t] of Object.entries(tables)) {
    const header = t.extraFields ? '["id","name","value","num","data","extra"]' : '["id","name","value","num","data"]';
    const lines = t.raw ?? (t.rows ?? []).map(phpJsonRow);
    const files = t.files ?? [`[\n${[header, ...lines].join(',\n')}\n]`];
    for (const [k, file] of files.entries()) await d.add(`${name}.${k}.json`, Buffer.from(file));
  }
  await d.close();
  return dir;
}

/** The rows as loaded: in id order, and the ids in the order a plain scan returns them. */
async function loaded(db: DbAdapter, name: string): Promise<{ rows: (string | Buffer | null)[][]; scan: number[] }> {
  const t = { name, component: '', fields: ['id', 'name', 'value', 'num', 'data'].map((f) => ({ name: f, type: f === 'data' ? 'binary' as const : 'text' as const, notnull: false, sequence: false })), keys: [], indexes: [] };
  const rows: (string | Buffer | null)[][] = [];
  for await (const r of db.readRows(t, ['id', 'name', 'value', 'num', 'data'])) rows.push(r);
  const scan = (await db.query<{ id: string }>(`SELECT id FROM "mdl_${name}"`)).map((r) => Number(r.id));
  return { rows, scan };
}

const expected = (rows: (string | null)[][]): (string | Buffer | null)[][] => rows.map((r) => r.map((v, k) => (v === null ? null : k === 4 ? decodeBinary(v, false) : v)));

describe('loading chunk rows into PostgreSQL', () => {
  // One row: batched as an INSERT. Forty rows (~11 KB): batched, but more than a heap page, so
  // copied. 400 rows (~100 KB): larger than a batched table, copied on its own.
  const data = { one: rowsOf(1), pages: rowsOf(40), big: rowsOf(400), empty: [] };
  let dir = '';
  beforeAll(async () => {
    dir = await dumpDir(Object.fromEntries(Object.entries(data).map(([n, rows]) => [n, { rows }])));
  });

  it('gives the values of the chunk files on every path, in row order on disk', async () => {
    const url = await freshDatabase('pg', 'va_pgrows_paths');
    const db = await connectDatabase(url, 'mdl_');
    try {
      const res = await importDatabase({ db: url, source: dir });
      expect(res.tables.map((t) => [t.name, t.rows]).sort()).toEqual(Object.entries(data).map(([n, r]) => [n, r.length]).sort());
      for (const [name, rows] of Object.entries(data)) {
        const got = await loaded(db, name);
        expect(got.rows, name).toEqual(expected(rows));
        expect(got.scan, name).toEqual(rows.map((_r, i) => i + 1));
      }
      const seqs = await db.sequences(res.structure.tables);
      expect(seqs.get('big')).toBe(401);
      expect(seqs.get('empty')).toBe(1);
      const idx = await db.query<{ n: string }>("SELECT indexname AS n FROM pg_indexes WHERE tablename = 'mdl_one' ORDER BY 1");
      expect(idx.map((r) => r.n)).toEqual(['mdl_one_id_pk', 'mdl_one_nam_ix']);
    } finally {
      await db.close();
    }
  });

  it('loads rows the byte path declines (numbers, booleans, raw UTF-8, lone surrogates) as the string path decodes them', async () => {
    const raw = ['["1",2,"\\ud800",1.5,null]', '[2,"n",true,1e2,"\\u00e9"]', '["3","r\u00e9","\u65e5 raw",-0,"x"]'];
    const url = await freshDatabase('pg', 'va_pgrows_declined');
    const db = await connectDatabase(url, 'mdl_');
    try {
      await importDatabase({ db: url, source: await dumpDir({ mixed: { raw } }) });
      expect((await loaded(db, 'mixed')).rows).toEqual([
        ['1', '2', '\ufffd', '1.50000', null],
        ['2', 'n', 'true', '100.00000', Buffer.from('é')],
        ['3', 'ré', '日 raw', '0.00000', Buffer.from('x')],
      ]);
    } finally {
      await db.close();
    }
  });

  it('copies rows whose COPY text is longer than their JSON (bytea as hex, numbers written out)', async () => {
    // COPY text is written over the chunk's own bytes; these rows do not fit behind themselves.
    const raw = Array.from({ length: 400 }, (_x, i) => (i % 2
      ? phpJsonRow([String(i + 1), `n${i}`, null, null, `é${'b'.repeat(300)}`])
      : `["${i + 1}","n${i}","v",1e4,null]`));
    const url = await freshDatabase('pg', 'va_pgrows_longer');
    const db = await connectDatabase(url, 'mdl_');
    try {
      await importDatabase({ db: url, source: await dumpDir({ longer: { raw } }) });
      const got = await loaded(db, 'longer');
      expect(got.rows).toEqual(Array.from({ length: 400 }, (_x, i) => (i % 2
        ? [String(i + 1), `n${i}`, null, null, Buffer.from(`é${'b'.repeat(300)}`)]
        : [String(i + 1), `n${i}`, 'v', '10000.00000', null])));
      expect(got.scan).toEqual(Array.from({ length: 400 }, (_x, i) => i + 1));
    } finally {
      await db.close();
    }
  });

  it('copies a table whose chunk files mix layouts (decoded and transcoded rows) without one row overwriting another', async () => {
    // Rows of a file laid out otherwise are decoded and written into message buffers that must
    // not be reused once sent: the stream still holds them.
    const header = '["id","name","value","num","data"]';
    const row = (i: number): string => phpJsonRow([String(i), `n${i}`, `value ${i} ${'v'.repeat(i % 50)}`, null, null]);
    const rowsFrom = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_x, k) => row(from + k));
    const oneLine = (from: number, to: number): string => `[${[header, ...rowsFrom(from, to)].join(',')}]`;
    const lined = (from: number, to: number): string => `[\n${[header, ...rowsFrom(from, to)].join(',\n')}\n]`;
    // Each file that is laid out otherwise starts with a row shorter than the one before it ended with.
    const files = [oneLine(1, 349), lined(350, 600), oneLine(601, 899), lined(900, 950), oneLine(951, 951), oneLine(952, 1200)];
    const url = await freshDatabase('pg', 'va_pgrows_layouts');
    const db = await connectDatabase(url, 'mdl_');
    try {
      await importDatabase({ db: url, source: await dumpDir({ layouts: { files } }) });
      const got = await loaded(db, 'layouts');
      expect(got.rows).toEqual(Array.from({ length: 1200 }, (_x, k) => [String(k + 1), `n${k + 1}`, `value ${k + 1} ${'v'.repeat((k + 1) % 50)}`, null, null]));
    } finally {
      await db.close();
    }
  });

  it('gives a large table its primary key after the rows, the same constraint as CREATE TABLE gives; a duplicate id fails naming the table', async () => {
    // Three chunk files make a large table (import-database.ts deferIndexes); one file a small one.
    const header = '["id","name","value","num","data"]';
    const file = (ids: number[]): string => `[\n${[header, ...ids.map((i) => phpJsonRow([String(i), `n${i}`, null, null, null]))].join(',\n')}\n]`;
    const large = [file([1, 2]), file([3, 4]), file([5, 6])];
    const url = await freshDatabase('pg', 'va_pgrows_pk');
    const db = await connectDatabase(url, 'mdl_');
    try {
      await importDatabase({ db: url, source: await dumpDir({ large: { files: large }, small: { files: [file([1, 2])] } }) });
      const keys = await db.query<{ t: string; con: string; def: string; idx: string; prim: boolean }>(
        `SELECT c.conrelid::regclass::text AS t, c.conname AS con, pg_get_constraintdef(c.oid) AS def, c.conindid::regclass::text AS idx, x.indisprimary AS prim
           FROM pg_constraint c JOIN pg_index x ON x.indexrelid = c.conindid WHERE c.contype = 'p' AND c.conrelid::regclass::text IN ('mdl_large', 'mdl_small') ORDER BY 1`);
      expect(keys).toEqual([
        { t: 'mdl_large', con: 'mdl_larg_id_pk', def: 'PRIMARY KEY (id)', idx: 'mdl_larg_id_pk', prim: true },
        { t: 'mdl_small', con: 'mdl_smal_id_pk', def: 'PRIMARY KEY (id)', idx: 'mdl_smal_id_pk', prim: true },
      ]);
      expect((await loaded(db, 'large')).scan).toEqual([1, 2, 3, 4, 5, 6]);
      const dup = await dumpDir({ large: { files: [file([1, 2]), file([3, 2]), file([5, 6])] } });
      const url2 = await freshDatabase('pg', 'va_pgrows_pkdup');
      await expect(importDatabase({ db: url2, source: dup })).rejects.toThrow(/table large: could not create unique index "mdl_larg_id_pk" \(Key \(id\)=\(2\) is duplicated\.\)/);
      const left = await connectDatabase(url2, 'mdl_');
      try {
        expect(await left.listTables()).not.toContain('large');
      } finally {
        await left.close();
      }
    } finally {
      await db.close();
    }
  });

  it('fails a batch\'s failing table as it would fail alone, naming it, in place and in staging', async () => {
    // A value too long for its column (an extra char(3) column): only `bad` fails.
    const extraFields = '\n        <FIELD NAME="extra" TYPE="char" LENGTH="3" NOTNULL="false" SEQUENCE="false"/>';
    const rows = (extra: string): string[] => rowsOf(2).map((r) => phpJsonRow([...r, extra]));
    const failing = await dumpDir({ a: { rows: rowsOf(2) }, bad: { raw: rows('toolong'), extraFields }, c: { rows: rowsOf(3) }, good: { raw: rows('ok'), extraFields } });
    const url = await freshDatabase('pg', 'va_pgrows_failing');
    await expect(importDatabase({ db: url, source: failing })).rejects.toThrow(/\bbad\b.*value too long/s);
    const live = await connectDatabase(url, 'mdl_');
    try {
      const area = await stagingArea(live, url);
      await expect(importDatabase({ db: live, staging: area, source: failing })).rejects.toThrow(/\bbad\b.*value too long/s);
      // Nothing of the batch is left half-done: each table is staged and complete, or absent.
      const staged = await area.stagedTables();
      for (const t of staged) {
        const n = await live.query<{ n: string }>(`SELECT count(*) AS n FROM "${STAGING_SCHEMA}"."mdl_${t}"`);
        expect(Number(n[0]?.n), t).toBe(t === 'c' ? 3 : 2);
      }
      expect(staged).not.toContain('bad');
      await area.dropStaged();
    } finally {
      await live.close();
    }
  });

  it('batches only tables the hooks do not apply to; the others are loaded on their own, hooks called', async () => {
    const url = await freshDatabase('pg', 'va_pgrows_hooks');
    const calls: string[] = [];
    await importDatabase({
      db: url, source: dir,
      tableHooks: {
        appliesTo: (t) => t.name === 'one',
        before: async (_db, t) => void calls.push(`before ${t.name}`),
        after: async (_db, t) => void calls.push(`after ${t.name}`),
      },
    });
    // `big` is loaded on its own anyway (too large for a batch): hooks are called for every such table.
    expect(calls.sort()).toEqual(['after big', 'after one', 'before big', 'before one']);
    const db = await connectDatabase(url, 'mdl_');
    try {
      for (const [name, rows] of Object.entries(data)) expect((await loaded(db, name)).rows, name).toEqual(expected(rows));
    } finally {
      await db.close();
    }
  });
});
