/**
 * Streamed downloads through presigned URLs with SHA-256 computed on the fly (one pass, bounded
 * memory, resumed with Range after a cut), and the
 * passphrase HEAD check of protocol §5.9.
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { headerLines } from './api-client.js';
import { AgentError, IntegrityError, NetworkError, StorageError, WrongPassphraseError } from './errors.js';
import { pooledGet, type PooledGetOptions, type PooledResult } from './pooled-get.js';
import { sseCHeaders } from './sse-c.js';
import { DEFAULT_RETRY, judgeStatus, shortHost, storageRequest } from './storage-http.js';
import { assertKeyAllowedFor } from './storage-policy.js';
import { PartBuffers, type StorageOptions } from './upload.js';

/** Result of a download. */
export interface DownloadResult {
  size: number;
  /** Hex SHA-256 of the body, unless the download was asked not to hash ({@link downloadArchive}'s `hash`). */
  sha256?: string;
}

/** Where to fetch an archive from (as returned by the API's download endpoint). */
export interface DownloadSource {
  url: string;
  encrypted: boolean;
  headerLines?: readonly string[];
}

/** Body segments: 1 MiB, up to 8 filled or being written at once (8 MiB of memory). */
export const DOWNLOAD_SEGMENT = 1024 * 1024;
export const DOWNLOAD_SEGMENTS = 8;

/**
 * Downloads `src` into `dest` (or only hashes it when `dest` is null), in one pass: the socket
 * reads into pooled 1 MiB segments (see pooled-get.ts), each full segment is hashed (unless `hash`
 * is false and no `expectedSha256` is given) and written
 * at its offset while the next one fills, and the segment goes back to the pool when written.
 * A stream cut mid-body continues with a Range request from the first byte not received
 * (If-Match on the first response's ETag, so a replaced object starts over instead of mixing);
 * failures that make no progress are retried with backoff up to `retry.attempts` times. With
 * `expectedSha256` a mismatch raises IntegrityError and the file is removed, so nothing
 * unverified stays around; given as a function, it is asked once the body is complete (a hash
 * that may become known while the download runs), and the body is hashed in any case. Aborting `signal` ends the download at once (no retry; the file is
 * removed) with the signal's reason.
 *
 * The hash runs on this thread. Hashing and writing on a worker thread was tried: the download
 * bench's ratio to curl rose (0.72–1.18× instead of 0.66–0.86×, noisy), but a restore of the
 * test bed's size-M site peaked at 172 MB of RSS instead of 123 MB (the 150 MB budget), at the
 * same wall time.
 */
