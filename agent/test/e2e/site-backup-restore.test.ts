/**
 * End to end, no mocks: the real API (DynamoDB Local + Ceph RGW), a Moodle 4.4 schema site on
 * PostgreSQL backed up with a passphrase, restored onto a MariaDB site that had other data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createS3Client } from '../../../lambdas/store/aws-clients.js';
import { startTestApi, type TestApi } from '../../../test/support/api-server.js';
import { service } from '../../../test/support/services.js';
import { connectDatabase } from '../../src/db/connect.js';
import { siteStateDir } from '../../src/moodle/site.js';
import { parseHashInfo, runBackup } from '../../src/site/backup.js';
import { createContext, type CommonOptions } from '../../src/site/context.js';
import { runRestore, runVerify } from '../../src/site/restore.js';
import { ApiError, WrongPassphraseError } from '../../src/transfer/errors.js';
import { deriveSseCKey } from '../../src/transfer/sse-c.js';
import { freshDatabase } from '../support/databases.js';
import { createMoodleDatabase } from '../support/moodle-fixture.js';
import { SCHEMA_DIR } from '../support/round-trip-suite.js';
import { tableHashes } from '../support/table-hashes.js';
import { startFaultProxy } from '../transfer/s3-stand-in.js';
import { makeSite, noise, plantFiles, subsetSchemaDir, treeHashes, writeTree, type TestSite } from './site-fixture.js';

const MiB = 1024 * 1024;
const PASS = 'correct horse battery staple';
const BIN = fileURLToPath(new URL('../../bin/vault-agent.js', import.meta.url));

function cliArgs(site: TestSite): string[] {
  return ['--config', site.configPath, '--moodle-dir', schemaDir, '--state-dir', stateBase, '--api-url', api.url, '--api-key', apikey, '--allow-storage-host', rgwHost(),
    '--part-size', '5M', '--split-size', '8M', '--passphrase-env', 'E2E_PASS'];
}

/** Runs the CLI as a child process (so it can be killed with SIGKILL); `env` adds variables (failpoints). */
function cli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, E2E_PASS: PASS, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Polls a JSON state file until `pred` holds, then SIGKILLs the child. */
async function killWhen<T>(child: ChildProcess, file: string, pred: (s: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`the child exited (${child.exitCode}) before the kill point`);
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text) {
      try {
        const s = JSON.parse(text) as T;
        if (pred(s)) { child.kill('SIGKILL'); return s; }
      } catch { /* partially written by a rename race: read again */ }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  throw new Error('kill point not reached');
}

/** Samples the total size of the files under `dir` every 10 ms until stopped. */
function sampleDirBytes(dir: string): { stop: () => void; peak: number } {
  const out = { peak: 0, stop: () => { clearInterval(timer); } };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void treeSize(dir).then((n) => { out.peak = Math.max(out.peak, n); }).finally(() => { busy = false; });
  }, 10);
  return out;
}

async function treeSize(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  let n = 0;
  for (const e of entries) if (e.isFile()) n += (await stat(join(e.parentPath ?? e.path, e.name)).catch(() => ({ size: 0 }))).size;
  return n;
}

/** The site's files (the agent's state lives outside the dataroot: nothing to leave out). */
async function siteTree(dataroot: string): Promise<Record<string, string>> {
  return treeHashes(dataroot);
}

/** Staging or old tables a restore left in a MariaDB database (db/staging.ts). */
async function leftoverTables(url: string): Promise<string[]> {
  const db = await connectDatabase(url, 'mdl_');
  try {
    const rows = await db.query<{ t: string }>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'vault\\_%'");
    return rows.map((r) => r.t);
  } finally {
    await db.close();
  }
}

/** Tables the restore changes on purpose: sessions are killed (format §10). */
const CHANGED_BY_ACTIONS = new Set(['sessions']);

