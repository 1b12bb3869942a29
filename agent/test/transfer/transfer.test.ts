/**
 * Uploads and downloads through real presigned URLs on Ceph RGW (SigV4 and SSE-C enforced),
 * including a fault-injecting proxy, resume of an interrupted multipart upload and bounded
 * part buffers (no temporary files).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPassphrase, downloadArchive } from '../../src/transfer/download.js';
import { StorageHostRefusedError, WrongPassphraseError } from '../../src/transfer/errors.js';
import { deriveSseCKey, sseCHeaders } from '../../src/transfer/sse-c.js';
import { isKeyAllowedFor } from '../../src/transfer/storage-policy.js';
import { PartBuffers, partSizeFor, uploadArchive, type MultipartState, type UploadOptions } from '../../src/transfer/upload.js';
import { newBucket, presignApi, rgwClient, startFaultProxy } from './s3-stand-in.js';

const MiB = 1024 * 1024;
const FAST_RETRY = { attempts: 6, baseDelayMs: 50 };

/** A deterministic byte source (AES-CTR keystream of the seed) yielding `size` bytes in 256 KiB chunks. */
async function* bytes(seed: number, size: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(String(seed)).digest(), Buffer.alloc(16));
  let produced = 0;
  while (produced < size) {
    const n = Math.min(256 * 1024, size - produced);
    produced += n;
    if (failAfter !== undefined && produced > failAfter) throw new Error('simulated crash');
    yield cipher.update(Buffer.alloc(n));
  }
}

async function expectedHash(seed: number, size: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of bytes(seed, size)) h.update(c);
  return h.digest('hex');
}

describe('SSE-C key and storage host policy', () => {
  it('derives the spec test vector for "hello"', () => {
    const key = deriveSseCKey('hello');
    expect(key).toEqual({ keyB64: 'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=', md5B64: 'xXOkC62kU9MfZts/9Earxw==' });
    expect(deriveSseCKey('')).toBeNull();
    expect(sseCHeaders(key!)['x-amz-server-side-encryption-customer-key-MD5']).toBe('xXOkC62kU9MfZts/9Earxw==');
  });

  it('doubles the part size every 1000 parts and refuses part 10 001', () => {
    expect([1, 1000, 1001, 2001, 9000].map((n) => partSizeFor(16 * MiB, n) / MiB)).toEqual([16, 16, 32, 64, 4096]);
    expect(partSizeFor(16 * MiB, 10_000)).toBe(5 * 1024 * MiB);
    expect(() => partSizeFor(16 * MiB, 10_001)).toThrow(/10000 parts/);
  });

  it('sends keys only to https://*.s3.amazonaws.com/ or named hosts', () => {
    const none = { allowHosts: [] };
    expect(isKeyAllowedFor('https://bucket.s3.amazonaws.com/k?x=1', none)).toBe(true);
    expect(isKeyAllowedFor('http://bucket.s3.amazonaws.com/k', none)).toBe(false);
    expect(isKeyAllowedFor('https://bucket.s3.eu-west-1.amazonaws.com/k', none)).toBe(false);
    expect(isKeyAllowedFor('https://s3.amazonaws.com/bucket/k', none)).toBe(false);
    expect(isKeyAllowedFor('https://evil.com/.s3.amazonaws.com/', none)).toBe(false);
    expect(isKeyAllowedFor('https://bucket.s3.amazonaws.com.evil.com/k', none)).toBe(false);
    expect(isKeyAllowedFor('http://127.0.0.1:9000/b/k', { allowHosts: ['127.0.0.1:9000'] })).toBe(true);
    expect(isKeyAllowedFor('http://127.0.0.1:9001/b/k', { allowHosts: ['127.0.0.1:9000'] })).toBe(false);
  });
});

describe('part buffer pool', () => {
  it('reuses its buffers and, trimmed, holds none until taken again', async () => {
    const pool = new PartBuffers(2);
    const a = await pool.take(MiB);
    const b = await pool.take(MiB);
    pool.give(a);
    pool.give(b);
    expect(pool.bytes).toBe(2 * MiB);
    expect([a, b]).toContain(await pool.take(MiB)); // reused, not allocated again
    pool.trim();
    expect(pool.bytes).toBe(MiB); // the taken one is still counted, the idle one let go
    const c = await pool.take(MiB);
    expect(c).not.toBe(a);
    expect(c).not.toBe(b);
    expect(pool.bytes).toBe(2 * MiB);
    expect(pool.peak).toBe(2 * MiB);
  });
});

