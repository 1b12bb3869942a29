/**
 * Chunked table JSON (spec §3.3–3.4): `[` LF header, then `,` LF row per row, then LF `]`;
 * a new chunk starts once the current one reaches the size target, never leaving an empty
 * trailing chunk, and chunk 0 is written even for an empty table.
 */
import { chunkName } from './names.js';
import { phpJsonRow, phpJsonString } from './php-json.js';

/** The plugin's DBFILE_SIZE: 2 MiB. */
export const CHUNK_TARGET_BYTES = 2 * 1024 * 1024;

/** Receives finished chunk files. */
export type ChunkSink = (name: string, data: Buffer, rows: number) => Promise<void>;

/**
 * Splits one table's rows into chunk files. Rows are written straight into a byte buffer per
 * chunk, so each row's string dies young instead of piling up in the old generation until the
 * chunk is complete (that made the garbage collector the main cost of a dump).
 */
export class TableChunkWriter {
  private buf: Buffer;
  private len = 0;
  private rowsInChunk = 0;
  private n = 0;
  private readonly header: string;
  rows = 0;

  constructor(
    private readonly table: string,
    columns: string[],
    private readonly sink: ChunkSink,
    private readonly target = CHUNK_TARGET_BYTES,
  ) {
    this.header = `[${columns.map(phpJsonString).join(',')}]`;
    this.buf = Buffer.allocUnsafe(this.target + 64 * 1024);
    this.start();
  }

  // PHP escaping leaves only ASCII, so 'latin1' is an exact and fast encoding here.
  private put(s: string): void {
    if (this.len + s.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + s.length + 1024));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  private start(): void {
    this.len = 0;
    this.put('[\n');
    this.put(this.header);
    this.rowsInChunk = 0;
  }

  private async flush(): Promise<void> {
    this.put('\n]');
    const data = this.buf.subarray(0, this.len);
    // The sink may hold the bytes until the archive has consumed them: give it this buffer
    // and take a fresh one for the next chunk.
    this.buf = Buffer.allocUnsafe(this.target + 64 * 1024);
    await this.sink(chunkName(this.table, this.n), data, this.rowsInChunk);
    this.n++;
  }

  /** Adds a row (values already strings or null). */
  async add(values: (string | null)[]): Promise<void> {
    if (this.rowsInChunk > 0 && this.len >= this.target) {
      await this.flush();
      this.start();
    }
    this.put(',\n');
    this.put(phpJsonRow(values));
    this.rowsInChunk++;
    this.rows++;
  }

  /** Writes the last chunk; returns the number of chunk files. */
  async end(): Promise<number> {
    await this.flush();
    return this.n;
  }
}

/** Parses a chunk file into header and rows; undefined for a file the plugin would skip. */
export function parseChunk(data: Buffer): { columns: string[]; rows: (string | null)[][] } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !Array.isArray(parsed[0])) return undefined;
  // Plugin versions ≤ 2024101300 quoted column names with the engine's identifier quotes.
  const columns = (parsed[0] as unknown[]).map((c) => String(c).replace(/^["`](.*)["`]$/, '$1'));
  return { columns, rows: parsed.slice(1) as (string | null)[][] };
}
