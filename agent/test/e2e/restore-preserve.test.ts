/**
 * Restore keeps the target site's own data (format §9.3 steps 1, 7, 8; agent restore of dbdump
 * archives one at a time): a PostgreSQL source restored onto a PostgreSQL and a MariaDB site
 * whose preserved plugin `local_keepme` (and `tool_vault`) has rows in shared tables and whose
 * `restorepreservepasswords` user keeps its hash; tables of a plugin extra on the target are
 * dropped, a table no install.xml defines is left. Plus: a restore that dies between saving and
 * re-inserting the preserved rows loses nothing when run again.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api-server.js';
import { service } from '../../../test/support/services.js';
import type { DbAdapter, RowValue } from '../../src/db/adapter.js';
import { connectDatabase } from '../../src/db/connect.js';
import { pluginRowsCondition } from '../../src/db/excluded-plugin-rows.js';
import { exportDatabase } from '../../src/db/export-database.js';
import { importDatabase, type ImportState } from '../../src/db/import-database.js';
import { preservedRowsHooks } from '../../src/db/preserved-rows.js';
import { runBackup } from '../../src/site/backup.js';
import { createContext, type CommonOptions } from '../../src/site/context.js';
import { runRestore } from '../../src/site/restore.js';
import { freshDatabase, type TestEngine } from '../support/databases.js';
import { createMoodleDatabase } from '../support/moodle-fixture.js';
import { SCHEMA_DIR } from '../support/round-trip-suite.js';
import { tableHashes } from '../support/table-hashes.js';
import { makeSite, subsetSchemaDir, type TestSite } from './site-fixture.js';

const KEEP = ['tool_vault', 'local_keepme'];
/** Tables whose rows the preservation changes; compared without the preserved rows. */
const SHARED = ['config', 'config_plugins', 'files', 'task_scheduled', 'task_adhoc', 'user'];

let api: TestApi;
let apikey: string;
let srcSchema: string;
let tgtSchema: string;
let src: TestSite;
let backupkey = '';
let backupArchives: Record<string, { size: number }> = {};
const rgwHost = (): string => new URL(service('rgw').endpoint).host;

function opts(site: TestSite, moodleDir: string): CommonOptions {
  return { config: site.configPath, moodleDir, stateDir: join(tmpdir(), 'e2e-preserve-agent-state'), apiUrl: api.url, apiKey: apikey, allowStorageHost: [rgwHost()], partSize: '5M', splitSize: 20_000, quiet: true, retry: { attempts: 4, baseDelayMs: 50 } };
}

/** Inserts rows modelled on the table's first row (every NOT NULL column filled), ids past MAX(id). */
async function plant(db: DbAdapter, table: string, rows: Record<string, unknown>[]): Promise<void> {
  const q = (s: string): string => (db.family === 'postgres' ? `"${s}"` : `\`${s}\``);
  const template = (await db.query<Record<string, unknown>>(`SELECT * FROM ${q(`mdl_${table}`)} ORDER BY id LIMIT 1`))[0] ?? {};
  const [{ m }] = await db.query<{ m: unknown }>(`SELECT MAX(id) AS m FROM ${q(`mdl_${table}`)}`) as [{ m: unknown }];
  let id = Number(m ?? 0) + 1000;
  for (const r of rows) {
    const row: Record<string, unknown> = { ...template, id: ++id, ...r };
    const cols = Object.keys(row);
    const ph = cols.map((_c, i) => (db.family === 'postgres' ? `$${i + 1}` : '?'));
    await db.query(`INSERT INTO ${q(`mdl_${table}`)} (${cols.map(q).join(', ')}) VALUES (${ph.join(', ')})`, cols.map((c) => row[c] ?? null));
  }
  await db.setSequence({ name: table, component: '', fields: [{ name: 'id', type: 'int', length: '10', notnull: true, sequence: true }], keys: [], indexes: [] }, 0);
}

const sha1 = (s: string): string => s.padEnd(40, '0').slice(0, 40);

