/**
 * Restore side of files: extract `filedir` archives into the file pool (each blob re-hashed with
 * SHA-1 against its name, so a damaged blob is never installed; hooks around each new blob let
 * the restore journal it first) and `dataroot` archives into a folder (the restore's staging
 * folder; each file written to a fixed partial name, its CRC-32 checked, and renamed into place).
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream } from 'node:fs';
import { lstat, mkdir, open as openFile, rename, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { pipeline as streamPipeline, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import type { Entry } from 'yauzl';
import { ArchiveReadError, copyEntryData, openZipFile } from '../archive/zip-reader.js';
import { writeAll } from '../transfer/download.js';
import { AgentError } from '../transfer/errors.js';
import { AGENT_STATE_DIRNAME } from '../moodle/site.js';
import { blobPath, type SourceWarnings } from './sources.js';

/** An archive could not be read or contains unsafe paths. */
export class ExtractError extends AgentError {
  constructor(message: string) {
    super('ERR_EXTRACT', message);
  }
}

/**
 * Output chunk of an entry's inflater: yauzl's (zlib's default, 16 KiB) made a file write, and a
 * round of stream callbacks, per 16 KiB. With this and the archive read 512 KiB at a time
 * (zip-reader.ts), the test bed's M filedir archive (104 MB, 210 blobs) extracts in 0.55–0.65 s
 * instead of 1.5 s.
 */
const INFLATE_CHUNK = 256 * 1024;

/**
 * An entry's bytes, inflated here (in {@link INFLATE_CHUNK} pieces) rather than by yauzl; the
 * count must equal the entry's uncompressed size, as yauzl checks it.
 */
function entryContent(raw: Readable, entry: Entry): Readable {
  let bytes = 0;
  const counted = new Transform({
    transform(c: Buffer, _e, cb) { bytes += c.length; cb(null, c); },
    flush(cb) { cb(bytes === entry.uncompressedSize ? null : new ExtractError(`${entry.fileName}: ${bytes} bytes, the archive says ${entry.uncompressedSize}`)); },
  });
  // pipeline destroys every stage when one fails or the reader destroys `counted`; the error
  // reaches the reader through `counted`.
  const done = (): void => undefined;
  if (entry.compressionMethod === 8) streamPipeline(raw, createInflateRaw({ chunkSize: INFLATE_CHUNK }), counted, done);
  else streamPipeline(raw, counted, done);
  return counted;
}

/**
 * Entries extracted at once: each small file costs several file-system calls (stat, mkdir, open,
 * write, close, rename, the journal's append), which Node runs on its 4 thread-pool threads. One
 * at a time, 10 000 blobs of 4–14 KB took 20–27 s on the development machine, the main thread
 * mostly waiting; 4 at a time 16–17 s in the same minutes (the kernel's file-system work is what
 * remains), and the 104 MB archive of 210 blobs 0.36–0.49 s instead of 0.55–0.65 s.
 */
export const EXTRACT_CONCURRENCY = 4;

/** Bytes of an entry read at a time by copyEntryData (it inflates in one piece a deflated entry whose data fit them). */
const COPY_PIECE_BYTES = 512 * 1024;

/** The ways to an entry's bytes that {@link forEachEntry} hands out. */
export interface EntryData {
  /** Its bytes as a stream, inflated where needed. */
  open(): Promise<NodeJS.ReadableStream>;
  /**
   * Its bytes handed to `sink` piece by piece (each valid until the sink's promise settles):
   * straight from the archive where it holds them as they are, inflated in one piece where the
   * entry is small; false (some bytes possibly handed out already) for a large compressed entry:
   * use {@link open}.
   */
  copy(sink: (piece: Buffer) => Promise<void> | void): Promise<boolean>;
}

/**
 * Calls `fn` with the data of every file entry, in archive order, up to `concurrency` at once; on
 * the first failure no further entry starts, and it returns (rejects) once those running have
 * settled.
 */
