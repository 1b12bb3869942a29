/** Random-access reading of a ZIP archive (yauzl, ZIP64-capable). */
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { VaultAgentError } from '../schema/errors.js';

/** An archive or one of its entries could not be read. */
export class ArchiveReadError extends VaultAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ARCHIVE_READ', message, options);
  }
}

/** A buffer {@link ZipArchiveReader.read} reuses across reads (one per concurrent reader). */
export interface ReadBuffer {
  buffer: Buffer;
}

/** An opened archive with its entry list. */
export class ZipArchiveReader {
  private constructor(
    private readonly zip: ZipFile,
    private readonly byName: Map<string, Entry>,
    readonly path: string,
  ) {}

  /** Opens an archive file and reads its central directory. */
  static async open(path: string): Promise<ZipArchiveReader> {
    const zip = await new Promise<ZipFile>((resolve, reject) =>
      yauzl.open(path, { lazyEntries: true, autoClose: false, decodeStrings: true }, (err, z) => (err ? reject(new ArchiveReadError(`cannot open ${path}: ${err.message}`, { cause: err })) : resolve(z))));
    const byName = new Map<string, Entry>();
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: Entry) => {
        if (!e.fileName.endsWith('/')) byName.set(e.fileName, e);
        zip.readEntry();
      });
      zip.once('end', resolve);
      zip.once('error', reject);
      zip.readEntry();
    });
    return new ZipArchiveReader(zip, byName, path);
  }

  /** Entry names in archive order. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Uncompressed size of an entry. */
  sizeOf(name: string): number {
    return this.byName.get(name)?.uncompressedSize ?? 0;
  }

  /**
   * Whole content of one entry (entries are chunk-sized, ~2 MiB). With `into`, the bytes go into
   * that reusable buffer (grown when too small) and the result is a view of it, valid until the
   * next read into the same buffer: a load reads hundreds of chunks, and a fresh 2 MiB buffer for
   * each one kept tens of MB of dead buffers around until V8's next full collection.
   */
  async read(name: string, into?: ReadBuffer): Promise<Buffer> {
    const entry = this.byName.get(name);
    if (!entry) throw new ArchiveReadError(`${this.path}: no entry ${name}`);
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      this.zip.openReadStream(entry, (err, s) => (err ? reject(new ArchiveReadError(`${this.path}: ${name}: ${err.message}`, { cause: err })) : resolve(s))));
    if (!into) {
      const parts: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
      return Buffer.concat(parts);
    }
    // yauzl checks the inflated size against the entry's, so it fits once grown to that size.
    if (into.buffer.length < entry.uncompressedSize) into.buffer = Buffer.allocUnsafe(entry.uncompressedSize);
    let len = 0;
    for await (const c of stream as AsyncIterable<Buffer>) {
      if (len + c.length > into.buffer.length) {
        const bigger = Buffer.allocUnsafe(Math.max(into.buffer.length * 2, len + c.length));
        into.buffer.copy(bigger, 0, 0, len);
        into.buffer = bigger;
      }
      len += c.copy(into.buffer, len);
    }
    return into.buffer.subarray(0, len);
  }

  close(): void {
    this.zip.close();
  }
}
