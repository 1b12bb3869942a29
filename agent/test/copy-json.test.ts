/**
 * The byte-level COPY text → chunk JSON transcoder (pg-copy-text.ts copyLineToPhpJson) against
 * the string path it replaces (copyTextLines, then phpJsonRow), byte for byte, and the chunk
 * writer's in-place and aside row paths against `add`.
 */
import { describe, expect, it } from 'vitest';
import { encodeBinary } from '../src/archive/binary-encoding.js';
import { GrowableJsonOut, phpJsonRow } from '../src/archive/php-json.js';
import { TableChunkWriter } from '../src/archive/table-chunks.js';
import { normaliseFloat } from '../src/db/adapter.js';
import { COPY_CONVERTED, COPY_TEXT, copyJsonBound, copyLineToPhpJson, copyTextLines } from '../src/db/pg-copy-text.js';

type Kind = 'plain' | 'float' | 'binary';

async function viaStrings(line: Buffer, kinds: Kind[]): Promise<string> {
  const rows: (string | null)[][] = [];
  for await (const r of copyTextLines((async function* () { yield line; })())) rows.push(r);
  const row = rows[0] ?? [];
  const values = row.map((v, i) => (v === null ? null : kinds[i] === 'float' ? normaliseFloat(v) : kinds[i] === 'binary' ? encodeBinary(Buffer.from(v.slice(2), 'hex')) : v));
  return phpJsonRow(values);
}

function viaBytes(line: Buffer, kinds: Kind[], tight = true): string {
  const codes = Uint8Array.from(kinds, (k) => (k === 'plain' ? COPY_TEXT : COPY_CONVERTED));
  const out = new GrowableJsonOut();
  // Exactly the bound, so a write past it would be lost (typed arrays drop such writes) and show.
  out.buf = Buffer.alloc(tight ? copyJsonBound(line.length, kinds.length) : 1 << 16);
  copyLineToPhpJson(line, 0, line.length, codes, (i, v) => (kinds[i] === 'float' ? normaliseFloat(v) : encodeBinary(Buffer.from(v.slice(2), 'hex'))), out);
  return out.buf.toString('latin1', 0, out.len);
}

const lines: [string | Buffer, Kind[]][] = [
  ['1\tsiteidentifier\tabc', ['plain', 'plain', 'plain']],
  ['2\t\\N\t', ['plain', 'plain', 'plain']],
  ['\\N\t\\N', ['plain', 'plain']],
  ['\t', ['plain', 'plain']],
  ['a\\\\b\\nc\\td\\re\\bf\\fg\\vh', ['plain']],
  ['/"</script>\u007f\u0001\u001f ~', ['plain']],
  ['é ü 日本 🦄 e\u0301 \uffff \u{10ffff}', ['plain']],
  ['\\N\\Nx \\a\\N', ['plain']],
  ['trailing\\', ['plain']],
  ['mid\\\tnext', ['plain', 'plain']],
  ['octal \\101\\0 hex \\x41\\xg', ['plain']],
  ['1e-05\t0.1\tNaN\t-Infinity\t\\N\t\t1.7976931348623157e+308', ['float', 'float', 'float', 'float', 'float', 'float', 'float']],
  ['\\\\x\t\\\\xff\t\\\\xffff\t\\\\x68c3a9\t\\\\x00\t\\N', ['binary', 'binary', 'binary', 'binary', 'binary', 'binary']],
  ['\\\\x' + Buffer.from('\u0000vault-agent:base64:x').toString('hex'), ['binary']],
  [Buffer.from([0x61, 0xff, 0x62, 0x09, 0xe2, 0x82, 0x09, 0xed, 0xa0, 0x80, 0x09, 0xf0, 0x9f, 0x98, 0x09, 0xc0, 0xaf]), ['plain', 'plain', 'plain', 'plain', 'plain']],
  [Buffer.from([0x5c, 0xc3, 0xa9, 0x5c, 0x0d, 0x5c, 0xe2, 0x80, 0xa8, 0x09, 0xf4, 0x90, 0x80, 0x80]), ['plain', 'plain']],
];

describe('COPY text → chunk JSON transcoder', () => {
  it('writes what the string path writes, for escapes, controls, non-ASCII, invalid UTF-8 and converted columns', async () => {
    for (const [l, kinds] of lines) {
      const line = typeof l === 'string' ? Buffer.from(l) : l;
      expect(viaBytes(line, kinds), String(l)).toBe(await viaStrings(line, kinds));
    }
  });

  it('matches the string path on random lines', async () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const alphabet = ['a', 'Z', '/', '"', '\\\\', '\\n', '\\t', '\\N', '\\r', '\\b', '\\v', '\\f', '\\q', '\\5', '\\x4', '\u0001', '\u007f', 'é', '€', '🦄', '\u2028', ' '];
    for (let n = 0; n < 2000; n++) {
      const cols = 1 + rnd(5);
      const fields = Array.from({ length: cols }, () => (rnd(8) === 0 ? '\\N' : Array.from({ length: rnd(12) }, () => alphabet[rnd(alphabet.length)]).join('')));
      const line = Buffer.from(fields.join('\t'));
      if (rnd(10) === 0 && line.length) line[rnd(line.length)] = 0x80 + rnd(128);
      if (line.includes(0x0a)) continue;
      const kinds = fields.map((): Kind => 'plain');
      const want = await viaStrings(line, kinds);
      // A random byte may have made a tab: field counts then differ, as they would for COPY too.
      if ((JSON.parse(want) as unknown[]).length !== cols) continue;
      expect(viaBytes(line, kinds), line.toString('hex')).toBe(want);
    }
  });

  it('rejects a line whose field count is not the column count', () => {
    expect(() => viaBytes(Buffer.from('a\tb'), ['plain'], false)).toThrow(/more than 1 fields/);
    expect(() => viaBytes(Buffer.from('a'), ['plain', 'plain'], false)).toThrow(/1 fields, expected 2/);
  });
});

describe('chunk writer rows written by the caller', () => {
  it('gives the same chunks as add(), rows in place and aside, across chunk boundaries', async () => {
    const rows = Array.from({ length: 300 }, (_x, i) => [String(i), i % 7 === 0 ? 'é'.repeat(i * 3) : 'x'.repeat(i % 50), i % 5 ? null : '/']);
    const collect = async (encoded: boolean): Promise<string[]> => {
      const out: string[] = [];
      const w = new TableChunkWriter('t', ['id', 'a', 'b'], async (name, data) => { out.push(`${name}:${data.toString('latin1')}`); }, 4000);
      for (const r of rows) {
        if (!encoded) {
          await w.add(r);
          continue;
        }
        const wait = w.beginRow();
        if (wait) await wait;
        const json = phpJsonRow(r);
        // A generous bound, as the transcoder's: rows near a chunk's end go aside.
        const o = w.rowOut(json.length * 6);
        o.reserve(json.length);
        o.len += o.buf.write(json, o.len, 'latin1');
        w.endRow(o);
      }
      await w.end();
      return out;
    };
    const encoded = await collect(true);
    expect(encoded.length).toBeGreaterThan(10);
    expect(encoded).toEqual(await collect(false));
  });
});