export async function forEachEntry(zipPath: string, fn: (entry: Entry, data: EntryData) => Promise<void>, concurrency = EXTRACT_CONCURRENCY): Promise<void> {
  const { zip, fd } = await openZipFile(zipPath).catch((e: Error) => { throw new ExtractError(`${zipPath}: ${e.message}`); });
  const running = new Set<Promise<void>>();
  // One read buffer per running entry, reused: reads for the copy path allocate nothing.
  const pieces: Buffer[] = [];
  const copy = async (entry: Entry, sink: (piece: Buffer) => Promise<void> | void): Promise<boolean> => {
    const buf = pieces.pop() ?? Buffer.allocUnsafeSlow(COPY_PIECE_BYTES);
    try {
      return await copyEntryData(fd, zip.fileSize, entry, buf, sink);
    } catch (err) {
      // The archive's fault is named as such; the sink's (a full disk, say) goes on as it is.
      if (err instanceof ArchiveReadError) throw new ExtractError(`${zipPath}: ${err.message}`);
      throw err;
    } finally {
      pieces.push(buf);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      let reading = false;
      let ended = false;
      const fail = (err: unknown): void => { failed = true; reject(err); };
      const next = (): void => {
        if (failed || reading || ended || running.size >= concurrency) return;
        reading = true;
        zip.readEntry();
      };
      zip.on('entry', (entry: Entry) => {
        reading = false;
        if (failed) return;
        if (entry.fileName.endsWith('/')) { next(); return; }
        if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) { fail(new ExtractError(`${zipPath}: ${entry.fileName}: unsupported compression method ${entry.compressionMethod}`)); return; }
        const open = () => new Promise<NodeJS.ReadableStream>((r, j) => zip.openReadStream(entry, entry.compressionMethod === 8 ? { decompress: false } : {}, (e, s) => (e ? j(e) : r(entryContent(s, entry)))));
        const task: Promise<void> = fn(entry, { open, copy: (sink) => copy(entry, sink) }).then(() => {
          running.delete(task);
          if (ended && running.size === 0) resolve();
          else next();
        }, (err: unknown) => {
          running.delete(task);
          fail(err);
        });
        running.add(task);
        next();
      });
      zip.once('end', () => {
        reading = false;
        ended = true;
        if (running.size === 0) resolve();
      });
      zip.once('error', fail);
      next();
    });
  } finally {
    await Promise.allSettled([...running]);
    zip.close();
    closeSync(fd);
  }
}

/** A running check of an entry's bytes (a hash, a CRC). */
interface EntryCheck {
  update(piece: Buffer): void;
  /** Forgets the bytes seen (the entry is written again, inflated). */
  reset(): void;
}

/**
 * Writes an entry's bytes into `tmp`, each piece through `check` first: copied from the archive
 * where it holds them as they are (most of a file pool: images, documents, archives), else
 * inflated. A failure removes what was written.
 */
