/**
 * Where a download's body segments go: SHA-256 over them in order, and (when there is a file)
 * a positional write of each. Two kinds: inline (on the main thread, for small bodies) and on a
 * worker thread (large bodies), so that the main thread goes on reading the socket while the
 * previous segments are hashed and written — hashing on the main thread held the socket unread
 * for about a third of a large download. Segments move to the worker and back without copies
 * (transferred ArrayBuffers) and return to their pool when written.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { PartBuffers } from './upload.js';

/** Hashes segments in order and writes them at their offsets. */
export interface SegmentSink {
  /** Takes `seg` (its first `n` bytes are body bytes at `position`); gives it back to the pool when done. */
  push(seg: Buffer, n: number, position: number): void;
  /** Resolves when every segment pushed so far is hashed and written; the first write failure, if any. */
  flush(): Promise<unknown>;
  /** Starts the hash over (the download starts again from its first byte). */
  reset(): Promise<void>;
  /** Hex SHA-256 of every segment pushed since the start (or the last reset). */
  digest(): Promise<string>;
  /** Releases the sink (ends the worker). */
  close(): Promise<void>;
}

/** Writes all of `buf` at `position` (a positional write may be short). */
export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

/** Hash on the main thread, writes through the thread pool, one at a time in order. */
export function inlineSink(fh: FileHandle | null, pool: PartBuffers): SegmentSink {
  let hash: Hash = createHash('sha256');
  let writeError: unknown = null;
  let writes: Promise<void> = Promise.resolve();
  return {
    push(seg, n, position) {
      const body = seg.subarray(0, n);
      hash.update(body);
      if (!fh) { pool.give(seg); return; }
      writes = writes.then(async () => {
        try {
          if (!writeError) await writeAll(fh, body, position);
        } catch (err) {
          writeError ??= err;
        } finally {
          pool.give(seg);
        }
      });
    },
    async flush() {
      await writes;
      return writeError;
    },
    async reset() {
      await writes;
      hash = createHash('sha256');
    },
    async digest() {
      await writes;
      return hash.digest('hex');
    },
    async close() {
      await writes;
    },
  };
}

/** The worker's code (CommonJS, evaluated: the agent ships as one bundled file). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writeSync } = require('node:fs');
let hash = createHash('sha256');
let failed = null;
parentPort.on('message', (m) => {
  if (m.t === 's') {
    const view = Buffer.from(m.ab, 0, m.n);
    hash.update(view);
    if (m.fd >= 0 && !failed) {
      try {
        for (let off = 0; off < m.n;) off += writeSync(m.fd, view, off, m.n - off, m.pos + off);
      } catch (err) {
        failed = { message: String(err && err.message), code: err && err.code };
      }
    }
    parentPort.postMessage({ t: 's', ab: m.ab, failed }, [m.ab]);
  } else if (m.t === 'r') {
    hash = createHash('sha256');
    parentPort.postMessage({ t: 'r' });
  } else if (m.t === 'd') {
    parentPort.postMessage({ t: 'd', hex: hash.digest('hex') });
    hash = createHash('sha256');
  }
});
`;

type WorkerReply = { t: 's'; ab: ArrayBuffer; failed: { message: string; code?: string } | null } | { t: 'r' } | { t: 'd'; hex: string };

/**
 * Hash and writes on a worker thread. Each segment's ArrayBuffer is moved to the worker and back
 * (pool segments own theirs: `Buffer.allocUnsafeSlow`); a segment that shares its memory is
 * copied first. Writes go to `fd` with positional writeSync on the worker.
 */
export function workerSink(fd: number | null, pool: PartBuffers): SegmentSink {
  const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } });
  /** Sizes of the segments at the worker (given back as new buffers should the worker die). */
  const out: number[] = [];
  let writeError: unknown = null;
  let crashed: unknown = null;
  let idle: Array<() => void> = [];
  let reply: ((r: WorkerReply) => void) | null = null;
  const settle = (): void => {
    if (out.length > 0 && !crashed) return;
    const ws = idle;
    idle = [];
    for (const w of ws) w();
  };
  worker.on('message', (r: WorkerReply) => {
    if (r.t === 's') {
      out.pop();
      if (r.failed && !writeError) writeError = Object.assign(new Error(r.failed.message), r.failed.code ? { code: r.failed.code } : {});
      pool.give(Buffer.from(r.ab));
      settle();
    } else {
      reply?.(r);
    }
  });
  const died = (err: unknown): void => {
    crashed ??= err;
    // The segments it held are gone: the pool gets new ones, so nobody waits for them.
    for (const size of out.splice(0)) pool.give(Buffer.allocUnsafeSlow(size));
    settle();
    reply?.({ t: 'r' });
  };
  worker.on('error', died);
  worker.on('exit', () => died(new Error('the hash worker exited')));
  const drained = (): Promise<void> => new Promise<void>((resolve) => { idle.push(resolve); settle(); });
  const ask = async (t: 'r' | 'd'): Promise<WorkerReply> => {
    await drained();
    if (crashed) throw crashed;
    const r = await new Promise<WorkerReply>((resolve) => {
      reply = (x) => { reply = null; resolve(x); };
      worker.postMessage({ t });
    });
    if (crashed) throw crashed;
    return r;
  };
  return {
    push(seg, n, position) {
      if (crashed) { pool.give(seg); return; }
      // Only a segment that is the whole of its ArrayBuffer can move to the worker.
      const own = seg.byteOffset === 0 && seg.buffer.byteLength === seg.length && !(seg.buffer instanceof SharedArrayBuffer);
      const moved = own ? seg : Buffer.from(seg.subarray(0, n));
      if (!own) pool.give(seg);
      out.push(moved.length);
      worker.postMessage({ t: 's', ab: moved.buffer, n, pos: position, fd: fd ?? -1 }, [moved.buffer as ArrayBuffer]);
    },
    async flush() {
      await drained();
      return writeError ?? crashed;
    },
    async reset() {
      await ask('r');
    },
    async digest() {
      const r = await ask('d');
      if (r.t !== 'd') throw new Error('hash worker: unexpected reply');
      return r.hex;
    },
    async close() {
      await drained();
      if (!crashed) await worker.terminate();
    },
  };
}
