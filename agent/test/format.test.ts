/** The archive format pieces, byte for byte against the spec (§1.1, §2.1, §3.3–3.4). */
import { createHash } from 'node:crypto';
import { readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BINARY_MARKER, decodeBinary, encodeBinary } from '../src/archive/binary-encoding.js';
import { archiveName, chunkName, parseArchiveName, parseChunkName } from '../src/archive/names.js';
import { phpJsonEncode, phpJsonString } from '../src/archive/php-json.js';
import { TableChunkWriter, parseChunk } from '../src/archive/table-chunks.js';
import { ZipArchiveReader } from '../src/archive/zip-reader.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import { loadInstallTree } from '../src/schema/install-tree.js';
import { structureXml } from '../src/schema/structure-xml.js';
import { SCHEMA_DIR } from './support/round-trip-suite.js';

async function chunksOf(columns: string[], rows: (string | null)[][], target: number): Promise<{ name: string; text: string; rows: number }[]> {
  const out: { name: string; text: string; rows: number }[] = [];
  const w = new TableChunkWriter('t', columns, async (name, data, n) => {
    out.push({ name, text: data.toString('latin1'), rows: n });
  }, target);
  for (const r of rows) await w.add(r);
  await w.end();
  return out;
}

describe('PHP json_encode escaping', () => {
  it('escapes slash, non-ASCII (lower-case, surrogate pairs) and controls like PHP', () => {
    expect(phpJsonString('a/b')).toBe('"a\\/b"');
    expect(phpJsonString('é')).toBe('"\\u00e9"');
    expect(phpJsonString('🦄')).toBe('"\\ud83e\\udd84"');
    expect(phpJsonString('e\u0301')).toBe('"e\\u0301"');
    expect(phpJsonString('"\\\n\r\t\b\f\u0001\u001f\u007f')).toBe('"\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u007f"');
    expect(phpJsonString('plain ascii ~')).toBe('"plain ascii ~"');
    for (const s of ['🦄 ü / \n', 'x'.repeat(3000) + '日本']) expect(JSON.parse(phpJsonString(s))).toBe(s);
  });

  it('encodes empty objects as [] like PHP', () => {
    expect(phpJsonEncode({})).toBe('[]');
    expect(phpJsonEncode({ a: 'http://x/', b: 1, c: { version: '1' }, d: {} })).toBe('{"a":"http:\\/\\/x\\/","b":1,"c":{"version":"1"},"d":[]}');
  });
});

describe('chunk files', () => {
  it('lays out the spec example exactly', async () => {
    const [c] = await chunksOf(['id', 'name', 'value'], [['1', 'siteidentifier', 'abc'], ['2', 'x', null]], 1 << 21);
    expect(c?.name).toBe('t.0.json');
    expect(c?.text).toBe('[\n["id","name","value"],\n["1","siteidentifier","abc"],\n["2","x",null]\n]');
  });

  it('writes chunk 0 for an empty table, holding only the header', async () => {
    const cs = await chunksOf(['id'], [], 100);
    expect(cs).toEqual([{ name: 't.0.json', text: '[\n["id"]\n]', rows: 0 }]);
  });

  it('splits at the size target, numbering from 0, with no empty trailing chunk', async () => {
    const rows = Array.from({ length: 100 }, (_x, i) => [String(i + 1), 'x'.repeat(50)]);
    const cs = await chunksOf(['id', 'v'], rows, 1000);
    expect(cs.map((c) => c.name)).toEqual(cs.map((_c, i) => `t.${i}.json`));
    expect(cs.length).toBeGreaterThan(5);
    expect(cs.every((c) => c.rows > 0)).toBe(true);
    expect(cs.reduce((s, c) => s + c.rows, 0)).toBe(100);
    for (const c of cs) {
      expect(c.text.length).toBeLessThan(1000 + 80);
      const parsed = parseChunk(Buffer.from(c.text));
      expect(parsed?.columns).toEqual(['id', 'v']);
    }
    const all = cs.flatMap((c) => parseChunk(Buffer.from(c.text))?.rows ?? []);
    expect(all).toEqual(rows);
  });

  it('reads headers quoted by old plugin versions and skips undecodable chunks', () => {
    expect(parseChunk(Buffer.from('[\n["`id`","\\"name\\""],\n["1","a"]\n]'))?.columns).toEqual(['id', 'name']);
    expect(parseChunk(Buffer.from('[\n["id"],\n,\n]'))).toBeUndefined();
  });
});

