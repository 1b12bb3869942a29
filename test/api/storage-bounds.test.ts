/**
 * What storage may hold for a backup (issue 15, second part): bytes over the plan's size limit
 * and bytes uploaded through URLs issued before a backup failed, finished or was deleted do not
 * survive; quota slots are claimed and freed in the same transaction as the record they belong to,
 * so no failure (or Lambda dying) in between can leak one. Each case failed before its fix.
 */
import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepDelaySeconds } from '../../lambdas/domain/limits.js';
import { PLANS } from '../../lambdas/domain/plans.js';
import { runOps, type OpsOptions } from '../../lambdas/ops/run-ops.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { service } from '../support/services.js';
import { appFailing } from './failing-app.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

const LIMIT = 2048;
const MAX_PRESIGN = 3600;
let api: TestApi;
let s3: S3Client;
let clock = Date.now();
const plans = { ...PLANS, light: { ...PLANS.light, sizeLimit: LIMIT } };
const opsOptions: OpsOptions = { staleBackupHours: 48, staleRestoreHours: 48, staleUploadDays: 7, sweepDelaySeconds: sweepDelaySeconds(MAX_PRESIGN) };

beforeAll(async () => {
  // The light plan gets a 2 KiB size limit here so that the limit can be hit with tiny archives.
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'], now: () => new Date(clock), plans, maxPresignSeconds: MAX_PRESIGN });
  const rgw = service('rgw');
  s3 = new S3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
});
afterAll(async () => {
  s3?.destroy();
  await api?.close();
});

const backupBody = { description: 'site', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV };
const ops = () => runOps({ repo: api.deps.repo, storage: api.deps.storage, now: () => new Date(clock), plans }, opsOptions);

async function objects(prefix: string): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: api.buckets.eu, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => (o.Key ?? '').slice(prefix.length)).sort();
}

async function openUploads(prefix: string): Promise<number> {
  return ((await s3.send(new ListMultipartUploadsCommand({ Bucket: api.buckets.eu, Prefix: prefix }))).Uploads ?? []).length;
}

async function put(url: string, bytes: number): Promise<number> {
  return (await fetch(url, { method: 'PUT', body: randomBytes(bytes), headers: { 'Content-Type': 'application/zip' } })).status;
}

/** Multipart step 1 and the initiate POST: the upload id. */
async function initiate(site: PluginClient, backupkey: string, name: string, parts: number): Promise<string> {
  const step1 = await site.ok('POST', `backups/${backupkey}/upload/${name}`, { contenttype: 'application/zip', multipart: { parts } }, ['parts']);
  const xml = await (await fetch(step1.multiplarturl as string, { method: 'POST', headers: { 'Content-Type': 'application/zip' } })).text();
  const id = /<UploadId>([^<]+)<\/UploadId>/.exec(xml)?.[1];
  if (!id) throw new Error(`no UploadId in ${xml}`);
  return id;
}

async function newSite(plan: 'free' | 'light' | 'pro'): Promise<{ site: PluginClient; accountid: string; apikey: string }> {
  const { apikey, accountid } = await api.registerAccount(undefined, plan);
  return { site: new PluginClient(api.url, apikey), accountid, apikey };
}

