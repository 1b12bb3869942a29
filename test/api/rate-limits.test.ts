/**
 * Rate limits (429 + Retry-After, `{"message"}`): per source IP for requests without a valid
 * key, per account for authenticated ones; fixed windows counted in DynamoDB, driven here by a
 * clock the test moves. A normal plugin run stays far below the defaults (checked on the numbers).
 * An authenticated request waits for one DynamoDB request before its route once the instance
 * knows the key (the account's gate write, which checks the key and counts the request), without
 * weakening revocation or suspension; keys older than the gate are put on it on first use.
 */
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lambdas/app.js';
import { DEFAULT_RATE_LIMITS } from '../../lambdas/domain/rate-limits.js';
import { createRepository, usageMonth } from '../../lambdas/store/repository.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { roundTrips, tracingClient } from '../support/recording-ddb.js';

let api: TestApi;
let clock = Date.UTC(2026, 0, 1, 12, 0, 0);
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'] });
});
afterAll(async () => {
  await api?.close();
});

function limitedApp(repo = api.deps.repo) {
  return createApp({
    ...api.deps,
    repo,
    now: () => new Date(clock),
    rateLimits: {
      limits: { anonymousPerIp: { limit: 3, windowSeconds: 60 }, perAccount: { limit: 5, windowSeconds: 60 } },
      // The test names the caller's address; the Lambda uses API Gateway's sourceIp.
      clientIp: (c) => c.req.header('x-test-ip') ?? 'none',
    },
  });
}

