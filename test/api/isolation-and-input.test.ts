/**
 * Tenant isolation (another account's records answer 404 without touching S3) and a table of
 * malformed requests (always 4xx with exactly `{"message"}`, never a 5xx).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lambdas/app.js';
import { ROUTES, WEB_PAGE_PATHS } from '../../lambdas/routes/route-table.js';
import type { ObjectStorage } from '../../lambdas/store/object-storage.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'], maxBodyBytes: 256 * 1024 });
});
afterAll(async () => {
  await api?.close();
});

/** Storage that counts every call and forwards it to the real one. */
function countingStorage(real: ObjectStorage): { storage: ObjectStorage; calls: string[] } {
  const calls: string[] = [];
  const storage = new Proxy(real, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { storage, calls };
}



describe('tenant isolation', () => {
  it('every endpoint answers 404 for another account\'s backup, restore, file and upload, with no S3 call', async () => {
    const alice = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    const { backupkey: done } = await alice.ok('PUT', 'backups', { description: 'alice', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV });
    await alice.uploadArchive(done as string, 'dbstructure.zip', randomBytes(50));
    await alice.ok('PATCH', `backups/${done}`, { status: 'finished', info: { totalsize: 50 } });
    const { backupkey: running } = await alice.ok('PUT', 'backups', { description: 'alice2', encrypted: false, bucket: '', expiredays: 0 });
    const { restorekey } = await alice.ok('PUT', 'restores', { backupkey: done });
    const aliceKeyId = ((await alice.ok('GET', 'account/keys')).keys as { keyid: string }[])[0]?.keyid;

    const { storage, calls } = countingStorage(api.deps.storage);
    const spyApp = createApp({ ...api.deps, storage });
    const bob = new PluginClient(api.url, (await api.registerAccount(undefined, 'pro')).apikey);
    bob.fetchApi = (url, init) => Promise.resolve(spyApp.request(url, init));

    const cases: [string, string, Record<string, unknown>?, string[]?][] = [
      ['GET', `backups/${done}`],
      ['PATCH', `backups/${done}`, { status: 'failed', info: { faileddetails: 'x' } }],
      ['PATCH', `backups/${running}`, { status: 'finished', info: { totalsize: 1 } }],
      ['GET', `backups/${done}/validate`, { vaultversion: VAULT_VERSION }],
      ['POST', `backups/${running}/upload/dbdump.zip`, { contenttype: 'application/zip' }],
      ['POST', `backups/${running}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 4 } }, ['parts']],
      ['POST', `backups/${running}/upload/dbdump.zip`, { contenttype: 'application/zip', multipart: { parts: 4, uploadid: 'x' } }, ['parts']],
      ['POST', `backups/${running}/uploadcompleted/dbdump.zip`, { origsize: 1 }],
      ['POST', `backups/${done}/uploadcompleted/dbstructure.zip`, { origsize: 1, multipart: { UploadId: 'x', ETags: ['"a"'] } }],
      ['PUT', 'restores', { backupkey: done, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV }],
      ['PATCH', `restores/${restorekey}`, { status: 'resume', info: { backupkey: done } }],
      ['PATCH', `restores/${restorekey}`, { status: 'finished' }],
      ['GET', `restores/${restorekey}/download/dbstructure.zip`],
      ['DELETE', `account/keys/${aliceKeyId}`],
    ];
    for (const [method, path, body, floats] of cases) {
      const r = await bob.call(method, path, body, floats);
      expect({ method, path, status: r.status, keys: Object.keys(r.body) }).toEqual({ method, path, status: 404, keys: ['message'] });
    }
    expect((await bob.ok('GET', 'backups')).backups).toEqual([]);
    expect((await bob.ok('GET', 'account/backups')).backups).toEqual([]);
    expect(calls).toEqual([]);
    // Alice's records are untouched.
    expect((await alice.ok('GET', `backups/${done}`)).status).toBe('finished');
    expect((await alice.call('GET', `restores/${restorekey}/download/dbstructure.zip`)).status).toBe(200);
  });
});

describe('malformed requests', () => {
  it('answer 4xx with exactly {"message"}', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const { backupkey } = await site.ok('PUT', 'backups', { description: 'x', encrypted: false, bucket: '', expiredays: 0 });
    const { keys } = await site.ok('GET', 'account/keys');
    expect(keys).toHaveLength(1);
    const raw = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${api.url}/${path}`, { method, body, headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json', ...headers } });
      return { status: res.status, text: await res.text() };
    };
    const up = `backups/${backupkey}/upload`;
    const done = `backups/${backupkey}/uploadcompleted`;
    const cases: [string, string, string | undefined, number, Record<string, string>?][] = [
      ['PUT', 'backups', 'not json', 400],
      ['PUT', 'backups', '', 400],
      ['PUT', 'backups', '[1,2]', 400],
      ['PUT', 'backups', '{"expiredays":"abc"}', 400],
      ['PUT', 'backups', '{"expiredays":-1}', 400],
      ['PUT', 'backups', '{"expiredays":1.5}', 400],
      ['PUT', 'backups', '{"encrypted":"yes"}', 400],
      ['PUT', 'backups', '{"bucket":12}', 400],
      ['PUT', 'backups', `{"description":"${'x'.repeat(2000)}"}`, 400],
      ['PUT', 'backups', '{}', 400, { 'X-Vault-Siteid': 'bad id!' }],
      ['PUT', 'backups', '{}', 400, { 'X-Vault-Siteurl': `https://x/${'a'.repeat(3000)}` }],
      ['POST', `${up}/evil.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `${up}/dbdump-0.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `${up}/dbstructure-1.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `${up}/dbdump.ZIP`, '{"contenttype":"application/zip"}', 400],
      ['POST', `${up}/..%2F..%2Fx.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `backups/abc-def/upload/dbdump.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `backups/${'A'.repeat(65)}/upload/dbdump.zip`, '{"contenttype":"application/zip"}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":0}}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":10001}}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":"5"}}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":2.5}}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":3,"uploadid":""}}', 400],
      ['POST', `${up}/dbdump.zip`, '{"multipart":{"parts":3,"uploadid":"a b"}}', 400],
      ['POST', `${done}/dbdump.zip`, '{}', 400],
      ['POST', `${done}/dbdump.zip`, '{"origsize":-5}', 400],
      ['POST', `${done}/dbdump.zip`, '{"origsize":5,"multipart":{"UploadId":"x","ETags":"\\"a\\""}}', 400],
      ['POST', `${done}/dbdump.zip`, '{"origsize":5,"multipart":{"UploadId":"x","ETags":[]}}', 400],
      ['PATCH', `backups/${backupkey}`, '{"status":"done"}', 400],
      ['PATCH', `backups/${backupkey}`, '{"status":"finished","info":"x"}', 400],
      ['PATCH', `backups/${backupkey}`, '{"status":"finished","info":{"totalsize":{"a":1}}}', 400],
      ['PATCH', `backups/${backupkey}`, JSON.stringify({ info: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }), 400],
      ['PUT', 'backups', JSON.stringify({ vaultenv: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'x'])) }), 400],
      ['PUT', 'restores', '{}', 400],
      ['PUT', 'restores', '{"backupkey":"../x"}', 400],
      ['PATCH', 'restores/ABC', '{"status":"paused"}', 400],
      ['GET', `restores/ABC/download/x.txt`, undefined, 400],
      ['GET', `backups/${backupkey}/validate?vaultversion=${'9'.repeat(100)}`, undefined, 400],
      ['POST', 'reporterror', '[]', 400],
      ['POST', 'reporterror', '{"faileddetails":5}', 400],
      ['POST', 'account/register', '{"email":"not-an-email"}', 400],
      ['POST', 'account/register', '{}', 400],
      ['GET', 'account/verify?token=abc', undefined, 400],
      ['GET', 'account/verify', undefined, 400],
      ['GET', 'account/backups?limit=0', undefined, 400],
      ['GET', 'account/backups?status=weird', undefined, 400],
      ['GET', 'account/backups?cursor=bm90IGpzb24', undefined, 400],
      ['POST', 'account/keys', '{"scopes":["admin"]}', 400],
      ['POST', 'account/keys', '{"scopes":[]}', 400],
      ['DELETE', 'account/keys/not-a-key', undefined, 400],
      ['GET', 'nothing/here', undefined, 404],
      ['DELETE', 'backups', undefined, 404],
    ];
    for (const [method, path, body, status, headers] of cases) {
      const r = await raw(method, path, body, headers);
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.text);
      } catch {
        parsed = r.text;
      }
      expect({ method, path: path.slice(0, 80), status: r.status, keys: Object.keys(parsed as object) }).toEqual({ method, path: path.slice(0, 80), status, keys: ['message'] });
    }
  });

  it('never answers 5xx to garbage bodies on any route', async () => {
    const { apikey } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const { backupkey } = await site.ok('PUT', 'backups', { description: 'x', encrypted: false, bucket: '', expiredays: 0 });
    const bodies = ['null', '1', '"x"', '[]', '{}', '{"a":{"b":[1,{"c":null}]}}', 'garbage', '{"status":null,"info":null,"multipart":null}', '{"__proto__":{"x":1}}', `{"x":${'['.repeat(500)}${']'.repeat(500)}}`];
    for (const route of ROUTES.filter((r) => r.path !== '/health')) {
      const path = route.path.replace('{backupkey}', backupkey as string).replace('{restorekey}', 'NOSUCHRESTORE').replace('{filename}', 'dbdump.zip').replace('{keyid}', 'kaaaaaaaaaaaaaaa');
      for (const body of route.method === 'GET' || route.method === 'DELETE' ? [undefined] : bodies) {
        const res = await fetch(`${api.url}${path}`, { method: route.method, body, headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' } });
        const text = await res.text();
        expect({ route: `${route.method} ${route.path}`, body, ok: res.status < 500 }).toEqual({ route: `${route.method} ${route.path}`, body, ok: true });
        // Web pages answer in HTML (refusals included); the API's refusals are exactly {"message"}.
        if (res.status !== 200 && !WEB_PAGE_PATHS.has(route.path)) expect(Object.keys(JSON.parse(text) as object)).toEqual(['message']);
      }
    }
  });

  it('bounds the body size (413 {"message"})', async () => {
    const { apikey } = await api.registerAccount();
    // In-process: over a socket the server answers before the client has finished sending.
    const res = await api.app.request('/reporterror', { method: 'POST', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' }, body: `{"faileddetails":"${'x'.repeat(300_000)}"}` });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ message: 'The request body is too large' });
  });

  it('reporterror is accepted with, without and with a wrong key, and capped', async () => {
    const { apikey } = await api.registerAccount();
    for (const key of [apikey, undefined, 'hellothereThisisaninvalidAPIkeythatlooksvalid']) {
      const r = await new PluginClient(api.url, key).call('POST', 'reporterror', { faileddetails: `boom\n${'x'.repeat(200_000)}` });
      expect(r.status).toBe(200);
    }
  });
});
