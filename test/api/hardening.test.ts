/**
 * Service hardening (issue 15): every stored number a safe integer, listing cursors checked,
 * item sizes counted in bytes, dry runs limited to dbstructure.zip, restore slots never leaked,
 * security headers, key scopes and last-key revocation, deletion of backups.
 * Each case failed before its fix.
 */
import { randomBytes } from 'node:crypto';
import { PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { service } from '../support/services.js';
import { appFailing, type FailingApp } from './failing-app.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'] });
});
afterAll(async () => {
  await api?.close();
});

const backupBody = { description: 'site', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV };

async function finishedBackup(site: PluginClient, archives: string[] = ['dbstructure.zip']): Promise<string> {
  const { backupkey } = await site.ok('PUT', 'backups', backupBody);
  for (const name of archives) await site.uploadArchive(backupkey as string, name, randomBytes(100));
  await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: { totalsize: 100 * archives.length } });
  return backupkey as string;
}

/** Raw request with a JSON text body (numbers as written, not re-serialised). */
async function raw(method: string, path: string, apikey: string, body?: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${api.url}/${path}`, { method, body, headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' } });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

function expectRefusal(r: { status: number; body: unknown }, status: number): void {
  expect(r.status).toBe(status);
  expect(Object.keys(r.body as object)).toEqual(['message']);
  expect(typeof (r.body as { message: unknown }).message).toBe('string');
}

describe('numbers and map keys the API stores', () => {
  it('refuses 1e308, 2^53+2, fractions and empty keys in vaultenv, info, vaultversion with 400 and stores nothing', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const backupkey = await finishedBackup(site);
    const { backupkey: running } = await site.ok('PUT', 'backups', backupBody);
    const { restorekey } = await site.ok('PUT', 'restores', { backupkey });
    const before = ((await site.ok('GET', 'account/backups')).backups as unknown[]).length;
    for (const n of ['1e308', '9007199254740994', '-9007199254740994', '1.5']) {
      expectRefusal(await raw('PUT', 'backups', apikey, `{"description":"x","vaultenv":{"n":${n}}}`), 400);
      expectRefusal(await raw('PUT', 'backups', apikey, `{"description":"x","vaultversion":${n}}`), 400);
      expectRefusal(await raw('PATCH', `backups/${running}`, apikey, `{"info":{"n":${n}}}`), 400);
      expectRefusal(await raw('PATCH', `backups/${running}`, apikey, `{"status":"finished","info":{"totalsize":${n}}}`), 400);
      expectRefusal(await raw('PUT', 'restores', apikey, `{"backupkey":"${backupkey}","vaultenv":{"n":${n}}}`), 400);
      expectRefusal(await raw('PATCH', `restores/${restorekey}`, apikey, `{"info":{"n":${n}}}`), 400);
    }
    expect(((await site.ok('GET', 'account/backups')).backups as unknown[]).length).toBe(before);
    // The records are still readable (nothing unreadable was stored) and unchanged.
    const r = await site.ok('GET', `backups/${running}`);
    expect(r.status).toBe('inprogress');
    expect(r.info).not.toHaveProperty('n');
    // Map keys DynamoDB cannot store (empty attribute names) are refused the same way.
    expectRefusal(await raw('PUT', 'backups', apikey, '{"vaultenv":{"":"x"}}'), 400);
    expectRefusal(await raw('PATCH', `backups/${running}`, apikey, '{"info":{"":"x"}}'), 400);
    expectRefusal(await raw('PUT', 'restores', apikey, `{"backupkey":"${backupkey}","vaultenv":{"":1}}`), 400);
    expectRefusal(await raw('PATCH', `restores/${restorekey}`, apikey, '{"info":{"":"x"}}'), 400);
    expect(((await site.ok('GET', 'account/backups')).backups as unknown[]).length).toBe(before);
    // The largest safe integer itself is accepted.
    await site.ok('PATCH', `backups/${running}`, { info: { n: Number.MAX_SAFE_INTEGER } });
    expect(((await site.ok('GET', `backups/${running}`)).info as Record<string, unknown>).n).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('listing cursors', () => {
  it('refuses cursors with missing, empty, foreign or extra keys with 400', async () => {
    const { apikey, accountid } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    for (let i = 0; i < 3; i++) await site.ok('PUT', 'backups', backupBody);
    const page1 = await site.ok('GET', 'account/backups?limit=1');
    const good = JSON.parse(Buffer.from(page1.nextcursor as string, 'base64url').toString()) as Record<string, string>;
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const gsi = `ACCT#${accountid}#B`;
    const bad = [
      { gsi1pk: gsi },
      { gsi1pk: gsi, gsi1sk: '' },
      { gsi1pk: gsi, gsi1sk: '', pk: '', sk: '' },
      { ...good, pk: '' },
      { ...good, sk: 'META' },
      { ...good, pk: 'ACCT#aother0000000000000' },
      { ...good, gsi1sk: 'x' },
      { ...good, extra: 'x' },
      { ...good, gsi1sk: 5 },
      [good],
      'x',
    ];
    for (const c of bad) expectRefusal(await raw('GET', `account/backups?limit=1&cursor=${enc(c)}`, apikey), 400);
    expect((await site.ok('GET', `account/backups?limit=1&cursor=${enc(good)}`)).backups).toHaveLength(1);
  });
});

