/**
 * Chunked table JSON (spec §3.3–3.4): `[` LF header, then `,` LF row per row, then LF `]`;
 * a new chunk starts once the current one reaches the size target, never leaving an empty
 * trailing chunk, and chunk 0 is written even for an empty table.
 */
import { chunkName } from './names.js';
import { GrowableJsonOut, type JsonOut, phpJsonRow, phpJsonString } from './php-json.js';

/** The plugin's DBFILE_SIZE: 2 MiB. */
export const CHUNK_TARGET_BYTES = 2 * 1024 * 1024;

/** Room past the size target in a chunk buffer (the row that crosses the target goes in too). */
export const CHUNK_BUFFER_SLACK = 64 * 1024;

/**
 * Receives finished chunk files. `release` gives the chunk's buffer back to the writer's pool: call
 * it once nothing reads `data` any more (or never: the buffer is then left to the garbage collector).
 */
export type ChunkSink = (name: string, data: Buffer, rows: number, release: () => void) => Promise<void>;

/**
 * Chunk buffers reused across chunks and tables. A fresh ~2 MiB buffer per chunk, and one per
 * table even for an empty one (485 tables at scale S), kept dead buffers waiting for the garbage
 * collector, and glibc's heap kept their pages after it (the freed blocks raise its mmap
 * threshold, so later ones come from the heap): ~20 MB of a backup's peak RSS.
 */
export class ChunkBufferPool {
  private readonly idle: Buffer[] = [];

  /** Buffers of `size` bytes; at most `keep` idle ones are kept. */
  constructor(readonly size: number, private readonly keep = 8) {}

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(b: Buffer): void {
    if (b.length === this.size && this.idle.length < this.keep) this.idle.push(b);
  }
}

/**
 * Splits one table's rows into chunk files. Rows are written straight into a byte buffer per
 * chunk, so each row's string dies young instead of piling up in the old generation until the
 * chunk is complete (that made the garbage collector the main cost of a dump).
 */
export class TableChunkWriter implements JsonOut {
  /** The chunk being written, up to `len`; rows encoded in place write here (see {@link rowOut}). */
  buf: Buffer;
  len = 0;
  private rowsInChunk = 0;
  private n = 0;
  private readonly header: string;
  rows = 0;

  /** Buffers come from `pool` when given (of `target` + CHUNK_BUFFER_SLACK bytes), else are allocated per chunk. */
  constructor(
    private readonly table: string,
    columns: string[],
    private readonly sink: ChunkSink,
    private readonly target = CHUNK_TARGET_BYTES,
    private readonly pool = new ChunkBufferPool(target + CHUNK_BUFFER_SLACK, 0),
  ) {
    this.header = `[${columns.map(phpJsonString).join(',')}]`;
    this.buf = pool.take();
    this.start();
  }