describe('size limit before completion', () => {
  it('a multipart upload whose parts already exceed the limit gets no more part URLs: the backup fails, its upload is aborted', async () => {
    const { site, accountid } = await newSite('light');
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    const prefix = `${accountid}/${backupkey as string}/`;
    const uploadid = await initiate(site, backupkey as string, 'dbdump.zip', 2);
    // A streaming client asks for part URLs in batches; the first batch is answered.
    const batch = await site.ok('POST', `backups/${backupkey}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 2, uploadid } }, ['parts']);
    expect(await put((batch.uploadurls as string[])[0] as string, LIMIT + 1)).toBe(200);
    const next = await site.call('POST', `backups/${backupkey}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 4, uploadid } }, ['parts']);
    expect(next.status).toBe(413);
    expect(next.body).toEqual({ message: expect.stringMatching(/size limit/) });
    expect((await site.ok('GET', 'account/backups')).backups).toMatchObject([{ backupkey, status: 'failed' }]);
    expect(await openUploads(prefix)).toBe(0);
  });

  it('finishing deletes what was uploaded through a URL but never completed', async () => {
    const { site, accountid } = await newSite('light');
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    const prefix = `${accountid}/${backupkey as string}/`;
    await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(100));
    const extra = await site.ok('POST', `backups/${backupkey}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    expect(await put(extra.uploadurl as string, 5000)).toBe(200);
    await initiate(site, backupkey as string, 'filedir.zip', 2);
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: 100 } });
    expect(await objects(prefix)).toEqual(['dbstructure.zip']);
    expect(await openUploads(prefix)).toBe(0);
  });

  it('the ops run fails an in-progress backup whose stored bytes (objects and parts) exceed the limit, and deletes them', async () => {
    const { site, accountid } = await newSite('light');
    const { backupkey: objectsOver } = await site.ok('PUT', 'backups', backupBody);
    const single = await site.ok('POST', `backups/${objectsOver}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    expect(await put(single.uploadurl as string, LIMIT + 1)).toBe(200);
    const { backupkey: partsOver } = await site.ok('PUT', 'backups', backupBody);
    const uploadid = await initiate(site, partsOver as string, 'dbdump.zip', 1);
    const urls = await site.ok('POST', `backups/${partsOver}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 1, uploadid } }, ['parts']);
    expect(await put((urls.uploadurls as string[])[0] as string, LIMIT + 1)).toBe(200);
    const { backupkey: within } = await site.ok('PUT', 'backups', backupBody);
    const small = await site.ok('POST', `backups/${within}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    expect(await put(small.uploadurl as string, LIMIT)).toBe(200);

    expect(await ops()).toMatchObject({ overLimitBackups: 2, failedStaleBackups: 0 });
    const status = async (k: unknown) => (await api.deps.repo.getBackup(accountid, k as string))?.status;
    expect([await status(objectsOver), await status(partsOver), await status(within)]).toEqual(['failed', 'failed', 'inprogress']);
    expect(await objects(`${accountid}/${objectsOver as string}/`)).toEqual([]);
    expect(await openUploads(`${accountid}/${partsOver as string}/`)).toBe(0);
    expect(await objects(`${accountid}/${within as string}/`)).toEqual(['dbdump.zip']);
  });
});