/** The source's own rows of the preserved plugin (must not survive) and a password for `keeper`. */
async function plantSource(url: string): Promise<void> {
  const db = await connectDatabase(url, 'mdl_');
  try {
    await plant(db, 'config_plugins', [{ plugin: 'local_keepme', name: 'secret', value: 'source' }, { plugin: 'mod_label', name: 'version', value: '2024042200' }]);
    await plant(db, 'config', [{ name: 'local_keepme_flag', value: 'source' }]);
    await plant(db, 'task_scheduled', [{ component: 'local_keepme', classname: '\\local_keepme\\task\\from_source' }]);
    await plant(db, 'user', [{ username: 'keeper', auth: 'manual', password: 'SOURCEHASH', mnethostid: 1 }]);
  } finally {
    await db.close();
  }
}

/** The target's preserved data: settings, plugin rows in shared tables, users, an extra table. */
async function plantTarget(url: string): Promise<void> {
  const db = await connectDatabase(url, 'mdl_');
  try {
    await plant(db, 'config_plugins', [
      { plugin: 'tool_vault', name: 'restorepreserveplugins', value: 'local_keepme' },
      { plugin: 'tool_vault', name: 'restorepreservepasswords', value: 'keeper, ghost' },
      { plugin: 'local_keepme', name: 'secret', value: 'target' },
      { plugin: 'mod_label', name: 'version', value: '2024042200' },
    ]);
    await plant(db, 'config', [{ name: 'local_keepme_flag', value: 'target' }, { name: 'behattest', value: '1' }]);
    await plant(db, 'files', [
      { component: 'local_keepme', filename: 'kept.txt', userid: 77, referencefileid: null, pathnamehash: sha1('aa1') },
      { component: 'local_keepme', filename: 'alias.txt', userid: 77, referencefileid: 5, pathnamehash: sha1('aa2') },
    ]);
    await plant(db, 'task_scheduled', [{ component: 'local_keepme', classname: '\\local_keepme\\task\\from_target' }]);
    await plant(db, 'task_adhoc', [{ component: 'local_keepme', classname: '\\local_keepme\\task\\adhoc_site', userid: null }, { component: 'local_keepme', classname: '\\local_keepme\\task\\adhoc_user', userid: 5 }]);
    await plant(db, 'user', [{ username: 'keeper', auth: 'manual', password: 'TARGETHASH', mnethostid: 1 }, { username: 'ghost', auth: 'manual', password: 'GHOSTHASH', mnethostid: 1 }]);
    await db.execute(db.family === 'postgres' ? 'CREATE TABLE mdl_zz_custom (id BIGSERIAL PRIMARY KEY, v TEXT)' : 'CREATE TABLE mdl_zz_custom (id BIGINT AUTO_INCREMENT PRIMARY KEY, v TEXT)');
  } finally {
    await db.close();
  }
}

/** Rows of `table` not belonging to the preserved plugins (and, in `user`, not the preserved users), in id order. */
async function unpreservedRows(url: string, table: string): Promise<RowValue[][]> {
  const db = await connectDatabase(url, 'mdl_');
  try {
    const def = (await db.introspect()).find((t) => t.name === table);
    if (!def) throw new Error(`no ${table}`);
    const belongs = pluginRowsCondition(db.family, 'mdl_', def, KEEP, new Set([table]));
    const where = table === 'user' ? "username NOT IN ('keeper', 'ghost')" : belongs ? `NOT (${belongs})` : undefined;
    const cols = def.fields.map((f) => f.name).sort();
    const out: RowValue[][] = [];
    for await (const r of db.readRows(def, cols, where)) out.push(r);
    return out;
  } finally {
    await db.close();
  }
}