export async function downloadArchive(
  name: string,
  src: DownloadSource,
  dest: string | null,
  opts: StorageOptions & { expectedSha256?: string | (() => string | undefined); hash?: boolean; onBytes?: (n: number) => void; buffers?: PartBuffers; signal?: AbortSignal },
): Promise<DownloadResult> {
  // Hashing 100 MB costs ~75 ms of CPU on this thread: skipped when nobody reads the hash.
  const hashing = opts.hash !== false || opts.expectedSha256 !== undefined;
  if (src.encrypted) {
    if (!opts.key) throw new WrongPassphraseError();
    assertKeyAllowedFor(src.url, opts.policy);
  }
  const baseHeaders = { ...(src.encrypted && opts.key ? sseCHeaders(opts.key) : {}), ...headerLines(src.headerLines) };
  const retry = opts.retry ?? DEFAULT_RETRY;
  const pool = opts.buffers ?? new PartBuffers(DOWNLOAD_SEGMENTS);
  const fh = dest ? await open(dest, 'w') : null;
  let hash = hashing ? createHash('sha256') : null;
  /** Body bytes hashed (and handed to the writer) so far; the next attempt starts here. */
  let received = 0;
  let total: number | null = null;
  let etag: string | undefined;
  let writeError: unknown = null;
  let writes: Promise<void> = Promise.resolve();

  const onSegment = (seg: Buffer, n: number): void => {
    const body = seg.subarray(0, n);
    hash?.update(body);
    const at = received;
    received += n;
    opts.onBytes?.(n);
    if (!fh) { pool.give(seg); return; }
    writes = writes.then(async () => {
      try {
        if (!writeError) await writeAll(fh, body, at);
      } catch (err) {
        writeError ??= err;
      } finally {
        pool.give(seg);
      }
    });
  };
  const startOver = async (): Promise<void> => {
    await writes;
    opts.onBytes?.(-received);
    received = 0;
    hash = hashing ? createHash('sha256') : null;
    etag = undefined;
    total = null;
    await fh?.truncate(0);
  };

  let ok = false;
  try {
    let lastReason = '';
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      if (attempt > 1) {
        if (attempt > retry.attempts) throw new NetworkError(`GET ${shortHost(src.url)} failed after ${retry.attempts} attempts: ${lastReason}`);
        opts.onRetry?.(attempt, lastReason);
        // An abort during the pause ends it at once (the check at the top of the loop throws).
        await sleep(Math.min(30_000, retry.baseDelayMs * 2 ** (attempt - 2)), undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
        opts.signal?.throwIfAborted();
      }
      const resuming = received > 0;
      const headers = resuming ? { ...baseHeaders, Range: `bytes=${received}-`, ...(etag ? { 'If-Match': etag } : {}) } : baseHeaders;
      const before = received;
      let ignoredRange = false;
      let res: PooledResult;
      try {
        const go: PooledGetOptions = {
          pool, segmentSize: DOWNLOAD_SEGMENT, onSegment, ok: resuming ? [206] : [200], timeoutMs: 3_600_000,
        };
        if (opts.proxy) go.proxy = opts.proxy;
        if (opts.signal) go.signal = opts.signal;
        res = await pooledGet(src.url, headers, go, (h) => {
          if (resuming && (h.status === 200 || h.status === 412 || h.status === 416)) {
            // The object changed or storage ignores ranges: start again from the first byte.
            ignoredRange = true;
            throw new NetworkError(`HTTP ${h.status} to a range request`);
          }
          if (h.status === 200) {
            etag = h.headers.etag;
            const len = Number(h.headers['content-length']);
            total = Number.isFinite(len) ? len : null;
          } else if (h.status === 206) {
            // bytes <first>-<last>/<size>: must start where we stopped.
            const m = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(h.headers['content-range'] ?? '');
            if (!m || Number(m[1]) !== received) throw new NetworkError(`${name}: storage answered range ${h.headers['content-range'] ?? '(none)'} for bytes ${received}-`);
          }
        });
      } catch (err) {
        await writes;
        if (writeError) throw writeError;
        opts.signal?.throwIfAborted();
        if (err instanceof AgentError && !(err instanceof NetworkError)) throw err;
        lastReason = err instanceof Error ? err.message : String(err);
        if (ignoredRange) { await startOver(); continue; }
        // Failed after the last body byte (the connection reset instead of closing): complete.
        if (total !== null && received === total) break;
        // A cut that brought bytes is progress: the next attempt goes on from there.
        if (received > before) attempt = 1;
        continue;
      }
      await writes;
      if (writeError) throw writeError;
      if (res.status === (resuming ? 206 : 200)) {
        if (total !== null && received !== total) {
          lastReason = `${name}: body cut at ${received} of ${total} bytes`;
          continue;
        }
        break;
      }
      const judged = judgeStatus(res.status, res.errorText);
      lastReason = judged.reason;
      if (!judged.retryable) throw new StorageError(res.status, `GET ${shortHost(src.url)}: ${lastReason}`);
    }
    const sha256 = hash?.digest('hex');
    const expected = typeof opts.expectedSha256 === 'function' ? opts.expectedSha256() : opts.expectedSha256;
    if (expected && sha256 !== expected) throw new IntegrityError(name, expected, sha256 ?? '');
    ok = true;
    return sha256 === undefined ? { size: received } : { size: received, sha256 };
  } finally {
    await writes;
    await fh?.close();
    if (!ok && dest) await rm(dest, { force: true });
  }
}

/** Writes all of `buf` at `position` (a positional write may be short). */
export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

/**
 * HEAD on the validate URL with the SSE-C headers: 200 = right passphrase. AWS answers a wrong
 * key with 403, Ceph RGW with 400; both mean "wrong passphrase".
 */
export async function checkPassphrase(url: string, lines: readonly string[] | undefined, opts: StorageOptions): Promise<void> {
  if (!opts.key) throw new WrongPassphraseError();
  assertKeyAllowedFor(url, opts.policy);
  // Unlike the plugin (one attempt), connection errors and 5xx are retried: only a 400/403
  // answer from storage means the key is wrong.
  try {
    const sr: Parameters<typeof storageRequest>[4] = { timeoutMs: 20_000 };
    if (opts.retry) sr.retry = opts.retry;
    if (opts.onRetry) sr.onRetry = opts.onRetry;
    if (opts.proxy) sr.proxy = opts.proxy;
    const res = await storageRequest('HEAD', url, { ...sseCHeaders(opts.key), ...headerLines(lines) }, undefined, sr);
    res.body.resume();
  } catch (err) {
    if (err instanceof StorageError && (err.status === 403 || err.status === 400)) throw new WrongPassphraseError();
    throw err;
  }
}