describe('rate limits', () => {
  it('anonymous requests: per source IP, 429 with Retry-After until the window ends', async () => {
    const app = limitedApp();
    const report = (ip: string) => app.request('/reporterror', { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-test-ip': ip }, body: '{"faileddetails":"x"}' });
    clock = Date.UTC(2026, 0, 1, 12, 0, 10);
    for (let i = 0; i < 3; i++) expect((await report('192.0.2.1')).status).toBe(200);
    const refused = await report('192.0.2.1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('50');
    expect(await refused.json()).toEqual({ message: expect.any(String) as string });
    // Another address is not affected; a wrong key counts as anonymous.
    expect((await report('192.0.2.2')).status).toBe(200);
    const badKey = await app.request('/validateapikey', { headers: { 'x-test-ip': '192.0.2.1', 'X-Api-Key': 'hellothereThisisaninvalidAPIkeythatlooksvalid' } });
    expect(badKey.status).toBe(429);
    // The next window.
    clock = Date.UTC(2026, 0, 1, 12, 1, 0);
    expect((await report('192.0.2.1')).status).toBe(200);
  });

  it('anonymous requests from IPv6 count per /64: rotating addresses inside it does not escape the limit', async () => {
    const app = limitedApp();
    const report = (ip: string) => app.request('/reporterror', { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-test-ip': ip }, body: '{"faileddetails":"x"}' });
    clock = Date.UTC(2026, 0, 1, 12, 30, 10);
    for (let i = 1; i <= 3; i++) expect((await report(`2001:db8:5:6::${i}`)).status).toBe(200);
    expect((await report('2001:db8:5:6:ffff:1:2:3')).status).toBe(429);
    expect((await report('2001:db8:5:7::1')).status).toBe(200);
  });

  it('authenticated requests: per account, across its keys, whatever the address', async () => {
    const app = limitedApp();
    const { apikey } = await api.registerAccount();
    const second = ((await (await app.request('/account/keys', { method: 'POST', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json', 'x-test-ip': '198.51.100.1' }, body: '{}' })).json()) as { apikey: string }).apikey;
    const { apikey: other } = await api.registerAccount();
    clock = Date.UTC(2026, 0, 1, 13, 0, 0);
    const get = (key: string, ip: string) => app.request('/account', { headers: { 'X-Api-Key': key, 'x-test-ip': ip } });
    for (let i = 0; i < 5; i++) expect((await get(i % 2 ? apikey : second, `198.51.100.${i}`)).status).toBe(200);
    const refused = await get(apikey, '198.51.100.9');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(Object.keys((await refused.json()) as object)).toEqual(['message']);
    expect((await get(second, '198.51.100.10')).status).toBe(429);
    expect((await get(other, '198.51.100.9')).status).toBe(200);
    clock = Date.UTC(2026, 0, 1, 13, 1, 0);
    expect((await get(apikey, '198.51.100.9')).status).toBe(200);
  });

  it('one DynamoDB request before the route once the instance knows the key; the first request of a key reads it first', async () => {
    const trace = tracingClient();
    const repo = createRepository(trace.client, api.tableName);
    const app = limitedApp(repo);
    const { apikey } = await api.registerAccount();
    const site = { 'X-Api-Key': apikey, 'X-Vault-Siteid': 'rt-site', 'X-Vault-Siteurl': 'https://rt.example', 'x-test-ip': '203.0.113.5' };
    const rounds = async (path: string, on = app) => {
      trace.events.length = 0;
      const res = await on.request(path, { headers: site });
      expect(res.status, await res.clone().text()).toBe(200);
      return roundTrips(trace.events);
    };
    clock = Date.UTC(2026, 0, 1, 14, 0, 0);
    // New to the instance, first of the window: read, count, reset the window.
    expect(await rounds('/validateapikey')).toEqual([['GetCommand'], ['UpdateCommand'], ['UpdateCommand']]);
    // Known: one write to the account's gate, which checks the key and counts; no key read.
    expect(await rounds('/validateapikey')).toEqual([['UpdateCommand']]);
    // GET backups: its list too (routes/early-reads.ts), used once the gate has said yes.
    expect(await rounds('/backups')).toEqual([['UpdateCommand', 'QueryCommand']]);
    // Another instance (a new app) reads the key before its first admission, once.
    const other = limitedApp(repo);
    expect(await rounds('/validateapikey', other)).toEqual([['GetCommand'], ['UpdateCommand']]);
    expect(await rounds('/validateapikey', other)).toEqual([['UpdateCommand']]);
    // Without rate limits: the same single write (the month's count and the key check).
    const unlimited = createApp({ ...api.deps, repo });
    await unlimited.request('/validateapikey', { headers: site });
    expect(await rounds('/validateapikey', unlimited)).toEqual([['UpdateCommand']]);
    trace.client.destroy();
  });

  it('a known key revoked or suspended is refused on its very next request; that request is not metered but counted per IP', async () => {
    const app = limitedApp();
    const { apikey, accountid } = await api.registerAccount();
    const headers = (key: string, ip = '203.0.113.7') => ({ 'X-Api-Key': key, 'Content-Type': 'application/json', 'x-test-ip': ip });
    clock = Date.UTC(2026, 0, 1, 15, 0, 0);
    const created = (await (await app.request('/account/keys', { method: 'POST', headers: headers(apikey), body: '{}' })).json()) as { apikey: string; keyid: string };
    // The instance knows both keys now.
    expect((await app.request('/validateapikey', { headers: headers(created.apikey) })).status).toBe(200);
    expect((await app.request(`/account/keys/${created.keyid}`, { method: 'DELETE', headers: headers(apikey) })).status).toBe(200);
    const revoked = await app.request('/validateapikey', { headers: headers(created.apikey) });
    expect(revoked.status).toBe(401);
    expect(Object.keys((await revoked.json()) as object)).toEqual(['message']);
    // Three requests of the account so far (create, validate, revoke); the refused one not counted.
    const requests = async () => (await api.deps.repo.usage(accountid)).find((u) => u.month === usageMonth(clock / 1000))?.requests;
    expect(await requests()).toBe(3);
    // The refused call counted per IP (limit 3): two more refusals from that address, then 429.
    expect((await app.request('/validateapikey', { headers: headers(created.apikey) })).status).toBe(401);
    expect((await app.request('/validateapikey', { headers: headers(created.apikey) })).status).toBe(401);
    expect((await app.request('/validateapikey', { headers: headers(created.apikey) })).status).toBe(429);
    // Suspension, with the key known to the instance: 403 with the reason on the next request.
    await api.deps.repo.suspendAccount(accountid, 'unpaid invoice', clock / 1000);
    const suspended = await app.request('/validateapikey', { headers: headers(apikey, '203.0.113.8') });
    expect(suspended.status).toBe(403);
    expect(await suspended.json()).toEqual({ message: 'This account is suspended: unpaid invoice. Contact the operator.' });
    expect(await requests()).toBe(3);
    await api.deps.repo.resumeAccount(accountid);
    expect((await app.request('/validateapikey', { headers: headers(apikey, '203.0.113.8') })).status).toBe(200);
    expect(await requests()).toBe(4);
    // Nor in the per-account window: 4 counted of 5, so one more passes, then 429.
    expect((await app.request('/validateapikey', { headers: headers(apikey) })).status).toBe(200);
    expect((await app.request('/validateapikey', { headers: headers(apikey) })).status).toBe(429);
  });

  it('GET backups and the upload URL read with the admission in one round trip; a revoked or suspended key gets nothing of them', async () => {
    const trace = tracingClient();
    const repo = createRepository(trace.client, api.tableName);
    const app = createApp({
      ...api.deps, repo, now: () => new Date(clock),
      rateLimits: { limits: { anonymousPerIp: { limit: 100, windowSeconds: 60 }, perAccount: { limit: 100, windowSeconds: 60 } }, clientIp: () => '203.0.113.20' },
    });
    const { apikey, accountid } = await api.registerAccount();
    const json = (key: string) => ({ 'X-Api-Key': key, 'X-Vault-Siteid': 'er-site', 'X-Vault-Siteurl': 'https://er.example', 'Content-Type': 'application/json' });
    clock = Date.UTC(2026, 0, 1, 16, 0, 0);
    const second = (await (await app.request('/account/keys', { method: 'POST', headers: json(apikey), body: '{}' })).json()) as { apikey: string; keyid: string };
    const put = await app.request('/backups', { method: 'PUT', headers: json(second.apikey), body: JSON.stringify({ description: 'early', encrypted: false, bucket: '', expiredays: 0, vaultversion: '2026051200' }) });
    expect(put.status, await put.clone().text()).toBe(200);
    const { backupkey } = (await put.json()) as { backupkey: string };
    const upload = (key: string, file = 'dbdump.zip') => app.request(`/backups/${backupkey}/upload/${file}`, { method: 'POST', headers: json(key), body: JSON.stringify({ contenttype: 'application/zip' }) });
    const list = (key: string) => app.request('/backups', { headers: json(key) });
    trace.events.length = 0;
    const first = await upload(second.apikey);
    expect(first.status, await first.clone().text()).toBe(200);
    expect(Object.keys((await first.json()) as object)).toEqual(['uploadurl', 'uploadheaders']);
    // The gate write, and the backup, the account and the archive record in one BatchGetItem.
    expect(roundTrips(trace.events)).toEqual([['UpdateCommand', 'BatchGetCommand']]);
    expect(((await (await list(second.apikey)).json()) as { backups: { backupkey: string }[] }).backups.map((b) => b.backupkey)).toEqual([backupkey]);
    // A path the route refuses starts no early read and answers as before.
    expect((await upload(second.apikey, 'notanarchive.txt')).status).toBe(400);
    // Revoked: 401 with only a message, on the very next request of either route.
    expect((await app.request(`/account/keys/${second.keyid}`, { method: 'DELETE', headers: json(apikey) })).status).toBe(200);
    for (const res of [await upload(second.apikey), await list(second.apikey)]) {
      expect(res.status).toBe(401);
      expect(Object.keys((await res.json()) as object)).toEqual(['message']);
    }
    // Suspended: 403 with the reason, nothing of the account's records.
    expect((await list(apikey)).status).toBe(200);
    await api.deps.repo.suspendAccount(accountid, 'audit', clock / 1000);
    for (const res of [await upload(apikey), await list(apikey)]) {
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ message: 'This account is suspended: audit. Contact the operator.' });
    }
    await api.deps.repo.resumeAccount(accountid);
    trace.client.destroy();
  });

  it('keys older than the gate are put on it on first use, unless revoked or suspended meanwhile', async () => {
    const trace = tracingClient();
    const repo = createRepository(trace.client, api.tableName);
    const app = limitedApp(repo);
    const { apikey, accountid } = await api.registerAccount();
    const headers = (key: string) => ({ 'X-Api-Key': key, 'Content-Type': 'application/json', 'x-test-ip': '203.0.113.30' });
    const validate = async (key: string) => (await app.request('/validateapikey', { headers: headers(key) })).status;
    // As for an account created before the gate existed: no gate item, its keys on none.
    const gate = { TableName: api.tableName, Key: { pk: `RATE#ACCT#${accountid}`, sk: 'GATE' } };
    const dropGate = () => trace.client.send(new DeleteCommand(gate));
    // As for keys created before the gate, on an account whose gate exists (made by a newer key).
    const dropGateKeys = () => trace.client.send(new UpdateCommand({ ...gate, UpdateExpression: 'REMOVE #keys', ExpressionAttributeNames: { '#keys': 'keys' } }));
    const gateKeys = async () => ((await trace.client.send(new GetCommand({ TableName: api.tableName, Key: { pk: `RATE#ACCT#${accountid}`, sk: 'GATE' }, ConsistentRead: true }))).Item?.keys as Set<string> | undefined) ?? new Set<string>();
    clock = Date.UTC(2026, 0, 1, 17, 0, 0);
    const second = (await (await app.request('/account/keys', { method: 'POST', headers: headers(apikey), body: '{}' })).json()) as { apikey: string; keyid: string };
    await dropGate();
    // New to the instance: key read, the gate refuses, the key put on it (a transaction checking its item), admitted.
    trace.events.length = 0;
    expect(await validate(second.apikey)).toBe(200);
    expect(roundTrips(trace.events)).toEqual([['GetCommand'], ['UpdateCommand'], ['TransactWriteCommand'], ['UpdateCommand'], ['UpdateCommand']]);
    expect(await gateKeys()).toEqual(new Set([second.keyid]));
    trace.events.length = 0;
    expect(await validate(second.apikey)).toBe(200);
    expect(roundTrips(trace.events)).toEqual([['UpdateCommand']]);
    // Known to the instance but not on the gate: put on it too.
    await dropGateKeys();
    expect(await validate(second.apikey)).toBe(200);
    // Revoked while off the gate: refused on its next request, and not put back on it.
    await dropGateKeys();
    expect((await app.request(`/account/keys/${second.keyid}`, { method: 'DELETE', headers: headers(apikey) })).status).toBe(200);
    await dropGateKeys();
    expect(await validate(second.apikey)).toBe(401);
    expect(await gateKeys()).toEqual(new Set());
    // Every admitted request counted once in the month since the gate was dropped: validate ×3, revoke.
    expect((await repo.usage(accountid)).find((u) => u.month === usageMonth(clock / 1000))?.requests).toBe(4);
    // Suspended before the gate knew (its key items carry the reason, the gate does not): 403 with the reason.
    expect(await validate(apikey)).toBe(200);
    await repo.suspendAccount(accountid, 'old suspension', clock / 1000);
    await dropGate();
    const suspended = await app.request('/validateapikey', { headers: headers(apikey) });
    expect(suspended.status).toBe(403);
    expect(await suspended.json()).toEqual({ message: 'This account is suspended: old suspension. Contact the operator.' });
    expect(await gateKeys()).toEqual(new Set());
    await repo.resumeAccount(accountid);
    expect(await validate(apikey)).toBe(200);
    expect(await gateKeys()).toEqual(new Set([(await repo.listApiKeys(accountid))[0]?.keyId]));
    trace.client.destroy();
  });

  it('the gate keeps the requests of the current month and the 13 before', async () => {
    const trace = tracingClient();
    const { apikey, accountid } = await api.registerAccount();
    const gate = { TableName: api.tableName, Key: { pk: `RATE#ACCT#${accountid}`, sk: 'GATE' } };
    const months = async () => (await api.deps.repo.usage(accountid)).map((u) => [u.month, u.requests]);
    const validate = async (app: ReturnType<typeof createApp>) => (await app.request('/validateapikey', { headers: { 'X-Api-Key': apikey, 'x-test-ip': '203.0.113.40' } })).status;
    // The first request of a window (with rate limits) or of a month (without) drops the months
    // before the 13 that precede its own.
    for (const app of [limitedApp(), createApp({ ...api.deps, now: () => new Date(clock) })]) {
      // Counters a long-lived gate holds.
      await trace.client.send(new UpdateCommand({
        ...gate, UpdateExpression: 'SET #a = :n, #b = :n REMOVE #c, #d',
        ExpressionAttributeNames: { '#a': 'requests#2024-11', '#b': 'requests#2024-12', '#c': 'requests#2026-01', '#d': 'requests#2026-02' }, ExpressionAttributeValues: { ':n': 5 },
      }));
      expect(await months()).toEqual([['2024-11', 5], ['2024-12', 5]]);
      clock = Date.UTC(2026, 0, 31, 12, 0, 0);
      expect(await validate(app)).toBe(200);
      expect(await months()).toEqual([['2024-12', 5], ['2026-01', 1]]);
      clock = Date.UTC(2026, 1, 1, 12, 0, 0);
      expect(await validate(app)).toBe(200);
      expect(await months()).toEqual([['2026-01', 1], ['2026-02', 1]]);
    }
    trace.client.destroy();
  });

  it('the defaults leave room for a plugin run: a 1 TB backup of 2 GiB archives in an hour', () => {
    // 512 archives × (upload + uploadcompleted) + PUT + PATCH ≈ 1026 calls; spread over the run.
    const perWindow = DEFAULT_RATE_LIMITS.perAccount.limit * (3600 / DEFAULT_RATE_LIMITS.perAccount.windowSeconds);
    expect(perWindow).toBeGreaterThan(10 * 1026);
    expect(DEFAULT_RATE_LIMITS.anonymousPerIp.limit).toBeGreaterThanOrEqual(30);
  });
});
