/** XMLDB parsing, the structure writer and per-engine DDL over the real Moodle 4.4 schema. */
import { SCHEMA_DIR } from './support/schema-dir.js';
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase } from '../src/db/connect.js';
import { columnSql, createTableSql, planTableNames } from '../src/schema/ddl.js';
import { loadInstallTree } from '../src/schema/install-tree.js';
import { codeTreeExportOptions } from '../src/site/backup.js';
import { physicalIndexes } from '../src/schema/model.js';
import { structureXml } from '../src/schema/structure-xml.js';
import { parseXmldb } from '../src/schema/xmldb-parse.js';
import { TEST_ENGINES, freshDatabase } from './support/databases.js';


describe('install.xml tree', () => {
  it('reads all 485 tables of Moodle 4.4 with their components', async () => {
    const tables = await loadInstallTree(SCHEMA_DIR);
    expect(tables).toHaveLength(485);
    expect(new Set(tables.map((t) => t.name)).size).toBe(485);
    expect(tables.find((t) => t.name === 'config')?.component).toBe('core');
    expect(tables.find((t) => t.name === 'forum_posts')?.component).toBe('mod_forum');
    expect(tables.find((t) => t.name === 'logstore_standard_log')?.component).toBe('logstore_standard');
    const fields = tables.flatMap((t) => t.fields);
    expect(fields).toHaveLength(4420);
    expect(fields.filter((f) => f.sequence)).toHaveLength(484);
    const cfg = tables.find((t) => t.name === 'config_plugins');
    expect(cfg?.fields[1]).toEqual({ name: 'plugin', type: 'char', length: '100', notnull: true, default: 'core', sequence: false });
  });

  it('keeps the parsed tree in a cache file, used only while the install.xml files are unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'va-install-tree-'));
    try {
      // A two-file tree (PLUGINS.tsv names the components) that the test may touch.
      cpSync(join(SCHEMA_DIR, 'lib'), join(dir, 'lib'), { recursive: true });
      cpSync(join(SCHEMA_DIR, 'mod', 'forum'), join(dir, 'mod', 'forum'), { recursive: true });
      writeFileSync(join(dir, 'PLUGINS.tsv'), 'component\tfolder\nmod_forum\tmod/forum\n');
      const cacheFile = join(dir, 'state', 'install-tree.json');
      const parsed = await loadInstallTree(dir);
      expect(await loadInstallTree(dir, { cacheFile })).toStrictEqual(parsed);
      expect(existsSync(cacheFile)).toBe(true);
      // Read back from the file, the tables are exactly the parsed ones.
      expect(await loadInstallTree(dir, { cacheFile })).toStrictEqual(parsed);
      // The next run reads the file, not the XML: a marker put into it comes back.
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; tables: { name: string }[] };
      (cached.tables[0] as { name: string }).name = 'marker';
      writeFileSync(cacheFile, JSON.stringify(cached));
      expect((await loadInstallTree(dir, { cacheFile }))[0]?.name).toBe('marker');
      // A changed install.xml is parsed again, and the cache rewritten.
      const forum = join(dir, 'mod', 'forum', 'db', 'install.xml');
      writeFileSync(forum, readFileSync(forum, 'utf8').replace('NAME="forum_posts"', 'NAME="forum_posts2"'));
      const again = await loadInstallTree(dir, { cacheFile });
      expect(again.map((t) => t.name)).not.toContain('marker');
      expect(again.map((t) => t.name)).toContain('forum_posts2');
      expect((JSON.parse(readFileSync(cacheFile, 'utf8')) as { tables: unknown[] }).tables).toStrictEqual(again);
      // So is a file edited to the same size, by its modification time.
      const marked = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; tables: { name: string }[] };
      (marked.tables[0] as { name: string }).name = 'marker';
      writeFileSync(cacheFile, JSON.stringify(marked));
      writeFileSync(forum, readFileSync(forum, 'utf8').replace('NAME="forum_posts2"', 'NAME="forum_posts3"'));
      utimesSync(forum, new Date(), new Date(Date.now() + 5000));
      expect((await loadInstallTree(dir, { cacheFile })).map((t) => t.name)).toContain('forum_posts3');
      // An unreadable cache is no error.
      writeFileSync(cacheFile, '{not json');
      expect(await loadInstallTree(dir, { cacheFile })).toStrictEqual(await loadInstallTree(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives a backup's export the code tree itself (plugin list, xmldb.xsd) as well as its definitions", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'va-state-'));
    try {
      const o = await codeTreeExportOptions({ moodleDir: SCHEMA_DIR, stateDir });
      expect(o.schemaDir).toBe(SCHEMA_DIR);
      expect(o.definitions).toHaveLength(485);
      expect(existsSync(join(stateDir, 'install-tree.json'))).toBe(true);
      expect(await codeTreeExportOptions({ stateDir })).toEqual({});
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('round-trips a table through __structure__.xml', async () => {
    const tables = await loadInstallTree(SCHEMA_DIR);
    const xml = structureXml(tables);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8" ?>\n<XMLDB     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n    xsi:noNamespaceSchemaLocation="xmldb.xsd"\n>\n  <TABLES>\n    <TABLE NAME="')).toBe(true);
    expect(xml.endsWith('  </TABLES>\n</XMLDB>\n')).toBe(true);
    expect(xml).not.toMatch(/COMMENT=/);
    expect(parseXmldb(xml)).toEqual(tables);
  });

  it('escapes DEFAULT values and keeps plugin attribute order', () => {
    const [t] = parseXmldb(`<?xml version="1.0"?><XMLDB><TABLES><TABLE NAME="X" COMPONENT="?"><FIELDS>
      <FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>
      <FIELD NAME="a" TYPE="char" LENGTH="10" NOTNULL="false" DEFAULT="&lt;&amp;&quot;" SEQUENCE="false"/>
      <FIELD NAME="n" TYPE="number" LENGTH="10" NOTNULL="true" DEFAULT="0" SEQUENCE="false" DECIMALS="5"/>
      </FIELDS><KEYS><KEY NAME="primary" TYPE="primary" FIELDS="id"/></KEYS></TABLE></TABLES></XMLDB>`);
    expect(t?.name).toBe('x');
    expect(t?.fields[1]?.default).toBe('<&"');
    const xml = structureXml(t ? [t] : []);
    expect(xml).toContain('<FIELD NAME="a" TYPE="char" LENGTH="10" NOTNULL="false" DEFAULT="&lt;&amp;&quot;" SEQUENCE="false"/>');
    expect(xml).toContain('<FIELD NAME="n" TYPE="number" LENGTH="10" NOTNULL="true" DEFAULT="0" SEQUENCE="false" DECIMALS="5"/>');
    expect(xml).toContain('<FIELD NAME="id" TYPE="int" LENGTH="10" NOTNULL="true" SEQUENCE="true"/>');
  });

  it('maps XMLDB types like Moodle generators do', () => {
    const f = (length: string) => ({ name: 'x', type: 'int' as const, length, notnull: true, sequence: false });
    expect(['1', '4', '5', '9', '10', '20'].map((l) => columnSql('postgres', f(l)))).toEqual(
      ['SMALLINT', 'SMALLINT', 'INTEGER', 'INTEGER', 'BIGINT', 'BIGINT'].map((t) => `"x" ${t} NOT NULL`));
    expect(['2', '3', '5', '7', '10'].map((l) => columnSql('mysql', f(l)))).toEqual(
      ['TINYINT(2)', 'SMALLINT(3)', 'MEDIUMINT(5)', 'INT(7)', 'BIGINT(10)'].map((t) => `\`x\` ${t} NOT NULL`));
    expect(columnSql('postgres', { name: 'order', type: 'char', length: '20', notnull: true, default: "it's", sequence: false })).toBe(`"order" VARCHAR(20) DEFAULT 'it''s' NOT NULL`);
    expect(createTableSql('mysql', 'mdl_', { name: 't', component: '?', fields: [{ name: 'id', type: 'int', length: '10', notnull: true, sequence: true }], keys: [{ name: 'primary', type: 'primary', fields: ['id'] }], indexes: [] }))
      .toContain('`id` BIGINT(10) NOT NULL AUTO_INCREMENT');
  });

  it('names indexes uniquely within Moodle\'s 30 characters over a whole install', async () => {
    const tables = await loadInstallTree(SCHEMA_DIR);
    const plan = planTableNames('postgres', 'mdl_', tables, { definitions: tables });
    const names = [...plan.values()].flatMap((n) => [n.primaryKey ?? '', ...n.indexes.map((i) => i.name)]);
    expect(new Set(names).size).toBe(names.length);
    expect(Math.max(...names.map((n) => n.length))).toBeLessThanOrEqual(30);
  });
});

describe.each(TEST_ENGINES)('DDL on %s', (engine) => {
  it('creates all 485 tables and introspects them back to the same columns and indexes', async () => {
    const url = await freshDatabase(engine, `va_schema_${engine}`);
    const db = await connectDatabase(url, 'mdl_');
    try {
      const tables = await loadInstallTree(SCHEMA_DIR);
      for (const t of tables) {
        await db.createTable(t, { exists: false });
        await db.finishTable(t);
      }
      const live = await db.introspect();
      expect(live).toHaveLength(485);
      const user = live.find((t) => t.name === 'user');
      const def = tables.find((t) => t.name === 'user');
      expect(user?.fields.map((f) => f.name)).toEqual(def?.fields.map((f) => f.name));
      expect(user?.fields.find((f) => f.name === 'id')?.sequence).toBe(true);
      expect(user?.fields.find((f) => f.name === 'auth')?.default).toBe('manual');
      const sig = (fs: string[], u: boolean) => `${fs.join(',')}:${u}`;
      for (const t of tables) {
        const l = live.find((x) => x.name === t.name);
        expect(l?.indexes.map((i) => sig(i.fields, i.unique)).sort(), t.name).toEqual(physicalIndexes(t).map((i) => sig(i.fields, i.unique)).sort());
      }
    } finally {
      await db.close();
    }
  });
});
