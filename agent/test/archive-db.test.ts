/**
 * Export/import behaviour against a real PostgreSQL and MariaDB: archive splitting and chunk
 * placement, checksums in our manifest, resuming an interrupted import, restoring an archive
 * shaped like the plugin's (no manifest, quoted headers, string sequences, a broken chunk,
 * preserved tool_vault tables), and the CLI end to end.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDbStructure } from '../src/archive/dbstructure.js';
import { ZipArchiveReader } from '../src/archive/zip-reader.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import { connectDatabase } from '../src/db/connect.js';
import { exportDatabase } from '../src/db/export-database.js';
import type { ImportState } from '../src/db/import-database.js';
import { importDatabase } from '../src/db/import-database.js';
import { TEST_ENGINES, freshDatabase } from './support/databases.js';
import { createMoodleDatabase } from './support/moodle-fixture.js';
import { SCHEMA_DIR } from './support/round-trip-suite.js';
import type { TableHash } from './support/table-hashes.js';
import { tableHashes } from './support/table-hashes.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/vault-agent.js', import.meta.url));
const same = (a: Map<string, TableHash>, b: Map<string, TableHash>): string[] =>
  [...new Set([...a.keys(), ...b.keys()])].filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)));

describe('export and import on PostgreSQL', () => {
  let src = '';
  let hashes: Map<string, TableHash>;
  beforeAll(async () => {
    src = await freshDatabase('pg', 'va_arch_src');
    await createMoodleDatabase(src, { schemaDir: SCHEMA_DIR, rows: 'small', largeTableRows: 3000, seed: 3 });
    hashes = await tableHashes(src);
  }, 120_000);

  it('splits archives after whole tables and records chunk checksums', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-split-'));
    const res = await exportDatabase({ db: src, out: dir, schemaDir: SCHEMA_DIR, splitBytes: 256 * 1024, chunkBytes: 32 * 1024 });
    const dumps = res.archives.filter((a) => a.name.startsWith('dbdump'));
    expect(dumps.length).toBeGreaterThan(2);
    expect(dumps.map((a) => a.name)).toEqual(dumps.map((_a, i) => (i ? `dbdump-${i}.zip` : 'dbdump.zip')));
    expect((await readdir(dir)).sort()).toEqual([...res.archives.map((a) => a.name)].sort());
    const sz = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
    const st = await readDbStructure(sz);
    expect(sz.names()).toEqual(['xmldb.xsd', '__structure__.xml', '__metadata__.json', '__sequences__.json', '__configoverride__.json', '__vault_agent__.json'].filter((n) => n !== 'xmldb.xsd' || sz.has(n)));
    sz.close();
    const manifest = st.manifest;
    expect(manifest?.archives.map((a) => a.name)).toEqual(dumps.map((a) => a.name));
    // Every chunk of a table is in one archive, numbered 0..n-1, and its checksum matches.
    const perTable = new Map<string, Set<string>>();
    for (const [name, c] of Object.entries(manifest?.chunks ?? {})) {
      const table = name.replace(/\.\d+\.json$/, '');
      perTable.set(table, (perTable.get(table) ?? new Set()).add(c.archive));
    }
    expect([...perTable.values()].filter((s) => s.size > 1)).toEqual([]);
    const large = manifest?.tables.logstore_standard_log;
    expect(large?.chunks).toBeGreaterThan(3);
    for (const a of dumps) {
      const z = await ZipArchiveReader.open(join(dir, a.name));
      for (const n of z.names()) expect(createHash('sha256').update(await z.read(n)).digest('hex'), n).toBe(manifest?.chunks[n]?.sha256);
      z.close();
    }
    expect(Object.keys(manifest?.chunks ?? {}).filter((n) => n.startsWith('logstore_standard_log.'))).toEqual(
      Array.from({ length: large?.chunks ?? 0 }, (_x, i) => `logstore_standard_log.${i}.json`));
    const dst = await freshDatabase('pg', 'va_arch_split');
    await importDatabase({ db: dst, source: dir });
    expect(same(hashes, await tableHashes(dst))).toEqual([]);
  });

  it('resumes an interrupted import and ends in the same state, also when simply run again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-resume-'));
    await exportDatabase({ db: src, out: dir });
    const dst = await freshDatabase('pg', 'va_arch_resume');
    let state: ImportState = { done: [] };
    const interrupted = importDatabase({
      db: dst, source: dir,
      onTableDone: (s) => {
        state = s;
        if (s.done.length === 120) throw new Error('simulated crash');
      },
    });
    await expect(interrupted).rejects.toThrow('simulated crash');
    expect(same(hashes, await tableHashes(dst)).length).toBeGreaterThan(100);
    await importDatabase({ db: dst, source: dir, resumeState: state });
    expect(same(hashes, await tableHashes(dst))).toEqual([]);
    await importDatabase({ db: dst, source: dir });
    expect(same(hashes, await tableHashes(dst))).toEqual([]);
  });

  it('runs dump and load from the command line with plain log lines off a terminal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-cli-'));
    const d = await run(process.execPath, [BIN, 'dump', '--db', src, '--out', dir, '--moodle', SCHEMA_DIR]);
    expect(d.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}dump: 486\/486 tables/m);
    expect(d.stderr).toMatch(/dumped 486 tables/);
    const dst = await freshDatabase('pg', 'va_arch_cli');
    const l = await run(process.execPath, [BIN, 'load', '--db', dst, '--in', dir]);
    expect(l.stderr).toMatch(/restored 486 tables/);
    expect(same(hashes, await tableHashes(dst))).toEqual([]);
    const bad = await run(process.execPath, [BIN, 'load', '--db', 'sqlite://x', '--in', dir]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(/ERR_(DB_URL|ARCHIVE_READ)/);
  }, 120_000);
});

describe.each(TEST_ENGINES)('export on %s', (engine) => {
  it('leaves out tool_vault tables and excluded plugins\' rows in shared tables (spec §3.1–3.2)', async () => {
    const url = await freshDatabase(engine, `va_excl_${engine}`);
    await createMoodleDatabase(url, { schemaDir: SCHEMA_DIR, onlyTables: ['config', 'config_plugins', 'user_preferences'] });
    const db = await connectDatabase(url, 'mdl_');
    try {
      const q = (n: string): string => (db.family === 'postgres' ? `"${n}"` : `\`${n}\``);
      await db.execute(`INSERT INTO ${q('mdl_config')} (id, name, value) VALUES (100, 'tool_vault_key', 'x'), (101, 'toolxvault_keep', 'y'), (102, 'behattest', '1'), (103, 'mod_forum_x', 'z')`);
      await db.execute(`INSERT INTO ${q('mdl_config_plugins')} (id, plugin, name, value) VALUES (100, 'tool_vault', 'a', 'x'), (101, 'message', 'email_provider_mod_forum_posts', 'x'), (102, 'message', 'keep_me', 'y')`);
      await db.execute(`INSERT INTO ${q('mdl_user_preferences')} (id, userid, name, value) VALUES (100, 1, 'message_provider_tool_vault_x', 'x'), (101, 1, 'other', 'y')`);
      await db.execute(`CREATE TABLE ${q('mdl_tool_vault_config')} (id INT PRIMARY KEY)`);
      const dir = await mkdtemp(join(tmpdir(), 'va-excl-'));
      const res = await exportDatabase({ db, out: dir, schemaDir: SCHEMA_DIR, excludeComponents: ['mod_forum'], definitions: [
        ...(await import('../src/schema/install-tree.js').then((m) => m.loadInstallTree(SCHEMA_DIR))),
        { name: 'tool_vault_config', component: 'tool_vault', fields: [{ name: 'id', type: 'int', length: '10', notnull: true, sequence: false }], keys: [{ name: 'primary', type: 'primary', fields: ['id'] }], indexes: [] },
      ] });
      expect(res.structure.map((t) => t.name).sort()).toEqual(['config', 'config_plugins', 'user_preferences']);
      const z = await ZipArchiveReader.open(join(dir, 'dbdump.zip'));
      const ids = async (n: string): Promise<string[]> => (JSON.parse((await z.read(n)).toString()) as string[][]).slice(1).map((r) => r[0] ?? '').filter((id) => Number(id) >= 100);
      expect(await ids('config.0.json')).toEqual(['101']);
      expect(await ids('config_plugins.0.json')).toEqual(['102']);
      expect(await ids('user_preferences.0.json')).toEqual(['101']);
      z.close();
    } finally {
      await db.close();
    }
  });
});

describe.each(TEST_ENGINES)('restoring a plugin-made archive into %s', (engine) => {
  it('reads quoted headers, string sequences, raw binary text, skips a broken chunk and leaves tool_vault tables alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-plugin-'));
    const structure = `<?xml version="1.0" encoding="UTF-8" ?>
<XMLDB     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:noNamespaceSchemaLocation="xmldb.xsd"
>
  <TABLES>
    <TABLE NAME="config" COMPONENT="core">
      <FIELDS>
        <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
        <FIELD NAME="name" TYPE="char" LENGTH="255" NOTNULL="true" SEQUENCE="false"/>
        <FIELD NAME="value" TYPE="text" NOTNULL="true" SEQUENCE="false"/>
      </FIELDS>
      <KEYS>
        <KEY NAME="primary" TYPE="primary" FIELDS="id"/>
        <KEY NAME="name" TYPE="unique" FIELDS="name"/>
      </KEYS>
    </TABLE>
    <TABLE NAME="local_blob" COMPONENT="?">
      <FIELDS>
        <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
        <FIELD NAME="data" TYPE="binary" NOTNULL="false" SEQUENCE="false"/>
      </FIELDS>
      <KEYS>
        <KEY NAME="primary" TYPE="primary" FIELDS="id"/>
      </KEYS>
    </TABLE>
    <TABLE NAME="empty_one" COMPONENT="?">
      <FIELDS>
        <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
      </FIELDS>
      <KEYS>
        <KEY NAME="primary" TYPE="primary" FIELDS="id"/>
      </KEYS>
    </TABLE>
    <TABLE NAME="tool_vault_config" COMPONENT="tool_vault">
      <FIELDS>
        <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
        <FIELD NAME="name" TYPE="char" LENGTH="100" NOTNULL="true" SEQUENCE="false"/>
      </FIELDS>
      <KEYS>
        <KEY NAME="primary" TYPE="primary" FIELDS="id"/>
      </KEYS>
    </TABLE>
  </TABLES>
</XMLDB>
`;
    const s = ZipArchiveWriter.toFile(join(dir, 'dbstructure.zip'), 'dbstructure.zip');
    await s.add('__structure__.xml', Buffer.from(structure));
    await s.add('__metadata__.json', Buffer.from('{"wwwroot":"http:\\/\\/x","dbengine":"postgres","plugins":[]}'));
    await s.add('__sequences__.json', Buffer.from('{"config":"42","local_blob":"7"}'));
    await s.close();
    const d = ZipArchiveWriter.toFile(join(dir, 'dbdump.zip'), 'dbdump.zip');
    await d.add('config.0.json', Buffer.from('[\n["`id`","`name`","`value`"],\n["1","a","\\u00e9\\ud83e\\udd84 \\/"],\n["2","b",""]\n]'));
    await d.add('config.1.json', Buffer.from('[\n["`id`","`name`","`value`"],\n,\n]'));
    await d.add('config.2.json', Buffer.from('[\n["`id`","`name`","`value`"],\n["5","c","x"]\n]'));
    await d.add('local_blob.0.json', Buffer.from('[\n["id","data"],\n["1","h\\u00e9"],\n["2",null]\n]'));
    await d.add('tool_vault_config.0.json', Buffer.from('[\n["id","name"],\n["1","from backup"]\n]'));
    await d.close();

    const url = await freshDatabase(engine, `va_plugin_${engine}`);
    const db = await connectDatabase(url, 'mdl_');
    try {
      const q = (n: string): string => (db.family === 'postgres' ? `"${n}"` : `\`${n}\``);
      await db.execute(`CREATE TABLE ${q('mdl_tool_vault_config')} (id INT PRIMARY KEY, name VARCHAR(100))`);
      await db.execute(`INSERT INTO ${q('mdl_tool_vault_config')} VALUES (9, 'site value')`);
      const res = await importDatabase({ db, source: dir });
      expect(res.skipped).toEqual(['tool_vault_config']);
      expect(await db.query(`SELECT id, name FROM ${q('mdl_tool_vault_config')}`)).toEqual([{ id: 9, name: 'site value' }]);
      const cfg = await db.query<{ id: unknown; value: string }>(`SELECT id, value FROM ${q('mdl_config')} ORDER BY id`);
      expect(cfg.map((r) => [Number(r.id), r.value])).toEqual([[1, 'é🦄 /'], [2, ''], [5, 'x']]);
      const blob = await db.query<{ data: Buffer | null }>(`SELECT data FROM ${q('mdl_local_blob')} ORDER BY id`);
      expect(blob.map((r) => r.data)).toEqual([Buffer.from('hé'), null]);
      expect(await db.query(`SELECT * FROM ${q('mdl_empty_one')}`)).toEqual([]);
      const seqs = await db.sequences(res.structure.tables);
      expect(seqs.get('config')).toBe(42);
      expect(seqs.get('local_blob')).toBe(7);
    } finally {
      await db.close();
    }
  });
});