describe('item sizes are counted in bytes', () => {
  it('an info PATCH within every character cap but over 400 KB of UTF-8 is refused with 400 and stores nothing', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    // 32 keys × 4096 three-byte characters = 384 KiB of UTF-8, plus 64 Ki characters of details.
    const info = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, '€'.repeat(4096)]));
    const body = JSON.stringify({ info: { ...info, faileddetails: '€'.repeat(20_000) } });
    for (const b of [body, JSON.stringify({ status: 'failed', info: { ...info, faileddetails: '€'.repeat(20_000) } })]) {
      const r = await raw('PATCH', `backups/${backupkey}`, apikey, b);
      expectRefusal(r, 400);
      expect((r.body as { message: string }).message).toMatch(/bytes/);
    }
    const rec = await site.ok('GET', `backups/${backupkey}`);
    expect(rec.status).toBe('inprogress');
    expect(rec.info).not.toHaveProperty('k0');
    // Same on a restore.
    const done = await finishedBackup(site);
    const { restorekey } = await site.ok('PUT', 'restores', { backupkey: done });
    expectRefusal(await raw('PATCH', `restores/${restorekey}`, apikey, body), 400);
  });
});

describe('dry runs', () => {
  it('download only dbstructure.zip, and do not count against (or get around) the restore quota', async () => {
    const { apikey } = await api.registerAccount(); // free: 2 restores per 30 days
    const site = new PluginClient(api.url, apikey);
    const backupkey = await finishedBackup(site, ['dbstructure.zip', 'dbdump.zip']);
    const dry = await site.ok('PUT', 'restores', { backupkey, dryrun: true, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    expect((await site.call('GET', `restores/${dry.restorekey}/download/dbstructure.zip`)).status).toBe(200);
    const refused = await site.call('GET', `restores/${dry.restorekey}/download/dbdump.zip`);
    expect(refused.status).toBe(403);
    expect(Object.keys(refused.body)).toEqual(['message']);
    // A resumed dry run is still a dry run.
    await site.ok('PATCH', `restores/${dry.restorekey}`, { status: 'failed', info: { faileddetails: 'x' } });
    await site.ok('PATCH', `restores/${dry.restorekey}`, { status: 'resume', info: { backupkey } });
    expect((await site.call('GET', `restores/${dry.restorekey}/download/dbdump.zip`)).status).toBe(403);

    // Concurrently: 8 real restores and 8 dry runs → exactly 2 real ones, every dry run.
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => site.call('PUT', 'restores', { backupkey, ...(i % 2 ? { dryrun: true } : {}) })));
    const real = results.filter((_, i) => i % 2 === 0);
    const dryRuns = results.filter((_, i) => i % 2 === 1);
    expect(real.filter((r) => r.status === 200)).toHaveLength(2);
    expect(real.filter((r) => r.status === 403)).toHaveLength(6);
    expect(dryRuns.every((r) => r.status === 200)).toBe(true);
    // Quota used up: a dry run still works but gives no access to the data.
    for (const r of dryRuns) expect((await site.call('GET', `restores/${r.body.restorekey}/download/dbdump.zip`)).status).toBe(403);
    const realKey = real.find((r) => r.status === 200)?.body.restorekey;
    expect((await site.call('GET', `restores/${realKey}/download/dbdump.zip`)).status).toBe(200);
  });
});

/**
 * The app over a repository on the same table whose client fails every write of an item whose
 * sort key starts with `skPrefix` (alone or inside a transaction), as DynamoDB would on an outage.
 */
