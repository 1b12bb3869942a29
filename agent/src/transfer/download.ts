/**
 * Streamed downloads through presigned URLs with SHA-256 computed on the fly, and the
 * passphrase HEAD check of protocol §5.9.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { headerLines } from './api-client.js';
import { IntegrityError, NetworkError, StorageError, WrongPassphraseError } from './errors.js';
import { sseCHeaders } from './sse-c.js';
import { DEFAULT_RETRY, storageRequest } from './storage-http.js';
import { assertKeyAllowedFor } from './storage-policy.js';
import type { StorageOptions } from './upload.js';

/** Result of a download. */
export interface DownloadResult {
  size: number;
  sha256: string;
}

/** Where to fetch an archive from (as returned by the API's download endpoint). */
export interface DownloadSource {
  url: string;
  encrypted: boolean;
  headerLines?: readonly string[];
}

/**
 * Downloads `src` into `dest` (or only hashes it when `dest` is null). A stream cut mid-body is
 * retried from the start; with `expectedSha256` a mismatch raises IntegrityError and the file is
 * removed, so nothing unverified stays around.
 */
export async function downloadArchive(
  name: string,
  src: DownloadSource,
  dest: string | null,
  opts: StorageOptions & { expectedSha256?: string; onBytes?: (n: number) => void },
): Promise<DownloadResult> {
  if (src.encrypted) {
    if (!opts.key) throw new WrongPassphraseError();
    assertKeyAllowedFor(src.url, opts.policy);
  }
  const headers = { ...(src.encrypted && opts.key ? sseCHeaders(opts.key) : {}), ...headerLines(src.headerLines) };
  const retry = opts.retry ?? DEFAULT_RETRY;
  let lastErr: unknown;
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(30_000, retry.baseDelayMs * 2 ** (attempt - 2)));
    let counted = 0;
    try {
      const sr: Parameters<typeof storageRequest>[4] = { retry };
      if (opts.onRetry) sr.onRetry = opts.onRetry;
      if (opts.proxy) sr.proxy = opts.proxy;
      const res = await storageRequest('GET', src.url, headers, undefined, sr);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          counted += chunk.length;
          opts.onBytes?.(chunk.length);
          cb(null, dest ? chunk : undefined);
        },
      });
      if (dest) await pipeline(res.body, tap, createWriteStream(dest));
      else { await pipeline(res.body, tap); }
      const expectedLength = Number(res.headers['content-length'] ?? size);
      if (size !== expectedLength) throw new NetworkError(`${name}: body cut at ${size} of ${expectedLength} bytes`);
      const sha256 = hash.digest('hex');
      if (opts.expectedSha256 && sha256 !== opts.expectedSha256) {
        if (dest) await rm(dest, { force: true });
        throw new IntegrityError(name, opts.expectedSha256, sha256);
      }
      return { size, sha256 };
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof StorageError) throw err;
      lastErr = err;
      // Undo the progress of the failed attempt; the file is rewritten from the start.
      opts.onBytes?.(-counted);
      opts.onRetry?.(attempt + 1, err instanceof Error ? err.message : String(err));
      if (dest) await rm(dest, { force: true });
    }
  }
  throw lastErr instanceof Error ? lastErr : new NetworkError(`${name}: download failed`);
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
