/**
 * Reads the tables of an export over several connections at once (each in the same snapshot) and
 * hands their chunk files over in table order, so the archive is the one a single connection
 * writes: same entries, same order, same bytes.
 *
 * Each connection takes the next table not yet started. The table whose chunks the archive is
 * taking (the current one) streams through with at most one chunk waiting; the tables read ahead
 * of it keep their finished chunks in memory up to `aheadBytes` in all (small chunks copied out of
 * their pooled 2 MiB buffers), and their connections wait beyond that. A connection waiting so
 * never holds up the current table, so reading cannot deadlock.
 */
import { ChunkBufferPool, TableChunkWriter } from '../archive/table-chunks.js';
import type { XmldbTable } from '../schema/model.js';
import type { DbAdapter } from './adapter.js';
import { encodeBinary } from '../archive/binary-encoding.js';

/** One table to read. */
export interface TableRead {
  table: XmldbTable;
  columns: string[];
  where: string | undefined;
}

/** A finished chunk file. `release` gives its buffer back to the pool once nothing reads `data`. */
export interface ReadChunk {
  name: string;
  data: Buffer;
  rows: number;
  release: () => void;
}

/** Chunks below this size read ahead of the archive are copied out of their pooled buffer. */
const COPY_BELOW = 256 * 1024;

/** Bytes of chunks read ahead of the archive that may wait in memory (all tables together). */
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

interface TableState {
  chunks: (ReadChunk & { held: number })[];
  done: boolean;
  rows: number;
  count: number;
}

/**
 * Reads `tables` with `readers` (one table per connection at a time) and calls `consume` for each
 * chunk and `tableDone` after each table's last chunk, in table order, awaiting each. Rejects with
 * the first failure; the connections' reads stop at their next chunk then (close the extra
 * connections to stop them sooner), and {@link readInTableOrder} waits for them before it settles.
 */
export async function readInTableOrder(
  tables: TableRead[],
  readers: DbAdapter[],
  opts: { pool: ChunkBufferPool; chunkBytes: number; aheadBytes?: number },
  consume: (index: number, chunk: ReadChunk) => Promise<void>,
  tableDone: (index: number, rows: number, chunks: number) => Promise<void>,
): Promise<void> {
  const ahead = opts.aheadBytes ?? READ_AHEAD_BYTES;
  const states: (TableState | undefined)[] = tables.map(() => ({ chunks: [], done: false, rows: 0, count: 0 }));
  let current = 0;
  let held = 0;
  let next = 0;
  let failed = false;
  let failure: unknown;
  let waiters: (() => void)[] = [];
  const signal = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const changed = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));
  const fail = (err: unknown): void => {
    if (!failed) {
      failed = true;
      failure = err;
    }
    signal();
  };

  const read = async (reader: DbAdapter, i: number, st: TableState): Promise<void> => {
    const { table, columns, where } = tables[i] as TableRead;
    const chunker = new TableChunkWriter(table.name, columns, async (name, data, rows, release) => {
      let chunk: ReadChunk & { held: number };
      if (i !== current && data.length < COPY_BELOW) {
        // Small ones (most tables) from Node's shared 8 KiB slabs: no allocation of their own.
        const copy = Buffer.allocUnsafe(data.length);
        data.copy(copy);
        release();
        chunk = { name, data: copy, rows, release: () => undefined, held: copy.length };
      } else chunk = { name, data, rows, release, held: data.length };
      st.chunks.push(chunk);
      held += chunk.held;
      signal();
      while (!failed && (i === current ? st.chunks.length > 0 : held > ahead)) await changed();
      if (failed) throw new Error('export stopped');
    }, opts.chunkBytes, opts.pool);
    if (reader.writeJsonRows) await reader.writeJsonRows(table, columns, where, chunker);
    else {
      const binary = table.fields.map((f) => f.type === 'binary');
      for await (const row of reader.readRows(table, columns, where)) {
        const values = row as (string | null)[];
        for (let c = 0; c < binary.length; c++) {
          const v = row[c];
          if (binary[c] && Buffer.isBuffer(v)) values[c] = encodeBinary(v);
        }
        await chunker.add(values);
      }
    }
    st.count = await chunker.end();
    st.rows = chunker.rows;
    st.done = true;
    signal();
  };

  const producers = readers.map(async (reader) => {
    while (!failed && next < tables.length) {
      const i = next++;
      try {
        await read(reader, i, states[i] as TableState);
      } catch (err) {
        fail(err);
      }
    }
  });

  try {
    for (let i = 0; i < tables.length; i++) {
      current = i;
      signal();
      const st = states[i] as TableState;
      for (;;) {
        if (failed) throw failure;
        const c = st.chunks.shift();
        if (c) {
          held -= c.held;
          signal();
          await consume(i, c);
          continue;
        }
        if (st.done) break;
        await changed();
      }
      states[i] = undefined;
      await tableDone(i, st.rows, st.count);
    }
  } catch (err) {
    fail(err);
    await Promise.all(producers);
    throw failure;
  }
  await Promise.all(producers);
}
