/**
 * A table's chunk-file rows transcoded (chunk-rows.ts) into pieces a database driver sends:
 * PostgreSQL COPY text or `INSERT … VALUES` tuples, MySQL/MariaDB `LOAD DATA` lines.
 */
import type { ChunkFile } from '../archive/table-chunks.js';
import { chunkRowBound, chunkRowToCopyLine, chunkRowToTsvLine, chunkRowToValues, FORM_COPY, FORM_TSV, FORM_VALUES, transcodeChunkRow, type RowForm } from './chunk-rows.js';

/**
 * Size of the pieces sent (PostgreSQL CopyData messages, MySQL `LOAD DATA` packets): few enough
 * writes (each is a socket write and a wake-up of the server process) at a bounded buffer each.
 */
const MESSAGE_BYTES = 256 * 1024;

/**
 * The rows of a table's chunk files as database input, written one after the other: COPY text or
 * `LOAD DATA` lines in pieces of up to {@link MESSAGE_BYTES} (the socket may still hold a sent
 * buffer after write() returns, so none is reused: each piece gets a new one), or PostgreSQL
 * `INSERT … VALUES` tuples in one piece. The transcoding loop is a method, not a closure made per table:
 * V8 then optimizes it once instead of once per table (a closure has feedback of its own, and
 * re-optimizing the loop with the transcoder inlined cost more CPU than running it).
 */
export class TextRows {
  private buf = Buffer.alloc(0);
  private len = 0;
  /** Upper bound of what the chunk being added still writes (see {@link room}). */
  private expected = 0;
  /** Finished pieces, in order. */
  readonly ready: Buffer[] = [];
  rows = 0;

  /** `slots` as {@link transcodeChunkRow} takes them; `marked`: binary values may be marked base64. */
  constructor(private readonly slots: Uint8Array, private readonly marked: boolean, private readonly form: RowForm) {}

  /** Appends the rows of a chunk. */
  addChunk(chunk: ChunkFile): void {
    const raw = chunk.raw;
    if (!raw) {
      for (const row of chunk.rows()) this.addDecoded(row);
      return;
    }
    if (this.form === FORM_COPY || this.form === FORM_TSV) {
      this.addInPlace(chunk.count, raw);
      return;
    }
    const { data, spans } = raw;
    const columns = this.slots.length;
    this.expected = chunkRowBound(data.length, columns * chunk.count) + 2 * chunk.count;
    for (let r = 0; r < chunk.count; r++) {
      const s = spans[2 * r] as number;
      const e = spans[2 * r + 1] as number;
      this.room(chunkRowBound(e - s, columns) + 2);
      const at = this.len;
      if (this.form === FORM_VALUES && this.rows > 0) {
        this.buf[this.len++] = 0x2c;
        this.buf[this.len++] = 0x0a;
      }
      const n = transcodeChunkRow(data, s, e, this.slots, this.form, this.buf, this.len);
      if (n >= 0) {
        this.len = n;
        this.rows++;
      } else {
        this.len = at;
        this.addDecoded(raw.row(r));
      }
    }
  }

  /** Scratch space for a row that cannot be written in place. */
  private aside = Buffer.alloc(0);

  /**
   * Lines (COPY text, `LOAD DATA`) written over the chunk's own bytes (ZipArchiveReader.read gives
   * each chunk a buffer of its own), behind the rows still to be read: no buffer per piece, whose
   * allocations made most of the load's garbage collections. A row is transcoded in place when its
   * longest possible line fits before it; else into a scratch buffer, then copied in place when it
   * fits before the next row (nearly always: a line is shorter than its JSON), else sent as a
   * piece of its own. The chunk's pieces are handed out only once all its rows are written.
   */
  private addInPlace(count: number, raw: NonNullable<ChunkFile['raw']>): void {
    const { data, spans } = raw;
    const columns = this.slots.length;
    this.end();
    let start = 0;
    let o = 0;
    for (let r = 0; r < count; r++) {
      const s = spans[2 * r] as number;
      const e = spans[2 * r + 1] as number;
      const bound = chunkRowBound(e - s, columns);
      if (o + bound <= s) {
        const n = transcodeChunkRow(data, s, e, this.slots, this.form, data, o);
        if (n >= 0) {
          o = n;
          this.rows++;
          continue;
        }
      }
      if (this.aside.length < bound) this.aside = Buffer.allocUnsafe(Math.max(bound, 2 * this.aside.length, 4096));
      const n = transcodeChunkRow(data, s, e, this.slots, this.form, this.aside, 0);
      const line = n >= 0 ? this.aside.subarray(0, n) : Buffer.from(this.line(raw.row(r)));
      this.rows++;
      const next = r + 1 < count ? spans[2 * r + 2] as number : data.length;
      if (o + line.length <= next) {
        o += line.copy(data, o);
        continue;
      }
      this.pushViews(data, start, o);
      this.ready.push(n >= 0 ? Buffer.from(line) : line);
      start = o;
    }
    this.pushViews(data, start, o);
  }

  /** Bytes `start`–`end` of `data` as pieces of up to {@link MESSAGE_BYTES}. */
  private pushViews(data: Buffer, start: number, end: number): void {
    for (let at = start; at < end; at += MESSAGE_BYTES) this.ready.push(data.subarray(at, Math.min(end, at + MESSAGE_BYTES)));
  }

  /**
   * Ends the last piece. The sent bytes stay referenced downstream (pg-copy-streams queues them
   * until the server is ready, the socket under backpressure), so the next piece starts in a new
   * buffer, never over them.
   */
  end(): void {
    if (!this.len) return;
    this.ready.push(this.buf.subarray(0, this.len));
    this.buf = EMPTY;
    this.len = 0;
  }

  /** A decoded row as the string path writes a line of this form. */
  private line(row: readonly unknown[]): string {
    return this.form === FORM_TSV ? chunkRowToTsvLine(row, this.slots, this.marked) : chunkRowToCopyLine(row, this.slots, this.marked);
  }

  /** A row the byte path leaves, as the string path writes it. */
  private addDecoded(row: readonly unknown[]): void {
    const text = this.form === FORM_VALUES
      ? `${this.rows > 0 ? ',\n' : ''}${chunkRowToValues(row, this.slots, this.marked)}`
      : this.line(row);
    this.room(Buffer.byteLength(text));
    this.len += this.buf.write(text, this.len, 'utf8');
    this.rows++;
  }

  /**
   * Room for `n` more bytes: lines in a new piece when the current one has not, no larger
   * than the chunk needs (most tables are small: a full-size buffer for each was 120 MB of
   * allocations at scale S, and their collection a good part of the load's CPU); VALUES in a
   * bigger buffer.
   */
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.form === FORM_VALUES) {
      const bigger = Buffer.allocUnsafe(Math.max(this.len + n, 2 * this.buf.length, Math.min(this.expected, MESSAGE_BYTES)));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
      return;
    }
    this.end();
    this.buf = Buffer.allocUnsafe(Math.max(n, Math.min(MESSAGE_BYTES, this.expected)));
  }
}

const EMPTY = Buffer.alloc(0);

/** The pieces of `chunks`, each chunk's as soon as it is transcoded. */
export async function* textPieces(chunks: AsyncIterable<ChunkFile>, out: TextRows): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    out.addChunk(chunk);
    yield* out.ready.splice(0);
  }
  out.end();
  yield* out.ready.splice(0);
}

