/**
 * Streams one archive to storage while it is being produced. Bytes are copied into part buffers
 * of `partSize` taken from a {@link PartBuffers} pool; each full part is uploaded (up to
 * `concurrency` at once) and its buffer returned to the pool. Nothing is written to disk, and the
 * memory used is at most (concurrency + 1) × partSize whatever the archive size: the producer
 * waits for a free buffer before it fills the next part. An archive that ends before the first
 * part is full is sent with one PUT, like the plugin does below its multipart threshold.
 *
 * Multipart follows protocol §7.3: the agent initiates through `multiplarturl`, asks the API for
 * part URLs with the UploadId, PUTs the parts, and the API completes the upload at
 * `uploadcompleted`. Because the part count is unknown while streaming, part URLs are requested
 * in growing batches (the API returns URLs for parts 1..N for any N).
 */
import { createHash } from 'node:crypto';
import { DomUtils, parseDocument } from 'htmlparser2';
import { headerLines, type ApiClient } from './api-client.js';
import { AgentError, StorageError } from './errors.js';
import { sseCHeaders, type SseCKey } from './sse-c.js';
import { readText, storageRequest, type RetryPolicy } from './storage-http.js';
import { assertKeyAllowedFor, type StoragePolicy } from './storage-policy.js';

/**
 * A bounded pool of part buffers shared by the uploads of one run. At most `slots` buffers are
 * out at once (one being filled plus the parts in flight); taking one waits until another is
 * given back, which is what holds the producer back when storage is slower than the archive.
 * Buffers are reused, so memory stays at slots × part size instead of depending on when the
 * garbage collector frees large buffers.
 */
export class PartBuffers {
  private readonly idle: Buffer[] = [];
  private readonly waiting: Array<() => void> = [];
  private out = 0;
  /** Bytes of buffers allocated now, and the most ever allocated. */
  bytes = 0;
  peak = 0;

  constructor(readonly slots: number) {}

  /** Buffers taken and not given back yet. */
  get inUse(): number {
    return this.out;
  }

  /** Takes a buffer of exactly `size` bytes (contents undefined), waiting for a free slot. */
  async take(size: number): Promise<Buffer> {
    while (this.out >= this.slots) await new Promise<void>((r) => this.waiting.push(r));
    return this.takeNow(size);
  }

  /** Takes a buffer of `size` bytes when a slot is free now (and nobody waits); null otherwise. */
  tryTake(size: number): Buffer | null {
    return this.out < this.slots && this.waiting.length === 0 ? this.takeNow(size) : null;
  }

