/**
 * Streams one ZIP archive (yazl: Deflate, ZIP64 when needed) into any writable sink, counting
 * `origsize` (uncompressed bytes added, spec §1.3) and the archive's SHA-256 and size as the
 * bytes go out. Adding waits while more than a few entries are queued, and an entry's bytes are
 * released as soon as yazl has read them, so memory stays bounded by a couple of chunks whatever
 * the table or archive size.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

/** What the writer reports for a finished archive. */
export interface ArchiveInfo {
  name: string;
  /** Sum of the uncompressed entry sizes. */
  origsize: number;
  /** Bytes of the ZIP file. */
  size: number;
  /** Hex SHA-256 of the ZIP file. */
  sha256: string;
}

/**
 * The agent's deflate level. Measured on the scale-S dump (61.7 MB of chunk JSON, Node 20's zlib,
 * one core; docs/agent.md "How the database is read"): level 1 compresses at ~138 MB/s to 3.9:1, level 6
 * (the default before) at ~31 MB/s to 5.0:1, level 9 (the plugin's) at ~14 MB/s to 5.1:1. Level 1
 * gives the most input bytes per second × ratio (the other levels: 2 → 0.88×, 4 → 0.74×,
 * 6 → 0.30× of it): deflate at level 6 was the largest single cost of a dump.
 */
export const DEFAULT_COMPRESSION_LEVEL = 1;

/** Options for archive writing. */
export interface ZipWriterOptions {
  /** Deflate level 0–9 (0 = store), default {@link DEFAULT_COMPRESSION_LEVEL}. */
  compressionLevel?: number;
}

// Entry timestamps carry no meaning (spec §1.4); a fixed one makes archives reproducible.
const MTIME = new Date(Date.UTC(2020, 0, 1));
const MAX_QUEUED = 3;

/**
 * A stream of one buffer that lets go of it once read. yazl keeps every entry (and with it the
 * function giving the entry's stream, hence the stream) until the archive ends, for the central
 * directory; `Readable.from([data])` keeps its source array reachable after it has ended, so
 * every chunk of the archive stayed in memory until close (733 MB peak RSS on a 500 MB site).
 */
class OnceReadable extends Readable {
  private data: Buffer | undefined;

  constructor(data: Buffer) {
    super();
    this.data = data;
  }

  override _read(): void {
    const data = this.data;
    this.data = undefined;
    // One push of the whole buffer, as before: the deflate input, hence the output, is unchanged.
    if (data) this.push(data);
    this.push(null);
  }
}

/** Writer for one archive. */
export class ZipArchiveWriter {
  private readonly zip = new yazl.ZipFile();
  private readonly hash = createHash('sha256');
  private readonly done: Promise<void>;
  private failure: unknown;
  private queued: Promise<void>[] = [];
  /** Release callbacks of entries yazl may still read, by entry number. */
  private readonly unreleased: { n: number; release: () => void }[] = [];
  private size = 0;
  origsize = 0;
  entries = 0;

  constructor(
    readonly name: string,
    sink: Writable,
    private readonly options: ZipWriterOptions = {},
  ) {
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.size += chunk.length;
        cb(null, chunk);
      },
    });
    this.done = pipeline(this.zip.outputStream, counter, sink);
    this.done.catch((err: unknown) => {
      this.failure = err;
    });
  }

  /** A writer into a file. */
  static toFile(path: string, name: string, options?: ZipWriterOptions): ZipArchiveWriter {
    return new ZipArchiveWriter(name, createWriteStream(path), options);
  }

  /**
   * Adds an entry; resolves once the queue has room again. `release` is called once yazl is done
   * with `data` (its bytes compressed and written out): when it starts on a later entry, or when
   * the archive is complete. An archive that fails never releases.
   */
  async add(entryName: string, data: Buffer, release?: () => void): Promise<void> {
    if (this.failure) throw this.failure;
    // No closure below may refer to `data` (or to `release`, which may hold it): yazl holds them
    // until the archive ends.
    const source = new OnceReadable(data);
    const consumed = new Promise<void>((resolve, reject) => {
      source.once('end', resolve);
      source.once('error', reject);
    });
    const n = this.entries;
    if (release) this.unreleased.push({ n, release });
    // yazl pumps entries one at a time, in order: when it asks for entry n's stream, every
    // earlier entry has gone through the compressor completely.
    this.zip.addReadStreamLazy(entryName, { mtime: MTIME, size: data.length, compressionLevel: this.options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL }, (cb) => {
      this.releaseBefore(n);
      cb(null, source);
    });
    this.origsize += data.length;
    this.entries++;
    this.queued.push(consumed);
    if (this.queued.length > MAX_QUEUED) await Promise.race([this.queued.shift(), this.done.then(() => undefined)]);
    if (this.failure) throw this.failure;
  }

  private releaseBefore(n: number): void {
    while (this.unreleased.length && (this.unreleased[0]?.n ?? n) < n) this.unreleased.shift()?.release();
  }

  /** Finishes the archive. */
  async close(): Promise<ArchiveInfo> {
    this.zip.end();
    await this.done;
    this.releaseBefore(Number.POSITIVE_INFINITY);
    return { name: this.name, origsize: this.origsize, size: this.size, sha256: this.hash.digest('hex') };
  }
}
