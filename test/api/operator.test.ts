/**
 * Operator controls (issue 15): the operator CLI (`scripts/admin.ts`, run in process against the
 * test's DynamoDB Local table), account suspension (every call with any of the account's keys
 * 403s, no key can be added), and usage metering per account and month (requests counted with
 * the rate limit in one write, backups, restores, dry runs, uploaded and deleted bytes).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TABLE_ACCESS, runAdmin, type RepositoryOpener } from '../../scripts/admin.js';
import { createApp } from '../../lambdas/app.js';
import { AccountSuspendedError } from '../../lambdas/domain/errors.js';
import { usageMonth, createRepository } from '../../lambdas/store/repository.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { recordingClient } from '../support/recording-ddb.js';
import { service } from '../support/services.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

let api: TestApi;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'] });
  env = { DYNAMODB_ENDPOINT: service('ddb').endpoint, TABLE_NAME: api.tableName };
});
afterAll(async () => {
  await api?.close();
});

/** Runs the CLI; its exit code and output lines. */
async function admin(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAdmin(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const backupBody = { description: 'site', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV };
const SUSPENDED = { message: 'This account is suspended: unpaid invoice. Contact the operator.' };


describe('operator CLI', () => {
  it('creates an account on a plan and prints "<apikey> <accountid>"; the key works', async () => {
    const res = await admin('create-account', '--email', ' Ops1@Example.org ', '--plan', 'pro');
    expect(res.code, res.err).toBe(0);
    expect(res.out).toMatch(/^vault[A-Za-z0-9]{38} a[0-9a-z]{19}$/);
    const [apikey, accountid] = res.out.split(' ');
    const site = new PluginClient(api.url, apikey);
    expect(await site.ok('GET', 'account')).toMatchObject({ accountid, email: 'ops1@example.org', plan: { id: 'pro' } });
    // Same address again: refused, nothing printed on stdout.
    const again = await admin('create-account', '--email', 'ops1@example.org');
    expect(again).toMatchObject({ code: 1, out: '' });
    expect(again.err).toContain('already exists');
    expect((await admin('create-account', '--email', 'x@example.org', '--plan', 'gold')).code).toBe(2);
    expect((await admin('create-account', '--email', 'not-an-address')).code).toBe(2);
    expect((await admin('create-account')).code).toBe(2);
  });

  it('sets plans by id or e-mail, finds and lists accounts with filters', async () => {
    const a = (await admin('create-account', '--email', 'ops2@example.org')).out.split(' ');
    const b = (await admin('create-account', '--email', 'ops3@example.org', '--plan', 'light')).out.split(' ');
    expect((await admin('set-plan', 'OPS2@example.org', 'light')).code).toBe(0);
    expect((await new PluginClient(api.url, a[0]).ok('GET', 'account')).plan).toMatchObject({ id: 'light' });
    expect((await admin('set-plan', b[1] ?? '', 'pro')).out).toContain('plan light → pro');
    expect((await admin('set-plan', 'nobody@example.org', 'pro')).code).toBe(1);
    expect((await admin('set-plan', 'ops2@example.org', 'platinum')).code).toBe(2);
    expect((await admin('set-plan', 'not-an-id', 'pro')).code).toBe(2);

    const found = await admin('find', 'ops3@example.org', '--json');
    expect(JSON.parse(found.out)).toMatchObject({ accountid: b[1], email: 'ops3@example.org', plan: 'pro', suspended: false, keys: [{ name: 'default', scopes: ['backup', 'restore', 'account'] }] });
    expect((await admin('find', 'ops3@example.org')).out).toMatch(/status\s+active/);
    expect((await admin('find', 'nobody@example.org')).code).toBe(1);

    const light = JSON.parse((await admin('list', '--plan', 'light', '--json')).out) as { accountid: string }[];
    expect(light.map((x) => x.accountid)).toEqual([a[1]]);
    const all = await admin('list');
    expect(all.out).toContain(`${a[1]}  ops2@example.org`);
    expect(all.out).toContain(`${b[1]}  ops3@example.org`);
    expect((await admin('list', '--suspended', '--active')).code).toBe(2);
    expect((await admin('frobnicate')).code).toBe(2);
    expect((await admin('list', '--bogus')).code).toBe(2);
  });

  it('sends only the DynamoDB actions of ADMIN_TABLE_ACCESS (the operator policy in docs/deploy.md)', async () => {
    const sent = new Set<string>();
    const IAM: Record<string, string> = { GetCommand: 'dynamodb:GetItem', PutCommand: 'dynamodb:PutItem', UpdateCommand: 'dynamodb:UpdateItem', QueryCommand: 'dynamodb:Query', DeleteCommand: 'dynamodb:DeleteItem', ScanCommand: 'dynamodb:Scan', BatchGetCommand: 'dynamodb:BatchGetItem' };
    const TRANSACT: Record<string, string> = { Put: 'dynamodb:PutItem', Update: 'dynamodb:UpdateItem', Delete: 'dynamodb:DeleteItem', ConditionCheck: 'dynamodb:ConditionCheckItem' };
    const recording = recordingClient((cmd) => {
      const input = cmd.input as { IndexName?: string; TransactItems?: Record<string, unknown>[] };
      if (input.TransactItems) for (const t of input.TransactItems) for (const kind of Object.keys(t)) sent.add(`table ${TRANSACT[kind] ?? kind}`);
      else sent.add(`${input.IndexName ? `index/${input.IndexName}` : 'table'} ${IAM[cmd.constructor.name] ?? cmd.constructor.name}`);
    });
    const open: RepositoryOpener = (conn) => ({ repo: createRepository(recording, conn.table), close: () => undefined });
    const run = (...argv: string[]) => runAdmin(argv, { out: () => undefined, err: () => undefined }, env, undefined, open);
    expect(await run('create-account', '--email', 'iam@example.org')).toBe(0);
    for (const argv of [['set-plan', 'iam@example.org', 'pro'], ['find', 'iam@example.org'], ['list', '--plan', 'pro'], ['suspend', 'iam@example.org'], ['resume', 'iam@example.org'], ['usage', 'iam@example.org'], ['usage']]) {
      expect(await run(...argv), argv.join(' ')).toBe(0);
    }
    expect([...sent].sort()).toEqual([...ADMIN_TABLE_ACCESS.table.map((a) => `table ${a}`), ...ADMIN_TABLE_ACCESS.gsi1.map((a) => `index/gsi1 ${a}`)].sort());
    recording.destroy();
  });

  it('refuses to guess a connection: no endpoint, no npm start, no --aws', async () => {
    const out: string[] = [];
    const code = await runAdmin(['list'], { out: (l) => out.push(l), err: (l) => out.push(l) }, { VAULT_DATA_DIR: '/nonexistent-vault-data' });
    expect(code).toBe(2);
    expect(out.join('\n')).toContain('npm start');
  });
});

describe('suspension', () => {
  it('refuses every call of every key of the account with 403 and the reason, until resumed', async () => {
    const { apikey, accountid } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const second = (await site.ok('POST', 'account/keys', { name: 'second' })).apikey as string;
    const { backupkey } = await site.ok('PUT', 'backups', backupBody);
    const other = await api.registerAccount();

    const res = await admin('suspend', accountid, '--reason', 'unpaid invoice');
    expect(res.code, res.err).toBe(0);
    const calls: [string, string, Record<string, unknown>?][] = [
      ['GET', 'validateapikey'], ['PUT', 'backups', backupBody], ['GET', 'backups'], ['GET', `backups/${backupkey}`],
      ['PATCH', `backups/${backupkey}`, { status: 'failed', info: {} }], ['PUT', 'restores', { backupkey }],
      ['GET', 'account'], ['GET', 'account/keys'], ['POST', 'account/keys', { name: 'third' }], ['DELETE', `account/backups/${backupkey}`],
      ['POST', 'reporterror', { faileddetails: 'x' }],
    ];
    for (const key of [apikey, second]) {
      for (const [method, path, body] of calls) {
        const r = await new PluginClient(api.url, key).call(method, path, body);
        expect({ path, status: r.status, body: r.body }).toEqual({ path, status: 403, body: SUSPENDED });
      }
    }
    // Nothing changed meanwhile; another account is not affected.
    expect((await api.deps.repo.getBackup(accountid, backupkey as string))?.status).toBe('inprogress');
    expect((await new PluginClient(api.url, other.apikey).call('GET', 'validateapikey')).status).toBe(200);
    // No key can be added while suspended (the e-mail sign-in creates keys through the same call).
    await expect(api.deps.repo.createApiKey({ keyId: 'kzzzzzzzzzzzzzzz', accountId: accountid, name: 'x', scopes: ['backup'], hint: 'x', createdAt: 1 }, 'f'.repeat(64)))
      .rejects.toBeInstanceOf(AccountSuspendedError);
    expect((await api.deps.repo.listApiKeys(accountid)).map((k) => k.name).sort()).toEqual(['default', 'second']);
    expect(JSON.parse((await admin('list', '--suspended', '--json')).out)).toEqual([expect.objectContaining({ accountid, suspended: true, reason: 'unpaid invoice' })]);
    // A repeat keeps the first suspension time and updates the reason.
    await admin('suspend', accountid, '--reason', 'unpaid invoice');

    expect((await admin('resume', accountid)).code).toBe(0);
    for (const key of [apikey, second]) expect((await new PluginClient(api.url, key).call('GET', 'validateapikey')).status).toBe(200);
    expect((await site.call('POST', 'account/keys', { name: 'third' })).status).toBe(200);
    expect(JSON.parse((await admin('list', '--suspended', '--json')).out)).toEqual([]);
  });
});

describe('usage metering', () => {
  it('counts requests, backups, restores, dry runs, uploaded and deleted bytes per month', async () => {
    const { apikey, accountid } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    let requests = 0;
    const ok = async (method: string, path: string, body?: Record<string, unknown>) => {
      requests++;
      return site.ok(method, path, body);
    };
    const { backupkey } = await ok('PUT', 'backups', backupBody);
    await ok('PUT', 'backups', { ...backupBody, precheckonly: 1 }); // a precheck is no backup
    await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(1000));
    requests += 2; // upload URL + uploadcompleted
    await ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: {} });
    await ok('PUT', 'restores', { backupkey });
    await ok('PUT', 'restores', { backupkey, dryrun: true });
    await ok('DELETE', `account/backups/${backupkey}`);
    // Requests without a valid key are not the account's (the last character changed for sure:
    // appending 'x' kept the real key whenever it already ended in 'x', 1 run in 62).
    const wrong = await new PluginClient(api.url, `${apikey.slice(0, -1)}${apikey.endsWith('x') ? 'y' : 'x'}`).call('GET', 'validateapikey');
    expect(wrong.status).toBe(401);

    const month = usageMonth(Math.floor(Date.now() / 1000));
    const usage = await api.deps.repo.usage(accountid);
    expect(usage).toEqual([{ month, requests, backups: 1, restores: 1, dryruns: 1, uploadedBytes: 1000, deletedBytes: 1000 }]);
    // Deleting again counts nothing twice.
    await ok('DELETE', `account/backups/${backupkey}`);
    expect((await api.deps.repo.usage(accountid))[0]).toMatchObject({ requests, deletedBytes: 1000 });

    const report = JSON.parse((await admin('usage', accountid, '--json')).out) as { months: Record<string, unknown>[] };
    expect(report.months).toEqual([{ month, requests, backups: 1, restores: 1, dryruns: 1, uploadedBytes: 1000, deletedBytes: 1000, storedBytes: 0 }]);
    const text = await admin('usage', '--month', month);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(new RegExp(`${accountid}\\s.*\\spro\\s+${requests}\\s+1\\s+1\\s+1\\s+1000\\s+1000\\s+0`));
    expect((await admin('usage', '--month', '2026-13')).code).toBe(2);
  });

  it('adds no DynamoDB request: the month counter is the rate-limit write', async () => {
    const sent: string[] = [];
    const recording = recordingClient((cmd) => sent.push(cmd.constructor.name));
    let clock = Date.UTC(2026, 2, 1, 10, 0, 5);
    const { apikey, accountid } = await api.registerAccount();
    const deps = { ...api.deps, repo: createRepository(recording, api.tableName), now: () => new Date(clock) };
    const limited = createApp({ ...deps, rateLimits: { limits: { anonymousPerIp: { limit: 100, windowSeconds: 60 }, perAccount: { limit: 100, windowSeconds: 60 } }, clientIp: () => '192.0.2.9' } });
    const call = async (app: ReturnType<typeof createApp>) => {
      sent.length = 0;
      expect((await app.request('/validateapikey', { headers: { 'X-Api-Key': apikey } })).status).toBe(200);
      return [...sent];
    };
    // Rate limits on: one write to the account's gate, which checks the key, meters the month and
    // counts the rate window; the first request of a window resets it (one more). The instance's
    // first request with the key reads it before (test/api/rate-limits.test.ts: round trips).
    expect(await call(limited)).toEqual(['GetCommand', 'UpdateCommand', 'UpdateCommand']);
    expect(await call(limited)).toEqual(['UpdateCommand']);
    expect(await call(limited)).toEqual(['UpdateCommand']);
    clock += 60_000;
    expect(await call(limited)).toEqual(['UpdateCommand', 'UpdateCommand']);
    // An instance whose clock lags behind the window already started counts in that window.
    clock -= 30_000;
    expect(await call(limited)).toEqual(['UpdateCommand', 'UpdateCommand']);
    clock += 30_000;
    expect(await call(limited)).toEqual(['UpdateCommand']);
    // Rate limits off: the same single write (a new app: a new instance, read first).
    const unlimited = createApp(deps);
    expect(await call(unlimited)).toEqual(['GetCommand', 'UpdateCommand']);
    expect(await call(unlimited)).toEqual(['UpdateCommand']);
    expect((await api.deps.repo.usage(accountid)).find((u) => u.month === '2026-03')?.requests).toBe(8);
    recording.destroy();
  });
});