let api: TestApi;
let apikey: string;
let src: TestSite;
let tgt: TestSite;
let backupkey: string;
let resumedKey = '';
/** A subset of the Moodle 4.4 schema (see subsetSchemaDir) keeps the run within its budget. */
let schemaDir = SCHEMA_DIR;
/** Base of the agent state folders of both sites (never the machine's /var/lib/vault-agent). */
let stateBase = '';
const rgwHost = () => new URL(service('rgw').endpoint).host;

function opts(site: TestSite, extra: Partial<CommonOptions> = {}): CommonOptions {
  return { config: site.configPath, moodleDir: schemaDir, stateDir: stateBase, apiUrl: api.url, apiKey: apikey, allowStorageHost: [rgwHost()], partSize: '5M', splitSize: '8M', quiet: true, retry: { attempts: 4, baseDelayMs: 50 }, ...extra };
}

beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'] });
  stateBase = await mkdtemp(join(tmpdir(), 'e2e-agent-state-'));
  if (process.env.VAULT_E2E_FULL_SCHEMA !== '1') schemaDir = await subsetSchemaDir(SCHEMA_DIR);
  ({ apikey } = await api.registerAccount(undefined, 'pro'));
  const [srcUrl, tgtUrl] = await Promise.all([freshDatabase('pg', 'e2e_site_src'), freshDatabase('mariadb', 'e2e_site_tgt')]);
  await Promise.all([
    createMoodleDatabase(srcUrl, { schemaDir, rows: 'small', largeTableRows: 300, seed: 1 }),
    createMoodleDatabase(tgtUrl, { schemaDir, rows: 'small', largeTableRows: 50, seed: 7 }),
  ]);
  src = await makeSite(srcUrl, 'https://src.example.org/moodle');
  tgt = await makeSite(tgtUrl, 'https://tgt.example.org');
  await plantFiles(src, [
    { name: 'lecture.mp4', data: noise('video', 21 * MiB) },
    { name: 'notes.txt', data: Buffer.from('lecture notes '.repeat(5000)) },
    { name: 'photo.jpg', data: noise('jpg', 300_000) },
    { name: 'empty.txt', data: Buffer.alloc(0) },
  ]);
  await writeTree(src.dataroot, {
    'lang/de/moodle.php': '<?php $string["x"] = "y";',
    'models/m1/weights.bin': noise('model', 200_000),
    'something.json': '{"a":1}',
    'muc/config.php': '<?php // muc',
    'cache/x/y': 'cache', 'temp/t': 'temp', 'sessions/sess_1': 'sess', '.hidden': 'h', 'antivirus_quarantine/q': 'q',
  });
  await plantFiles(tgt, [{ name: 'old.pdf', data: noise('old site blob', 50_000) }]);
  await writeTree(tgt.dataroot, { 'oldstuff/a.txt': 'old', 'temp/keep': 'keep', 'lang/fr/moodle.php': 'old lang' });
}, 240_000);

afterAll(async () => { await api?.close(); });

