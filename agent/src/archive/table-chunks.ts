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

/** Splits one table's rows into chunk files. */
export class TableChunkWriter {
  private parts: string[] = [];
  private bytes = 0;
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
    this.start();
  }

  private start(): void {
    this.parts = ['[\n', this.header];
    this.bytes = 2 + this.header.length;
    this.rowsInChunk = 0;
  }

  private async flush(): Promise<void> {
    this.parts.push('\n]');
    // PHP escaping leaves only ASCII, so 'latin1' is an exact and fast encoding here.
    const data = Buffer.from(this.parts.join(''), 'latin1');
    await this.sink(chunkName(this.table, this.n), data, this.rowsInChunk);
    this.n++;
  }

  /** Adds a row (values already strings or null). */
  async add(values: (string | null)[]): Promise<void> {
    if (this.rowsInChunk > 0 && this.bytes >= this.target) {
      await this.flush();
      this.start();
    }
    const row = phpJsonRow(values);
    this.parts.push(',\n', row);
    this.bytes += row.length + 2;
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
