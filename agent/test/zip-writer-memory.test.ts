/**
 * The archive writer must not hold on to entries it has already written: yazl keeps every
 * entry until the archive ends, and a chunk buffer reachable from one stayed in memory for the
 * whole archive (up to 1 GiB), so a dump's RSS grew with the archive size.
 */
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';

// A full collection on demand, without starting the test process with --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const discard = (): Writable => new Writable({ write: (_chunk, _enc, cb) => cb() });

/** Deterministic, mildly compressible bytes (same generator as the pinned hashes below). */
function sample(i: number, state: { x: number }): Buffer {
  const b = Buffer.alloc(300_000 + i * 7919);
  for (let j = 0; j < b.length; j++) {
    state.x = (state.x * 1103515245 + 12345) & 0x7fffffff;
    b[j] = 97 + ((state.x >> 16) % 16);
  }
  return b;
}

describe('zip archive writer memory', () => {
  it('lets go of each entry once it is written, before the archive ends', async () => {
    const w = new ZipArchiveWriter('dbdump.zip', discard());
    const refs: WeakRef<Buffer>[] = [];
    for (let i = 0; i < 40; i++) {
      const data = Buffer.alloc(1 << 20, i);
      refs.push(new WeakRef(data));
      await w.add(`t.${i}.json`, data);
    }
    // WeakRef targets stay alive until the current job ends: collect in a later turn.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    // At most the few entries still queued in the writer may be held.
    expect(alive).toBeLessThanOrEqual(6);
    await w.close();
  });

  it('releases an entry only once its bytes are written: buffers reused at release leave the archive unchanged', async () => {
    const write = async (reuse: boolean): Promise<{ info: Awaited<ReturnType<ZipArchiveWriter['close']>>; released: number[] }> => {
      const w = new ZipArchiveWriter('dbdump.zip', discard(), { compressionLevel: 6 });
      const state = { x: 1 };
      const released: number[] = [];
      for (let i = 0; i < 12; i++) {
        const data = sample(i, state);
        // Released buffers are overwritten at once, as a pool handing them out again would:
        // a release before yazl has read and compressed the bytes changes the archive.
        await w.add(`t.${i}.json`, data, reuse ? () => { released.push(i); data.fill(0x21); } : undefined);
      }
      expect(released.length).toBeLessThan(12);
      return { info: await w.close(), released };
    };
    const plain = await write(false);
    const pooled = await write(true);
    expect(pooled.info).toEqual(plain.info);
    expect(pooled.released).toEqual([...Array(12).keys()]);
  });

  it('writes the same bytes as before the change (resumed backups compare archive hashes)', async () => {
    for (const [level, sha256, size] of [
      [6, '2bb2d11928787a8cb79da072322d4d62f2d23d12af3c5c34338891dab8bb8f26', 97471],
      [0, 'a39524a2932d08fd2d991322a8a8798bb22685f56cb791c79ef6a56029d073c1', 4124084],
    ] as const) {
      const w = new ZipArchiveWriter('dbdump.zip', discard(), { compressionLevel: level });
      const state = { x: 1 };
      for (let i = 0; i < 12; i++) await w.add(`t.${i}.json`, sample(i, state));
      expect(await w.close()).toEqual({ name: 'dbdump.zip', origsize: 4122654, size, sha256 });
    }
  });
});
