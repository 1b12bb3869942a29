/**
 * Builds a realistic Moodle 4.4 database for tests and benchmarks: all install.xml tables
 * created with our DDL, filled with deterministic generated rows (seeded PRNG) that cover
 * every XMLDB type and the awkward values (NULL vs '', emoji and combining characters, text
 * over 1333 characters, numbers at their precision limits, negative and zero ints, every byte
 * value in binary), plus planted site modifications: a site-added table with reserved-word
 * columns and an extra index on a core table. Rows are bulk-loaded (COPY / multi-row INSERT).
 */
import { createHash } from 'node:crypto';
import type { DbAdapter, RowValue } from '../../src/db/adapter.js';
import { connectDatabase } from '../../src/db/connect.js';
import { loadInstallTree } from '../../src/schema/install-tree.js';
import type { XmldbField, XmldbTable } from '../../src/schema/model.js';
import { physicalIndexes } from '../../src/schema/model.js';
import { BINARY_MARKER } from '../../src/archive/binary-encoding.js';
import { prng } from './prng.js';

/** Options of {@link createMoodleDatabase}. */
export interface FixtureOptions {
  prefix?: string;
  /** Folder laid out like a Moodle code tree (install.xml files). */
  schemaDir: string;
  /** 'small': 4 rows per table; 'full': 25 rows per table. */
  rows?: 'small' | 'full';
  /** Rows of the large table (`logstore_standard_log`); default 2 000 small / 200 000 full. */
  largeTableRows?: number;
  seed?: number;
  /** Create only these install.xml tables (no planted modifications); for benchmarks. */
  onlyTables?: string[];
}

/** What the fixture planted, for assertions. */
export interface FixtureInfo {
  definitions: XmldbTable[];
  /** The site-added table (not in any install.xml). */
  extraTable: XmldbTable;
  /** The extra index planted on a core table. */
  extraIndex: { table: string; fields: string[] };
  largeTable: string;
  largeTableRows: number;
  /** Next id the site table's sequence was set to (beyond MAX(id)). */
  extraTableNextId: number;
  rowCounts: Map<string, number>;
}

/** The site-added table: reserved-word columns, binary, float and a wide number. */
export const EXTRA_TABLE: XmldbTable = {
  name: 'local_vaultfx_site',
  component: '?',
  fields: [
    { name: 'id', type: 'int', length: '10', notnull: true, sequence: true },
    { name: 'count', type: 'int', length: '10', notnull: true, default: '0', sequence: false },
    { name: 'order', type: 'char', length: '40', notnull: false, sequence: false },
    { name: 'user', type: 'int', length: '10', notnull: false, sequence: false },
    { name: 'group', type: 'text', notnull: false, sequence: false },
    { name: 'payload', type: 'binary', notnull: false, sequence: false },
    { name: 'ratio', type: 'float', length: '20', decimals: '8', notnull: false, sequence: false },
    { name: 'amount', type: 'number', length: '38', decimals: '19', notnull: false, sequence: false },
  ],
  keys: [{ name: 'primary', type: 'primary', fields: ['id'] }],
  indexes: [{ name: 'order_user', unique: false, fields: ['order', 'user'] }],
};

export const EXTRA_INDEX = { table: 'course', fields: ['shortname', 'category'] };
export const LARGE_TABLE = 'logstore_standard_log';
const EXTRA_TABLE_NEXT_ID = 1000;

/** Binary values of the site table, in row order (row 1 has every byte value). */
export function extraTablePayloads(): (Buffer | null)[] {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const marker = Buffer.from(`${BINARY_MARKER}not really base64`, 'utf8');
  return [all, Buffer.from('héllo 🦄 / text', 'utf8'), Buffer.alloc(0), null, marker, Buffer.from([0xff, 0xfe, 0x00, 0x80]), createHash('sha512').update('x').digest()];
}


const seedOf = (s: string, seed: number): number => createHash('sha1').update(`${seed}:${s}`).digest().readUInt32LE(0);

/** Largest magnitude of an int(L) that fits both engines' column type. */
function intMax(f: XmldbField): bigint {
  const l = Number(f.length ?? '10');
  const m = 10n ** BigInt(l) - 1n;
  return m > 9223372036854775807n ? 9223372036854775807n : m;
}

