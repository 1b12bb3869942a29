/**
 * Chunk files are decoded one row at a time on load (openChunk) instead of all at once, which
 * kept every parsed row of the chunk alive for as long as the chunk was being loaded. The result
 * must be the same as decoding the whole file: same header, same rows, and a file the plugin would
 * skip as a whole is still skipped as a whole, before any of its rows is handed out.
 */
import { describe, expect, it } from 'vitest';
import { CHUNK_BUFFER_SLACK, ChunkBufferPool, TableChunkWriter, openChunk, parseChunk } from '../src/archive/table-chunks.js';
import { prng } from './support/prng.js';

const rowsOf = (data: string): unknown[][] | undefined => {
  const c = openChunk(Buffer.from(data));
  return c ? [...c.rows()] : undefined;
};

describe('openChunk (row-at-a-time chunk decoding)', () => {
  it('gives the same header and rows as decoding the whole file, for chunks we write', async () => {
    const rnd = prng(7);
    const files: Buffer[] = [];
    const w = new TableChunkWriter('t', ['id', 'a', 'b'], async (_n, data) => {
      files.push(Buffer.from(data));
    }, 4096);
    const pick = ['', 'x', 'h\u00e9llo \ud83e\udd84', 'line\nbreak\r\t"q" \\ /', ',\n]', '[', '\u0000'];
    for (let i = 0; i < 500; i++) await w.add([String(i), rnd() < 0.2 ? null : pick[Math.floor(rnd() * pick.length)] ?? '', String(rnd())]);
    await w.end();
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const whole = parseChunk(f);
      const c = openChunk(f);
      expect(c?.columns).toEqual(whole?.columns);
      expect(c?.count).toBe(whole?.rows.length);
      expect([...(c?.rows() ?? [])]).toEqual(whole?.rows);
      // rows() starts over on each call
      expect([...(c?.rows() ?? [])].length).toBe(whole?.rows.length);
    }
  });

  it('reads the spec example, an empty table, blanks and CRLF, and quoted old headers', () => {
    expect(rowsOf('[\n["id","name","value"],\n["1","siteidentifier","abc"],\n["2","x",null]\n]')).toEqual([['1', 'siteidentifier', 'abc'], ['2', 'x', null]]);
    const empty = openChunk(Buffer.from('[\n["id","name"]\n]'));
    expect(empty?.columns).toEqual(['id', 'name']);
    expect(empty?.count).toBe(0);
    expect(rowsOf('[\r\n ["id"] , \r\n["1"]\r\n]\r\n')).toEqual([['1']]);
    expect(openChunk(Buffer.from('[\n["`id`","\\"name\\""],\n["1","a"]\n]'))?.columns).toEqual(['id', 'name']);
  });

  it('decodes other layouts of valid JSON in one piece', () => {
    expect(rowsOf('[["id","v"],["1","a"],["2",null]]')).toEqual([['1', 'a'], ['2', null]]);
    expect(rowsOf('[\n  ["id"],\n  [\n    "1"\n  ]\n]')).toEqual([['1']]);
  });

  it('skips, as a whole, a file the plugin cannot decode (a row it failed to encode leaves a bare comma)', () => {
    expect(openChunk(Buffer.from('[\n["id"],\n["1"],\n,\n["3"]\n]'))).toBeUndefined();
    expect(openChunk(Buffer.from('[\n["id"],\n["1"],\n]'))).toBeUndefined();
    expect(openChunk(Buffer.from('[\n["id"]\n["1"]\n]'))).toBeUndefined();
    expect(openChunk(Buffer.from('[\n["id"],\n["1"]\n'))).toBeUndefined();
    expect(openChunk(Buffer.from(''))).toBeUndefined();
    expect(openChunk(Buffer.from('false'))).toBeUndefined();
    expect(openChunk(Buffer.from('[]'))).toBeUndefined();
    expect(openChunk(Buffer.from('[\n"id"\n]'))).toBeUndefined();
  });

  it('fails loudly, not silently, on a line with the layout but broken JSON inside', () => {
    const c = openChunk(Buffer.from('[\n["id"],\n["1"],\n["2",]\n]'));
    expect(c?.count).toBe(2);
    expect(() => [...(c?.rows() ?? [])]).toThrow(/row 2 is not valid JSON/);
  });
});

describe('TableChunkWriter with a buffer pool', () => {
  it('writes the same chunks as without one and reuses released buffers across tables', async () => {
    const target = 4096;
    const rowsOfTable = (seed: number, n: number): (string | null)[][] => {
      const rnd = prng(seed);
      return Array.from({ length: n }, (_, i) => [String(i), rnd() < 0.1 ? null : 'x'.repeat(Math.floor(rnd() * 300)), String(rnd())]);
    };
    const tables = [rowsOfTable(1, 400), rowsOfTable(2, 0), rowsOfTable(3, 3), rowsOfTable(4, 250)];
    const write = async (pool?: ChunkBufferPool): Promise<{ files: string[]; buffers: number }> => {
      const files: string[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for (const [t, rows] of tables.entries()) {
        const w = new TableChunkWriter(`t${t}`, ['id', 'a', 'b'], async (name, data, _n, release) => {
          // Copied, then released at once: the next chunk may be written into the same buffer.
          files.push(`${name} ${data.toString('latin1')}`);
          buffers.add(data.buffer);
          data.fill(0x21);
          release();
        }, target, pool);
        for (const r of rows) await w.add(r);
        await w.end();
      }
      return { files, buffers: buffers.size };
    };
    const plain = await write();
    const pooled = await write(new ChunkBufferPool(target + CHUNK_BUFFER_SLACK));
    expect(pooled.files).toEqual(plain.files);
    expect(plain.buffers).toBe(plain.files.length);
    expect(plain.files.length).toBeGreaterThan(10);
    // The chunk being written and the one handed to the sink: two buffers for every chunk of every table.
    expect(pooled.buffers).toBe(2);
  });
});
