/**
 * Carry-over of unchanged empty tables (db/carry-over.ts) on a real PostgreSQL and MariaDB, with
 * Moodle 4.4's whole schema:
 * - every table created exactly as the restore creates it (same DDL plan, names, next ids) is
 *   recognised as such: the catalog description predicted from the plan is the live one, for
 *   every column type, default and index Moodle has;
 * - changing one property of a table live (a default, an index, a column type, the collation,
 *   the next id, a row) makes it staged instead; staged and switched in, it is again exactly
 *   what the restore creates;
 * - the re-check at the switch sees a row written after the analysis, and the guard stops the
 *   switch (nothing switched).
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILE_AGENT_MANIFEST, readDbStructure, type AgentManifest, type DbStructure } from '../src/archive/dbstructure.js';
import { openChunk, type ChunkFile } from '../src/archive/table-chunks.js';
import { ZipArchiveReader } from '../src/archive/zip-reader.js';
import { ZipArchiveWriter } from '../src/archive/zip-writer.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { changedCarried, findCarriedOver, findCarryIfEmpty, findCarryIfSame, lockAndCheckCarried, NEVER_CARRIED, readLiveCatalog, sameRowsAsLive } from '../src/db/carry-over.js';
import { exportDatabase } from '../src/db/export-database.js';
import { connectDatabase } from '../src/db/connect.js';
import { importDatabase, planImport, stageCarriedTables, type ImportPlan } from '../src/db/import-database.js';
import { stagingArea } from '../src/db/staging.js';
import { applyEngineIndexes } from '../src/schema/engine-indexes.js';
import { loadInstallTree } from '../src/schema/install-tree.js';
import type { XmldbTable } from '../src/schema/model.js';
import { sequenceField } from '../src/schema/model.js';
import { freshDatabase, mariadbUserWithoutProcess, TEST_ENGINES, type TestEngine } from './support/databases.js';
import { SCHEMA_DIR } from './support/schema-dir.js';

const PREFIX = 'co_';

/** A backup structure of Moodle's tables, all empty, with a next id for every sequence. */
function emptyBackup(tables: XmldbTable[]): DbStructure {
  const manifest = { tables: Object.fromEntries(tables.map((t) => [t.name, { rows: 0, chunks: 1 }])), chunks: {}, archives: [] } as unknown as AgentManifest;
  const sequences = new Map(tables.filter((t) => sequenceField(t)).map((t, i) => [t.name, 1 + (i % 7) * 10]));
  return { tables, metadata: {}, sequences, configOverride: [], manifest };
}

/** Creates tables live as the import does (createTable with the plan's names and next id, then finishTable). */
async function createAsRestore(db: DbAdapter, structure: DbStructure, plan: ImportPlan, only?: Set<string>): Promise<void> {
  for (const t of plan.tables) {
    if (only && !only.has(t.name)) continue;
    const names = plan.names.get(t.name);
    const nextId = structure.sequences.get(t.name);
    if (db.family === 'postgres') await db.execute('BEGIN');
    await db.createTable(t, { exists: false, ...(nextId !== undefined ? { nextId } : {}), ...(names ? { names } : {}) });
    await db.finishTable(t, nextId ?? 0);
    if (db.family === 'postgres') await db.execute('COMMIT');
  }
}

/** A fresh database whose Moodle tables are all created, empty, exactly as the restore creates them. */
async function siteAsRestored(engine: TestEngine, name: string): Promise<{ url: string; db: DbAdapter; definitions: XmldbTable[]; basePlan: ImportPlan }> {
  const url = await freshDatabase(engine, name);
  const db = await connectDatabase(url, PREFIX);
  const definitions = await loadInstallTree(SCHEMA_DIR);
  const base = emptyBackup(definitions);
  const basePlan = await planImport(db, base, { prefix: PREFIX });
  await createAsRestore(db, base, basePlan);
  return { url, db, definitions, basePlan };
}

