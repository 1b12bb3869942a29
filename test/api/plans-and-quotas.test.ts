/**
 * Server-side plan enforcement: buckets, expiry, stored-backup and restore quotas under
 * concurrency, restore gating, size limit, expiry of backups, idempotent completion.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLANS } from '../../lambdas/domain/plans.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

let api: TestApi;
let clock = Date.now();

beforeAll(async () => {
  api = await startTestApi({
    regions: ['eu', 'usw', 'ap', 'uk'],
    now: () => new Date(clock),
    // The light plan gets a 2 KiB size limit here so the limit can be hit with tiny archives.
    plans: { ...PLANS, light: { ...PLANS.light, sizeLimit: 2048 } },
  });
});
afterAll(async () => {
  await api?.close();
});

const backupBody = (extra: Record<string, unknown> = {}) => ({
  description: 'site', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV, ...extra,
});

async function finishedBackup(site: PluginClient, extra: Record<string, unknown> = {}): Promise<string> {
  const { backupkey } = await site.ok('PUT', 'backups', backupBody(extra));
  await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(100));
  await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: 100 } });
  return backupkey as string;
}

async function accountBackups(site: PluginClient): Promise<Record<string, unknown>[]> {
  return (await site.ok('GET', 'account/backups')).backups as Record<string, unknown>[];
}

describe('PUT backups against the plan', () => {
  it('free: default bucket and fixed 7-day expiry, other buckets and passphrase refused', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount()).apikey);
    await site.ok('PUT', 'backups', backupBody({ expiredays: 30 })); // fixed expiry: the request is ignored (CLI says so)
    const [b] = await accountBackups(site);
    expect(b).toMatchObject({ bucket: 'eu', expiredays: 7, status: 'inprogress' });
    expect(b?.timeexpires).toBe((b?.timecreated as number) + 7 * 86400);
    for (const bad of [{ bucket: 'uk' }, { bucket: 'nowhere' }, { encrypted: true }]) {
      const r = await site.call('PUT', 'backups', backupBody(bad));
      expect(r.status).toBe(403);
      expect(Object.keys(r.body)).toEqual(['message']);
    }
  });

  it('light: expiry 1–30 days, 0 means the default', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'light')).apikey);
    expect((await site.call('PUT', 'backups', backupBody({ expiredays: 31 }))).status).toBe(403);
    await site.ok('PUT', 'backups', backupBody({ expiredays: 30, bucket: 'ap' }));
    await site.ok('PUT', 'backups', backupBody({ expiredays: 0 }));
    const days = (await accountBackups(site)).map((b) => b.expiredays).sort();
    expect(days).toEqual([30, 7]);
  });

  it('pro: 0 = never expires, up to 365 days, more regions', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    await site.ok('PUT', 'backups', backupBody({ bucket: 'uk' }));
    expect((await site.call('PUT', 'backups', backupBody({ expiredays: 366 }))).status).toBe(403);
    const [b] = await accountBackups(site);
    expect(b).toMatchObject({ expiredays: 0, timeexpires: 0, bucket: 'uk' });
  });

  it('50 parallel PUT backups on a plan allowing 3: exactly 3 succeed', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount()).apikey);
    const results = await Promise.all(Array.from({ length: 50 }, () => site.call('PUT', 'backups', backupBody())));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 403)).toHaveLength(47);
    expect(results.find((r) => r.status === 403)?.body).toEqual({ message: expect.stringMatching(/3 stored backups/) });
    // A failed backup frees its slot.
    const [first] = await accountBackups(site);
    await site.ok('PATCH', `backups/${first?.backupkey}`, { status: 'failed', info: { faileddetails: 'boom' } });
    expect((await site.call('PUT', 'backups', backupBody())).status).toBe(200);
    expect((await site.call('PUT', 'backups', backupBody())).status).toBe(403);
  });
});

describe('restores', () => {
  it('5 parallel PUT restores on a plan allowing 2: exactly 2 succeed; dry runs do not count; validate refuses when used up', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount()).apikey);
    const backupkey = await finishedBackup(site);
    const results = await Promise.all(Array.from({ length: 5 }, () => site.call('PUT', 'restores', { backupkey, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 403, 403, 403]);
    expect((await site.call('GET', `backups/${backupkey}/validate`, { vaultversion: VAULT_VERSION })).status).toBe(403);
    expect((await site.call('PUT', 'restores', { backupkey, dryrun: true, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV })).status).toBe(200);
    const account = await site.ok('GET', 'account');
    expect(account.usage).toMatchObject({ restoresthismonth: 2, restoreslast30days: 2, backups: 1, storedbytes: 100 });
  });

  it('needs the restore scope and a finished backup', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const owner = new PluginClient(api.url, apikey);
    const backupkey = await finishedBackup(owner);
    const created = await owner.ok('POST', 'account/keys', { name: 'backup only', scopes: ['backup'] });
    const backupOnly = new PluginClient(api.url, created.apikey as string);
    expect((await backupOnly.call('GET', `backups/${backupkey}/validate`)).status).toBe(403);
    expect((await backupOnly.call('PUT', 'restores', { backupkey })).status).toBe(403);
    expect((await backupOnly.ok('GET', 'backups')).backups).toEqual([]);
    expect((await backupOnly.call('GET', 'account')).status).toBe(403);
    const { backupkey: running } = await owner.ok('PUT', 'backups', backupBody());
    const v = await owner.call('GET', `backups/${running}/validate`);
    expect(v.status).toBe(409);
    expect(v.body.message).toMatch(/not yet completed/);
    expect((await owner.call('PUT', 'restores', { backupkey: running })).status).toBe(409);
    // finished without dbstructure.zip is refused
    expect((await owner.call('PATCH', `backups/${running}`, { status: 'finished', info: { totalsize: 0 } })).status).toBe(409);
  });
});

describe('expiry', () => {
  it('an expired backup disappears from lists and cannot be validated, restored or downloaded', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount()).apikey);
    const backupkey = await finishedBackup(site);
    const { restorekey } = await site.ok('PUT', 'restores', { backupkey, dryrun: true });
    clock += 8 * 86400 * 1000;
    try {
      expect((await site.ok('GET', 'backups')).backups).toEqual([]);
      expect(await accountBackups(site)).toEqual([]);
      expect((await site.call('GET', `backups/${backupkey}`)).status).toBe(404);
      expect((await site.call('GET', `backups/${backupkey}/validate`)).status).toBe(404);
      expect((await site.call('PUT', 'restores', { backupkey })).status).toBe(404);
      expect((await site.call('GET', `restores/${restorekey}/download/dbstructure.zip`)).status).toBe(404);
      // Its quota slot is free again.
      for (let i = 0; i < 3; i++) expect((await site.call('PUT', 'backups', backupBody())).status).toBe(200);
    } finally {
      clock -= 8 * 86400 * 1000;
    }
  });
});

describe('size limit (light plan with a 2 KiB limit in this suite)', () => {
  it('fails the backup at uploadcompleted when S3 sizes exceed it and refuses further upload URLs', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'light')).apikey);
    const pre = await site.ok('PUT', 'backups', { precheckonly: 1, vaultversion: VAULT_VERSION });
    expect(pre.limit).toBe(2048);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody());
    await site.uploadArchive(backupkey as string, 'dbdump.zip', randomBytes(1500));
    const err = await site.uploadArchive(backupkey as string, 'dbdump-1.zip', randomBytes(1500)).catch((e: unknown) => e);
    expect(String(err)).toMatch(/413 .*size limit/);
    expect((await site.call('POST', `backups/${backupkey}/upload/dbstructure.zip`, { contenttype: 'application/zip' })).status).toBe(409);
    const [b] = await accountBackups(site);
    expect(b?.status).toBe('failed');
    expect((await site.call('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: 3000 } })).status).toBe(409);
  });

  it('refuses PATCH finished over the limit', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'light')).apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody());
    // Bytes that reached S3 through a URL issued before the limit was crossed still count.
    const first = await site.ok('POST', `backups/${backupkey}/upload/dbstructure.zip`, { contenttype: 'application/zip' });
    const second = await site.ok('POST', `backups/${backupkey}/upload/dbdump.zip`, { contenttype: 'application/zip' });
    await fetch(first.uploadurl as string, { method: 'PUT', body: randomBytes(1200) });
    await fetch(second.uploadurl as string, { method: 'PUT', body: randomBytes(1200) });
    await site.ok('POST', `backups/${backupkey}/uploadcompleted/dbstructure.zip`, { origsize: 1 });
    const r = await site.call('POST', `backups/${backupkey}/uploadcompleted/dbdump.zip`, { origsize: 1 });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ message: expect.stringMatching(/size limit/) });
  });
});

describe('idempotent uploadcompleted', () => {
  it('a repeated single or multipart completion returns 200 and changes nothing; another UploadId is refused', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody());
    await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(321), { origsize: 1000 });
    const before = await site.ok('GET', `backups/${backupkey}`);
    const repeats = await Promise.all(Array.from({ length: 5 }, () => site.call('POST', `backups/${backupkey}/uploadcompleted/dbstructure.zip`, { origsize: 5 })));
    expect(repeats.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const after = await site.ok('GET', `backups/${backupkey}`);
    expect(after.files).toEqual(before.files);

    const data = randomBytes(5 * 1024 * 1024 + 10);
    await site.uploadArchive(backupkey as string, 'dbdump.zip', data, { partSize: 5 * 1024 * 1024, origsize: 7 });
    const files = (await site.ok('GET', `backups/${backupkey}`)).files as { name: string; size: number }[];
    expect(files.find((f) => f.name === 'dbdump.zip')?.size).toBe(data.length);
    const uploadId = (await api.deps.repo.getUpload((await site.ok('GET', 'account')).accountid as string, backupkey as string, 'dbdump.zip'))?.uploadId;
    const again = await site.call('POST', `backups/${backupkey}/uploadcompleted/dbdump.zip`, { origsize: 7, multipart: { UploadId: uploadId, ETags: ['"x"', '"y"'] } });
    expect(again.status).toBe(200);
    const other = await site.call('POST', `backups/${backupkey}/uploadcompleted/dbdump.zip`, { origsize: 7, multipart: { UploadId: 'someoneelse', ETags: ['"x"'] } });
    expect(other.status).toBe(409);
    const account = await site.ok('GET', 'account');
    expect((account.usage as { storedbytes: number }).storedbytes).toBe(321 + data.length);
  });

  it('records archives completed concurrently (transaction conflicts on the backup are retried)', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody());
    const names = ['dbstructure.zip', 'dbdump.zip', 'dbdump-1.zip', 'dbdump-2.zip', 'dataroot.zip', 'filedir.zip', 'filedir-1.zip', 'filedir-2.zip'];
    const sizes = names.map((_, i) => 100 + i);
    for (const [i, name] of names.entries()) {
      const { uploadurl } = await site.ok('POST', `backups/${backupkey}/upload/${name}`, { contenttype: 'application/zip' });
      expect((await fetch(uploadurl as string, { method: 'PUT', body: randomBytes(sizes[i] ?? 0) })).status).toBe(200);
    }
    const results = await Promise.all(names.map((name) => site.call('POST', `backups/${backupkey}/uploadcompleted/${name}`, { origsize: 1 })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    const files = (await site.ok('GET', `backups/${backupkey}`)).files as { name: string }[];
    expect(files.map((f) => f.name).sort()).toEqual([...names].sort());
    const [b] = await accountBackups(site);
    expect(b).toMatchObject({ info: { totalsize: sizes.reduce((s, n) => s + n, 0) } });
  });

  it('refuses completion of an archive that never reached storage, and an unknown upload id at step 2', async () => {
    const site = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody());
    expect((await site.call('POST', `backups/${backupkey}/uploadcompleted/dbdump.zip`, { origsize: 1 })).status).toBe(409);
    const step2 = await site.call('POST', `backups/${backupkey}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 3, uploadid: 'forged' } }, ['parts']);
    expect(step2.status).toBe(409);
    const step3 = await site.call('POST', `backups/${backupkey}/uploadcompleted/dbdump.zip`, { origsize: 1, multipart: { UploadId: 'forged', ETags: ['"a"'] } });
    expect(step3.status).toBe(409);
  });
});