describe('transfers against Ceph RGW', () => {
  async function setup(encrypted: boolean, endpoint?: string) {
    const s3 = rgwClient(endpoint);
    const bucket = await newBucket(rgwClient());
    const api = presignApi(s3, bucket, encrypted);
    const tmp = await mkdtemp(join(tmpdir(), 'xfer-'));
    return { s3, bucket, api, tmp };
  }

  function allowFor(url: string) { return { allowHosts: [new URL(url).host] }; }

  it('single PUT with SSE-C: right key downloads and verifies, wrong key is refused', async () => {
    const { api, tmp } = await setup(true);
    const key = deriveSseCKey('correct horse');
    const probe = await api.presignHead('dbstructure.zip');
    const policy = allowFor(probe);
    const data = randomBytes(300_000);
    const r = await uploadArchive((async function* () { yield data; })(), { api, backupkey: 'B', filename: 'dbstructure.zip', key, policy, partSize: 5 * MiB, concurrency: 4, origsize: () => 1234, retry: FAST_RETRY });
    expect(r).toMatchObject({ size: data.length, parts: 1, origsize: 1234 });
    expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'));

    await checkPassphrase(probe, [], { key, policy });
    await expect(checkPassphrase(probe, [], { key: deriveSseCKey('wrong'), policy })).rejects.toBeInstanceOf(WrongPassphraseError);

    const dest = join(tmp, 'out.zip');
    const url = await api.presignGet('dbstructure.zip');
    const got = await downloadArchive('dbstructure.zip', { url, encrypted: true }, dest, { key, policy, expectedSha256: r.sha256, retry: FAST_RETRY });
    expect(got.sha256).toBe(r.sha256);
    expect((await readFile(dest)).equals(data)).toBe(true);
    await expect(downloadArchive('dbstructure.zip', { url, encrypted: true }, join(tmp, 'bad.zip'), { key: deriveSseCKey('wrong'), policy, retry: FAST_RETRY })).rejects.toThrow(/HTTP 4\d\d/);
    // Without --allow-storage-host the key is never sent to a non-AWS host.
    await expect(downloadArchive('dbstructure.zip', { url, encrypted: true }, dest, { key, policy: { allowHosts: [] } })).rejects.toBeInstanceOf(StorageHostRefusedError);
  });

  it('multipart: parallel parts from (parallel + 1) part buffers, no temp files, streamed download verifies', async () => {
    const { api, tmp } = await setup(true);
    const key = deriveSseCKey('hello');
    const policy = allowFor(await api.presignGet('x'));
    const size = 23 * MiB + 12345;
    const buffers = new PartBuffers(4 + 1);
    const t0 = performance.now();
    const r = await uploadArchive(bytes(1, size), { api, backupkey: 'B', filename: 'filedir.zip', key, policy, partSize: 5 * MiB, concurrency: 4, origsize: () => size, retry: FAST_RETRY, buffers });
    const upSec = (performance.now() - t0) / 1000;
    expect(r.parts).toBe(5);
    expect(r.sha256).toBe(await expectedHash(1, size));
    expect(buffers.peak).toBeLessThanOrEqual((4 + 1) * 5 * MiB); // (parallel + 1) × part size
    expect(buffers.inUse).toBe(0);
    expect(await readdir(tmp)).toEqual([]);

    const t1 = performance.now();
    const got = await downloadArchive('filedir.zip', { url: await api.presignGet('filedir.zip'), encrypted: true }, join(tmp, 'dl.zip'), { key, policy, expectedSha256: r.sha256 });
    const downSec = (performance.now() - t1) / 1000;
    expect(got.size).toBe(size);
    console.log(`[measure] RGW upload ${(size / MiB / upSec).toFixed(1)} MB/s, download ${(size / MiB / downSec).toFixed(1)} MB/s, part buffers peak ${(buffers.peak / MiB).toFixed(1)} MiB (part 5 MiB, 4 parallel)`);
  });

  it('an archive of more than an eighth of a part and less than one goes as a multipart upload of one part', async () => {
    const { api } = await setup(false);
    const size = 2 * MiB + 3;
    const states: MultipartState[] = [];
    const r = await uploadArchive(bytes(5, size), { api, backupkey: 'B', filename: 'dbdump-2.zip', key: null, policy: { allowHosts: [] }, partSize: 5 * MiB, concurrency: 4, origsize: () => size, onState: (s) => { states.push(structuredClone(s)); } });
    expect(r).toMatchObject({ size, parts: 1 });
    expect(states.at(-1)?.parts.map((p) => p.n)).toEqual([1]);
    const got = await downloadArchive('dbdump-2.zip', { url: await api.presignGet('dbdump-2.zip'), encrypted: false }, null, { key: null, policy: { allowHosts: [] }, expectedSha256: r.sha256 });
    expect(got.size).toBe(size);
  });

  it('a flipped expected hash is refused and the file removed', async () => {
    const { api, tmp } = await setup(false);
    const data = randomBytes(1000);
    await uploadArchive((async function* () { yield data; })(), { api, backupkey: 'B', filename: 'dataroot.zip', key: null, policy: { allowHosts: [] }, partSize: 5 * MiB, concurrency: 2, origsize: () => 1000 });
    const wrong = createHash('sha256').update('other').digest('hex');
    const dest = join(tmp, 'd.zip');
    await expect(downloadArchive('dataroot.zip', { url: await api.presignGet('dataroot.zip'), encrypted: false }, dest, { key: null, policy: { allowHosts: [] }, expectedSha256: wrong })).rejects.toMatchObject({ code: 'ERR_INTEGRITY' });
    await expect(readFile(dest)).rejects.toThrow();
  });

  it('survives dropped connections, 503s and cut downloads injected between agent and storage', async () => {
    // Every 3rd request is dropped, every 4th answered 503, the first GET that gets through and
    // every 5th one cut mid-body.
    let gets = 0;
    const proxy = await startFaultProxy((n, method) => (n % 3 === 0 ? 'drop' : n % 4 === 0 ? '503' : method === 'GET' && (++gets === 1 || n % 5 === 0) ? 'cut' : null));
    try {
      const { api, tmp } = await setup(true, proxy.endpoint);
      const key = deriveSseCKey('hello');
      const policy = { allowHosts: [proxy.host] };
      const size = 16 * MiB + 7;
      const r = await uploadArchive(bytes(2, size), { api, backupkey: 'B', filename: 'filedir-1.zip', key, policy, partSize: 5 * MiB, concurrency: 4, origsize: () => size, retry: FAST_RETRY });
      expect(r.sha256).toBe(await expectedHash(2, size));
      const got = await downloadArchive('filedir-1.zip', { url: await api.presignGet('filedir-1.zip'), encrypted: true }, join(tmp, 'dl'), { key, policy, expectedSha256: r.sha256, retry: FAST_RETRY });
      expect(got.size).toBe(size);
      expect(proxy.faults.drop + proxy.faults['503']).toBeGreaterThanOrEqual(2);
      // A cut download goes on from the first missing byte instead of starting over.
      expect(proxy.faults.cut).toBeGreaterThanOrEqual(1);
      expect(proxy.ranged()).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.close();
    }
  });

  it('resumes an interrupted multipart upload, re-sending only the missing parts', async () => {
    const { api } = await setup(false);
    const size = 21 * MiB;
    const base = { api, backupkey: 'B', filename: 'dbdump.zip', key: null, policy: { allowHosts: [] }, partSize: 5 * MiB, concurrency: 1, origsize: () => size, retry: FAST_RETRY } satisfies UploadOptions;
    let saved: MultipartState | undefined;
    const buffers = new PartBuffers(2);
    await expect(uploadArchive(bytes(3, size, 12 * MiB), { ...base, buffers, onState: (s) => { saved = structuredClone(s); } })).rejects.toThrow('simulated crash');
    expect(saved?.parts.length).toBe(2);
    expect(buffers.inUse).toBe(0); // a failed upload gives every buffer back
    const r = await uploadArchive(bytes(3, size), { ...base, resume: saved! });
    expect(r.reusedParts).toBe(2);
    expect(r.parts).toBe(5);
    const got = await downloadArchive('dbdump.zip', { url: await api.presignGet('dbdump.zip'), encrypted: false }, null, { key: null, policy: { allowHosts: [] }, expectedSha256: r.sha256 });
    expect(got.sha256).toBe(await expectedHash(3, size));
    // Different bytes on resume are detected instead of silently mixing two archives.
    await expect(uploadArchive(bytes(4, size), { ...base, resume: saved! })).rejects.toMatchObject({ code: 'ERR_RESUME_MISMATCH' });
  });
});
