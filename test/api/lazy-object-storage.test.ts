/**
 * The Lambda functions' storage (lambdas/store/lazy-object-storage.ts) against Ceph RGW: presigned URLs work
 * at once, and each server-side call reaches S3 through the lazily imported object-storage.ts.
 * (The API tests run createObjectStorage; the bundles test runs this wrapper against a stub.)
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { service } from '../support/services.js';
import { ensureBuckets } from '../../lambdas/store/ensure-stores.js';
import { lazyObjectStorage, lazyServerStorage } from '../../lambdas/store/lazy-object-storage.js';
import { createS3Client } from '../../lambdas/store/s3-client.js';

describe('lazy object storage on RGW', () => {
  it('presigns an upload and serves every server-side call through the lazily loaded S3 code', async () => {
    const rgw = service('rgw');
    const credentials = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
    const bucket = `lazy-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials });
    await ensureBuckets(s3, [bucket]);
    s3.destroy();

    const config = { buckets: { eu: bucket }, endpoint: rgw.endpoint, credentials };
    const storage = lazyObjectStorage(config);
    expect([...storage.regions]).toEqual(['eu']);
    const key = 'acct/BACKUPKEY/dbdump.zip';
    const put = await storage.presignPut('eu', key, false, 60);
    const headers = Object.fromEntries(put.headers.map((h) => h.split(': ') as [string, string]));
    const res = await fetch(put.url, { method: 'PUT', headers, body: new Uint8Array(1234) });
    expect(res.status).toBe(200);

    await expect(storage.ping()).resolves.toBeUndefined();
    expect((await storage.objectInfo('eu', key))?.size).toBe(1234);
    expect(await storage.uploadExists('eu', key, 'no-such-upload')).toBe(false);
    expect(await storage.completeMultipart('eu', key, 'no-such-upload', ['Unknown'])).toBe(false);

    const ops = lazyServerStorage(config);
    expect(await ops.abortStaleUploads('eu', new Date())).toBe(0);
    expect(await ops.deletePrefix('eu', 'acct/BACKUPKEY/')).toBe(1);
    expect(await storage.objectInfo('eu', key)).toBeUndefined();
  });
});
