/**
 * A ZIP archive produced as a byte stream from files on disk (yazl, ZIP64 when needed), so a
 * multi-GiB archive is never materialised: each entry's file is opened only when yazl reaches it
 * and at most a few entries are queued ahead of the consumer.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import yazl from 'yazl';

// Entry timestamps carry no meaning (format §1.4); a fixed one makes archives reproducible,
// which resume relies on to re-create a partly uploaded archive byte for byte.
const MTIME = new Date(Date.UTC(2020, 0, 1));
const MAX_QUEUED = 8;

/** Writer of one streamed archive. */
export class ZipStream {
  private readonly zip = new yazl.ZipFile();
  private queued: Promise<void>[] = [];
  /** Uncompressed bytes added (the archive's `origsize`). */
  origsize = 0;
  entries = 0;

  constructor(private readonly compressionLevel: number) {}

  /** The archive bytes; consume it while adding entries. */
  get output(): Readable {
    return this.zip.outputStream as Readable;
  }

  /** Adds a file by path; `compress` false stores it (already-compressed types). */
  async addFile(entryName: string, path: string, size: number, compress = true): Promise<void> {
    let settle: () => void = () => undefined;
    const consumed = new Promise<void>((r) => { settle = r; });
    this.zip.addReadStreamLazy(entryName, { mtime: MTIME, size, compress: compress && this.compressionLevel > 0, compressionLevel: compress ? this.compressionLevel : 0 }, (cb) => {
      const s = createReadStream(path);
      s.once('close', settle);
      cb(null, s);
    });
    this.origsize += size;
    this.entries++;
    this.queued.push(consumed);
    if (this.queued.length > MAX_QUEUED) await this.queued.shift();
  }

  /** Ends the archive (the output stream finishes after the last entry). */
  end(): void {
    this.zip.end();
  }
}
