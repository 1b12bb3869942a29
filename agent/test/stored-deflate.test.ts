/**
 * StoredDeflateDecoder hands out the data of deflate streams made of stored blocks only, however
 * the stream is cut into pieces, and gives up (null) on anything else: a compressed block, a
 * damaged length, bytes after the final block. zlib makes the streams.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { StoredDeflateDecoder } from '../src/archive/stored-deflate.js';
import { prng } from './support/prng.js';

const random = (n: number, seed: number): Buffer => {
  const rnd = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
};

/** Decodes `stream` fed in pieces of `size` bytes: the data, or null, and whether it ended. */
function decodeIn(stream: Buffer, size: number): { data: Buffer | null; ended: boolean } {
  const d = new StoredDeflateDecoder();
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) {
    const got = d.decode(stream.subarray(i, i + size));
    if (!got) return { data: null, ended: d.ended };
    // Pieces are views of the input, copied here as a caller's sink would consume them.
    out.push(...got.map((b) => Buffer.from(b)));
  }
  return { data: Buffer.concat(out), ended: d.ended };
}

describe('StoredDeflateDecoder', () => {
  it('decodes stored blocks (level 0, and incompressible data at level 6) cut anywhere', () => {
    const data = random(300_000, 1);
    for (const stream of [deflateRawSync(data, { level: 0 }), deflateRawSync(data, { level: 6 })]) {
      for (const size of [1, 3, 5, 4096, 65_535, 65_540, stream.length]) {
        const r = decodeIn(stream, size);
        expect(r.ended, `pieces of ${size}`).toBe(true);
        expect(r.data?.equals(data), `pieces of ${size}`).toBe(true);
      }
    }
  });

  it('decodes an empty stored stream', () => {
    const r = decodeIn(deflateRawSync(Buffer.alloc(0), { level: 0 }), 1);
    expect(r).toEqual({ data: Buffer.alloc(0), ended: true });
  });

  it('gives up on compressed blocks: compressible data, and stored blocks followed by compressed ones', () => {
    expect(decodeIn(deflateRawSync(Buffer.from('moodle '.repeat(10_000))), 4096).data).toBeNull();
    expect(decodeIn(deflateRawSync(Buffer.alloc(0)), 4096).data).toBeNull();
    const mixed = deflateRawSync(Buffer.concat([random(200_000, 2), Buffer.from('forum post '.repeat(20_000))]));
    const d = new StoredDeflateDecoder();
    const first = d.decode(mixed.subarray(0, 70_000));
    expect(first?.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(0);
    expect(d.decode(mixed.subarray(70_000))).toBeNull();
  });

  it('gives up on a damaged length, and on bytes after the final block; a cut stream has not ended', () => {
    const stream = deflateRawSync(random(1000, 3), { level: 0 });
    const badLength = Buffer.from(stream);
    badLength[3] = (badLength[3] as number) ^ 1;
    expect(decodeIn(badLength, 64).data).toBeNull();
    expect(decodeIn(Buffer.concat([stream, Buffer.from([0])]), 64).data).toBeNull();
    const cut = decodeIn(stream.subarray(0, stream.length - 1), 64);
    expect(cut.ended).toBe(false);
    expect(cut.data?.length).toBe(999);
  });
});