describe('uploads through URLs issued before a backup ended', () => {
  it('are deleted by the sweep once the URLs have expired: failed, deleted and finished backups (recorded archives kept)', async () => {
    const { site, accountid } = await newSite('pro');
    const prefix = (k: unknown) => `${accountid}/${k as string}/`;
    // failed: URLs for an archive and a multipart upload issued while it ran.
    const { backupkey: failed } = await site.ok('PUT', 'backups', backupBody);
    const late = await site.ok('POST', `backups/${failed}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    const openUpload = await initiate(site, failed as string, 'filedir.zip', 1);
    const openParts = await site.ok('POST', `backups/${failed}/upload/filedir.zip`, { contenttype: 'application/zip', multipart: { parts: 1, uploadid: openUpload } }, ['parts']);
    const lateInitiate = await site.ok('POST', `backups/${failed}/upload/filedir-1.zip`, { contenttype: 'application/zip', multipart: { parts: 1 } }, ['parts']);
    await site.ok('PATCH', `backups/${failed}`, { status: 'failed', info: { faileddetails: 'boom' } });
    // Its open upload was aborted at the failure: its part URLs are dead at once.
    expect(await put((openParts.uploadurls as string[])[0] as string, 300)).toBe(404);
    // deleted through the account API.
    const { backupkey: deleted } = await site.ok('PUT', 'backups', backupBody);
    const lateDeleted = await site.ok('POST', `backups/${deleted}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    await site.ok('DELETE', `account/backups/${deleted}`);
    // finished: an archive URL that was never used before finishing.
    const { backupkey: finished } = await site.ok('PUT', 'backups', backupBody);
    await site.uploadArchive(finished as string, 'dbstructure.zip', randomBytes(100));
    const lateFinished = await site.ok('POST', `backups/${finished}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    await site.ok('PATCH', `backups/${finished}`, { status: 'finished', info: { totalsize: 100 } });

    // The URLs still work after the backups ended.
    expect(await put(late.uploadurl as string, 300)).toBe(200);
    expect((await fetch(lateInitiate.multiplarturl as string, { method: 'POST', headers: { 'Content-Type': 'application/zip' } })).status).toBe(200);
    expect(await openUploads(prefix(failed))).toBe(1);
    expect(await put(lateDeleted.uploadurl as string, 300)).toBe(200);
    expect(await put(lateFinished.uploadurl as string, 300)).toBe(200);
    expect(await objects(prefix(failed))).toEqual(['dbdump.zip']);
    expect(await objects(prefix(finished))).toEqual(['dbdump.zip', 'dbstructure.zip']);

    // Before the URLs' lifetime has passed the sweep waits (a URL could still be used).
    expect(await ops()).toMatchObject({ sweptBackups: 0 });
    clock += (opsOptions.sweepDelaySeconds + 1) * 1000;
    // (Backups of this file's other tests are swept in the same run.)
    expect((await ops()).sweptBackups).toBeGreaterThanOrEqual(3);
    expect(await objects(prefix(failed))).toEqual([]);
    expect(await openUploads(prefix(failed))).toBe(0);
    expect(await objects(prefix(deleted))).toEqual([]);
    expect(await objects(prefix(finished))).toEqual(['dbstructure.zip']);
    // Swept once: off the queue (the finished one waits for its expiry, which is never on pro).
    expect(await ops()).toMatchObject({ sweptBackups: 0, deletedObjects: 0 });
    expect((await site.ok('GET', `backups/${finished}`)).files).toMatchObject([{ name: 'dbstructure.zip' }]);
  });
});

const skOf = (cmd: unknown): string[] => {
  if (cmd instanceof PutCommand) return [String(cmd.input.Item?.sk)];
  if (cmd instanceof UpdateCommand) return [String(cmd.input.Key?.sk)];
  if (cmd instanceof TransactWriteCommand) return (cmd.input.TransactItems ?? []).map((t) => String(t.Put?.Item?.sk ?? t.Update?.Key?.sk));
  return [];
};
/** A write of the record (alone or in a transaction) fails, and so does any slot write on its own: the compensation never runs. */
const recordAndLoneSlotWrites = (record: string, slot: string) => (cmd: unknown): boolean =>
  skOf(cmd).some((sk) => sk.startsWith(record)) || (!(cmd instanceof TransactWriteCommand) && skOf(cmd).some((sk) => sk.startsWith(slot)) && !(cmd instanceof PutCommand));

describe('quota slots and the records that hold them are written together', () => {
  it('PUT backups: a record write that fails leaves no slot claimed, even when nothing could give it back', async () => {
    const { site, apikey } = await newSite('free'); // 3 stored backups
    const broken = appFailing(api, recordAndLoneSlotWrites('BACKUP#', 'BSLOT#'));
    for (let i = 0; i < 4; i++) expect((await broken.site(apikey).call('PUT', 'backups', backupBody)).status).toBe(500);
    expect(broken.injected()).toBeGreaterThanOrEqual(4);
    broken.close();
    for (let i = 0; i < 3; i++) await site.ok('PUT', 'backups', backupBody);
    expect((await site.call('PUT', 'backups', backupBody)).status).toBe(403);
  });

  it('PUT restores: a record write that fails leaves no slot claimed, even when nothing could give it back', async () => {
    const { site, apikey } = await newSite('free'); // 2 restores per 30 days
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(100));
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: {} });
    const broken = appFailing(api, recordAndLoneSlotWrites('RESTORE#', 'RSLOT#'));
    for (let i = 0; i < 3; i++) expect((await broken.site(apikey).call('PUT', 'restores', { backupkey })).status).toBe(500);
    broken.close();
    await site.ok('PUT', 'restores', { backupkey });
    await site.ok('PUT', 'restores', { backupkey });
    expect((await site.call('PUT', 'restores', { backupkey })).status).toBe(403);
  });

  it('PATCH failed and DELETE free the slot in the same write as the status: a slot write on its own never happens', async () => {
    const { site, apikey } = await newSite('free');
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await site.ok('PUT', 'backups', backupBody)).backupkey as string);
    expect((await site.call('PUT', 'backups', backupBody)).status).toBe(403);
    // Any slot update outside a transaction fails (a Lambda dying between the status write and the release).
    const broken = appFailing(api, (cmd) => cmd instanceof UpdateCommand && skOf(cmd).some((sk) => sk.startsWith('BSLOT#')));
    expect((await broken.site(apikey).call('PATCH', `backups/${keys[0]}`, { status: 'failed', info: { faileddetails: 'x' } })).status).toBe(200);
    expect((await broken.site(apikey).call('DELETE', `account/backups/${keys[1]}`)).status).toBe(200);
    expect(broken.injected()).toBe(0);
    broken.close();
    await site.ok('PUT', 'backups', backupBody);
    await site.ok('PUT', 'backups', backupBody);
    expect((await site.call('PUT', 'backups', backupBody)).status).toBe(403);
  });
});
