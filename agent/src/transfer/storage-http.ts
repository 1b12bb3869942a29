/**
 * Raw HTTP to object storage through presigned URLs. Uses node:http(s) rather than fetch because
 * S3 needs an exact Content-Length on streamed PUT bodies (no chunked encoding), and because the
 * agent must never send an Authorization header to a presigned URL.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetworkError, StorageError } from './errors.js';

/** Request body: nothing, a buffer, or a byte range of a file (re-readable on retry). */
export type StorageBody = undefined | Buffer | { file: string; start: number; length: number };

/** A storage response whose body is still unread. */
export interface StorageResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

/** Retry policy for storage requests. */
export interface RetryPolicy {
  /** Attempts in total (≥ 1). */
  attempts: number;
  /** First pause; doubled each retry, capped at 30 s. */
  baseDelayMs: number;
}

/** Default: 5 attempts, 1 s, 2 s, 4 s, 8 s pauses. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000 };

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

/** TLS options plus `onread`, which TLS sockets take like net ones (missing from the typings). */
export type TlsOptions = tls.ConnectionOptions & { onread?: net.OnReadOpts };

/**
 * Opens a TLS socket to `u` through an HTTP proxy with CONNECT (corporate proxies for https
 * storage URLs). `tlsOptions` are added to the TLS connection's (the streamed GET's `onread`).
 */
export function connectTunnel(proxy: URL, u: URL, timeoutMs: number, tlsOptions: TlsOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const port = u.port || '443';
    const req = http.request({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: `${u.hostname}:${port}`, headers: { Host: `${u.hostname}:${port}` } });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`proxy CONNECT timeout after ${timeoutMs} ms`)));
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) { socket.destroy(); reject(new Error(`proxy CONNECT answered ${res.statusCode}`)); return; }
      resolve(tls.connect({ ...tlsOptions, socket, servername: u.hostname }));
    });
    req.once('error', reject);
    req.end();
  });
}

/**
 * One HTTP exchange; rejects only on connection-level failures. With `proxy` (an http:// URL),
 * plain-http requests are sent to the proxy with the absolute URL and https ones tunnelled with
 * CONNECT; the Host header stays the storage's, so presigned signatures still match.
 */
export async function storageRequestOnce(method: string, url: string, headers: Record<string, string>, body: StorageBody, timeoutMs = 3_600_000, proxy?: string): Promise<StorageResponse> {
  const u = new URL(url);
  const h: Record<string, string> = { ...headers };
  const len = body === undefined ? 0 : body.length;
  if (method === 'PUT' || method === 'POST') h['Content-Length'] = String(len);
  let options: http.RequestOptions;
  let lib: typeof http | typeof https = u.protocol === 'https:' ? https : http;
  if (proxy) {
    const p = new URL(proxy);
    if (u.protocol === 'https:') {
      const socket = await connectTunnel(p, u, timeoutMs);
      options = { method, headers: { ...h, Host: u.host }, createConnection: () => socket, host: u.hostname, path: `${u.pathname}${u.search}` };
      lib = http;
    } else {
      options = { host: p.hostname, port: p.port || 80, method, path: u.href, headers: { ...h, Host: u.host }, agent: agents.http };
    }
  } else {
    options = { method, headers: h, agent: u.protocol === 'https:' ? agents.https : agents.http, host: u.hostname, port: u.port, path: `${u.pathname}${u.search}` };
  }
  return new Promise((resolve, reject) => {
    const req = lib.request(options, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else if (body.length === 0) req.end();
    else {
      const src = createReadStream(body.file, { start: body.start, end: body.start + body.length - 1 });
      src.on('error', (e) => req.destroy(e));
      src.pipe(req);
    }
  });
}

/** Reads a (small) response body as text, capped. */
export async function readText(body: Readable, cap = 10_000): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (n < cap) chunks.push(b);
    n += b.length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, cap);
}

/** S3 `Error/Code` and `Error/Message` of an XML error body, when present. */
export function s3ErrorOf(text: string): { code: string; message: string } | null {
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  if (!code) return null;
  return { code, message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '' };
}

/** S3 error codes that are worth retrying although the status is 4xx. */
const RETRYABLE_S3_CODES = new Set(['RequestTimeout', 'SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeTooSkewed', 'OperationAborted']);

/**
 * What an unexpected status means: the reason for messages (`HTTP 403 AccessDenied: …`) and
 * whether asking again may help (5xx, 429 and the transient S3 error codes).
 */
export function judgeStatus(status: number, errorBody: string): { reason: string; retryable: boolean } {
  const s3 = s3ErrorOf(errorBody);
  return {
    reason: `HTTP ${status}${s3 ? ` ${s3.code}: ${s3.message}` : ''}`,
    retryable: status >= 500 || status === 429 || (s3 !== null && RETRYABLE_S3_CODES.has(s3.code)),
  };
}

/** Host shortened to its last three labels, as the plugin does in error messages. */
export function shortHost(url: string): string {
  try { return new URL(url).host.split('.').slice(-3).join('.'); } catch { return 'storage'; }
}

/**
 * A storage request with retries on connection errors, 5xx, 429 and transient S3 error codes.
 * Resolves with the first response whose status is in `ok`; any other final status throws
 * StorageError (with the S3 error code when the body says it). The caller consumes the body.
 */
export async function storageRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: StorageBody,
  opts: { retry?: RetryPolicy; ok?: readonly number[]; timeoutMs?: number; onRetry?: (attempt: number, reason: string) => void; proxy?: string } = {},
): Promise<StorageResponse> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const ok = opts.ok ?? [200];
  let lastReason = '';
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    if (attempt > 1) {
      opts.onRetry?.(attempt, lastReason);
      await sleep(Math.min(30_000, retry.baseDelayMs * 2 ** (attempt - 2)));
    }
    let res: StorageResponse;
    try {
      res = await storageRequestOnce(method, url, headers, body, opts.timeoutMs, opts.proxy);
    } catch (err) {
      lastReason = err instanceof Error ? err.message : String(err);
      if (attempt === retry.attempts) throw new NetworkError(`${method} ${shortHost(url)} failed after ${attempt} attempts: ${lastReason}`, { cause: err });
      continue;
    }
    if (ok.includes(res.status)) return res;
    // Consume the body even for HEAD: an unread response keeps its keep-alive socket busy and
    // the process alive until the server times the connection out.
    if (method === 'HEAD') res.body.resume();
    const text = method === 'HEAD' ? '' : await readText(res.body).catch(() => '');
    const judged = judgeStatus(res.status, text);
    lastReason = judged.reason;
    if (!judged.retryable || attempt === retry.attempts) {
      throw new StorageError(res.status, `${method} ${shortHost(url)}: ${lastReason}`);
    }
  }
  throw new StorageError(0, `${method} ${shortHost(url)}: ${lastReason}`);
}