async function rows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await connectDatabase(url, 'mdl_');
  try {
    return await db.query(sql);
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'] });
  ({ apikey } = await api.registerAccount(undefined, 'pro'));
  const extra = ['user', 'task_scheduled', 'task_adhoc', 'course'];
  [srcSchema, tgtSchema] = await Promise.all([subsetSchemaDir(SCHEMA_DIR, 2, extra, ['mod/label']), subsetSchemaDir(SCHEMA_DIR, 2, extra, ['mod/label', 'mod/forum'])]);
  const srcUrl = await freshDatabase('pg', 'e2e_keep_src');
  await createMoodleDatabase(srcUrl, { schemaDir: srcSchema, rows: 'small', seed: 3 });
  await plantSource(srcUrl);
  src = await makeSite(srcUrl, 'https://keep-src.example.org');
  const ctx = await createContext(opts(src, srcSchema));
  const r = await runBackup(ctx, { key: null, description: 'preserve test' });
  backupkey = r.backupkey;
  backupArchives = r.archives;
}, 60_000);

afterAll(async () => { await api?.close(); });

describe.each<TestEngine>(['pg', 'mariadb'])('restore onto a %s site keeps its preserved data', (engine) => {
  it('preserved plugin rows, passwords; extra plugin tables dropped; the temp folder bounded (one dbdump at a time, or those the collation check read)', async () => {
    const url = await freshDatabase(engine, `e2e_keep_tgt_${engine}`);
    await createMoodleDatabase(url, { schemaDir: tgtSchema, rows: 'small', seed: 11 });
    await plantTarget(url);
    const tgt = await makeSite(url, `https://keep-${engine}.example.org`);
    const ctx = await createContext(opts(tgt, tgtSchema));
    const log: string[] = [];
    ctx.logger = { info: (m) => log.push(`INFO ${m}`), warn: (m) => log.push(`WARN ${m}`), error: (m) => log.push(`ERROR ${m}`) };
    const r = await runRestore(ctx, backupkey, { key: null, allowMissingPlugins: true });

    // The rest equals the backup.
    const [a, b] = await Promise.all([tableHashes(src.dbUrl), tableHashes(url)]);
    const other = [...a.keys()].filter((k) => !SHARED.includes(k) && k !== 'sessions');
    expect(other.filter((k) => a.get(k)?.hash !== b.get(k)?.hash)).toEqual([]);
    for (const t of SHARED) expect(await unpreservedRows(url, t), t).toEqual(await unpreservedRows(src.dbUrl, t));

    // The site's preserved rows, and only those, are back.
    const q = (s: string): string => (engine === 'pg' ? `"${s}"` : `\`${s}\``);
    const cp = await rows(url, `SELECT plugin, name, value FROM mdl_config_plugins WHERE plugin IN ('tool_vault', 'local_keepme') ORDER BY plugin, name`);
    expect(cp).toEqual([
      { plugin: 'local_keepme', name: 'secret', value: 'target' },
      { plugin: 'tool_vault', name: 'restorepreservepasswords', value: 'keeper, ghost' },
      { plugin: 'tool_vault', name: 'restorepreserveplugins', value: 'local_keepme' },
    ]);
    expect(await rows(url, `SELECT name, value FROM mdl_config WHERE name IN ('local_keepme_flag', 'behattest') ORDER BY name`))
      .toEqual([{ name: 'behattest', value: '1' }, { name: 'local_keepme_flag', value: 'target' }]);
    const files = await rows(url, `SELECT filename, userid FROM mdl_files WHERE component = 'local_keepme'`);
    expect(files.map((f) => [f.filename, Number(f.userid)])).toEqual([['kept.txt', 2]]);
    expect((await rows(url, `SELECT classname FROM mdl_task_scheduled WHERE component = 'local_keepme'`)).map((x) => x.classname)).toEqual(['\\local_keepme\\task\\from_target']);
    expect((await rows(url, `SELECT classname FROM mdl_task_adhoc WHERE component = 'local_keepme'`)).map((x) => x.classname)).toEqual(['\\local_keepme\\task\\adhoc_site']);
    expect(await rows(url, `SELECT username, password FROM ${q('mdl_user')} WHERE username IN ('keeper', 'ghost')`)).toEqual([{ username: 'keeper', password: 'TARGETHASH' }]);
    expect(log.some((l) => l.startsWith('WARN') && l.includes("'ghost'"))).toBe(true);

    // §9.3 step 8: forum (not in the backup's plugins) dropped; the undefined table left and named.
    const tables = new Set(b.keys());
    expect([...tables].filter((t) => t.startsWith('forum'))).toEqual([]);
    expect(tables.has('zz_custom')).toBe(true);
    expect(log.some((l) => l.includes('zz_custom (not defined by any install.xml)'))).toBe(true);

    // The temp folder: dbstructure.zip, and the database and the files archives staged side by
    // side — one dbdump at a time on PostgreSQL; on MariaDB the dbdumps the collation pre-check
    // read, kept for the load (this disk has room for all of them), so none is downloaded twice.
    const dumps = Object.keys(backupArchives).filter((n) => n.startsWith('dbdump'));
    expect(dumps.length).toBeGreaterThan(2);
    const sizeOf = (n: string): number => backupArchives[n]?.size ?? 0;
    const dumpBytes = dumps.reduce((s, n) => s + sizeOf(n), 0);
    const largestFiles = Math.max(0, ...Object.keys(backupArchives).filter((n) => n !== 'dbstructure.zip' && !n.startsWith('dbdump')).map(sizeOf));
    expect(r.tempPeakBytes).toBeGreaterThan(0);
    if (engine === 'pg') {
      expect(r.tempPeakBytes).toBeLessThanOrEqual(sizeOf('dbstructure.zip') + Math.max(...dumps.map(sizeOf)) + largestFiles);
      expect(r.tempPeakBytes).toBeLessThan(dumpBytes);
    } else {
      expect(r.tempPeakBytes).toBeGreaterThanOrEqual(dumpBytes);
      expect(r.tempPeakBytes).toBeLessThanOrEqual(sizeOf('dbstructure.zip') + dumpBytes + largestFiles);
      expect(log.filter((l) => l.includes('downloaded again'))).toEqual([]);
    }
    expect(log.some((l) => l.includes(`temp disk peak: ${r.tempPeakBytes} bytes`))).toBe(true);
  }, 60_000);

  it('a restore dying between saving and re-inserting preserved rows loses nothing when run again', async () => {
    const dump = await mkdtemp(join(tmpdir(), 'keep-dump-'));
    await exportDatabase({ db: src.dbUrl, out: dump, schemaDir: srcSchema });
    const url = await freshDatabase(engine, `keep_resume_${engine}`);
    await createMoodleDatabase(url, { schemaDir: srcSchema, rows: 'small', seed: 5 });
    await plantTarget(url);
    const stateDir = await mkdtemp(join(tmpdir(), 'keep-state-'));
    let state: ImportState = { done: [] };
    const warn = (m: string): void => { throw new Error(`unexpected warning: ${m}`); };
    const first = preservedRowsHooks({ plugins: ['local_keepme'], passwordUsers: ['keeper'], stateDir, warn });
    const crash = Object.assign(new Error('simulated crash'), { code: 'TEST_CRASH' });
    await expect(importDatabase({
      db: url, source: dump, concurrency: 1, tableHooks: { before: first.before, after: async (db, t) => { if (t.name === 'config_plugins') throw crash; await first.after?.(db, t); } },
      onTableDone: (s) => { state = s; },
    })).rejects.toBe(crash);
    expect(await readdir(stateDir)).toContain('config_plugins.json');
    // Run again from the recorded state with fresh hooks (a new process): rows come from the file.
    const again = preservedRowsHooks({ plugins: ['local_keepme'], passwordUsers: ['keeper'], stateDir, warn });
    await importDatabase({ db: url, source: dump, resumeState: state, tableHooks: again, onTableDone: (s) => { state = s; } });
    expect((await rows(url, `SELECT value FROM mdl_config_plugins WHERE plugin = 'local_keepme'`)).map((x) => x.value)).toEqual(['target']);
    expect((await rows(url, `SELECT COUNT(*) AS n FROM mdl_config_plugins WHERE plugin = 'tool_vault'`)).map((x) => Number(x.n))).toEqual([2]);
    expect(await readdir(stateDir)).toEqual([]);
  }, 60_000);
});
