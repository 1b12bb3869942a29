/**
 * Indexes XMLDB cannot express, on a real PostgreSQL and MariaDB (issue 11): a site's
 * search_simpledb_index with the full-text indexes search_simpledb's installer makes (plus one
 * index of no portable form) is dumped; `__structure__.xml` must describe only what the plugin's
 * own backup describes and the manifest the rest; loaded onto either engine, the target must
 * have exactly the indexes a database where the installer ran has (read from the catalogs with
 * the real-sites helper, not through the agent), full-text queries must work, and what cannot be
 * re-created must be reported, not fail the load. A backup without the extension (the plugin's)
 * must get the installer's indexes too.
 */
import { copyFile, mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDbStructure } from '../src/archive/dbstructure.js';
import { ZipArchiveReader } from '../src/archive/zip-reader.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { connectDatabase } from '../src/db/connect.js';
import { exportDatabase } from '../src/db/export-database.js';
import { importDatabase } from '../src/db/import-database.js';
import type { XmldbTable } from '../src/schema/model.js';
import { parseXmldb } from '../src/schema/xmldb-parse.js';
import { freshDatabase, type TestEngine } from './support/databases.js';
import { indexSet, type IndexInfo } from './support/real-sites.js';
import { SCHEMA_DIR } from './support/schema-dir.js';

const ENGINES: TestEngine[] = ['pg', 'mariadb'];
const TARGET_PREFIX = 'va_';

/** search/engine/simpledb/db/install.php, statement for statement ({x} → prefixed name). */
const INSTALLER: Record<TestEngine, string[]> = {
  pg: ['title', 'content', 'description1', 'description2'].map((c) =>
    `CREATE INDEX {search_simpledb_${c}} ON {search_simpledb_index} USING gin(to_tsvector('simple', ${c}))`),
  mariadb: ['CREATE FULLTEXT INDEX {search_simpledb_index_index} ON {search_simpledb_index} (title, content, description1, description2)'],
};
/** One more index per engine that XMLDB cannot express and the other engine has no form of. */
const EXTRA: Record<TestEngine, { name: string; sql: string }> = {
  pg: { name: 'search_simpledb_recent', sql: 'CREATE INDEX {search_simpledb_recent} ON {search_simpledb_index} (modified) WHERE modified > 0' },
  mariadb: { name: 'search_simpledb_titlepre', sql: 'CREATE INDEX {search_simpledb_titlepre} ON {search_simpledb_index} (title(20))' },
};
const sub = (sql: string, prefix: string): string => sql.replace(/\{(\w+)\}/g, (_m, n: string) => prefix + n);

async function simpledbDefinition(): Promise<XmldbTable> {
  const [t] = parseXmldb(await readFile(join(SCHEMA_DIR, 'search/engine/simpledb/db/install.xml'), 'utf8'));
  if (!t) throw new Error('no search_simpledb_index in install.xml');
  return { ...t, component: 'search_simpledb' };
}

/** Creates search_simpledb_index as Moodle's installer would, with `extra` statements after it. */
async function installSimpledb(db: DbAdapter, def: XmldbTable, engine: TestEngine, extra: string[] = []): Promise<void> {
  await db.createTable(def, { exists: false });
  await db.finishTable(def);
  for (const sql of [...INSTALLER[engine], ...extra]) await db.execute(sub(sql, db.prefix));
}

