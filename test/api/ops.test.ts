/** The scheduled ops run: expired backups lose their objects, abandoned ones fail, stale multipart uploads are aborted. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOps } from '../../lambdas/ops/run-ops.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { PluginClient } from './plugin-client.js';

let api: TestApi;
let clock = Date.now();
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'], now: () => new Date(clock) });
});
afterAll(async () => {
  await api?.close();
});

describe('ops run', () => {
  it('expires, fails abandoned backups, aborts stale uploads; a second run does nothing', async () => {
    const { apikey, accountid } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const body = { description: 'x', encrypted: false, bucket: '', expiredays: 0 };
    const { backupkey: old } = await site.ok('PUT', 'backups', body);
    await site.uploadArchive(old as string, 'dbstructure.zip', randomBytes(64));
    await site.ok('PATCH', `backups/${old}`, { status: 'finished', info: { totalsize: 64 } });
    const { backupkey: abandoned } = await site.ok('PUT', 'backups', body);
    await site.uploadArchive(abandoned as string, 'dbdump.zip', randomBytes(32));
    // A multipart upload initiated and never completed.
    const step1 = await site.ok('POST', `backups/${abandoned}/upload/filedir.zip`, { contenttype: 'application/zip', multipart: { parts: 2 } }, ['parts']);
    expect((await fetch(step1.multiplarturl as string, { method: 'POST' })).status).toBe(200);

    const opts = { staleBackupHours: 48, staleUploadDays: 7 };
    expect(await runOps(api.deps, opts)).toEqual({ expiredBackups: 0, failedStaleBackups: 0, deletedObjects: 0, abortedUploads: 0 });

    clock += 3 * 86400 * 1000; // abandoned: untouched for 72 h
    expect(await runOps(api.deps, opts)).toMatchObject({ expiredBackups: 0, failedStaleBackups: 1, deletedObjects: 1 });
    expect((await api.deps.repo.getBackup(accountid, abandoned as string))?.status).toBe('failed');
    expect(await api.deps.storage.objectInfo('eu', `${accountid}/${abandoned}/dbdump.zip`)).toBeUndefined();

    clock += 5 * 86400 * 1000; // old: past its 7 days; the upload is 8 days old
    // Both records are past their 7 days now; only the finished one still had objects.
    expect(await runOps(api.deps, opts)).toEqual({ expiredBackups: 2, failedStaleBackups: 0, deletedObjects: 1, abortedUploads: 1 });
    expect(await api.deps.storage.objectInfo('eu', `${accountid}/${old}/dbstructure.zip`)).toBeUndefined();
    expect(await runOps(api.deps, opts)).toEqual({ expiredBackups: 0, failedStaleBackups: 0, deletedObjects: 0, abortedUploads: 0 });
  });
});
