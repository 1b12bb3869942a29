/**
 * A ZIP archive produced as a byte stream from files on disk (yazl, ZIP64 when needed), so a
 * multi-GiB archive is never materialised: each entry's file is opened only when yazl reaches it
 * and at most a few entries are queued ahead of the consumer.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { deflateRawSync } from 'node:zlib';
import yazl from 'yazl';

// Entry timestamps carry no meaning (format §1.4); a fixed one makes archives reproducible,
// which resume relies on to re-create a partly uploaded archive byte for byte.
const MTIME = new Date(Date.UTC(2020, 0, 1));
const MAX_QUEUED = 8;
/** Bytes of entry names per block (see compactLastName). */
const NAME_BLOCK = 64 * 1024;
/** Files at least this large are sampled before they are deflated (see {@link looksIncompressible}). */
export const SAMPLE_MIN_BYTES = 256 * 1024;
const SAMPLE_BYTES = 64 * 1024;
/** A sample that deflates to more than this share of its size marks its file as not worth deflating. */
const INCOMPRESSIBLE_RATIO = 0.9;

/**
 * Whether a file's bytes barely deflate, judged from 64 KiB in its middle at level 1 (≈0.5 ms).
 * Names do not tell every compressed file (a random or encrypted blob, a video with an odd
 * extension), and deflating such a file costs far more than storing it: 100 MB of random blobs
 * took 3.5 s at level 1 and 0.9 s stored, for 0.03 % fewer bytes. The decision depends only on
 * the file's content, so a re-created archive (resume) is the same byte for byte.
 */
export async function looksIncompressible(path: string, size: number): Promise<boolean> {
  const fh = await open(path);
  try {
    const sample = Buffer.allocUnsafe(Math.min(SAMPLE_BYTES, size));
    const { bytesRead } = await fh.read(sample, 0, sample.length, Math.max(0, Math.floor((size - sample.length) / 2)));
    if (bytesRead === 0) return false;
    return deflateRawSync(sample.subarray(0, bytesRead), { level: 1 }).length > INCOMPRESSIBLE_RATIO * bytesRead;
  } finally {
    await fh.close();
  }
}

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

  /**
   * Adds a file by path; `compress` false stores it (already-compressed types), as does a large
   * file whose sample barely deflates.
   */
  async addFile(entryName: string, path: string, size: number, compress = true): Promise<void> {
    if (compress && this.compressionLevel > 0 && size >= SAMPLE_MIN_BYTES && await looksIncompressible(path, size)) compress = false;
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
