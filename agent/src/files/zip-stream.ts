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
/** Bytes of entry names per block (see compactLastName). */
const NAME_BLOCK = 64 * 1024;

/** Writer of one streamed archive. */
export class ZipStream {
  private readonly zip = new yazl.ZipFile();
  private queued: Promise<void>[] = [];
  private nameBlock = Buffer.alloc(0);
  private nameUsed = 0;
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
    // yazl keeps every entry, and with it this function, until the archive ends (21 000 entries
    // at scale M): what it refers to is dropped once used.
    // (Fields set to undefined, not deleted: a delete turns the object into a 256-byte dictionary.)
    const pending: { path: string | undefined; settle: (() => void) | undefined } = { path, settle: undefined };
    const consumed = new Promise<void>((r) => { pending.settle = r; });
    this.zip.addReadStreamLazy(entryName, { mtime: MTIME, size, compress: compress && this.compressionLevel > 0, compressionLevel: compress ? this.compressionLevel : 0 }, (cb) => {
      const s = createReadStream(pending.path ?? '');
      if (pending.settle) s.once('close', pending.settle);
      pending.path = undefined;
      pending.settle = undefined;
      cb(null, s);
    });
    this.compactLastName();
    this.origsize += size;
    this.entries++;
    this.queued.push(consumed);
    if (this.queued.length > MAX_QUEUED) await this.queued.shift();
  }

  /**
   * yazl keeps each entry's UTF-8 name until the archive ends, as a `Buffer.from` slice of Node's
   * shared 8 KiB allocation pool: one live name kept a whole slab alive (~18 MB of slabs for
   * 21 000 files at scale M). The same bytes are moved into blocks holding nothing but names.
   */
  private compactLastName(): void {
    const entries = (this.zip as unknown as { entries?: { utf8FileName?: unknown }[] }).entries;
    const entry = entries?.[entries.length - 1];
    const name = entry?.utf8FileName;
    if (!entry || !Buffer.isBuffer(name)) return;
    if (this.nameUsed + name.length > this.nameBlock.length) {
      this.nameBlock = Buffer.allocUnsafeSlow(Math.max(NAME_BLOCK, name.length));
      this.nameUsed = 0;
    }
    name.copy(this.nameBlock, this.nameUsed);
    entry.utf8FileName = this.nameBlock.subarray(this.nameUsed, this.nameUsed + name.length);
    this.nameUsed += name.length;
  }

  /** Ends the archive (the output stream finishes after the last entry). */
  end(): void {
    this.zip.end();
  }
}