function appFailingWritesOf(skPrefix: string): FailingApp {
  return appFailing(api, (cmd) => {
    if (cmd instanceof PutCommand) return String(cmd.input.Item?.sk).startsWith(skPrefix);
    if (cmd instanceof TransactWriteCommand) return (cmd.input.TransactItems ?? []).some((t) => String(t.Put?.Item?.sk).startsWith(skPrefix));
    return false;
  });
}

describe('quota slots under injected failures', () => {
  it('a PUT restores whose write fails after the slot claim gives the slot back', async () => {
    const { apikey } = await api.registerAccount(); // free: 2 restores
    const site = new PluginClient(api.url, apikey);
    const backupkey = await finishedBackup(site);
    const broken = appFailingWritesOf('RESTORE#');
    for (let i = 0; i < 2; i++) {
      const r = await broken.site(apikey).call('PUT', 'restores', { backupkey });
      expect(r.status).toBe(500);
      expect(Object.keys(r.body)).toEqual(['message']);
    }
    expect(broken.injected()).toBe(2);
    broken.close();
    // Both slots are still free, and nothing was counted.
    expect((await site.ok('GET', 'account')).usage).toMatchObject({ restoreslast30days: 0, restoresthismonth: 0 });
    await site.ok('PUT', 'restores', { backupkey });
    await site.ok('PUT', 'restores', { backupkey });
    expect((await site.call('PUT', 'restores', { backupkey })).status).toBe(403);
  });

  it('a PUT backups whose write fails after the slot claim gives the slot back', async () => {
    const { apikey } = await api.registerAccount(); // free: 3 stored backups
    const site = new PluginClient(api.url, apikey);
    const broken = appFailingWritesOf('BACKUP#');
    for (let i = 0; i < 4; i++) expect((await broken.site(apikey).call('PUT', 'backups', backupBody)).status).toBe(500);
    expect(broken.injected()).toBe(4);
    broken.close();
    for (let i = 0; i < 3; i++) await site.ok('PUT', 'backups', backupBody);
    expect((await site.call('PUT', 'backups', backupBody)).status).toBe(403);
  });
});

