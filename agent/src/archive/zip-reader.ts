/** Random-access reading of a ZIP archive (yauzl, ZIP64-capable). */
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { crc32, inflateRaw, inflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { VaultAgentError } from '../schema/errors.js';
import { StoredDeflateDecoder } from './stored-deflate.js';

/** An archive or one of its entries could not be read. */
export class ArchiveReadError extends VaultAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ARCHIVE_READ', message, options);
  }
}

/** A buffer {@link ZipArchiveReader.read} reuses across reads (one per concurrent reader). */
export interface ReadBuffer {
  /** An entry's bytes as stored in the archive (its local header, then its data). */
  buffer: Buffer;
}

/** Size and signature of a ZIP local file header (APPNOTE 4.3.7) before its name and extra field. */
const LOCAL_HEADER_BYTES = 30;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;

/** fs.read as a promise of the number of bytes read. */
function readAt(fd: number, into: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Reads up to `length` bytes at `position` into `buf` at `offset`; fewer only at the end of the file. */
async function readFully(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const n = await readAt(fd, buf, offset + got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** {@link readFully} with synchronous reads. */
function readFullySync(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, offset + got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Makes an error of one entry from a message (and its cause). */
type EntryFailure = (message: string, cause?: unknown) => ArchiveReadError;

/** The {@link EntryFailure} of one entry: `prefix` (the entry's name, with the archive's path or not) in front of each message. */
function entryFailure(prefix: string): EntryFailure {
  return (message, cause) => new ArchiveReadError(`${prefix}: ${message}`, cause === undefined ? undefined : { cause });
}

/** A promise rejection handler that rethrows any error (an I/O error, zlib's) as the entry's failure. */
const rethrowAs = (fail: EntryFailure) => (err: unknown): never => {
  throw fail((err as Error).message, err);
};

/** Where an entry's data lies, as offsets from its local header, after {@link readLocalEntry}. */
interface LocalEntry {
  /** Bytes read into the buffer (from the local header on). */
  got: number;
  start: number;
  end: number;
}

/** Bytes of an entry's local header and data when its name and extra field have the central directory's lengths (as they usually do). */
function expectedLocalBytes(entry: Entry): number {
  return LOCAL_HEADER_BYTES + entry.fileNameLength + entry.extraFieldLength + entry.compressedSize;
}

/**
 * Reads an entry's local header and as much of its data as `buf` holds into `buf` (from 0), and
 * finds where the data lies. One read brings header and data when `buf` holds
 * {@link expectedLocalBytes}.
 */
async function readLocalEntry(fd: number, fileSize: number, entry: Entry, buf: Buffer, fail: EntryFailure): Promise<LocalEntry> {
  const want = Math.min(buf.length, expectedLocalBytes(entry));
  const got = await readFully(fd, buf, 0, want, entry.relativeOffsetOfLocalHeader).catch(rethrowAs(fail));
  return locateData(fileSize, entry, buf, got, fail);
}

/** {@link readLocalEntry} with one synchronous read (a small entry: see {@link SYNC_ENTRY_MAX}). */
function readLocalEntrySync(fd: number, fileSize: number, entry: Entry, buf: Buffer, fail: EntryFailure): LocalEntry {
  const want = Math.min(buf.length, expectedLocalBytes(entry));
  let got: number;
  try {
    got = readFullySync(fd, buf, 0, want, entry.relativeOffsetOfLocalHeader);
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  return locateData(fileSize, entry, buf, got, fail);
}

/** Where the data of the entry whose local header and first `got` bytes are in `buf` lies. */
function locateData(fileSize: number, entry: Entry, buf: Buffer, got: number, fail: EntryFailure): LocalEntry {
  const at = entry.relativeOffsetOfLocalHeader;
  if (got < LOCAL_HEADER_BYTES || buf.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) throw fail('invalid local file header');
  const start = LOCAL_HEADER_BYTES + buf.readUInt16LE(26) + buf.readUInt16LE(28);
  if (at + start + entry.compressedSize > fileSize) throw fail(`file data overflows file bounds: ${at + start} + ${entry.compressedSize} > ${fileSize}`);
  return { got, start, end: start + entry.compressedSize };
}

/** Bytes an entry's data stream ({@link WindowedReader}) reads at a time. */
const STREAM_READ_BYTES = 512 * 1024;

/** Bytes {@link WindowedReader} reads at a time. */
const WINDOW_BYTES = 256 * 1024;

/**
 * Bytes `start` to `end` of a file in {@link STREAM_READ_BYTES} reads (fs streams read 64 KiB at a
 * time, and close the descriptor when destroyed; this one belongs to the archive reader).
 */
class RangeStream extends Readable {
  constructor(private readonly fd: number, private at: number, private readonly end: number) {
    super({ highWaterMark: STREAM_READ_BYTES });
  }

  override _read(): void {
    const n = Math.min(STREAM_READ_BYTES, this.end - this.at);
    if (n <= 0) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(n);
    read(this.fd, buf, 0, n, this.at, (err, got) => {
      if (err) this.destroy(err);
      else if (got === 0) this.destroy(new Error('unexpected end of file'));
      else {
        this.at += got;
        this.push(got < n ? buf.subarray(0, got) : buf);
      }
    });
  }
}

/**
 * yauzl's reads of an archive (its end of central directory and central directory) served from
 * a window of the file read ahead. yauzl reads the central directory entry by entry, two small
 * reads each: through fs.read that was ~1,000 thread-pool round trips to open a 500-chunk dbdump
 * archive, here it is one read per 256 KiB. Entry data is read by {@link ZipArchiveReader.read}.
 */
class WindowedReader extends yauzl.RandomAccessReader {
  /**
   * Two windows, the least recently used refilled on a miss: yauzl alternates between the
   * central directory (the next entry's record) and an entry's local header when it opens the
   * entry's data (forEachEntry), and one window refilled at each turn read 512 KiB per entry.
   */
  private windows: { at: number; buf: Buffer }[] = [];

  constructor(private readonly fd: number) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return new RangeStream(this.fd, start, end);
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    this.window(position, length).then((w) => {
      w.buf.copy(buffer, offset, position - w.at, position - w.at + length);
      callback(null);
    }, (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
  }

  private async window(position: number, length: number): Promise<{ at: number; buf: Buffer }> {
    const i = this.windows.findIndex((w) => position >= w.at && position + length <= w.at + w.buf.length);
    if (i >= 0) {
      const [hit] = this.windows.splice(i, 1) as [{ at: number; buf: Buffer }];
      this.windows.unshift(hit);
      return hit;
    }
    const size = Math.max(length, WINDOW_BYTES);
    const buf = Buffer.allocUnsafe(size);
    const got = await readFully(this.fd, buf, 0, size, position);
    if (got < length) throw new Error('unexpected EOF');
    const w = { at: position, buf: buf.subarray(0, got) };
    this.windows = [w, ...this.windows.slice(0, 1)];
    return w;
  }
}

/**
 * Inflates raw deflate data expected to give `size` bytes into one Buffer: with an output chunk
 * larger than that, zlib hands back a single piece (no concatenation). Output beyond `size + 1`
 * bytes fails the inflation, so a damaged or hostile entry cannot take unbounded memory (one byte
 * more is allowed, for the caller's size check to name the entry's real problem).
 */
function inflateInOnePiece(data: Buffer, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => inflateRaw(data, onePieceOptions(size), (err, out) => (err ? reject(err) : resolve(out))));
}

/** zlib options of {@link inflateInOnePiece} and its synchronous twin: one output chunk, at most one byte over `size`. */
function onePieceOptions(size: number): { chunkSize: number; maxOutputLength: number } {
  return { chunkSize: Math.max(64, size + 1), maxOutputLength: size + 1 };
}

/**
 * Entries at most this large, stored and inflated, are read and inflated synchronously: a
 * thread-pool round trip for the read and another for the inflation cost more than the work
 * itself (a restore reads ~500 mostly tiny chunk files; the collation pre-check read those of
 * the test bed's site M in ~0.1 s, the 487 entries of its 0.5 MB dbdump in 75–145 ms).
 */
const SYNC_ENTRY_MAX = 64 * 1024;

/** The largest entry {@link copyEntryData} inflates in one piece (one Buffer of that size). */
const INFLATE_IN_ONE_PIECE_MAX = 1024 * 1024;

/**
 * Hands `sink` an entry's bytes without an inflater stream, where that is possible: the data
 * stored as it is (method 0, or deflated into stored blocks only, stored-deflate.ts: incompressible
 * files) is handed out as read, piece by piece; a deflated entry whose data fits `buf` is inflated
 * in one piece (up to 1 MiB inflated). Header and data come with one read where the entry fits `buf` (the local header's
 * name and extra field usually have the central directory's lengths). `buf` is reused from piece
 * to piece: `sink` is done with a piece once its promise settles. Returns false, possibly after
 * handing out some of the bytes, for a larger entry holding a compressed block, and for data
 * that does not give the entry's size: the caller then starts over with an inflater stream,
 * which judges such an entry. True means the entry's exact uncompressed size went to `sink`.
 */
export async function copyEntryData(fd: number, fileSize: number, entry: Entry, buf: Buffer, sink: (piece: Buffer) => Promise<void> | void): Promise<boolean> {
  const method = entry.compressionMethod;
  if (entry.isEncrypted() || (method !== 0 && method !== 8)) return false;
  const at = entry.relativeOffsetOfLocalHeader;
  const fail = entryFailure(entry.fileName);
  const { got, start, end } = await readLocalEntry(fd, fileSize, entry, buf, fail);
  const decoder = method === 8 ? new StoredDeflateDecoder() : undefined;
  let bytes = 0;
  let piece = buf.subarray(Math.min(start, got), Math.min(end, got));
  let position = Math.max(start, Math.min(end, got));
  for (;;) {
    const data = decoder ? decoder.decode(piece) : [piece];
    if (!data) {
      // Compressed. All of it is in `buf` (the one read, nothing handed out yet): inflated here,
      // unless it inflates to more than a streamed inflater keeps at once.
      if (end > got || entry.uncompressedSize > INFLATE_IN_ONE_PIECE_MAX) return false;
      const out = await inflateInOnePiece(buf.subarray(start, end), entry.uncompressedSize).catch(rethrowAs(fail));
      if (out.length !== entry.uncompressedSize) return false;
      await sink(out);
      return true;
    }
    for (const d of data) {
      bytes += d.length;
      if (bytes > entry.uncompressedSize) return false;
      await sink(d);
    }
    if (position >= end) break;
    const want = Math.min(buf.length, end - position);
    if (await readFully(fd, buf, 0, want, at + position).catch(rethrowAs(fail)) < want) throw fail('unexpected end of file');
    position += want;
    piece = buf.subarray(0, want);
  }
  return (!decoder || decoder.ended) && bytes === entry.uncompressedSize;
}

/**
 * Opens an archive for yauzl (lazy entries, not closed by yauzl) through a {@link WindowedReader}:
 * `fd` is the caller's to close, after `zip.close()`.
 */
export async function openZipFile(path: string): Promise<{ zip: ZipFile; fd: number }> {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ArchiveReadError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw new ArchiveReadError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  const zip = await new Promise<ZipFile>((resolve, reject) =>
    yauzl.fromRandomAccessReader(new WindowedReader(fd), size, { lazyEntries: true, autoClose: false, decodeStrings: true }, (err, z) => (err ? reject(new ArchiveReadError(`cannot open ${path}: ${err.message}`, { cause: err })) : resolve(z))))
    .catch((err: unknown) => {
      closeSync(fd);
      throw err;
    });
  return { zip, fd };
}

/** An opened archive with its entry list. */
export class ZipArchiveReader {
  private constructor(
    private readonly zip: ZipFile,
    private readonly byName: Map<string, Entry>,
    readonly path: string,
    /** The archive file, read by yauzl (through a {@link WindowedReader}) and for the entries' data. */
    private readonly fd: number,
  ) {}

  /** Opens an archive file and reads its central directory. */
  static async open(path: string): Promise<ZipArchiveReader> {
    const { zip, fd } = await openZipFile(path);
    const byName = new Map<string, Entry>();
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: Entry) => {
        if (!e.fileName.endsWith('/')) byName.set(e.fileName, e);
        zip.readEntry();
      });
      zip.once('end', resolve);
      zip.once('error', reject);
      zip.readEntry();
    }).catch((err: unknown) => {
      zip.close();
      closeSync(fd);
      throw new ArchiveReadError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    });
    return new ZipArchiveReader(zip, byName, path, fd);
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
   * Whole content of one entry (entries are chunk-sized, ~2 MiB): its local header and data read
   * in one piece and the data inflated in one zlib call, on the thread pool. yauzl's read stream
   * (a read for the local header, then ~250 inflated 16 KiB pieces per chunk, each a Buffer and a
   * stream event, copied into the result) took more CPU than the load's inflating and parsing
   * together. The bytes as stored go into `into` (one per concurrent reader); the result is a
   * buffer of its own, which the caller may keep or write into (a load transcodes a chunk's rows
   * in place).
   */
  async read(name: string, into: ReadBuffer = { buffer: Buffer.alloc(0) }): Promise<Buffer> {
    const entry = this.byName.get(name);
    if (!entry) throw new ArchiveReadError(`${this.path}: no entry ${name}`);
    const fail = entryFailure(`${this.path}: ${name}`);
    if (entry.isEncrypted() || (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)) {
      throw fail(`unsupported compression method ${entry.compressionMethod}${entry.isEncrypted() ? ' (encrypted)' : ''}`);
    }
    const at = entry.relativeOffsetOfLocalHeader;
    // Room for the header and all the data, as the central directory describes them.
    const expected = expectedLocalBytes(entry);
    if (into.buffer.length < expected) into.buffer = Buffer.allocUnsafe(expected);
    const small = entry.compressedSize <= SYNC_ENTRY_MAX && entry.uncompressedSize <= SYNC_ENTRY_MAX;
    const local = small ? readLocalEntrySync(this.fd, this.zip.fileSize, entry, into.buffer, fail) : await readLocalEntry(this.fd, this.zip.fileSize, entry, into.buffer, fail);
    const { start, end } = local;
    let { got } = local;
    // A local header longer than the central directory's record: the rest of the data.
    if (end > got) {
      if (into.buffer.length < end) {
        const bigger = Buffer.allocUnsafe(end);
        into.buffer.copy(bigger, 0, 0, got);
        into.buffer = bigger;
      }
      got += await readFully(this.fd, into.buffer, got, end - got, at + got).catch(rethrowAs(fail));
    }
    if (got < end) throw fail('unexpected end of file');
    const raw = into.buffer.subarray(start, end);
    let data: Buffer;
    if (entry.compressionMethod === 0) data = Buffer.from(raw);
    else if (small) {
      try {
        data = inflateRawSync(raw, onePieceOptions(entry.uncompressedSize));
      } catch (err) {
        throw fail((err as Error).message, err);
      }
    } else data = await inflateInOnePiece(raw, entry.uncompressedSize).catch(rethrowAs(fail));
    // As yauzl checks: the entry must inflate to its recorded size.
    if (data.length !== entry.uncompressedSize) throw fail(`${data.length} bytes instead of ${entry.uncompressedSize}`);
    // The whole entry is at hand, so its CRC-32 costs one pass of native code (yauzl's stream never checked it).
    if (crc32(data) >>> 0 !== entry.crc32 >>> 0) throw fail('CRC-32 mismatch (the entry is damaged)');
    return data;
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    this.zip.close();
  }
}