describe.each<TestEngine>(TEST_ENGINES)('carry-over on %s', (engine) => {
  let url = '';
  let db: DbAdapter;
  let structure: DbStructure;
  let plan: ImportPlan;
  let candidates: string[] = [];
  const q = (t: string): string => (engine === 'pg' ? `"${PREFIX}${t}"` : `\`${PREFIX}${t}\``);

  beforeAll(async () => {
    url = await freshDatabase(engine, `carry_over_${engine}`);
    db = await connectDatabase(url, PREFIX);
    structure = emptyBackup(await loadInstallTree(SCHEMA_DIR));
    plan = await planImport(db, structure, { prefix: PREFIX });
    await createAsRestore(db, structure, plan);
    await applyEngineIndexes(db, plan.plan);
    // Engine-specific indexes are built after the load: their tables are staged, but on MariaDB
    // one whose only such indexes are FULLTEXT ones (search_simpledb's) is compared with them.
    const engineIndexed = new Set([...plan.plan.create.filter((a) => engine === 'pg' || !a.fulltext).map((a) => a.table), ...plan.plan.skip.map((s) => s.table)]);
    candidates = plan.tables.filter((t) => !NEVER_CARRIED.has(t.name) && !engineIndexed.has(t.name)).map((t) => t.name).sort();
  }, 300_000);
  afterAll(async () => {
    await db?.close();
  });

  const carriedNames = async (log?: string[]): Promise<string[]> => {
    const onDemand = (await findCarriedOver(db, structure, plan, { debug: (m) => log?.push(m) })).map((c) => c.name).sort();
    // The live catalog read ahead, of every table of the prefix (as a restore reads it while the
    // API answers), decides the same.
    const ahead = (await findCarriedOver(db, structure, plan, { live: await readLiveCatalog(db) })).map((c) => c.name).sort();
    expect(ahead).toEqual(onDemand);
    return onDemand;
  };

  it('recognises every table the restore creates, empty, as exactly what it would create', async () => {
    expect(candidates.length).toBeGreaterThan(400);
    const log: string[] = [];
    const carried = await carriedNames(log);
    expect(log.slice(0, 3)).toEqual([]);
    expect(carried).toEqual(candidates);
  });

  it('stages a table whose definition, next id or content differs in one property; staged and switched, it is exact again', async () => {
    const pick = (want: (t: XmldbTable) => boolean): XmldbTable => {
      const t = plan.tables.find((x) => candidates.includes(x.name) && want(x) && !altered.has(x.name));
      if (!t) throw new Error('no table to alter');
      altered.add(t.name);
      return t;
    };
    const altered = new Set<string>();
    const intDefault = pick((t) => t.fields.some((f) => f.type === 'int' && !f.sequence && f.default === '0'));
    const withIndex = pick((t) => t.indexes.length > 0);
    const withChar = pick((t) => t.fields.some((f) => f.type === 'char' && f.notnull));
    const withSeq = pick((t) => Boolean(sequenceField(t)));
    const withRow = pick((t) => Boolean(sequenceField(t)) && t.fields.filter((f) => f.notnull && !f.sequence && f.default === undefined).length === 0);
    const withText = pick((t) => t.fields.some((f) => f.type === 'text'));
    const dflt = intDefault.fields.find((f) => f.type === 'int' && !f.sequence && f.default === '0')?.name ?? '';
    const idx = plan.names.get(withIndex.name)?.indexes[0]?.name ?? '';
    const chr = withChar.fields.find((f) => f.type === 'char' && f.notnull)?.name ?? '';
    const txt = withText.fields.find((f) => f.type === 'text')?.name ?? '';
    const changes = engine === 'pg'
      ? [
        `ALTER TABLE ${q(intDefault.name)} ALTER COLUMN ${dflt} SET DEFAULT 5`,
        `DROP INDEX "${idx}"`,
        `ALTER TABLE ${q(withChar.name)} ALTER COLUMN ${chr} TYPE VARCHAR(999)`,
        `SELECT setval(pg_get_serial_sequence('${PREFIX}${withSeq.name}', 'id'), 5000, false)`,
        `INSERT INTO ${q(withRow.name)} DEFAULT VALUES`,
        `ALTER TABLE ${q(withText.name)} ALTER COLUMN ${txt} TYPE TEXT COLLATE "C"`,
      ]
      : [
        `ALTER TABLE ${q(intDefault.name)} ALTER COLUMN ${dflt} SET DEFAULT 5`,
        `ALTER TABLE ${q(withIndex.name)} DROP INDEX \`${idx}\``,
        `ALTER TABLE ${q(withChar.name)} MODIFY ${chr} VARCHAR(999) NOT NULL DEFAULT ''`,
        `ALTER TABLE ${q(withSeq.name)} AUTO_INCREMENT = 5000`,
        `INSERT INTO ${q(withRow.name)} () VALUES ()`,
        `ALTER TABLE ${q(withText.name)} MODIFY ${txt} LONGTEXT COLLATE utf8mb4_bin`,
      ];
    for (const c of changes) await db.execute(c);
    const carried = await carriedNames();
    expect(candidates.filter((t) => !carried.includes(t)).sort()).toEqual([...altered].sort());

    // A row inserted and deleted again: empty, but the next id moved on.
    await db.execute(`DELETE FROM ${q(withRow.name)}`);
    expect((await carriedNames()).includes(withRow.name)).toBe(false);

    // The restore stages them (empty, as in the backup) and switches them in: exact again.
    const area = await stagingArea(db, url);
    await area.prepare();
    await stageCarriedTables(area, structure, plan, [...altered]);
    const switchPlan = { staged: await area.stagedTables(), moveOut: [...altered] };
    expect(switchPlan.staged).toEqual([...altered].sort());
    await area.switchTables(switchPlan);
    await area.dropOld(await area.oldTables());
    await area.tidy();
    expect(await carriedNames()).toEqual(candidates);
  });

  it('re-checks at the switch: a row written after the analysis is seen, and the guard stops the switch', async () => {
    const carried = await findCarriedOver(db, structure, plan);
    const victim = carried.find((c) => c.next !== null && plan.tables.find((t) => t.name === c.name)?.fields.every((f) => f.sequence || !f.notnull || f.default !== undefined));
    if (!victim) throw new Error('no table to write to');
    expect(await changedCarried(db, carried)).toEqual([]);
    await db.execute(engine === 'pg' ? `INSERT INTO ${q(victim.name)} DEFAULT VALUES` : `INSERT INTO ${q(victim.name)} () VALUES ()`);
    expect(await changedCarried(db, carried)).toEqual([victim.name]);

    // A switch guarded by the re-check does not happen.
    const area = await stagingArea(db, url);
    await area.prepare();
    const other = carried.find((c) => c.name !== victim.name)?.name ?? '';
    await stageCarriedTables(area, structure, plan, [other]);
    const switchPlan = { staged: [other], moveOut: [other] };
    await expect(area.switchTables(switchPlan, async (live) => {
      const late = await lockAndCheckCarried(live, carried);
      if (late.length) throw new Error(`changed: ${late.join(', ')}`);
    })).rejects.toThrow(`changed: ${victim.name}`);
    expect(await area.stagedTables()).toEqual([other]);
    expect(await area.oldTables()).toEqual([]);
    await area.dropStaged();
  });
});