describe('response headers', () => {
  it('every response has nosniff and no-referrer; key and account responses are not stored', async () => {
    const reg = await fetch(`${api.url}/account/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: `h${Date.now()}@example.com` }) });
    const { apikey } = (await reg.json()) as { apikey: string };
    const responses = [
      reg,
      await fetch(`${api.url}/health`),
      await fetch(`${api.url}/nothing`),
      await fetch(`${api.url}/validateapikey`, { headers: { 'X-Api-Key': 'bad' } }),
      await fetch(`${api.url}/account`, { headers: { 'X-Api-Key': apikey } }),
      await fetch(`${api.url}/account/keys`, { method: 'POST', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' }, body: '{}' }),
      await fetch(`${api.url}/backups`, { method: 'PUT', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' }, body: 'garbage' }),
    ];
    for (const res of responses) {
      expect({ url: res.url, nosniff: res.headers.get('x-content-type-options'), referrer: res.headers.get('referrer-policy') })
        .toEqual({ url: res.url, nosniff: 'nosniff', referrer: 'no-referrer' });
    }
    for (const res of [responses[0], responses[4], responses[5]]) expect(res?.headers.get('cache-control')).toBe('no-store');
  });
});

describe('API key scopes and revocation', () => {
  it('a key creates only keys with scopes it has itself', async () => {
    const { apikey } = await api.registerAccount();
    const owner = new PluginClient(api.url, apikey);
    const accountOnly = await owner.ok('POST', 'account/keys', { name: 'acct', scopes: ['account'] });
    const limited = new PluginClient(api.url, accountOnly.apikey as string);
    for (const scopes of [['backup'], ['account', 'restore'], undefined]) {
      const r = await limited.call('POST', 'account/keys', scopes ? { scopes } : {});
      if (scopes === undefined) {
        // No scopes asked for: the creator's own.
        expect(r.status).toBe(200);
        expect(r.body.scopes).toEqual(['account']);
      } else {
        expect(r.status).toBe(403);
        expect(Object.keys(r.body)).toEqual(['message']);
      }
    }
    expect(((await owner.ok('GET', 'account/keys')).keys as unknown[]).length).toBe(3);
  });

  it('revoking the account\'s last key needs ?confirm=lastkey, also under concurrency', async () => {
    const { apikey } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const [first] = (await site.ok('GET', 'account/keys')).keys as { keyid: string }[];
    const r = await site.call('DELETE', `account/keys/${first?.keyid}`);
    expect(r.status).toBe(409);
    expect(Object.keys(r.body)).toEqual(['message']);
    expect((await site.call('GET', 'validateapikey')).status).toBe(200);
    // Two keys revoked at once: at most one of them goes.
    const second = await site.ok('POST', 'account/keys', { name: 'second' });
    const both = await Promise.all([first?.keyid, second.keyid].map((k) => site.call('DELETE', `account/keys/${k as string}`)));
    expect(both.map((x) => x.status).sort()).toEqual([200, 409]);
    const left = new PluginClient(api.url, both[0]?.status === 200 ? (second.apikey as string) : apikey);
    const [last] = (await left.ok('GET', 'account/keys')).keys as { keyid: string }[];
    await left.ok('DELETE', `account/keys/${last?.keyid}?confirm=lastkey`);
    expect((await left.call('GET', 'validateapikey')).status).toBe(401);
  });

  it('GET backups/{key} answers a key without the restore scope like GET backups: not found', async () => {
    const { apikey } = await api.registerAccount();
    const owner = new PluginClient(api.url, apikey);
    const backupkey = await finishedBackup(owner);
    const backupOnly = new PluginClient(api.url, (await owner.ok('POST', 'account/keys', { scopes: ['backup'] })).apikey as string);
    expect((await backupOnly.ok('GET', 'backups')).backups).toEqual([]);
    const r = await backupOnly.call('GET', `backups/${backupkey}`);
    expect(r.status).toBe(404);
    expect(Object.keys(r.body)).toEqual(['message']);
    expect((await owner.ok('GET', `backups/${backupkey}`)).status).toBe('finished');
  });
});

describe('deleting backups', () => {
  const listObjects = async (prefix: string): Promise<string[]> => {
    const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const rgw = service('rgw');
    const s3 = new S3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
    const res = await s3.send(new ListObjectsV2Command({ Bucket: api.buckets.eu, Prefix: prefix }));
    s3.destroy();
    return (res.Contents ?? []).map((o) => o.Key ?? '');
  };

  it('DELETE /account/backups/{key}: objects gone, slot free at once, idempotent, tenant-isolated', async () => {
    const { apikey, accountid } = await api.registerAccount(); // free: 3 stored backups
    const site = new PluginClient(api.url, apikey);
    const keys = [await finishedBackup(site, ['dbstructure.zip', 'dbdump.zip']), await finishedBackup(site), await finishedBackup(site)];
    expect((await site.call('PUT', 'backups', backupBody)).status).toBe(403);
    expect(await listObjects(`${accountid}/${keys[0]}/`)).toHaveLength(2);

    const other = new PluginClient(api.url, (await api.registerAccount()).apikey);
    expect((await other.call('DELETE', `account/backups/${keys[0]}`)).status).toBe(404);
    expect(await listObjects(`${accountid}/${keys[0]}/`)).toHaveLength(2);
    const backupOnly = new PluginClient(api.url, (await site.ok('POST', 'account/keys', { scopes: ['backup', 'restore'] })).apikey as string);
    expect((await backupOnly.call('DELETE', `account/backups/${keys[0]}`)).status).toBe(403);

    await site.ok('DELETE', `account/backups/${keys[0]}`);
    expect(await listObjects(`${accountid}/${keys[0]}/`)).toEqual([]);
    expect((await site.call('GET', `backups/${keys[0]}`)).status).toBe(404);
    expect(((await site.ok('GET', 'account/backups')).backups as { backupkey: string }[]).map((b) => b.backupkey)).not.toContain(keys[0]);
    await site.ok('DELETE', `account/backups/${keys[0]}`); // again: still 200
    expect((await site.call('DELETE', 'account/backups/NOSUCHBACKUP')).status).toBe(404);
    // The slot is free at once, for exactly one of many concurrent requests.
    const puts = await Promise.all(Array.from({ length: 10 }, () => site.call('PUT', 'backups', backupBody)));
    expect(puts.map((r) => r.status).sort()).toEqual([200, ...Array<number>(9).fill(403)]);
  });

  it('a failed backup loses its objects at failure', async () => {
    const { apikey, accountid } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    await site.uploadArchive(backupkey as string, 'dbdump.zip', randomBytes(100));
    expect(await listObjects(`${accountid}/${backupkey}/`)).toHaveLength(1);
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'failed', info: { faileddetails: 'boom' } });
    expect(await listObjects(`${accountid}/${backupkey}/`)).toEqual([]);
  });
});