/** Code-point-aware truncation (varchar lengths count characters). */
const fit = (s: string, len: number): string => {
  const cps = Array.from(s);
  return cps.length <= len ? s : cps.slice(0, len).join('');
};

const LONG_TEXT = (() => {
  const base = 'Größe 🦄 naïve café e\u0301 — “quotes” \\ / <b>&amp;</b> 日本語 😀 ';
  let s = '';
  while (Array.from(s).length < 5000) s += base;
  return s;
})();

const CHAR_SAMPLES = ['', 'plain ascii', '🦄😀 emoji e\u0301 combining ñ', 'trailing space ', "O'Brien \"q\" \\ / <tag> & %_", 'tab\tnew\nline\r\nend', 'Ünïcödé ĳ ﬁ 中文'];
const TEXT_SAMPLES = ['', LONG_TEXT, 'multi\nline\r\n\ttab', 'ctrl \u0001\u001f end', '{"json":"/path","n":1}', '🦄'];
const FLOAT_SAMPLES = ['0', '0.1', '-1.5e+300', '3.141592653589793', '1e-300', '123456789.125', '-42'];
// Moodle creates floats with fewer than 6 decimals single-precision (PostgreSQL REAL, MySQL
// FLOAT(M,D)): these values fit every such column exactly on both engines.
const SINGLE_FLOAT_SAMPLES = ['0', '0.5', '-0.125', '3.0625', '1234.25', '-42'];

function numberValue(f: XmldbField, variant: number, rnd: () => number): string {
  const p = Number(f.length ?? '10');
  const s = Number(f.decimals ?? '0');
  const intDigits = p - s;
  const frac = (d: string): string => (s ? `.${d.repeat(s)}` : '');
  switch (variant % 4) {
    case 0: return `0${frac('0')}`;
    case 1: return `${intDigits ? '9'.repeat(intDigits) : '0'}${frac('9')}`;
    case 2: return `-${intDigits ? '9'.repeat(intDigits) : '0'}${frac('9')}`;
    default: {
      const ip = intDigits ? String(Math.floor(rnd() * 10 ** Math.min(intDigits, 6))) : '0';
      const fp = s ? `.${Array.from({ length: s }, () => Math.floor(rnd() * 10)).join('')}` : '';
      return `${ip}${fp}`;
    }
  }
}

/** Generates the value of field `f` (column index `c`) for row `r`. */
function fieldValue(f: XmldbField, c: number, r: number, unique: boolean, rnd: () => number, light = false): RowValue {
  if (f.sequence || f.name === 'id') return String(r);
  const v = r + c;
  if (!f.notnull && v % 5 === 0) return null;
  switch (f.type) {
    case 'int': {
      const max = intMax(f);
      if (unique) return String(BigInt(r) <= max ? r : r % Number(max));
      const cases = [0n, -1n, max, -max, BigInt(Math.floor(rnd() * Number(max < 1000000n ? max : 1000000n)))];
      return String(cases[v % cases.length]);
    }
    case 'number':
      return unique ? `${r}${f.decimals && f.decimals !== '0' ? `.${'0'.repeat(Number(f.decimals))}` : ''}` : numberValue(f, v, rnd);
    case 'float':
    {
      const decimals = Number(f.decimals ?? '0');
      const samples = decimals > 0 && decimals < 6 ? SINGLE_FLOAT_SAMPLES : FLOAT_SAMPLES;
      return unique ? String(r) : (samples[v % samples.length] ?? '0');
    }
    case 'char': {
      const len = Number(f.length ?? '255');
      if (unique) return fit(`${r.toString(36)}é🦄u`, len);
      if (v % 8 === 7 && !light) return Array.from({ length: len }, (_x, i) => (i % 7 === 3 ? '🦄' : 'x')).join('');
      return fit(CHAR_SAMPLES[v % CHAR_SAMPLES.length] ?? '', len);
    }
    case 'text':
      // Bulk rows of the large table stay log-sized (a 5000-character text in every sixth row would make it ~0.5 GB).
      if (light) return v % 3 ? `{"objectid":"${r}","path":"/mod/${c}"}` : '';
      return TEXT_SAMPLES[v % TEXT_SAMPLES.length] ?? '';
    case 'binary':
      return Buffer.from([v % 256, 0, 255]);
    default:
      return '2020-01-01 00:00:00';
  }
}