/** A copy of the backup in `dir` without our manifest: what the plugin's backup of the same site holds. */
async function withoutManifest(dir: string): Promise<string> {
  const plain = await mkdtemp(join(tmpdir(), 'va-carry-plain-'));
  for (const n of await readdir(dir)) if (n !== 'dbstructure.zip') await copyFile(join(dir, n), join(plain, n));
  const zin = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
  const zout = new ZipArchiveWriter('dbstructure.zip', createWriteStream(join(plain, 'dbstructure.zip')));
  for (const n of zin.names()) if (n !== FILE_AGENT_MANIFEST) await zout.add(n, await zin.read(n));
  zin.close();
  await zout.close();
  return plain;
}

describe.each<TestEngine>(TEST_ENGINES)("carry-over of a backup without our manifest (the plugin's) on %s", (engine) => {
  it('leaves in place the tables whose only chunk file holds no row, and stages the one the backup has a row for', async () => {
    const { url, db, definitions, basePlan } = await siteAsRestored(engine, `carry_lazy_${engine}`);
    try {
      const engineIndexed = new Set([...basePlan.plan.create.map((a) => a.table), ...basePlan.plan.skip.map((s) => s.table)]);
      const written = basePlan.tables.find((t) => !NEVER_CARRIED.has(t.name) && !engineIndexed.has(t.name) && Boolean(sequenceField(t))
        && t.fields.every((f) => f.sequence || !f.notnull || f.default !== undefined));
      if (!written) throw new Error('no table to write to');
      const q = engine === 'pg' ? `"${PREFIX}${written.name}"` : `\`${PREFIX}${written.name}\``;
      // The backup has one row in `written`; the target is the same site with that row deleted
      // again (empty, same next id): it qualifies as a candidate, but the backup is not empty.
      await db.execute(engine === 'pg' ? `INSERT INTO ${q} DEFAULT VALUES` : `INSERT INTO ${q} () VALUES ()`);
      const dir = await mkdtemp(join(tmpdir(), `va-carry-lazy-${engine}-`));
      await exportDatabase({ db, prefix: PREFIX, out: dir, definitions });
      await db.execute(`DELETE FROM ${q}`);
      const plain = await withoutManifest(dir);
      const zr = await ZipArchiveReader.open(join(plain, 'dbstructure.zip'));
      const structure = await readDbStructure(zr).finally(() => zr.close());
      expect(structure.manifest).toBeUndefined();

      const plan = await planImport(db, structure, { prefix: PREFIX, definitions });
      expect(await findCarriedOver(db, structure, plan)).toEqual([]);
      const ifEmpty = (await findCarryIfEmpty(db, structure, plan)).map((c) => c.name);
      expect(ifEmpty.length).toBeGreaterThan(400);
      expect(ifEmpty).toContain(written.name);

      const area = await stagingArea(db, url);
      const carried: string[] = [];
      await importDatabase({ db, staging: area, prefix: PREFIX, source: plain, definitions, carryIfEmpty: new Set(ifEmpty), onCarried: async (n) => void carried.push(n) });
      expect(carried.sort()).toEqual(ifEmpty.filter((n) => n !== written.name).sort());
      const staged = await area.stagedTables();
      expect(staged).toContain(written.name);
      expect(staged.filter((t) => carried.includes(t))).toEqual([]);
      expect(staged.length + carried.length).toBe(plan.tables.length);
      const sdb = await area.connect();
      try {
        const [r] = await sdb.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${engine === 'pg' ? `"${sdb.prefix}${written.name}"` : `\`${sdb.prefix}${written.name}\``}`);
        expect(Number(r?.n)).toBe(1);
      } finally {
        await sdb.close();
      }
      await area.dropStaged();
    } finally {
      await db.close();
    }
  }, 300_000);
});

/**
 * MariaDB: tables that hold rows live are carried over when the backup holds exactly those rows
 * (findCarryIfSame, sameRowsAsLive), and so is search_simpledb's table with the FULLTEXT index
 * its installer creates; a table changed after the decision is staged, with the backup's rows,
 * from the chunk file saved when it was carried.
 */
describe.runIf(TEST_ENGINES.includes('mariadb'))('carry-over of tables holding the backup’s rows on mariadb', () => {
  it('carries over identical tables, stages one that differs by one value, and restages a carried one changed before the switch', async () => {
    const { url, db, definitions, basePlan } = await siteAsRestored('mariadb', 'carry_same_mariadb');
    try {
      expect((await applyEngineIndexes(db, basePlan.plan)).created.map((a) => a.table)).toEqual(['search_simpledb_index']);
      await db.execute(`INSERT INTO ${PREFIX}license (shortname, fullname, source, enabled, version, custom, sortorder) VALUES
        ('cc', 'Creative Commons', 'https://creativecommons.org/', 1, 2024, 0, 1), ('public', 'Public domain', NULL, 0, 2024, 0, 2), ('x', 'Ünïcode ‘quotes’ and\ttab', '', 1, 0, 1, 3)`);
      await db.execute(`INSERT INTO ${PREFIX}role (name, shortname, description, sortorder, archetype) VALUES ('', 'manager', '', 1, 'manager'), ('', 'teacher', 'Teacher', 2, 'editingteacher')`);
      const dir = await mkdtemp(join(tmpdir(), 'va-carry-same-'));
      await exportDatabase({ db, prefix: PREFIX, out: dir, definitions });
      // After the backup, one value of `role` changes live: it must be staged.
      await db.execute(`UPDATE ${PREFIX}role SET description = 'Teacher!' WHERE shortname = 'teacher'`);
      const zr = await ZipArchiveReader.open(join(dir, 'dbstructure.zip'));
      const structure = await readDbStructure(zr).finally(() => zr.close());
      const plan = await planImport(db, structure, { prefix: PREFIX, definitions });

      // The empty search_simpledb table, FULLTEXT index and all, is exactly what the restore creates.
      expect((await findCarriedOver(db, structure, plan)).map((c) => c.name)).toContain('search_simpledb_index');
      const ifSame = await findCarryIfSame(db, structure, plan);
      expect(ifSame.map((c) => c.name).sort()).toEqual(['license', 'role']);
      const comparable = (name: string): boolean => plan.tables.find((t) => t.name === name)?.fields.every((f) => ['int', 'number', 'char', 'text'].includes(f.type)) ?? false;
      expect(ifSame.every((c) => comparable(c.name))).toBe(true);

      const area = await stagingArea(db, url);
      const carried = new Map<string, string>();
      const saved = new Map<string, ChunkFile>();
      await importDatabase({
        db, staging: area, prefix: PREFIX, source: dir, structure, definitions,
        carriedOver: (await findCarriedOver(db, structure, plan)).map((c) => c.name),
        carryIfSame: new Set(ifSame.map((c) => c.name)),
        sameAsLive: async (conn, liveTable, table, chunk) => {
          const same = await sameRowsAsLive(conn, liveTable, table, chunk);
          if (same) {
            carried.set(table.name, same.checksum);
            saved.set(table.name, openChunk(Buffer.from(JSON.stringify([chunk.columns, ...chunk.rows()]))) as ChunkFile);
          }
          return Boolean(same);
        },
      });
      expect([...carried.keys()]).toEqual(['license']);
      const staged = await area.stagedTables();
      expect(staged).toContain('role');
      expect(staged).not.toContain('license');
      expect(staged).not.toContain('search_simpledb_index');

      // A write to the carried table after the decision is seen, and it is staged from the saved chunk.
      const license = ifSame.find((c) => c.name === 'license');
      if (!license) throw new Error('license not a candidate');
      const asCarried = [{ ...license, checksum: carried.get('license') ?? '' }];
      expect(await changedCarried(db, asCarried)).toEqual([]);
      const rowsNow = async (): Promise<unknown[]> => db.query(`SELECT * FROM ${PREFIX}license ORDER BY id`);
      const backupRows = await rowsNow();
      await db.execute(`UPDATE ${PREFIX}license SET sortorder = 9 WHERE shortname = 'x'`);
      expect(await changedCarried(db, asCarried)).toEqual(['license']);
      await stageCarriedTables(area, structure, plan, ['license'], saved);
      await area.switchTables({ staged: await area.stagedTables(), moveOut: await area.stagedTables() });
      await area.dropOld(await area.oldTables());
      expect(await rowsNow()).toEqual(backupRows);
      const [desc] = await db.query<{ description: string }>(`SELECT description FROM ${PREFIX}role WHERE shortname = 'teacher'`);
      expect(desc?.description).toBe('Teacher');
    } finally {
      await db.close();
    }
  }, 300_000);
});

describe.each<TestEngine>(TEST_ENGINES)('carry-over and constraints on %s', (engine) => {
  const TABLES = ['course', 'course_sections', 'course_modules', 'modules'];

  it('leaves in place no table holding a foreign key, a CHECK constraint or a trigger (MariaDB: read from InnoDB\'s dictionary with PROCESS, from information_schema without)', async () => {
    const url = await freshDatabase(engine, `carry_constraints_${engine}`);
    const db = await connectDatabase(url, PREFIX);
    const opened: DbAdapter[] = [];
    const drops: (() => Promise<void>)[] = [];
    try {
      const structure = emptyBackup(await loadInstallTree(SCHEMA_DIR));
      const plan = await planImport(db, structure, { prefix: PREFIX });
      await createAsRestore(db, structure, plan, new Set(TABLES));
      const carriedOn = async (on: DbAdapter): Promise<string[]> => (await findCarriedOver(on, structure, plan, { live: await readLiveCatalog(on) })).map((c) => c.name).sort();
      expect(await carriedOn(db)).toEqual([...TABLES].sort());
      const q = (t: string): string => (engine === 'pg' ? `"${PREFIX}${t}"` : `\`${PREFIX}${t}\``);
      // A foreign key of course_sections onto course, a CHECK on course_modules, a trigger on
      // modules. course holds none of them on MariaDB; on PostgreSQL the foreign key gives it
      // the referential triggers of the constraint.
      const changes = engine === 'pg'
        ? [
          `ALTER TABLE ${q('course_sections')} ADD CONSTRAINT co_fk FOREIGN KEY (course) REFERENCES ${q('course')} (id)`,
          `ALTER TABLE ${q('course_modules')} ADD CONSTRAINT co_ck CHECK (visible >= 0)`,
          'CREATE FUNCTION co_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$',
          `CREATE TRIGGER co_tr BEFORE INSERT ON ${q('modules')} FOR EACH ROW EXECUTE FUNCTION co_noop()`,
        ]
        : [
          `ALTER TABLE ${q('course_sections')} ADD CONSTRAINT co_fk FOREIGN KEY (course) REFERENCES ${q('course')} (id)`,
          `ALTER TABLE ${q('course_modules')} ADD CONSTRAINT co_ck CHECK (visible >= 0)`,
          `CREATE TRIGGER co_tr BEFORE INSERT ON ${q('modules')} FOR EACH ROW SET NEW.visible = NEW.visible`,
        ];
      for (const c of changes) await db.execute(c);
      const left = engine === 'pg' ? [] : ['course'];
      expect(await carriedOn(db)).toEqual(left);
      if (engine === 'mariadb') {
        // The test server's user has PROCESS; one with every right on this database only has not.
        const noProcess = await mariadbUserWithoutProcess(url, 'vault_noprocess_carry', [new URL(url).pathname.slice(1)]);
        drops.push(noProcess.drop);
        const limited = await connectDatabase(noProcess.url, PREFIX);
        opened.push(limited);
        await expect(limited.query('SELECT COUNT(*) AS n FROM information_schema.INNODB_SYS_FOREIGN')).rejects.toThrow(/PROCESS/);
        expect(await carriedOn(limited)).toEqual(left);
      }
    } finally {
      for (const o of opened) await o.close();
      for (const drop of drops) await drop();
      await db.close();
    }
  }, 300_000);
});
