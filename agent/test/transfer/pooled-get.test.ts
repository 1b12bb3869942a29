/**
 * HTTP framing of the download path (pooled-get.ts) where RGW never goes: chunked bodies cut
 * into odd-sized writes, a pool of two segments that the writer keeps busy, a server that
 * ignores Range after a cut, a connection reset after the last byte, S3 error bodies, and an
 * abort mid-body.
 * RGW-backed downloads are in transfer.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/transfer/download.js';
import { PartBuffers } from '../../src/transfer/upload.js';

const FAST_RETRY = { attempts: 4, baseDelayMs: 20 };
const data = randomBytes(5 * 1024 * 1024 + 12345);
const sha = createHash('sha256').update(data).digest('hex');
const opts = { key: null, policy: { allowHosts: [] }, retry: FAST_RETRY };

let server: http.Server | null = null;
afterEach(async () => {
  const s = server;
  server = null;
  if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
});

async function serve(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/bucket/archive.zip?X-Amz-Signature=x`;
}

/** Writes `buf` in pieces of 1..`max` bytes, waiting for drain. */
async function dribble(res: http.ServerResponse, buf: Buffer, max: number): Promise<void> {
  for (let off = 0, i = 0; off < buf.length; i++) {
    const n = Math.min(buf.length - off, 1 + ((i * 7919) % max));
    if (!res.write(buf.subarray(off, off + n))) await new Promise<void>((r) => res.once('drain', () => r()));
    off += n;
  }
}

describe('download framing', () => {
  it('reassembles a chunked body sent in odd-sized pieces, through a pool of two segments', async () => {
    const url = await serve((req, res) => {
      expect(req.headers.connection).toBe('close');
      res.writeHead(200, { 'Content-Type': 'application/zip' }); // no Content-Length: chunked
      void dribble(res, data, 300_000).then(() => res.end());
    });
    const dest = join(await mkdtemp(join(tmpdir(), 'pooled-')), 'a.zip');
    const buffers = new PartBuffers(2);
    let progress = 0;
    const r = await downloadArchive('a.zip', { url, encrypted: false }, dest, { ...opts, buffers, expectedSha256: sha, onBytes: (n) => { progress += n; } });
    expect(r).toEqual({ size: data.length, sha256: sha });
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(progress).toBe(data.length);
    expect(buffers.inUse).toBe(0);
  });

  it('starts over when a server answers a resuming Range request with the whole object', async () => {
    let requests = 0;
    const url = await serve((req, res) => {
      requests++;
      expect(req.headers['if-match'] ?? null).toBe(requests === 2 ? '"e1"' : null);
      res.writeHead(200, { 'Content-Length': String(data.length), ETag: '"e1"' });
      if (requests === 1) {
        // Cut after 2 MB: the agent asks for the rest with Range, this server ignores it.
        res.write(data.subarray(0, 2_000_000), () => res.socket?.destroy());
        return;
      }
      res.end(data);
    });
    let progress = 0;
    const r = await downloadArchive('b.zip', { url, encrypted: false }, null, { ...opts, expectedSha256: sha, onBytes: (n) => { progress += n; } });
    expect(r.sha256).toBe(sha);
    expect(requests).toBe(3); // the cut one, the ignored Range, the fresh start
    expect(progress).toBe(data.length);
  });

  it('goes on with Range after a cut and accepts a reset after the last byte', async () => {
    const ranges: string[] = [];
    const url = await serve((req, res) => {
      const range = req.headers.range;
      ranges.push(range ?? '-');
      const from = range ? Number(/bytes=(\d+)-/.exec(range)?.[1]) : 0;
      const body = data.subarray(from);
      res.writeHead(range ? 206 : 200, {
        'Content-Length': String(body.length), ETag: '"e2"',
        ...(range ? { 'Content-Range': `bytes ${from}-${data.length - 1}/${data.length}` } : {}),
      });
      if (!range) { res.write(body.subarray(0, 3_000_001), () => res.socket?.destroy()); return; }
      res.write(body, () => res.socket?.resetAndDestroy());
    });
    const dest = join(await mkdtemp(join(tmpdir(), 'pooled-')), 'c.zip');
    const r = await downloadArchive('c.zip', { url, encrypted: false }, dest, { ...opts, expectedSha256: sha });
    expect(r.sha256).toBe(sha);
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(ranges[0]).toBe('-');
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/=(\d+)/.exec(ranges[1] ?? '')?.[1])).toBeGreaterThan(0);
  });

  it('skips the hash only when asked and nothing is to be verified', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(data.length) });
      res.end(data);
    });
    const dir = await mkdtemp(join(tmpdir(), 'pooled-'));
    expect(await downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), { ...opts, hash: false })).toEqual({ size: data.length });
    expect((await readFile(join(dir, 'f.zip'))).equals(data)).toBe(true);
    expect(await downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), opts)).toEqual({ size: data.length, sha256: sha });
    // An expected hash is always checked.
    expect(await downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), { ...opts, hash: false, expectedSha256: sha })).toEqual({ size: data.length, sha256: sha });
    await expect(downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), { ...opts, hash: false, expectedSha256: '0'.repeat(64) })).rejects.toThrow(/f\.zip/);
    // An expected hash given as a function is asked for once the body is complete; the body is hashed either way.
    let asked = 0;
    expect(await downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), { ...opts, hash: false, expectedSha256: () => { asked++; return undefined; } })).toEqual({ size: data.length, sha256: sha });
    expect(asked).toBe(1);
    await expect(downloadArchive('f.zip', { url, encrypted: false }, join(dir, 'f.zip'), { ...opts, hash: false, expectedSha256: () => '0'.repeat(64) })).rejects.toThrow(/f\.zip/);
  });

  it('reports the S3 error code of a refused GET without retrying it, and retries a 503', async () => {
    let requests = 0;
    const url = await serve((_req, res) => {
      requests++;
      const busy = requests === 1;
      res.writeHead(busy ? 503 : 403, { 'Content-Type': 'application/xml' });
      res.end(`<?xml version="1.0"?><Error><Code>${busy ? 'SlowDown' : 'AccessDenied'}</Code><Message>${busy ? 'later' : 'no'}</Message></Error>`);
    });
    const dest = join(await mkdtemp(join(tmpdir(), 'pooled-')), 'd.zip');
    await expect(downloadArchive('d.zip', { url, encrypted: false }, dest, opts)).rejects.toMatchObject({ status: 403, message: expect.stringMatching(/HTTP 403 AccessDenied: no/) });
    expect(requests).toBe(2);
    await expect(readFile(dest)).rejects.toThrow();
  });

  it('an abort mid-body ends the download at once with its reason, without retrying, and removes the file', async () => {
    let requests = 0;
    const url = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Length': String(data.length) });
      res.write(data.subarray(0, 1024 * 1024)); // then nothing more: only the abort can end it
    });
    const dest = join(await mkdtemp(join(tmpdir(), 'pooled-')), 'e.zip');
    const stop = new AbortController();
    const buffers = new PartBuffers(2);
    const reason = new Error('not needed any more');
    const started = performance.now();
    const download = downloadArchive('e.zip', { url, encrypted: false }, dest, { ...opts, buffers, signal: stop.signal, onBytes: () => stop.abort(reason) });
    await expect(download).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(requests).toBe(1);
    expect(buffers.inUse).toBe(0);
    await expect(readFile(dest)).rejects.toThrow();
    // Already aborted: nothing is requested.
    await expect(downloadArchive('e.zip', { url, encrypted: false }, dest, { ...opts, signal: stop.signal })).rejects.toBe(reason);
    expect(requests).toBe(1);
  });
});