function uniqueColumns(t: XmldbTable): Set<string> {
  return new Set(physicalIndexes(t).filter((i) => i.unique).flatMap((i) => i.fields));
}

async function* generateRows(t: XmldbTable, count: number, seed: number): AsyncGenerator<RowValue[]> {
  const rnd = prng(seedOf(t.name, seed));
  const uniq = uniqueColumns(t);
  for (let r = 1; r <= count; r++) yield t.fields.map((f, c) => fieldValue(f, c, r, uniq.has(f.name), rnd, r > 200));
}

async function* extraTableRows(): AsyncGenerator<RowValue[]> {
  const payloads = extraTablePayloads();
  for (let r = 1; r <= payloads.length; r++) {
    yield [String(r), String(r % 2 ? -r : 0), r === 1 ? '' : r === 2 ? null : `ordér ${r} 🦄`, r === 3 ? null : String(r * 7),
      r === 1 ? LONG_TEXT : r === 2 ? '' : `grp ${r}`, payloads[r - 1] ?? null, FLOAT_SAMPLES[r % FLOAT_SAMPLES.length] ?? null,
      r === 1 ? '9999999999999999999.9999999999999999999' : r === 2 ? '-9999999999999999999.9999999999999999999' : r === 3 ? null : `${r}.0000000000000000001`];
  }
}

/** Creates (replacing) every Moodle table plus the planted ones in `url` and fills them. */
export async function createMoodleDatabase(url: string, opts: FixtureOptions): Promise<FixtureInfo> {
  const prefix = opts.prefix ?? 'mdl_';
  const seed = opts.seed ?? 1;
  const perTable = opts.rows === 'full' ? 25 : 4;
  const large = opts.largeTableRows ?? (opts.rows === 'full' ? 200_000 : 2_000);
  const all = await loadInstallTree(opts.schemaDir);
  const definitions = opts.onlyTables ? all.filter((t) => opts.onlyTables?.includes(t.name)) : all;
  const db = await connectDatabase(url, prefix);
  const existing = new Set(await db.listTables());
  const rowCounts = new Map<string, number>();
  try {
    for (const t of definitions) {
      const n = t.name === LARGE_TABLE ? large : perTable;
      await loadTable(db, t, generateRows(t, n, seed), existing.has(t.name), n > 10_000);
      rowCounts.set(t.name, n);
    }
    if (opts.onlyTables) return { definitions, extraTable: EXTRA_TABLE, extraIndex: EXTRA_INDEX, largeTable: LARGE_TABLE, largeTableRows: large, extraTableNextId: 0, rowCounts };
    await loadTable(db, EXTRA_TABLE, extraTableRows(), existing.has(EXTRA_TABLE.name));
    rowCounts.set(EXTRA_TABLE.name, extraTablePayloads().length);
    await db.setSequence(EXTRA_TABLE, EXTRA_TABLE_NEXT_ID);
    const q = (s: string): string => (db.family === 'postgres' ? `"${s}"` : `\`${s}\``);
    await db.execute(`CREATE INDEX ${q(`${prefix}course_vaultfx_ix`)} ON ${q(`${prefix}course`)} (${EXTRA_INDEX.fields.map(q).join(', ')})`);
  } finally {
    await db.close();
  }
  return { definitions, extraTable: EXTRA_TABLE, extraIndex: EXTRA_INDEX, largeTable: LARGE_TABLE, largeTableRows: large, extraTableNextId: EXTRA_TABLE_NEXT_ID, rowCounts };
}

async function loadTable(db: DbAdapter, t: XmldbTable, rows: AsyncIterable<RowValue[]>, exists: boolean, deferIndexes = false): Promise<void> {
  await db.createTable(t, { exists, deferIndexes });
  await db.bulkLoad(t, t.fields.map((f) => f.name), rows);
  await db.finishTable(t);
}
