/**
 * The atomic switch of a restore (db/staging.ts) on a real PostgreSQL and MariaDB: tables loaded
 * through a staging connection under their final names become the live tables in one step, with
 * their rows, index names and sequences; the replaced ones wait in the old area until dropped; a
 * switch can be reversed exactly; a switch interrupted on a server without atomic DDL (simulated
 * by doing part of the renames by hand) is completed by running it again. The foreign-key
 * pre-check names the constraint and table that would block the switch.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkForeignKeys, checkStagingRights } from '../src/checks/restore-checks.js';
import type { DbAdapter } from '../src/db/adapter.js';
import { connectDatabase } from '../src/db/connect.js';
import { stagingArea, type StagingArea, type SwitchPlan } from '../src/db/staging.js';
import { planTableNames } from '../src/schema/ddl.js';
import type { XmldbTable } from '../src/schema/model.js';
import { freshDatabase, mariadbUserWithoutProcess, type TestEngine } from './support/databases.js';

const PREFIX = 'st_';

const table = (name: string): XmldbTable => ({
  name, component: 'core',
  fields: [
    { name: 'id', type: 'int', length: '10', notnull: true, sequence: true },
    { name: 'name', type: 'char', length: '100', notnull: true, sequence: false },
    { name: 'course', type: 'int', length: '10', notnull: true, sequence: false, default: '0' },
  ],
  keys: [{ name: 'primary', type: 'primary', fields: ['id'] }],
  indexes: [{ name: 'course', unique: false, fields: ['course'] }],
});
const USER = table('user');
const COURSE = table('course');
const EXTRA = table('extra');

async function fill(db: DbAdapter, t: XmldbTable, rows: string[]): Promise<void> {
  const names = planTableNames(db.family, PREFIX, [t]).get(t.name);
  await db.createTable(t, { exists: false, ...(names ? { names } : {}) });
  async function* gen(): AsyncGenerator<string[]> {
    for (const [i, r] of rows.entries()) yield [String(i + 1), r, String(i)];
  }
  await db.bulkLoad(t, ['id', 'name', 'course'], gen());
  await db.finishTable(t, rows.length + 1);
}

const names = async (db: DbAdapter, t: string): Promise<string[]> =>
  (await db.query<{ name: string }>(`SELECT name FROM ${db.prefix}${t} ORDER BY id`)).map((r) => r.name);

/** Index names of a live table, from the catalogs. */
async function indexNames(db: DbAdapter, t: string): Promise<string[]> {
  const rows = db.family === 'postgres'
    ? await db.query<{ n: string }>('SELECT indexname AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 ORDER BY 1', [db.prefix + t])
    : await db.query<{ n: string }>('SELECT DISTINCT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY 1', [db.prefix + t]);
  return rows.map((r) => r.n);
}

/** Inserts a row without id and returns the id the sequence gave it. */
async function insertedId(db: DbAdapter, t: string): Promise<number> {
  if (db.family === 'postgres') return Number((await db.query<{ id: string }>(`INSERT INTO ${db.prefix}${t} (name) VALUES ('new') RETURNING id`))[0]?.id);
  await db.execute(`INSERT INTO ${db.prefix}${t} (name) VALUES ('new')`);
  return Number((await db.query<{ id: string }>('SELECT LAST_INSERT_ID() AS id'))[0]?.id);
}

