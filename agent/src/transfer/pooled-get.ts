/**
 * One GET whose body the socket reads straight into pooled buffers. node:http hands every socket
 * read over in a newly allocated 64 KiB buffer, and those allocations (page faults, garbage
 * collection) cost about as much CPU as the rest of a download; here the kernel copies the bytes
 * into the free end of a reused segment (`onread` of net/tls sockets), http-parser-js frames the
 * response in place, and each filled segment is handed on in order. Headers and chunk framing
 * are squeezed out of a segment by moving the body bytes back over them.
 */
import { HTTPParser } from 'http-parser-js';
import net from 'node:net';
import tls from 'node:tls';
import { connectTunnel, type TlsOptions } from './storage-http.js';
import type { PartBuffers } from './upload.js';

/** Status and headers (names lower-cased, repeated ones joined with ", "). */
export interface PooledHead {
  status: number;
  headers: Record<string, string>;
}

export interface PooledGetOptions {
  /** Segments come from this pool; the receiver of `onSegment` gives each back. */
  pool: PartBuffers;
  segmentSize: number;
  /** Called in body order with a filled segment and the number of body bytes in it. */
  onSegment(seg: Buffer, length: number): void;
  /** Statuses whose body goes to `onSegment`; any other status's body is kept as text. */
  ok: readonly number[];
  timeoutMs: number;
  proxy?: string;
  /** Aborting ends the exchange at once; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Outcome of an exchange: the head, body bytes handed on, and the text of an unexpected body. */
export interface PooledResult extends PooledHead {
  bodyBytes: number;
  errorText: string;
}

/** A socket read is never smaller than this: a segment with less room left is handed on. */
const MIN_READ = 64 * 1024;
const ERROR_TEXT_CAP = 10_000;

/** The header block of a GET; refuses header values that would break the framing. */
function requestHead(target: string, host: string, headers: Record<string, string>): string {
  let head = `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new Error(`invalid header ${JSON.stringify(k)}`);
    if (k.toLowerCase() === 'host' || k.toLowerCase() === 'connection') continue;
    head += `${k}: ${v}\r\n`;
  }
  return `${head}Connection: close\r\n\r\n`;
}

/**
 * Sends `GET url` and streams the body into pool segments. Resolves when the response is
 * complete; rejects when the connection fails, times out or ends before the body does (after
 * handing on every body byte that did arrive, so the caller can continue with a Range request).
 * `onHead` sees the head before any body byte is handed on.
 */
export function pooledGet(url: string, headers: Record<string, string>, opts: PooledGetOptions, onHead?: (h: PooledHead) => void): Promise<PooledResult> {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  const port = Number(u.port || (https ? 443 : 80));
  const proxy = opts.proxy ? new URL(opts.proxy) : null;
  // Through a proxy, plain http goes to the proxy with the absolute URL; https is tunnelled.
  const head = requestHead(proxy && !https ? u.href : `${u.pathname}${u.search}`, u.host, headers);

  return new Promise<PooledResult>((resolve, reject) => {
    let seg: Buffer | null = opts.pool.tryTake(opts.segmentSize);
    let fill = 0;
    /** Body bytes that arrived while no segment was free (rare: reads already under way when pausing). */
    const pending: Buffer[] = [];
    const scratch = Buffer.allocUnsafe(MIN_READ);
    let starving = false;
    let result: PooledResult | null = null;
    let textBytes = 0;
    const text: Buffer[] = [];
    let bodyBytes = 0;
    let finished = false;
    let completed = false;
    let socket: net.Socket | null = null;

    const handOn = (): void => {
      if (!seg) return;
      const s = seg;
      const n = fill;
      seg = null;
      fill = 0;
      if (n > 0) {
        bodyBytes += n;
        opts.onSegment(s, n);
      } else opts.pool.give(s);
    };
    const rotate = (): void => {
      handOn();
      // The receiver may have ended the exchange (an abort from its progress callback).
      if (!finished) seg = opts.pool.tryTake(opts.segmentSize);
    };
    /** Copies body bytes that are not already in place into segments (or `pending`). */
    const feed = (src: Buffer): void => {
      let off = 0;
      while (off < src.length) {
        if (!seg) { pending.push(Buffer.from(src.subarray(off))); return; }
        const n = Math.min(src.length - off, seg.length - fill);
        seg.set(src.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (seg.length - fill < MIN_READ) rotate();
      }
    };
    const onAbort = (): void => finish(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
    const finish = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      opts.signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      if (err) {
        // Whatever body arrived in order is handed on: the caller resumes after it.
        if (result && opts.ok.includes(result.status)) handOn();
        else if (seg) { opts.pool.give(seg); seg = null; }
        reject(err);
        return;
      }
      handOn();
      if (!result) { reject(new Error('no response')); return; }
      result.bodyBytes = bodyBytes;
      result.errorText = Buffer.concat(text).toString('utf8');
      resolve(result);
    };

    const parser = new HTTPParser(HTTPParser.RESPONSE);
    parser[HTTPParser.kOnHeadersComplete] = (info) => {
      const hs: Record<string, string> = {};
      for (let i = 0; i + 1 < info.headers.length; i += 2) {
        const k = (info.headers[i] as string).toLowerCase();
        const v = info.headers[i + 1] as string;
        hs[k] = hs[k] !== undefined ? `${hs[k]}, ${v}` : v;
      }
      result = { status: info.statusCode, headers: hs, bodyBytes: 0, errorText: '' };
      onHead?.({ status: result.status, headers: hs });
    };
    parser[HTTPParser.kOnBody] = (chunk) => {
      if (!result || !opts.ok.includes(result.status)) {
        if (textBytes < ERROR_TEXT_CAP) text.push(Buffer.from(chunk.subarray(0, ERROR_TEXT_CAP - textBytes)));
        textBytes += chunk.length;
        return;
      }
      if (seg && chunk.buffer === seg.buffer && pending.length === 0) {
        // Read into this segment: in place already, or behind headers / chunk framing.
        const at = chunk.byteOffset - seg.byteOffset;
        if (at !== fill) seg.copyWithin(fill, at, at + chunk.length);
        fill += chunk.length;
      } else {
        feed(chunk);
      }
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      // Called from inside execute(): end after the current read is dealt with, and after the
      // bytes parked in `pending` have found a segment.
      completed = true;
      queueMicrotask(() => { if (pending.length === 0) finish(null); });
    };

    /** Waits for a segment to be given back, moves `pending` into it, then reads on. */
    const starve = (): void => {
      if (starving) return;
      starving = true;
      void opts.pool.take(opts.segmentSize).then((b) => {
        starving = false;
        if (finished) { opts.pool.give(b); return; }
        seg = b;
        fill = 0;
        for (const p of pending.splice(0)) feed(p);
        if (!seg) starve();
        else if (completed) finish(null);
        else socket?.resume();
      });
    };
    const onRead = (nread: number, buf: Uint8Array): boolean => {
      if (finished) return false;
      try {
        const r = parser.execute(Buffer.from(buf.buffer, buf.byteOffset, nread), 0, nread);
        // (Bytes after the end of the response are counted as the next one's head and may trip
        // the parser's header-size check: they are ignored.)
        if (r instanceof Error && !completed) throw new Error(`bad response from storage: ${r.message}`);
        if (seg && seg.length - fill < MIN_READ) rotate();
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
        return false;
      }
      if (seg) return true;
      // No free segment: pause until the receiver gives one back.
      starve();
      return false;
    };
    const onread: net.OnReadOpts = { buffer: (): Uint8Array => (seg ? seg.subarray(fill) : scratch), callback: onRead };

    const attach = (s: net.Socket): void => {
      socket = s;
      s.setTimeout(opts.timeoutMs, () => s.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
      s.once('error', (e) => finish(e));
      // A body without length ends with the connection (parser.finish() completes it). Once
      // complete, the end of the connection is no error: parked bytes may still be on their way.
      s.once('end', () => {
        parser.finish();
        queueMicrotask(() => { if (!completed) finish(new Error(result ? `connection closed at ${bodyBytes + fill} body bytes` : 'connection closed before a response')); });
      });
      s.once('close', () => queueMicrotask(() => { if (!completed) finish(new Error('connection closed')); }));
      s.write(head);
    };

    if (opts.signal?.aborted) { onAbort(); return; }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (proxy && https) {
      // TLS over an existing socket ignores `onread` (Node 20): its reads come as 'data'
      // buffers, which go through the same parser and are copied into segments.
      connectTunnel(proxy, u, opts.timeoutMs, { onread }).then((s) => {
        s.on('data', (d: Buffer) => { if (!onRead(d.length, d)) s.pause(); });
        attach(s);
      }, (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
      return;
    }
    const host = proxy ? proxy.hostname : u.hostname;
    const to = proxy ? Number(proxy.port || 80) : port;
    const tlsOptions: TlsOptions = { host, port: to, onread };
    if (!net.isIP(host)) tlsOptions.servername = host;
    const s = https ? tls.connect(tlsOptions) : net.connect({ host, port: to, onread });
    attach(s);
  });
}