describe('vault-agent whole site, PostgreSQL → MariaDB', () => {
  it('backs up the site with a passphrase (multipart for the 21 MB blob)', async () => {
    const ctx = await createContext(opts(src));
    const tmpUse = sampleDirBytes(ctx.tmpDir);
    const r = await runBackup(ctx, { key: deriveSseCKey(PASS), description: 'e2e backup' }).finally(() => tmpUse.stop());
    backupkey = r.backupkey;
    const names = Object.keys(r.archives);
    expect(names).toEqual(expect.arrayContaining(['dbdump.zip', 'dbstructure.zip', 'dataroot.zip', 'filedir.zip']));
    expect(r.bufferPeak).toBeLessThanOrEqual((4 + 1) * 5 * MiB); // (parallel + 1) × part size, in memory
    expect(tmpUse.peak).toBe(0); // no temporary files: parts are buffered in memory
    const rec = await ctx.api.getBackup(backupkey);
    expect(rec.status).toBe('finished');
    expect((rec.info as Record<string, unknown>).encrypted).toBe(true);
    expect(rec.files?.map((f) => f.name).sort()).toEqual(names.sort());
    console.log(`[measure] backup archives: ${names.join(', ')}; total ${(r.totalsize / MiB).toFixed(1)} MiB; part buffers peak ${(r.bufferPeak / MiB).toFixed(1)} MiB`);
  }, 120_000);

  it('refuses a wrong passphrase before changing anything', async () => {
    const before = await siteTree(tgt.dataroot);
    const ctx = await createContext(opts(tgt));
    await expect(runRestore(ctx, backupkey, { key: deriveSseCKey('wrong') })).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(runRestore(ctx, backupkey, { key: null })).rejects.toBeInstanceOf(WrongPassphraseError);
    expect(await siteTree(tgt.dataroot)).toEqual(before);
  });

  it('a failed pre-check changes nothing and leaves no archive behind (those it downloaded ahead are deleted)', async () => {
    const before = await siteTree(tgt.dataroot);
    const tablesBefore = await tableHashes(tgt.dbUrl);
    const db = await connectDatabase(tgt.dbUrl, 'mdl_');
    // A table the restore keeps with a foreign key onto one it replaces: the foreign-key check fails.
    await db.query('CREATE TABLE ext_ref (id BIGINT PRIMARY KEY, userid BIGINT, FOREIGN KEY (userid) REFERENCES mdl_user (id))');
    try {
      const ctx = await createContext(opts(tgt));
      await expect(runRestore(ctx, backupkey, { key: deriveSseCKey(PASS) })).rejects.toThrow(/Foreign keys onto replaced tables/);
      const left = await readdir(ctx.tmpDir, { recursive: true }).catch(() => []);
      expect(left.filter((n) => n.endsWith('.zip'))).toEqual([]);
    } finally {
      await db.query('DROP TABLE ext_ref');
      await db.close();
    }
    expect(await siteTree(tgt.dataroot)).toEqual(before);
    expect(await tableHashes(tgt.dbUrl)).toEqual(tablesBefore);
  });

  it('an injected error half-way through the dataroot switch (database already switched) rolls both back: the site is exactly as before', async () => {
    const before = await siteTree(tgt.dataroot);
    const dbBefore = await tableHashes(tgt.dbUrl);
    const r = await cli(['restore', backupkey, ...cliArgs(tgt)], { VAULT_AGENT_FAILPOINTS: 'restore.switch.dataroot@2=error' }).done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('failpoint restore.switch.dataroot: injected failure; the restore was rolled back: the site is unchanged');
    expect(r.stderr).toContain('database switched');
    // The staged blobs and dataroot are on disk before the switch makes the database use them.
    expect(r.stderr).toMatch(/staged files written to disk \(sync -f\) in [0-9.]+ s[^]*database switched/);
    expect(await siteTree(tgt.dataroot)).toEqual(before);
    expect(await tableHashes(tgt.dbUrl)).toEqual(dbBefore);
    expect(await leftoverTables(tgt.dbUrl)).toEqual([]);
    expect(existsSync(join(siteStateDir(stateBase, tgt.dataroot), 'restore.json'))).toBe(false);
  }, 120_000);

  it('kill -9 after new blobs were written; --abandon removes exactly them and the staging: the site is exactly as before', async () => {
    const before = await siteTree(tgt.dataroot);
    const dbBefore = await tableHashes(tgt.dbUrl);
    const run = await cli(['restore', backupkey, ...cliArgs(tgt)], { VAULT_AGENT_FAILPOINTS: 'restore.files.filedir@2=kill' }).done;
    expect(run.signal).toBe('SIGKILL');
    expect(await siteTree(tgt.dataroot)).not.toEqual(before); // two new blobs and the staged dataroot
    expect(await leftoverTables(tgt.dbUrl)).not.toEqual([]);
    const abandoned = await cli(['restore', backupkey, ...cliArgs(tgt), '--abandon']).done;
    expect(abandoned.code, abandoned.stderr).toBe(0);
    expect(abandoned.stdout).toContain('abandoned; the site is as it was before it');
    expect(await siteTree(tgt.dataroot)).toEqual(before);
    expect(await tableHashes(tgt.dbUrl)).toEqual(dbBefore);
    expect(await leftoverTables(tgt.dbUrl)).toEqual([]);
    const again = await cli(['restore', backupkey, ...cliArgs(tgt), '--abandon']).done;
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no interrupted restore');
  }, 120_000);

  it('restores onto the MariaDB site: tables, filedir, dataroot equal; excluded folders untouched; orphans gone', async () => {
    const oldBlob = tgt.blobs[0] as string;
    const ctx = await createContext(opts(tgt));
    const t0 = performance.now();
    const r = await runRestore(ctx, backupkey, { key: deriveSseCKey(PASS) });
    console.log(`[measure] restore ${((performance.now() - t0) / 1000).toFixed(1)} s; notes: ${r.notes.join(' | ')}`);

    const [a, b] = await Promise.all([tableHashes(src.dbUrl), tableHashes(tgt.dbUrl)]);
    const differing = [...a.keys()].filter((k) => !CHANGED_BY_ACTIONS.has(k) && a.get(k)?.hash !== b.get(k)?.hash);
    expect(differing).toEqual([]);
    expect(b.get('sessions')?.rows).toBe(0);

    const srcFiledir = await treeHashes(join(src.dataroot, 'filedir'));
    expect(await treeHashes(join(tgt.dataroot, 'filedir'))).toEqual(srcFiledir);
    expect(existsSync(join(tgt.dataroot, 'filedir', oldBlob.slice(0, 2), oldBlob.slice(2, 4), oldBlob))).toBe(false);

    const tree = await treeHashes(tgt.dataroot);
    const top = new Set(Object.keys(tree).map((p) => p.split('/')[0]));
    expect(tree['lang/de/moodle.php']).toBeDefined();
    expect(tree['models/m1/weights.bin']).toBe(createHash('sha256').update(noise('model', 200_000)).digest('hex'));
    expect(tree['temp/keep']).toBeDefined(); // always-skipped folders of the target are untouched
    for (const gone of ['oldstuff', 'muc', 'antivirus_quarantine', '.hidden', 'climaintenance.html']) expect(top.has(gone)).toBe(false);
    expect(tree['lang/fr/moodle.php']).toBeUndefined();
    expect(tree['cache/x/y']).toBeUndefined();
  }, 120_000);

  it('verify re-hashes every archive; a flipped byte in storage fails the restore, which leaves the site unchanged', async () => {
    const ctx = await createContext(opts(tgt));
    const ok = await runVerify(ctx, backupkey, deriveSseCKey(PASS));
    expect(ok.every((a) => a.verified)).toBe(true);

    // Flip one byte of dataroot.zip in storage (rewritten with the same SSE-C key).
    const rgw = service('rgw');
    const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials: rgw });
    const Bucket = Object.values(api.buckets)[0] as string;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket }));
    const Key = listed.Contents?.map((o) => o.Key ?? '').find((k) => k.includes(backupkey) && k.endsWith('/dataroot.zip'));
    expect(Key).toBeDefined();
    const k = createHash('sha256').update(PASS).digest();
    const sse = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: k.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(k).digest('base64') };
    const obj = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key, ...sse }))).Body!.transformToByteArray());
    const at = Math.floor(obj.length / 2);
    obj[at] = (obj[at] ?? 0) ^ 0xff;
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: obj, ...sse }));

    await expect(runVerify(ctx, backupkey, deriveSseCKey(PASS))).rejects.toMatchObject({ code: 'ERR_INTEGRITY' });
    const before = await siteTree(tgt.dataroot);
    const dbBefore = await tableHashes(tgt.dbUrl);
    await expect(runRestore(ctx, backupkey, { key: deriveSseCKey(PASS) })).rejects.toMatchObject({ code: 'ERR_INTEGRITY' });
    expect(await siteTree(tgt.dataroot)).toEqual(before);
    expect(await tableHashes(tgt.dbUrl)).toEqual(dbBefore);
  }, 120_000);

  it('kill -9 during the backup upload; --resume sends only what is missing and yields the same archives', async () => {
    const run = cli(['backup', ...cliArgs(src), '--parallel', '1', '--description', 'killed backup']);
    type S = { backupkey: string; done: Record<string, unknown>; current?: { name: string; multipart: { parts: unknown[] } } };
    const killedAt = await killWhen<S>(run.child, join(siteStateDir(stateBase, src.dataroot), 'backup.json'), (s) => (s.current?.multipart.parts.length ?? 0) >= 1);
    const killed = await run.done;
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await cli(['backup', ...cliArgs(src), '--resume']).done;
    expect(resumed.stderr).toContain('reused from the interrupted run');
    expect(resumed.code).toBe(0);
    const key = /Backup key: (\w+)/.exec(resumed.stdout)?.[1];
    expect(key).toBe(killedAt.backupkey);
    const ctx = await createContext(opts(src));
    const [a, b] = await Promise.all([ctx.api.getBackup(backupkey), ctx.api.getBackup(killedAt.backupkey)]);
    expect(b.status).toBe('finished');
    expect(parseHashInfo(b.info as Record<string, unknown>)).toEqual(parseHashInfo(a.info as Record<string, unknown>));
    resumedKey = killedAt.backupkey;
    console.log(`[measure] backup killed in ${killedAt.current?.name} after ${killedAt.current?.multipart.parts.length} part(s); resume reused them`);
  }, 120_000);

  it('kill -9 during the restore\'s staging load (onto an empty PostgreSQL site); --resume ends with the same database and files', async () => {
    const tgt = await makeSite(await freshDatabase('pg', 'e2e_site_tgt2'), 'https://tgt2.example.org');
    const run = cli(['restore', resumedKey, ...cliArgs(tgt)]);
    const st = await killWhen<{ db?: { done: string[] } }>(run.child, join(siteStateDir(stateBase, tgt.dataroot), 'restore.json'), (s) => (s.db?.done.length ?? 0) >= 30);
    expect((await run.done).signal).toBe('SIGKILL');
    // The tables are loaded into staging while the site stays live: no maintenance mode yet.
    expect(existsSync(join(tgt.dataroot, 'climaintenance.html'))).toBe(false);
    const resumed = await cli(['restore', resumedKey, ...cliArgs(tgt), '--resume']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    const [a, b] = await Promise.all([tableHashes(src.dbUrl), tableHashes(tgt.dbUrl)]);
    expect([...a.keys()].filter((k) => !CHANGED_BY_ACTIONS.has(k) && a.get(k)?.hash !== b.get(k)?.hash)).toEqual([]);
    expect(await treeHashes(join(tgt.dataroot, 'filedir'))).toEqual(await treeHashes(join(src.dataroot, 'filedir')));
    expect(existsSync(join(tgt.dataroot, 'climaintenance.html'))).toBe(false);
    console.log(`[measure] restore killed after ${st.db?.done.length} tables; resumed to the same result`);
  }, 120_000);

  it('exit codes: wrong passphrase 4, API refusal 5', async () => {
    let t = performance.now();
    const lap = (what: string) => { console.log(`[measure] CLI ${what}: ${((performance.now() - t) / 1000).toFixed(1)} s`); t = performance.now(); };
    const wrong = await cli(['restore', resumedKey, ...cliArgs(tgt).slice(0, -2), '--passphrase-env', 'NOPE']).done;
    lap('usage error');
    expect(wrong.code).toBe(2); // the named env var is not set: usage error
    const bad = spawn(process.execPath, [BIN, 'restore', resumedKey, ...cliArgs(tgt)], { env: { ...process.env, E2E_PASS: 'not it' }, stdio: 'ignore' });
    expect(await new Promise((r) => bad.on('exit', r))).toBe(4);
    lap('wrong passphrase');
    const refused = await cli(['restore', 'NOSUCHBACKUPKEY000000', ...cliArgs(tgt)]).done;
    expect(refused.code).toBe(5);
    lap('API refusal');
  }, 60_000);

  it('S3 faults (dropped connections, 503s, cut downloads) between agent and storage: the backup finishes and verifies', async () => {
    const proxy = await startFaultProxy((n, method) => (n % 3 === 0 ? 'drop' : n % 4 === 0 ? '503' : method === 'GET' && n % 5 === 0 ? 'cut' : null));
    try {
      const ctx = await createContext(opts(src, { storageProxy: proxy.endpoint, retry: { attempts: 8, baseDelayMs: 20 } }));
      const r = await runBackup(ctx, { key: deriveSseCKey(PASS), description: 'through faults', maintenance: true });
      expect(existsSync(join(src.dataroot, 'climaintenance.html'))).toBe(false);
      const verified = await runVerify(ctx, r.backupkey, deriveSseCKey(PASS));
      expect(verified.length).toBe(Object.keys(r.archives).length);
      expect(verified.every((a) => a.verified && a.sha256 === r.archives[a.name]?.sha256)).toBe(true);
      expect(proxy.faults.drop).toBeGreaterThan(2);
      expect(proxy.faults['503']).toBeGreaterThan(2);
      console.log(`[measure] through the fault proxy: ${proxy.requests()} storage requests, faults ${JSON.stringify(proxy.faults)}`);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('a key without the restore scope is refused with the API message', async () => {
    const res = await fetch(`${api.url}/account/keys`, { method: 'POST', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'backup only', scopes: ['backup'] }) });
    expect(res.status).toBe(200);
    const backupOnly = ((await res.json()) as { apikey: string }).apikey;
    const ctx = await createContext({ ...opts(tgt), apiKey: backupOnly });
    const err = await runRestore(ctx, backupkey, { key: deriveSseCKey(PASS) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/Vault API error \(\d+\): .+/);
    console.log(`[measure] scope refusal: ${(err as Error).message}`);
  }, 60_000);

  it('CLI: register stores a key; check, list and restore --dry-run use it and change nothing', async () => {
    const drop = (args: string[], ...flags: string[]) => args.filter((a, i, all) => !flags.includes(a) && !flags.includes(all[i - 1] ?? ''));
    const base = drop(cliArgs(tgt), '--api-key', '--passphrase-env');
    const reg = await cli(['register', '--email', `cli-${Date.now()}@example.org`, ...base]).done;
    expect(reg.code, reg.stderr).toBe(0);
    expect(reg.stdout).toMatch(/API key \w{8}\.\.\. stored/);
    const check = await cli(['check', ...base]).done;
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('Database modifications');
    expect(check.stdout).toContain('Result: all checks passed.');
    const list = await cli(['list', '--json', ...base]).done; // a new account: no backups yet
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    const mine = await cli(['list', ...drop(cliArgs(tgt), '--passphrase-env')]).done;
    expect(mine.stdout).toContain(resumedKey);
    const before = await siteTree(tgt.dataroot);
    const dbBefore = await tableHashes(tgt.dbUrl);
    const dry = await cli(['restore', resumedKey, '--dry-run', ...cliArgs(tgt)]).done;
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('Restore pre-checks');
    expect(await siteTree(tgt.dataroot)).toEqual(before);
    expect(await tableHashes(tgt.dbUrl)).toEqual(dbBefore);
  }, 90_000);

  it('a plan without passphrase support refuses an encrypted backup with the API message', async () => {
    const free = await api.registerAccount(undefined, 'free');
    const ctx = await createContext({ ...opts(src), apiKey: free.apikey });
    const err = await runBackup(ctx, { key: deriveSseCKey(PASS) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/Vault API error \(\d+\): .+/);
  }, 60_000);
});
