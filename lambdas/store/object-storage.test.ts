/** Presigned URLs, computed offline (no S3 needed): no checksum parameters, the AWS host form, signed SSE-C. */
import { describe, expect, it } from 'vitest';
import { createObjectStorage, type ObjectStorage } from './object-storage.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

async function allUrls(storage: ObjectStorage, encrypted: boolean): Promise<{ kind: string; url: string; headers: string[] }[]> {
  const key = 'a123/BACKUPKEY/dbdump.zip';
  const put = await storage.presignPut('eu', key, encrypted, 3600);
  const init = await storage.presignCreateMultipart('eu', key, encrypted, 3600);
  const parts = await storage.presignUploadParts('eu', key, 'UPLOAD~id', 3, encrypted, 3600);
  const get = await storage.presignGet('eu', key, encrypted, 3600);
  const head = await storage.presignHead('eu', key, encrypted, 3600);
  return [
    { kind: 'put', ...put }, { kind: 'init', ...init }, ...parts.urls.map((url) => ({ kind: 'part', url, headers: parts.headers })),
    { kind: 'get', ...get }, { kind: 'head', ...head },
  ];
}

describe('presigner', () => {
  it.each([false, true])('never puts x-amz-checksum-* or x-amz-sdk-checksum-* into a URL (encrypted=%s)', async (encrypted) => {
    for (const endpoint of [undefined, 'http://127.0.0.1:9000']) {
      const storage = createObjectStorage({ buckets: { eu: 'vault-eu' }, endpoint, credentials });
      for (const { kind, url } of await allUrls(storage, encrypted)) {
        expect({ kind, url }).toEqual({ kind, url: expect.not.stringMatching(/x-amz-(sdk-)?checksum/i) });
      }
    }
  });

  it('against AWS uses https://<bucket>.s3.amazonaws.com/ signed for the bucket region, with the SSE-C algorithm as a signed header', async () => {
    const storage = createObjectStorage({ buckets: { eu: 'vault-eu' }, credentials });
    for (const { kind, url, headers } of await allUrls(storage, true)) {
      const u = new URL(url);
      expect({ kind, prefix: `${u.protocol}//${u.host}/` }).toEqual({ kind, prefix: 'https://vault-eu.s3.amazonaws.com/' });
      expect(u.pathname).toBe('/a123/BACKUPKEY/dbdump.zip');
      expect(u.searchParams.get('X-Amz-Credential')).toMatch(/\/eu-central-1\/s3\/aws4_request$/);
      expect(u.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('x-amz-server-side-encryption-customer-algorithm');
      expect(u.searchParams.has('x-amz-server-side-encryption-customer-algorithm')).toBe(false);
      expect(headers).toContain('x-amz-server-side-encryption-customer-algorithm: AES256');
      expect(u.searchParams.get('X-Amz-Expires')).toBe('3600');
    }
    const plain = await allUrls(storage, false);
    expect(plain.every(({ headers }) => !headers.some((h) => h.startsWith('x-amz-server-side')))).toBe(true);
  });

  it('with a custom endpoint uses path-style URLs', async () => {
    const storage = createObjectStorage({ buckets: { eu: 'vault-eu' }, endpoint: 'http://127.0.0.1:9000', credentials });
    const { url } = await storage.presignGet('eu', 'a/b/dbstructure.zip', false, 60);
    expect(url.startsWith('http://127.0.0.1:9000/vault-eu/a/b/dbstructure.zip?')).toBe(true);
    expect(new URL(url).searchParams.get('partNumber')).toBeNull();
    const parts = await storage.presignUploadParts('eu', 'a/b/dbdump.zip', 'U1', 3, false, 60);
    expect(parts.urls.map((u) => new URL(u).searchParams.get('partNumber'))).toEqual(['1', '2', '3']);
    expect(parts.urls.every((u) => new URL(u).searchParams.get('uploadId') === 'U1')).toBe(true);
  });
});