  /** Room for `n` more bytes (a bigger buffer, outside the pool, for a chunk that outgrows its own). */
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n + 1024));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  // PHP escaping leaves only ASCII, so 'latin1' is an exact and fast encoding here.
  private put(s: string): void {
    this.reserve(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  private start(): void {
    this.len = 0;
    this.put('[\n');
    this.put(this.header);
    this.rowsInChunk = 0;
  }

  /**
   * Hands the chunk to the sink at once (this call's synchronous part) and takes another buffer;
   * the promise is the sink's, which resolves when the writer may go on (the archive has room).
   */
  private flush(last: boolean): Promise<void> {
    this.put('\n]');
    const buf = this.buf;
    const data = buf.subarray(0, this.len);
    // The sink may hold the bytes until the archive has consumed them: give it this buffer
    // (it releases it back to the pool then) and take another one for the next chunk.
    if (!last) this.buf = this.pool.take();
    const name = chunkName(this.table, this.n++);
    return this.sink(name, data, this.rowsInChunk, () => this.pool.give(buf));
  }

  /** Adds a row (values already strings or null). */
  async add(values: (string | null)[]): Promise<void> {
    if (this.rowsInChunk > 0 && this.len >= this.target) {
      await this.flush(false);
      this.start();
    }
    this.put(',\n');
    this.put(phpJsonRow(values));
    this.rowsInChunk++;
    this.rows++;
  }

  /**
   * Starts a row encoded by the caller (bytes straight from the database, without a string per
   * value): `beginRow()`, then `rowOut(maxBytes)` and the row's JSON array written into that at its
   * `len`, then `endRow(out)`. The chunk layout is the one {@link add} writes. A promise from
   * `beginRow` means a full chunk was handed to the sink: the row may still be written at once,
   * but the caller must wait for it before reading further rows (backpressure).
   */
  beginRow(): Promise<void> | undefined {
    let wait: Promise<void> | undefined;
    if (this.rowsInChunk > 0 && this.len >= this.target) {
      wait = this.flush(false);
      this.start();
    }
    this.put(',\n');
    return wait;
  }

  private readonly aside = new GrowableJsonOut();

  /**
   * Where to write the row started by {@link beginRow}, with room for at least `maxBytes`: the
   * chunk itself when that fits in its buffer, else a buffer aside (a row that may not fit is
   * written there and copied, so that a bound far above the row's real size never makes the
   * chunk buffer grow out of the pool's size).
   */
  rowOut(maxBytes: number): JsonOut {
    if (this.len + maxBytes <= this.buf.length) return this;
    const a = this.aside;
    a.reserve(maxBytes);
    return a;
  }

  /** Ends the row written into `out` (from {@link rowOut}). */
  endRow(out: JsonOut): void {
    if (out !== this) {
      this.reserve(out.len);
      this.len += out.buf.copy(this.buf, this.len, 0, out.len);
      this.aside.reset();
    }
    this.rowsInChunk++;
    this.rows++;
  }

  /** Writes the last chunk; returns the number of chunk files. */
  async end(): Promise<number> {
    await this.flush(true);
    return this.n;
  }
}

/** A chunk value as decoded: strings and nulls in our and the plugin's files, anything JSON in principle. */
export type ChunkValue = string | number | boolean | null | undefined | object;

/** A decodable chunk file: its header, and its rows decoded one at a time. */
export interface ChunkFile {
  columns: string[];
  /** Number of rows. */
  readonly count: number;
  /** The rows in file order; each call starts from the first row. */
  rows(): Iterable<ChunkValue[]>;
  /**
   * The file's bytes and the start and end offsets of each row's JSON array (`[` to `]`), for
   * readers that transcode rows straight from the bytes; `row(i)` decodes row `i` as
   * {@link rows} does. Only for the one-array-per-line layout (every file either writer makes).
   */
  readonly raw?: { data: Buffer; spans: Uint32Array; row(i: number): ChunkValue[] };
}

// Plugin versions ≤ 2024101300 quoted column names with the engine's identifier quotes.
const columnName = (c: unknown): string => String(c).replace(/^["`](.*)["`]$/, '$1');

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;

/**
 * Opens a chunk file; undefined for a file the plugin would skip (it decodes to nothing or to a
 * value that is not a list of arrays).
 *
 * The file stays as bytes and each row is decoded only when {@link ChunkFile.rows} reaches it,
 * so a row's objects die young: decoding a whole ~2 MiB chunk at once gave ~4 MiB of objects that
 * lived as long as the chunk was being loaded, were promoted to V8's old generation and piled up
 * there until the next full collection (the largest part of a load's peak RSS).
 *
 * The plugin's layout (spec §3.4, one array per line, `,` at the end of every element line but the
 * last) is checked over the whole file before any row is handed out, so a file the plugin would
 * reject as a whole (a row it failed to encode leaves a bare `,` line) is still skipped as a whole.
 * A file laid out otherwise is decoded in one piece, as before. A line that has the layout but is
 * not valid JSON inside cannot come from either writer; it raises an error rather than losing rows.
 */
export function openChunk(data: Buffer): ChunkFile | undefined {
  const lines = elementLines(data);
  if (!lines) return wholeChunk(data);
  let header: unknown;
  try {
    header = JSON.parse(data.toString('utf8', lines[0], lines[1]));
  } catch {
    return wholeChunk(data);
  }
  if (!Array.isArray(header)) return undefined;
  const columns = header.map(columnName);
  const count = lines.length / 2 - 1;
  const spans = lines.subarray(2);
  const row = (i: number): ChunkValue[] => {
    let value: unknown;
    try {
      value = JSON.parse(data.toString('utf8', spans[2 * i], spans[2 * i + 1]));
    } catch (err) {
      throw new Error(`chunk row ${i + 1} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (!Array.isArray(value)) throw new Error(`chunk row ${i + 1} is not an array`);
    return value as ChunkValue[];
  };
  return {
    columns,
    count,
    *rows(): Generator<ChunkValue[]> {
      for (let i = 0; i < count; i++) yield row(i);
    },
    raw: { data, spans, row },
  };
}

/**
 * Start and end offsets of every element (header first) when the file has the one-array-per-line
 * layout: `[`, then element lines each `[…]` followed by `,` except the last, then `]`, with
 * optional blanks around. Undefined for any other layout.
 */
function elementLines(data: Buffer): Uint32Array | undefined {
  let spans = new Uint32Array(1024);
  let n = 0;
  let state: 'open' | 'elements' | 'closed' = 'open';
  let lastHadComma = true;
  for (let start = 0; start <= data.length;) {
    const nl = data.indexOf(LF, start);
    let end = nl === -1 ? data.length : nl;
    let s = start;
    while (s < end && isBlank(data[s])) s++;
    while (end > s && isBlank(data[end - 1])) end--;
    start = nl === -1 ? data.length + 1 : nl + 1;
    if (s === end) {
      if (nl === -1) break;
      continue;
    }
    if (state === 'open') {
      if (end - s !== 1 || data[s] !== OPEN) return undefined;
      state = 'elements';
      continue;
    }
    if (state === 'closed') return undefined;
    if (end - s === 1 && data[s] === CLOSE) {
      // `]` closes the list: the element before it must not have had a trailing comma.
      if (n === 0 || lastHadComma) return undefined;
      state = 'closed';
      continue;
    }
    if (!lastHadComma) return undefined;
    lastHadComma = data[end - 1] === COMMA;
    if (lastHadComma) {
      end--;
      while (end > s && isBlank(data[end - 1])) end--;
    }
    if (data[s] !== OPEN || data[end - 1] !== CLOSE) return undefined;
    if (n + 2 > spans.length) spans = grown(spans);
    spans[n++] = s;
    spans[n++] = end;
  }
  return state === 'closed' ? spans.subarray(0, n) : undefined;
}

const isBlank = (b: number | undefined): boolean => b === SPACE || b === TAB || b === CR;

/** A copy of `spans` twice as long. */
function grown(spans: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(spans.length * 2);
  bigger.set(spans);
  return bigger;
}

/** The whole file decoded at once (any JSON layout). */
function wholeChunk(data: Buffer): ChunkFile | undefined {
  const parsed = parseChunk(data);
  if (!parsed) return undefined;
  return { columns: parsed.columns, count: parsed.rows.length, rows: () => parsed.rows };
}

/** Parses a chunk file into header and rows at once; undefined for a file the plugin would skip. */
export function parseChunk(data: Buffer): { columns: string[]; rows: (string | null)[][] } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !Array.isArray(parsed[0])) return undefined;
  const columns = (parsed[0] as unknown[]).map(columnName);
  return { columns, rows: parsed.slice(1) as (string | null)[][] };
}