describe.each<TestEngine>(['pg', 'mariadb'])('staging area and switch on %s', (engine) => {
  let url = '';
  let live: DbAdapter;
  let area: StagingArea;
  const plan: SwitchPlan = { staged: ['course', 'user'], moveOut: ['extra', 'user'] };

  beforeAll(async () => {
    url = await freshDatabase(engine, `staging_switch_${engine}`);
    live = await connectDatabase(url, PREFIX);
    await fill(live, USER, ['old-a', 'old-b']);
    await fill(live, EXTRA, ['extra']);
    area = await stagingArea(live, url);
    await area.prepare();
    const staged = await area.connect();
    try {
      // `user` replaced by a larger table, `course` new; `extra` only moved out.
      await fill(staged, USER, ['new-a', 'new-b', 'new-c', 'new-d']);
      await fill(staged, COURSE, ['c1']);
      expect(await names(staged, 'user')).toEqual(['new-a', 'new-b', 'new-c', 'new-d']);
    } finally {
      await staged.close();
    }
    return () => live.close();
  });

  it('stages beside the live tables without touching them, under the final index names', async () => {
    expect(await area.stagedTables()).toEqual(['course', 'user']);
    expect(await names(live, 'user')).toEqual(['old-a', 'old-b']);
    expect((await live.listTables()).sort()).toEqual(['extra', 'user']);
  });

  it('switches in one step: rows, index names and sequences of the staged tables become live; the replaced wait as old', async () => {
    const liveIndexes = await indexNames(live, 'user');
    await area.switchTables(plan);
    expect(await area.stagedTables()).toEqual([]);
    expect(await area.oldTables()).toEqual(['extra', 'user']);
    expect((await live.listTables()).sort()).toEqual(['course', 'user']);
    expect(await names(live, 'user')).toEqual(['new-a', 'new-b', 'new-c', 'new-d']);
    expect(await indexNames(live, 'user')).toEqual(liveIndexes); // Moodle's names, same as the installer's
    expect(await insertedId(live, 'user')).toBe(5); // the sequence moved with its table
    await live.execute(`DELETE FROM ${PREFIX}user WHERE name = 'new'`);
    await area.switchTables(plan); // again (a resumed restore): nothing left to do
    expect(await area.oldTables()).toEqual(['extra', 'user']);
  });

  it('reverses a switch exactly, and completes one left half-done', async () => {
    await area.unswitch(plan);
    expect((await live.listTables()).sort()).toEqual(['extra', 'user']);
    expect(await names(live, 'user')).toEqual(['old-a', 'old-b']);
    expect(await area.stagedTables()).toEqual(['course', 'user']);
    expect(await area.oldTables()).toEqual([]);
    expect(await insertedId(live, 'user')).toBe(3);
    await live.execute(`DELETE FROM ${PREFIX}user WHERE name = 'new'`);
    // A server without atomic DDL interrupted inside the RENAME: `extra` moved, the rest not.
    if (engine === 'mariadb') await live.execute(`RENAME TABLE ${PREFIX}extra TO vault_old_${PREFIX}extra`);
    else await live.execute(`CREATE SCHEMA IF NOT EXISTS vault_agent_old; ALTER TABLE ${PREFIX}extra SET SCHEMA vault_agent_old`);
    await area.switchTables(plan);
    expect((await live.listTables()).sort()).toEqual(['course', 'user']);
    expect(await names(live, 'user')).toEqual(['new-a', 'new-b', 'new-c', 'new-d']);
    expect(await area.oldTables()).toEqual(['extra', 'user']);
  });

  it('drops the old tables and leaves no staging objects behind', async () => {
    await area.dropOld(await area.oldTables());
    await area.tidy();
    expect(await area.oldTables()).toEqual([]);
    if (engine === 'pg') {
      const schemas = await live.query<{ n: string }>("SELECT nspname AS n FROM pg_namespace WHERE nspname LIKE 'vault_agent_%'");
      expect(schemas).toEqual([]);
    }
  });

  it('foreign-key pre-check: names a constraint of a table that stays onto a replaced table', async () => {
    expect((await checkForeignKeys(live, ['user', 'course'])).status).toBe('pass');
    const ref = engine === 'pg'
      ? `CREATE TABLE other_ref (id BIGINT PRIMARY KEY, userid BIGINT CONSTRAINT other_ref_user_fk REFERENCES ${PREFIX}user (id))`
      : `CREATE TABLE other_ref (id BIGINT PRIMARY KEY, userid BIGINT, CONSTRAINT other_ref_user_fk FOREIGN KEY (userid) REFERENCES ${PREFIX}user (id)) ENGINE=InnoDB`;
    await live.execute(ref);
    const c = await checkForeignKeys(live, ['user', 'course']);
    expect(c.status).toBe('fail');
    expect(c.details).toHaveLength(1);
    expect(c.details[0]).toMatch(/^constraint other_ref_user_fk on \S*other_ref references st_user$/);
    // Onto a table the restore keeps: no failure.
    expect((await checkForeignKeys(live, ['course'])).status).toBe('pass');
    await live.execute('DROP TABLE other_ref');
  });

  if (engine === 'mariadb') it('foreign-key pre-check on MariaDB: the same answer from InnoDB\'s dictionary (with PROCESS) and from information_schema (without), tables of other databases included', async () => {
    const other = new URL(await freshDatabase(engine, 'staging_switch_other'));
    const database = new URL(url).pathname.slice(1);
    await live.execute(`CREATE TABLE \`${other.pathname.slice(1)}\`.cross_ref (id BIGINT PRIMARY KEY, userid BIGINT, CONSTRAINT cross_ref_user_fk FOREIGN KEY (userid) REFERENCES \`${database}\`.${PREFIX}user (id)) ENGINE=InnoDB`);
    await live.execute(`CREATE TABLE same_ref (id BIGINT PRIMARY KEY, courseid BIGINT, CONSTRAINT same_ref_course_fk FOREIGN KEY (courseid) REFERENCES ${PREFIX}course (id)) ENGINE=InnoDB`);
    // A user with rights on the two databases only: no PROCESS, so no INNODB_SYS_FOREIGN
    // (information_schema shows it the constraints of databases it has rights on beyond SELECT).
    const noProcess = await mariadbUserWithoutProcess(url, 'vault_noprocess_fk', [database, other.pathname.slice(1)]);
    const limited = await connectDatabase(noProcess.url, PREFIX);
    try {
      // The test server's user has PROCESS: both ways are taken.
      expect(Number((await live.query<{ n: number }>("SELECT COUNT(*) AS n FROM information_schema.INNODB_SYS_FOREIGN WHERE FOR_NAME LIKE '%/%_ref'"))[0]?.n)).toBe(2);
      await expect(limited.query('SELECT COUNT(*) AS n FROM information_schema.INNODB_SYS_FOREIGN')).rejects.toThrow(/PROCESS/);
      const expected = [
        `constraint same_ref_course_fk on ${database}.same_ref references st_course`,
        `constraint cross_ref_user_fk on ${other.pathname.slice(1)}.cross_ref references st_user`,
      ];
      for (const db of [live, limited]) {
        const c = await checkForeignKeys(db, ['user', 'course']);
        expect(c.status).toBe('fail');
        expect(c.details, db === live ? "with PROCESS" : "without").toEqual(expected);
        expect((await checkForeignKeys(db, ['extra'])).status).toBe('pass');
      }
    } finally {
      await limited.close();
      await live.execute(`DROP DATABASE \`${other.pathname.slice(1)}\``);
      await live.execute('DROP TABLE same_ref');
      await noProcess.drop();
    }
  });

  it('staging rights pre-check passes for the owner', async () => {
    const c = await checkStagingRights(live, ['user', 'course']);
    expect(c.status, c.summary).toBe('pass');
  });
});
