/** Account API: registration (one account per email, also concurrently), verification, keys, usage, listings. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const register = (email: string) => fetch(`${api.url}/account/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email }) });

describe('register', () => {
  it('creates one account per email, also under 10 concurrent registrations', async () => {
    const email = `race-${randomBytes(4).toString('hex')}@example.com`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => register(i % 2 ? email.toUpperCase() : email)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 200);
    const body = (await winner?.json()) as { apikey: string; accountid: string };
    expect(body.apikey).toMatch(/^vault[A-Za-z0-9]{38}$/);
    expect((await new PluginClient(api.url, body.apikey).call('GET', 'validateapikey')).status).toBe(200);
    const loser = results.find((r) => r.status === 409);
    expect(await loser?.json()).toEqual({ message: 'An account with this email address already exists' });
  });

  it('issues a signed, expiring verification link that marks the account verified', async () => {
    const email = `verify-${randomBytes(4).toString('hex')}@example.com`;
    const { apikey } = (await (await register(email)).json()) as { apikey: string };
    const site = new PluginClient(api.url, apikey);
    expect(await site.ok('GET', 'account')).toMatchObject({ email, verified: false, plan: { id: 'free', limit: 2 * 1024 ** 3 } });
    const link = api.verifications.find((v) => v.email === email)?.link ?? '';
    expect(link).toMatch(/\/account\/verify\?token=[\w-]+\.[\w-]+\.[\w-]+$/);
    const token = new URL(link).searchParams.get('token') ?? '';
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await fetch(`${api.url}/account/verify?token=${tampered}`)).status).toBe(400);
    const ok = await fetch(`${api.url}/account/verify?token=${token}`);
    expect(ok.status).toBe(200);
    expect((await site.ok('GET', 'account')).verified).toBe(true);
  });
});

describe('API keys', () => {
  it('lists, creates with name and scopes (shown once), revokes with immediate effect', async () => {
    const { apikey } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const listed = (await site.ok('GET', 'account/keys')).keys as Record<string, unknown>[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ name: 'default', scopes: ['backup', 'restore', 'account'], hint: `${apikey.slice(0, 9)}...` });
    expect(JSON.stringify(listed)).not.toContain(apikey.slice(9));

    const created = await site.ok('POST', 'account/keys', { name: 'restore laptop', scopes: ['restore'] });
    expect(created).toMatchObject({ name: 'restore laptop', scopes: ['restore'] });
    const restoreOnly = new PluginClient(api.url, created.apikey as string);
    expect((await restoreOnly.call('GET', 'validateapikey')).status).toBe(200);
    expect((await restoreOnly.call('PUT', 'backups', { precheckonly: 1 })).status).toBe(403);
    const after = (await site.ok('GET', 'account/keys')).keys as Record<string, unknown>[];
    expect(after.map((k) => k.name).sort()).toEqual(['default', 'restore laptop']);
    expect(JSON.stringify(after)).not.toContain(String(created.apikey).slice(9));

    await site.ok('DELETE', `account/keys/${created.keyid}`);
    const refused = await restoreOnly.call('GET', 'validateapikey');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ message: 'The API key is not valid' });
    expect((await site.call('DELETE', `account/keys/${created.keyid}`)).status).toBe(404);
    // Revoking the key in use (the account's last one, so confirmed): its next request fails.
    await site.ok('DELETE', `account/keys/${listed[0]?.keyid}?confirm=lastkey`);
    expect((await site.call('GET', 'account')).status).toBe(401);
  });
});

describe('account backups', () => {
  it('lists every site\'s backups newest first, paginated, filtered by site and status', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const a = new PluginClient(api.url, apikey, 'SITEA');
    const b = new PluginClient(api.url, apikey, 'SITEB', 'https://b.example.com');
    const keys: string[] = [];
    for (const site of [a, b, a, b, a]) {
      keys.push((await site.ok('PUT', 'backups', { description: `d${keys.length}`, encrypted: false, bucket: '', expiredays: 0 })).backupkey as string);
      clock += 1000; // distinct timecreated seconds
    }
    await a.uploadArchive(keys[0] as string, 'dbstructure.zip', randomBytes(10));
    await a.ok('PATCH', `backups/${keys[0]}`, { status: 'finished', info: { totalsize: 10 } });

    const page1 = await a.ok('GET', 'account/backups?limit=2');
    const p1 = page1.backups as Record<string, unknown>[];
    expect(p1.map((x) => x.backupkey)).toEqual([keys[4], keys[3]]);
    const page2 = await a.ok('GET', `account/backups?limit=2&cursor=${page1.nextcursor}`);
    const page3 = await a.ok('GET', `account/backups?limit=2&cursor=${page2.nextcursor}`);
    expect([...(page2.backups as { backupkey: string }[]), ...(page3.backups as { backupkey: string }[])].map((x) => x.backupkey)).toEqual([keys[2], keys[1], keys[0]]);
    expect(page3.nextcursor).toBeUndefined();
    expect(p1[0]).toMatchObject({ siteid: 'SITEA', siteurl: 'https://moodle.example.com/sub', bucket: 'eu', status: 'inprogress' });

    const siteB = (await a.ok('GET', 'account/backups?site=SITEB')).backups as { backupkey: string }[];
    expect(siteB.map((x) => x.backupkey)).toEqual([keys[3], keys[1]]);
    const finished = (await a.ok('GET', 'account/backups?status=finished&limit=1')).backups as { backupkey: string }[];
    expect(finished.map((x) => x.backupkey)).toEqual([keys[0]]);
    expect((await a.ok('GET', 'account')).usage).toMatchObject({ backups: 5, storedbytes: 10 });
    // A cursor is only good for the account that got it.
    const other = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const r = await other.call('GET', `account/backups?limit=2&cursor=${page1.nextcursor}`);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ message: 'Invalid cursor' });
  });
});