describe('binary encoding', () => {
  it('round-trips every byte value and keeps UTF-8 content plugin-readable', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_x, i) => i));
    const enc = encodeBinary(all);
    expect(enc.startsWith(BINARY_MARKER)).toBe(true);
    expect(decodeBinary(enc, true)).toEqual(all);
    expect(encodeBinary(Buffer.from('héllo 🦄'))).toBe('héllo 🦄');
    expect(decodeBinary('héllo 🦄', true)).toEqual(Buffer.from('héllo 🦄'));
    const tricky = Buffer.from(`${BINARY_MARKER}abc`);
    expect(decodeBinary(encodeBinary(tricky), true)).toEqual(tricky);
    expect(encodeBinary(Buffer.alloc(0))).toBe('');
    // Archives without our manifest (the plugin's) carry text: taken as UTF-8 bytes.
    expect(decodeBinary(`${BINARY_MARKER}AAE=`, false)).toEqual(Buffer.from(`${BINARY_MARKER}AAE=`));
  });
});

describe('names', () => {
  it('names archives and chunks like the plugin and parses them back', () => {
    expect([0, 1, 13].map((n) => archiveName('dbdump', n))).toEqual(['dbdump.zip', 'dbdump-1.zip', 'dbdump-13.zip']);
    expect(parseArchiveName('filedir-13.zip')).toEqual({ type: 'filedir', seq: 13 });
    expect(parseArchiveName('dbstructure.zip')).toEqual({ type: 'dbstructure', seq: 0 });
    expect(parseArchiveName('dbdump.tar')).toBeUndefined();
    expect(chunkName('user', 3)).toBe('user.3.json');
    expect(parseChunkName('h5p_libraries.12.json')).toEqual({ table: 'h5p_libraries', n: 12 });
  });
});

describe('zip archives', () => {
  it('writes entries without directories and reports size, origsize and SHA-256 of the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-zip-'));
    const path = join(dir, 'dbdump.zip');
    const w = ZipArchiveWriter.toFile(path, 'dbdump.zip');
    const big = Buffer.from('x'.repeat(3 << 20));
    await w.add('a.0.json', Buffer.from('[\n["id"]\n]'));
    await w.add('b.0.json', big);
    await w.add('b.1.json', Buffer.from('[]'));
    const info = await w.close();
    const file = await readFile(path);
    expect(info).toEqual({ name: 'dbdump.zip', origsize: 10 + big.length + 2, size: file.length, sha256: createHash('sha256').update(file).digest('hex') });
    const r = await ZipArchiveReader.open(path);
    expect(r.names()).toEqual(['a.0.json', 'b.0.json', 'b.1.json']);
    expect((await r.read('b.0.json')).equals(big)).toBe(true);
    r.close();
  });
});

describe('__structure__.xml', () => {
  it('uses only the elements and attributes the plugin writes, in its order', async () => {
    const xml = structureXml(await loadInstallTree(SCHEMA_DIR));
    const lines = xml.split('\n');
    expect(lines.slice(0, 5)).toEqual(['<?xml version="1.0" encoding="UTF-8" ?>', '<XMLDB     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', '    xsi:noNamespaceSchemaLocation="xmldb.xsd"', '>', '  <TABLES>']);
    const patterns = [
      /^ {4}<TABLE NAME="[a-z0-9_]+" COMPONENT="[a-z0-9_?]+">$/,
      /^ {6}<\/?(FIELDS|KEYS|INDEXES)>$/,
      /^ {8}<FIELD NAME="[a-z0-9_]+" TYPE="(int|number|float|char|text|binary|datetime)"( LENGTH="\d+")? NOTNULL="(true|false)"( DEFAULT="[^"]*")? SEQUENCE="(true|false)"( DECIMALS="\d+")?\/>$/,
      /^ {8}<KEY NAME="[^"]+" TYPE="(primary|unique|foreign|foreign-unique)" FIELDS="[a-z0-9_]+(, [a-z0-9_]+)*"( REFTABLE="[a-z0-9_]+" REFFIELDS="[a-z0-9_]+(, [a-z0-9_]+)*")?\/>$/,
      /^ {8}<INDEX NAME="[^"]+" UNIQUE="(true|false)" FIELDS="[a-z0-9_]+(, [a-z0-9_]+)*"\/>$/,
      /^ {4}<\/TABLE>$/,
    ];
    const body = lines.slice(5, -3);
    const bad = body.filter((l) => !patterns.some((p) => p.test(l)));
    expect(bad).toEqual([]);
    expect(lines.slice(-3)).toEqual(['  </TABLES>', '</XMLDB>', '']);
    expect(body.filter((l) => l.includes('<KEYS>'))).toHaveLength(485);
  });
});