  private takeNow(size: number): Buffer {
    this.out++;
    const i = this.idle.findIndex((b) => b.length === size);
    if (i >= 0) return this.idle.splice(i, 1)[0] as Buffer;
    // Part sizes only change every 1000 parts: drop an idle buffer of the old size.
    const old = this.idle.pop();
    if (old) this.bytes -= old.length;
    this.bytes += size;
    if (this.bytes > this.peak) this.peak = this.bytes;
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives a buffer back to the pool. */
  give(b: Buffer): void {
    this.idle.push(b);
    this.out--;
    this.waiting.shift()?.();
  }

  /**
   * Lets go of the idle buffers (for the garbage collector), so that a pool nobody uses for a
   * while holds no memory; buffers taken later are allocated again.
   */
  trim(): void {
    for (const b of this.idle) this.bytes -= b.length;
    this.idle.length = 0;
  }
}

/** Default part size: 8 MiB (S3's minimum is 5 MiB). */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/** Default number of parts uploaded at once. */
export const DEFAULT_CONCURRENCY = 4;

/** A part already uploaded, as recorded for resume. */
export interface UploadedPart {
  n: number;
  etag: string;
  size: number;
  /**
   * SHA-256 of the archive's bytes from the start to the end of this part (not of the part
   * alone): taken from the whole-archive hash as it goes, so the bytes are hashed once. A
   * resumed part is reused only when everything up to its end came out the same.
   */
  sha256: string;
}

/** Resumable state of a multipart upload in progress. */
export interface MultipartState {
  uploadId: string;
  parts: UploadedPart[];
}

/** The two API calls an upload needs (the ApiClient, or a test stand-in that presigns). */
export type UploadApi = Pick<ApiClient, 'requestUpload' | 'uploadCompleted'>;

/** Storage-side settings shared by uploads and downloads. */
export interface StorageOptions {
  key: SseCKey | null;
  policy: StoragePolicy;
  retry?: RetryPolicy;
  onRetry?: (attempt: number, reason: string) => void;
  /** HTTP proxy for storage requests (http://host:port). */
  proxy?: string;
}

/** Options of one archive upload. */
export interface UploadOptions extends StorageOptions {
  api: UploadApi;
  backupkey: string;
  filename: string;
  partSize: number;
  concurrency: number;
  /** Uncompressed size placed in the archive, read when the stream has ended. */
  origsize: () => number | Promise<number>;
  /** Parts from an interrupted run; reused when the regenerated bytes hash the same. */
  resume?: MultipartState;
  /** Called after every part upload with the state to persist. */
  onState?: (s: MultipartState) => Promise<void> | void;
  onBytes?: (n: number) => void;
  /** Pool to take part buffers from (default: a pool of concurrency + 1 for this upload). */
  buffers?: PartBuffers;
}

/** Result of an archive upload. */
export interface UploadResult {
  size: number;
  sha256: string;
  origsize: number;
  parts: number;
  /** Parts skipped because an interrupted run had uploaded them. */
  reusedParts: number;
}

/** The regenerated archive differs from the interrupted run's: restart this archive. */
export class ResumeMismatchError extends AgentError {
  constructor(filename: string, part: number) {
    super('ERR_RESUME_MISMATCH', `${filename}: part ${part} differs from the interrupted run; the archive will be uploaded again`);
  }
}

/** The part being filled: `buf` holds `size` bytes of part number `n`. */
interface Part {
  n: number;
  buf: Buffer;
  size: number;
}

/** Uploads the bytes of `source` as archive `opts.filename` of backup `opts.backupkey`. */
export async function uploadArchive(source: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<UploadResult> {
  const concurrency = Math.max(1, opts.concurrency);
  const pool = opts.buffers ?? new PartBuffers(concurrency + 1);
  const whole = createHash('sha256');
  let total = 0;
  let reused = 0;
  const state: MultipartState | null = opts.resume ? { uploadId: opts.resume.uploadId, parts: [...opts.resume.parts] } : null;
  let mp: MultipartState | null = state;
  const partUrls: string[] = [];
  let partHeaders: Record<string, string> = {};
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;

  const sse = opts.key ? sseCHeaders(opts.key) : {};
  const checkUrl = (url: string): void => { if (opts.key) assertKeyAllowedFor(url, opts.policy); };

  const newPart = async (n: number): Promise<Part> => ({ n, buf: await pool.take(partSizeFor(opts.partSize, n)), size: 0 });

  const initiate = async (): Promise<MultipartState> => {
    // The first `parts` value is only an estimate: more URLs are requested as the stream grows.
    const step1 = await opts.api.requestUpload(opts.backupkey, opts.filename, { parts: 2 });
    if (!step1.multiplarturl) throw new StorageError(0, `${opts.filename}: the API returned no multiplarturl`);
    checkUrl(step1.multiplarturl);
    const res = await storageRequest('POST', step1.multiplarturl, { ...sse, ...headerLines(step1.uploadheaders) }, Buffer.alloc(0), retryOpts(opts));
    const xml = await readText(res.body, 100_000);
    const uploadId = initiatedUploadId(xml);
    if (!uploadId) throw new StorageError(res.status, `${opts.filename}: multipart upload not initiated: ${xml.slice(0, 300)}`);
    const s: MultipartState = { uploadId, parts: [] };
    await opts.onState?.(s);
    // The first part URLs, while the first part is still filling (a failure is seen again by
    // the first part, which then asks itself).
    requestUrls(s, 2 * concurrency).catch(() => undefined);
    return s;
  };

  /**
   * The multipart upload being initiated: started as soon as the first part holds
   * EARLY_INITIATE_FRACTION of a part (an archive that ends below that goes in one PUT), so
   * that the API and storage round trips overlap with filling the first part.
   */
  let initiating: Promise<MultipartState> | null = null;
  const startInitiate = (): Promise<MultipartState> => {
    if (!initiating) {
      initiating = initiate();
      // Awaited by the first dispatch; a failure meanwhile must not count as unhandled.
      initiating.catch(() => undefined);
    }
    return initiating;
  };

  /**
   * The part-URL request in flight: one at a time, parts that need URLs wait for the same one
   * (each asked for its own before, several at once). Requests double the count, as the API
   * presigns parts 1..N each time.
   */
  let urlBatch: Promise<void> | null = null;
  const requestUrls = (m: MultipartState, want: number): Promise<void> => {
    const batch = (async () => {
      const r = await opts.api.requestUpload(opts.backupkey, opts.filename, { parts: want, uploadid: m.uploadId });
      if (!r.uploadurls || r.uploadurls.length < want) throw new StorageError(0, `${opts.filename}: the API returned ${r.uploadurls?.length ?? 0} part URLs, needed ${want}`);
      r.uploadurls.forEach(checkUrl);
      if (r.uploadurls.length > partUrls.length) {
        partUrls.splice(0, partUrls.length, ...r.uploadurls);
        partHeaders = headerLines(r.uploadheaders);
      }
    })();
    urlBatch = batch;
    void batch.then(() => undefined, () => undefined).finally(() => { if (urlBatch === batch) urlBatch = null; });
    return batch;
  };
  const urlFor = async (m: MultipartState, n: number): Promise<string> => {
    while (partUrls.length < n) {
      if (urlBatch) {
        // A request that fails is made again below by the part that needs the URL.
        await urlBatch.catch(() => undefined);
        continue;
      }
      await requestUrls(m, Math.min(MAX_PARTS, Math.max(n, partUrls.length * 2, 4)));
    }
    return partUrls[n - 1] as string;
  };

  const uploadPart = async (m: MultipartState, p: Part, sha256: string): Promise<void> => {
    try {
      const prior = opts.resume?.parts.find((x) => x.n === p.n);
      if (prior) {
        if (prior.sha256 !== sha256 || prior.size !== p.size) throw new ResumeMismatchError(opts.filename, p.n);
        reused++;
        opts.onBytes?.(p.size);
        return;
      }
      const url = await urlFor(m, p.n);
      const res = await storageRequest('PUT', url, { ...sse, ...partHeaders }, p.buf.subarray(0, p.size), retryOpts(opts));
      res.body.resume();
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag.trim() : 'Unknown';
      m.parts = m.parts.filter((x) => x.n !== p.n).concat({ n: p.n, etag, size: p.size, sha256 }).sort((a, b) => a.n - b.n);
      await opts.onState?.(m);
      opts.onBytes?.(p.size);
    } finally {
      pool.give(p.buf);
    }
  };

  const dispatch = async (p: Part): Promise<void> => {
    // The whole-archive hash has seen exactly the bytes up to the end of this part.
    const sha = whole.copy().digest('hex');
    try {
      if (!mp) mp = await startInitiate();
    } catch (err) {
      pool.give(p.buf);
      throw err;
    }
    const u = uploadPart(mp, p, sha).catch((e: unknown) => { failure ??= e; });
    inflight.add(u);
    void u.finally(() => inflight.delete(u));
    while (inflight.size >= concurrency) await Promise.race(inflight);
    if (failure) throw failure;
  };

  let part: Part = await newPart(1);
  /** Whether `part.buf` is still ours to give back (dispatch hands it over). */
  let holding = true;
  try {
    for await (const chunk of source) {
      let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      total += buf.length;
      while (buf.length > 0) {
        const room = part.buf.length - part.size;
        const piece = buf.length > room ? buf.subarray(0, room) : buf;
        buf = buf.length > room ? buf.subarray(room) : Buffer.alloc(0);
        piece.copy(part.buf, part.size);
        // One hashing pass: the piece is hashed where it was copied to (warm in cache).
        whole.update(part.buf.subarray(part.size, part.size + piece.length));
        part.size += piece.length;
        if (!mp && !initiating && part.size >= part.buf.length * EARLY_INITIATE_FRACTION) void startInitiate();
        if (part.size === part.buf.length) {
          holding = false;
          await dispatch(part);
          part = await newPart(part.n + 1);
          holding = true;
          if (failure) throw failure;
        }
      }
    }
    const origsize = await opts.origsize();
    const last = part;
    holding = false;
    if (!mp && !initiating) {
      // Small archive: one PUT of the buffered bytes.
      try {
        const r = await opts.api.requestUpload(opts.backupkey, opts.filename);
        if (!r.uploadurl) throw new StorageError(0, `${opts.filename}: the API returned no uploadurl`);
        checkUrl(r.uploadurl);
        const res = await storageRequest('PUT', r.uploadurl, { ...sse, ...headerLines(r.uploadheaders) }, last.buf.subarray(0, last.size), retryOpts(opts));
        res.body.resume();
      } finally {
        pool.give(last.buf);
      }
      opts.onBytes?.(last.size);
      await opts.api.uploadCompleted(opts.backupkey, opts.filename, { origsize });
      return { size: total, sha256: whole.digest('hex'), origsize, parts: 1, reusedParts: 0 };
    }
    const count = last.size > 0 ? last.n : last.n - 1;
    if (last.size > 0) await dispatch(last);
    else pool.give(last.buf);
    await Promise.all(inflight);
    if (failure) throw failure;
    const m: MultipartState = mp ?? await startInitiate();
    const parts = m.parts.filter((x) => x.n <= count).sort((a, b) => a.n - b.n);
    if (parts.length !== count) throw new StorageError(0, `${opts.filename}: ${parts.length} of ${count} parts uploaded`);
    await opts.api.uploadCompleted(opts.backupkey, opts.filename, { origsize, multipart: { UploadId: m.uploadId, ETags: parts.map((x) => x.etag) } });
    return { size: total, sha256: whole.digest('hex'), origsize, parts: count, reusedParts: reused };
  } catch (err) {
    // Nothing of this upload goes on in the background once it has failed.
    await Promise.allSettled([...inflight, ...(initiating ? [initiating] : []), ...(urlBatch ? [urlBatch] : [])]);
    if (holding) pool.give(part.buf);
    throw err;
  }
}

/**
 * How full the first part is when the multipart upload is initiated (in the background): an
 * eighth, 1 MiB of the default 8 MiB part. Archives that end before that go in one PUT; those
 * between that and one part, as a multipart upload of one part.
 */
export const EARLY_INITIATE_FRACTION = 1 / 8;

/**
 * The upload id of an InitiateMultipartUpload reply (`<InitiateMultipartUploadResult><UploadId>`),
 * as text whatever it looks like; empty when the reply has none.
 */
export function initiatedUploadId(xml: string): string {
  const doc = parseDocument(xml, { xmlMode: true });
  const el = DomUtils.findOne((e) => e.name === 'UploadId' && e.parent !== null && 'name' in e.parent && e.parent.name === 'InitiateMultipartUploadResult', doc.children);
  return el ? DomUtils.textContent(el).trim() : '';
}

/** S3 allows 10 000 parts per upload. */
const MAX_PARTS = 10_000;

/**
 * Size of part `n`: the base size for the first 1000 parts, doubling every 1000 parts after
 * that (up to S3's 5 GiB), so a streamed archive of unknown size never runs out of part
 * numbers (8 MiB default base: 8 GiB in 1000 parts, about 8 TiB before part 10 000). A pure function of
 * `n`, so a resumed upload cuts the same parts.
 */
export function partSizeFor(base: number, n: number): number {
  if (n > MAX_PARTS) throw new StorageError(0, `archive needs more than ${MAX_PARTS} parts`);
  return Math.min(5 * 1024 ** 3, base * 2 ** Math.floor((n - 1) / 1000));
}

function retryOpts(o: StorageOptions): { retry?: RetryPolicy; onRetry?: (a: number, r: string) => void; proxy?: string } {
  const r: { retry?: RetryPolicy; onRetry?: (a: number, r: string) => void; proxy?: string } = {};
  if (o.proxy) r.proxy = o.proxy;
  if (o.retry) r.retry = o.retry;
  if (o.onRetry) r.onRetry = o.onRetry;
  return r;
}