async function writeEntry(data: EntryData, check: EntryCheck, tmp: string): Promise<void> {
  try {
    const fh = await openFile(tmp, 'w');
    let copied: boolean;
    try {
      let at = 0;
      copied = await data.copy(async (piece) => {
        check.update(piece);
        await writeAll(fh, piece, at);
        at += piece.length;
      });
    } finally {
      await fh.close();
    }
    if (copied) return;
    check.reset();
    const tap = new Transform({ transform(c: Buffer, _e, cb) { check.update(c); cb(null, c); } });
    await pipeline(await data.open(), tap, createWriteStream(tmp));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Where a file is written before it is renamed into place; the same name on every attempt. */
export function partialPath(dest: string): string {
  return `${dest}.vaultpart`;
}

const BLOB_ENTRY = /^([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{40})$/;

/** Hooks around each blob {@link extractFiledirArchive} adds to the pool. */
export interface NewBlobHooks {
  /** Before anything of a new blob is written (write-ahead journal: a rollback deletes exactly these). */
  beforeWrite?: (hash: string) => Promise<void>;
  /** Once the new blob is renamed into place. */
  afterWrite?: (hash: string) => Promise<void>;
}

/** Extracts a filedir archive into `filedir`; existing blobs are kept. Returns blobs written. */
export async function extractFiledirArchive(zipPath: string, filedir: string, warnings: SourceWarnings, hooks: NewBlobHooks = {}): Promise<{ added: number; kept: number }> {
  let added = 0;
  let kept = 0;
  await forEachEntry(zipPath, async (entry, data) => {
    const m = BLOB_ENTRY.exec(entry.fileName);
    const hash = m?.[3];
    if (!m || !hash || m[1] !== hash.slice(0, 2) || m[2] !== hash.slice(2, 4)) {
      warnings.warn(`filedir: skipping entry ${entry.fileName} (not <h0-2>/<h2-4>/<hash>)`);
      return;
    }
    const dest = blobPath(filedir, hash);
    const existing = await lstat(dest).catch(() => null);
    if (existing?.isFile() && existing.size === entry.uncompressedSize) { kept++; return; }
    await hooks.beforeWrite?.(hash);
    await mkdir(dirname(dest), { recursive: true });
    // A fixed partial name: a write killed half-way is overwritten (and renamed) by the resumed
    // restore instead of being stranded next to the blob under a random name.
    const tmp = partialPath(dest);
    let sha1 = createHash('sha1');
    await writeEntry(data, { update: (piece) => sha1.update(piece), reset: () => { sha1 = createHash('sha1'); } }, tmp);
    const actual = sha1.digest('hex');
    if (actual !== hash) {
      await rm(tmp, { force: true });
      throw new ExtractError(`filedir: blob ${hash} has content hash ${actual}`);
    }
    await rename(tmp, dest);
    added++;
    await hooks.afterWrite?.(hash);
  });
  return { added, kept };
}

/** A relative entry path that stays inside its root, or null. */
function safeRelative(name: string): string | null {
  const clean = name.replace(/\\/g, '/').replace(/^\/+/, '');
  const parts = clean.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  return parts.join(sep);
}

/**
 * Extracts a dataroot archive into `dataroot`, replacing existing files. Returns files written.
 * Entries under `vault-agent/` (an agent state of the backed-up site, which the plugin's backups
 * carried while the agent kept it in the dataroot: another site's id and API key) are skipped.
 */
export async function extractDatarootArchive(zipPath: string, dataroot: string, warnings: SourceWarnings, afterFile?: () => Promise<void>): Promise<number> {
  let n = 0;
  let stateEntries = 0;
  await forEachEntry(zipPath, async (entry, data) => {
    const rel = safeRelative(entry.fileName);
    if (!rel) { warnings.warn(`dataroot: skipping unsafe entry ${entry.fileName}`); return; }
    if (rel.split(sep)[0] === AGENT_STATE_DIRNAME) { stateEntries++; return; }
    const dest = join(dataroot, rel);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = partialPath(dest);
    // yauzl checks an entry's size, not its CRC-32: checked here, before the file is renamed into
    // place (a plugin backup has no archive hash; the CRC is the only check of these bytes).
    let crc = 0;
    await writeEntry(data, { update: (piece) => { crc = crc32(piece, crc); }, reset: () => { crc = 0; } }, tmp);
    if (crc >>> 0 !== entry.crc32 >>> 0) {
      await rm(tmp, { force: true });
      throw new ExtractError(`dataroot: ${entry.fileName} is damaged in the archive (CRC-32 mismatch)`);
    }
    await rename(tmp, dest);
    n++;
    await afterFile?.();
  });
  if (stateEntries) warnings.warn(`dataroot: skipped ${stateEntries} file(s) under ${AGENT_STATE_DIRNAME}/ (the backed-up site's agent state is never restored)`);
  return n;
}

/** Removes blobs whose hashes are in `hashes` from the file pool (orphans of the old site). */
export async function removeBlobs(filedir: string, hashes: Iterable<string>): Promise<number> {
  let n = 0;
  for (const h of hashes) {
    if (!/^[0-9a-f]{40}$/.test(h)) continue;
    const p = blobPath(filedir, h);
    if (await lstat(p).catch(() => null)) { await rm(p, { force: true }); n++; }
  }
  return n;
}
