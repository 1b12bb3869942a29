/**
 * The plugin's call sequences (spec §8) replayed over HTTP against the real API, with the archive
 * bytes going to and from Ceph RGW through the presigned URLs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { headerLines, PluginClient, sseHeaders, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

const MIB = 1024 * 1024;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap', 'uk', 'au'] });
});
afterAll(async () => {
  await api?.close();
});

async function startBackup(site: PluginClient, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await site.ok('PUT', 'backups', {
    description: 'https://moodle.example.com/sub by Admin Üser', encrypted: false, bucket: '', expiredays: 0,
    vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV, ...extra,
  });
  expect(r.backupkey).toMatch(/^[A-Z0-9]{32}$/);
  return r.backupkey as string;
}

describe('validateapikey', () => {
  it('accepts a registered key and answers 401 for wrong, missing and forged keys', async () => {
    const { apikey } = await api.registerAccount();
    expect((await new PluginClient(api.url, apikey).call('GET', 'validateapikey')).status).toBe(200);
    for (const bad of ['hellothereThisisaninvalidAPIkeythatlooksvalid', undefined, `${apikey.slice(0, -1)}${apikey.endsWith('A') ? 'B' : 'A'}`]) {
      const r = await new PluginClient(api.url, bad).call('GET', 'validateapikey');
      expect(r.status).toBe(401);
      expect(Object.keys(r.body)).toEqual(['message']);
    }
  });
});

describe('backup and restore, single uploads (free plan, CLI defaults)', () => {
  it('precheck, create, upload, finish, list, get, validate, restore, download, dry run, resume', async () => {
    const { apikey } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const pre = await site.ok('PUT', 'backups', { precheckonly: 1, vaultversion: VAULT_VERSION });
    expect(pre).toEqual({
      expiredays: 7, canchangeexpiration: false, limit: 2 * 1024 ** 3,
      buckets: [
        { id: 'eu', label: 'Europe', isdefault: true, encryption: false, type: 'aws' },
        { id: 'usw', label: 'Western North America', isdefault: false, encryption: false, type: 'aws' },
        { id: 'ap', label: 'Asia-Pacific', isdefault: false, encryption: false, type: 'aws' },
      ],
    });
    const backupkey = await startBackup(site);
    const archives: Record<string, Buffer> = { 'dbdump.zip': randomBytes(3000), 'dbstructure.zip': randomBytes(1500), 'dataroot.zip': randomBytes(10), 'filedir-1.zip': randomBytes(777) };
    for (const [name, data] of Object.entries(archives)) await site.uploadArchive(backupkey, name, data, { origsize: data.length * 2 });
    const totalsize = Object.values(archives).reduce((s, d) => s + d.length, 0);
    // Not listed while in progress for the plugin's purposes (status is not "finished").
    const during = await site.ok('GET', 'backups');
    expect((during.backups as { status: string }[]).map((b) => b.status)).toEqual(['inprogress']);
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize } });

    const list = (await site.ok('GET', 'backups')).backups as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ backupkey, status: 'finished', info: { description: 'https://moodle.example.com/sub by Admin Üser', encrypted: false, totalsize, samesite: true } });
    expect(typeof list[0]?.timecreated).toBe('number');
    expect(typeof (list[0]?.info as { timefinished: number }).timefinished).toBe('number');

    const one = await site.ok('GET', `backups/${backupkey}`);
    const files = one.files as Record<string, unknown>[];
    expect(files.map((f) => f.name).sort()).toEqual(Object.keys(archives).sort());
    for (const f of files) {
      expect(f).not.toHaveProperty('id');
      expect(f.size).toBe(archives[f.name as string]?.length);
      expect(f.origsize).toBe((archives[f.name as string]?.length ?? 0) * 2);
    }

    expect(await site.ok('GET', `backups/${backupkey}/validate`, { vaultversion: VAULT_VERSION })).toEqual({ encrypted: false });

    // Restore on another site of the same account.
    const other = new PluginClient(api.url, apikey, 'S1TE0000000000000000000000000002', 'https://new.example.com');
    expect(((await other.ok('GET', 'backups')).backups as { info: { samesite: boolean } }[])[0]?.info.samesite).toBe(false);
    const { restorekey } = await other.ok('PUT', 'restores', { backupkey, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect(restorekey).toMatch(/^[A-Z0-9]{32}$/);
    for (const name of ['dbstructure.zip', 'dbdump.zip', 'dataroot.zip', 'filedir-1.zip']) {
      expect((await other.downloadArchive(restorekey as string, name)).equals(archives[name] as Buffer)).toBe(true);
    }
    // Failure after the database stage, then resume with the original key, then finished.
    await other.ok('PATCH', `restores/${restorekey}`, { status: 'failed', info: { faileddetails: 'disk full\n\nPHP 8.3 / Moodle 4.5 / DB pgsql\n#0 trace' } });
    expect((await other.call('GET', `restores/${restorekey}/download/dbstructure.zip`)).status).toBe(409);
    await other.ok('PATCH', `restores/${restorekey}`, { status: 'resume', info: { backupkey } });
    expect((await other.downloadArchive(restorekey as string, 'filedir-1.zip')).equals(archives['filedir-1.zip'] as Buffer)).toBe(true);
    await other.ok('PATCH', `restores/${restorekey}`, { status: 'finished' });

    // Dry run: only dbstructure.zip, does not use the restore quota.
    const dry = await other.ok('PUT', 'restores', { backupkey, dryrun: true, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect((await other.downloadArchive(dry.restorekey as string, 'dbstructure.zip')).equals(archives['dbstructure.zip'] as Buffer)).toBe(true);
    await other.ok('PATCH', `restores/${dry.restorekey}`, { status: 'finished' });
  });
});

describe('multipart upload (≥ 3 parts, small part size)', () => {
  it('completes on uploadcompleted, records the S3 size, is idempotent, restores the same bytes', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const backupkey = await startBackup(site, { bucket: 'uk', expiredays: 3 });
    const big = randomBytes(10 * MIB + 1024);
    await site.uploadArchive(backupkey, 'dbdump.zip', big, { partSize: 5 * MIB, origsize: 99 * MIB });
    const structure = randomBytes(200);
    await site.uploadArchive(backupkey, 'dbstructure.zip', structure);
    const one = await site.ok('GET', `backups/${backupkey}`);
    const dump = (one.files as Record<string, unknown>[]).find((f) => f.name === 'dbdump.zip');
    expect(dump).toMatchObject({ size: big.length, origsize: 99 * MIB });
    expect(String(dump?.etag)).toMatch(/-3$/);
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: big.length + structure.length } });
    const { restorekey } = await site.ok('PUT', 'restores', { backupkey, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect((await site.downloadArchive(restorekey as string, 'dbdump.zip')).equals(big)).toBe(true);
  });
});

describe('encrypted backup (SSE-C, pro plan)', () => {
  it('signs the SSE-C algorithm header, validates with a HEAD URL, refuses a wrong key, restores the bytes', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const pre = await site.ok('PUT', 'backups', { precheckonly: 1, vaultversion: VAULT_VERSION });
    const buckets = pre.buckets as { id: string; encryption: boolean }[];
    expect(buckets.find((b) => b.id === 'eu')?.encryption).toBe(true);
    expect(buckets.find((b) => b.id === 'au')?.encryption).toBe(false);
    expect(pre).toMatchObject({ expiredays: 0, canchangeexpiration: true, limit: 0 });
    const backupkey = await startBackup(site, { encrypted: true, bucket: 'eu', expiredays: 30 });
    const dump = randomBytes(10 * MIB + 5);
    const structure = randomBytes(4096);
    await site.uploadArchive(backupkey, 'dbdump.zip', dump, { passphrase: 'hello', partSize: 5 * MIB });
    await site.uploadArchive(backupkey, 'dbstructure.zip', structure, { passphrase: 'hello' });
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: dump.length + structure.length } });
    const listed = ((await site.ok('GET', 'backups')).backups as { info: { encrypted: boolean } }[])[0];
    expect(listed?.info.encrypted).toBe(true);

    const v = await site.ok('GET', `backups/${backupkey}/validate`, { vaultversion: VAULT_VERSION });
    expect(v.encrypted).toBe(true);
    expect(v.downloadheaders).toEqual(['x-amz-server-side-encryption-customer-algorithm: AES256']);
    const head = (passphrase: string) => fetch(v.downloadurl as string, { method: 'HEAD', headers: headerLines([...sseHeaders(passphrase), ...(v.downloadheaders as string[])]) });
    expect((await head('hello')).status).toBe(200);
    // Signed for HEAD only: the same URL refuses a GET even with the right key.
    expect((await fetch(v.downloadurl as string, { headers: headerLines([...sseHeaders('hello'), ...(v.downloadheaders as string[])]) })).status).toBe(403);
    const wrong = await head('wrong passphrase');
    expect(wrong.status).toBeGreaterThanOrEqual(400); // AWS: 403, RGW: 400 — refused either way
    // Without any key, a plain GET of the object is refused too.
    const d = await site.ok('PUT', 'restores', { backupkey, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    const dl = await site.ok('GET', `restores/${d.restorekey}/download/dbstructure.zip`);
    expect(dl.encrypted).toBe(true);
    expect((await fetch(dl.downloadurl as string)).status).toBeGreaterThanOrEqual(400);
    expect((await site.downloadArchive(d.restorekey as string, 'dbstructure.zip', 'hello')).equals(structure)).toBe(true);
    expect((await site.downloadArchive(d.restorekey as string, 'dbdump.zip', 'hello')).equals(dump)).toBe(true);
  });

  it('refuses a passphrase on a plan or storage without encryption', async () => {
    const free = new PluginClient(api.url, (await api.registerAccount()).apikey);
    const r1 = await free.call('PUT', 'backups', { description: 'x', encrypted: true, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect(r1.status).toBe(403);
    expect(r1.body).toEqual({ message: expect.stringMatching(/Passphrase/) });
    const pro = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const r2 = await pro.call('PUT', 'backups', { description: 'x', encrypted: true, bucket: 'au', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect(r2.status).toBe(403);
  });
});