/** The table's indexes as the catalogs say, PostgreSQL definitions without the schema. */
async function simpledbIndexes(url: string, prefix: string): Promise<IndexInfo[]> {
  return (await indexSet(url, prefix)).filter((i) => i.table === 'search_simpledb_index').map((i) => ({ ...i, definition: i.definition.replace(/ ON public\./, ' ON ') }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Rows a full-text query finds, through the index the installer's form provides. */
async function fulltextHits(db: DbAdapter, word: string): Promise<number> {
  const t = `${db.prefix}search_simpledb_index`;
  const sql = db.family === 'postgres'
    ? `SELECT COUNT(*) AS n FROM ${t} WHERE to_tsvector('simple', title) @@ to_tsquery('simple', '${word}')`
    : `SELECT COUNT(*) AS n FROM ${t} WHERE MATCH (title, content, description1, description2) AGAINST ('${word}' IN BOOLEAN MODE)`;
  return Number((await db.query<{ n: string | number }>(sql))[0]?.n);
}

for (const source of ENGINES) {
  describe(`search_simpledb indexes from ${source}`, () => {
    let def: XmldbTable;
    let dir = '';
    /** Per target engine: the index set of a database where search_simpledb's installer ran. */
    const reference = new Map<TestEngine, IndexInfo[]>();

    beforeAll(async () => {
      def = await simpledbDefinition();
      const url = await freshDatabase(source, `va_ei_src_${source}`);
      const db = await connectDatabase(url, 'mdl_');
      try {
        await installSimpledb(db, def, source, [EXTRA[source].sql]);
        await db.execute(`INSERT INTO mdl_search_simpledb_index (docid, itemid, title, content, contextid, areaid, type, courseid, modified, description1, description2)
          VALUES ('d1', 1, 'Quokka habits', 'Some content', 1, 'mod_page-activity', 1, 1, 5, 'first', NULL),
                 ('d2', 2, 'Other title', 'More content', 1, 'mod_page-activity', 1, 1, 0, NULL, 'second')`);
        dir = await mkdtemp(join(tmpdir(), `va-ei-${source}-`));
        await exportDatabase({ db, out: dir, definitions: [def] });
      } finally {
        await db.close();
      }
      for (const target of ENGINES) {
        const ref = await freshDatabase(target, `va_ei_ref_${source}_${target}`);
        const rdb = await connectDatabase(ref, TARGET_PREFIX);
        try {
          await installSimpledb(rdb, def, target);
        } finally {
          await rdb.close();
        }
        reference.set(target, await simpledbIndexes(ref, TARGET_PREFIX));
      }
    }, 120_000);

    it('__structure__.xml describes what the plugin describes; the manifest carries the rest', async () => {
      const zip = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
      const xml = (await zip.read('__structure__.xml')).toString('utf8');
      const st = await readDbStructure(zip);
      zip.close();
      expect(xml).not.toMatch(/to_tsvector|FIELDS=""|search_simpledb_(title|content|description|index_index|recent|titlepre)/);
      const table = st.tables.find((t) => t.name === 'search_simpledb_index');
      expect(table?.indexes).toEqual(def.indexes.map((i) => ({ name: i.name, unique: i.unique, fields: i.fields })));
      expect(table?.keys).toEqual(def.keys);
      const ext = st.manifest?.engineIndexes;
      expect(ext?.prefix).toBe('mdl_');
      const names = source === 'pg'
        ? ['mdl_search_simpledb_content', 'mdl_search_simpledb_description1', 'mdl_search_simpledb_description2', 'mdl_search_simpledb_recent', 'mdl_search_simpledb_title']
        : ['mdl_search_simpledb_index_index', 'mdl_search_simpledb_titlepre'];
      expect(ext?.indexes.map((i) => i.name).sort()).toEqual(names);
      for (const i of ext?.indexes ?? []) {
        expect(i).toMatchObject({ table: 'search_simpledb_index', engine: source === 'pg' ? 'postgres' : 'mariadb' });
        expect(i.definition).toContain(i.name);
      }
      const fulltext = ext?.indexes.filter((i) => i.logical).map((i) => i.logical);
      expect(fulltext).toEqual(source === 'pg'
        ? ['content', 'description1', 'description2', 'title'].map((c) => ({ kind: 'fulltext', columns: [c], config: 'simple' }))
        : [{ kind: 'fulltext', columns: ['title', 'content', 'description1', 'description2'] }]);
    });

    for (const target of ENGINES) {
      it(`loads onto ${target} with exactly the indexes the installer creates there${source === target ? ' (and the extra one)' : ', reporting the extra one'}`, async () => {
        const url = await freshDatabase(target, `va_ei_dst_${source}_${target}`);
        const warnings: string[] = [];
        const res = await importDatabase({ db: url, prefix: TARGET_PREFIX, source: dir, warn: (m) => warnings.push(m) });
        const extraName = TARGET_PREFIX + EXTRA[source].name;
        const got = await simpledbIndexes(url, TARGET_PREFIX);
        const want = reference.get(target) ?? [];
        if (source === target) {
          expect(got.filter((i) => i.name !== extraName)).toEqual(want);
          expect(got.find((i) => i.name === extraName)?.definition).toContain(source === 'pg' ? 'WHERE (modified > 0)' : 'BTREE');
          expect(warnings).toEqual([]);
          expect(res.engineIndexes.created.every((c) => c.how === 'definition')).toBe(true);
        } else {
          expect(got).toEqual(want);
          expect(warnings).toEqual([expect.stringContaining(`index mdl_${EXTRA[source].name} on search_simpledb_index not re-created`)]);
          expect(res.engineIndexes.skipped.map((s) => s.name)).toEqual([`mdl_${EXTRA[source].name}`]);
        }
        const db = await connectDatabase(url, TARGET_PREFIX);
        try {
          expect(await fulltextHits(db, 'quokka')).toBe(1);
        } finally {
          await db.close();
        }
      });
    }

    it("a backup without the extension (the plugin's; an older agent's index description) gets the installer's indexes", async () => {
      const plain = await mkdtemp(join(tmpdir(), `va-ei-plain-${source}-`));
      for (const n of await readdir(dir)) if (n !== 'dbstructure.zip') await copyFile(join(dir, n), join(plain, n));
      const zin = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
      const zout = new ZipArchiveWriter('dbstructure.zip', (await import('node:fs')).createWriteStream(join(plain, 'dbstructure.zip')));
      // What older agents wrote for these indexes (issue 11): FIELDS="" from PostgreSQL, a plain
      // index over the four TEXT columns from MariaDB.
      const old = source === 'pg'
        ? '<INDEX NAME="mdl_search_simpledb_content" UNIQUE="false" FIELDS=""/>'
        : '<INDEX NAME="mdl_search_simpledb_index_index" UNIQUE="false" FIELDS="title, content, description1, description2"/>';
      for (const n of zin.names()) {
        if (n === '__vault_agent__.json') continue;
        let data = await zin.read(n);
        if (n === '__structure__.xml') data = Buffer.from(data.toString('utf8').replace('<INDEX NAME="areaid"', `${old}\n        <INDEX NAME="areaid"`), 'utf8');
        await zout.add(n, data);
      }
      zin.close();
      await zout.close();
      for (const target of ENGINES) {
        const url = await freshDatabase(target, `va_ei_plain_${source}_${target}`);
        const warnings: string[] = [];
        const res = await importDatabase({ db: url, prefix: TARGET_PREFIX, source: plain, warn: (m) => warnings.push(m) });
        expect(await simpledbIndexes(url, TARGET_PREFIX), target).toEqual(reference.get(target));
        expect(res.engineIndexes.created.map((c) => c.how)).toEqual(target === 'pg' ? ['installer', 'installer', 'installer', 'installer'] : ['installer']);
        expect(warnings).toEqual([expect.stringMatching(/^index mdl_search_simpledb_(content|index_index) on search_simpledb_index not created: /)]);
      }
    });
  });
}
