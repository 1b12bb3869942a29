/**
 * Fresh, empty databases inside the test servers, one per name, so test files running in
 * parallel never share state.
 */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { service } from '../../../test/support/services.js';

/** Engines the round-trip matrix runs over; `VAULT_TEST_ENGINES=pg` narrows it. */
export type TestEngine = 'pg' | 'mariadb';

export const TEST_ENGINES: TestEngine[] = (process.env.VAULT_TEST_ENGINES?.split(',').map((s) => s.trim()).filter(Boolean) ?? ['pg', 'mariadb']) as TestEngine[];

/** Options of {@link freshDatabase}. */
export interface FreshDatabaseOptions {
  /** Server URL to use instead of the run's injected service (e.g. outside a vitest worker). */
  baseUrl?: string;
  /** MariaDB only: the database's default collation (default utf8mb4_unicode_ci). */
  collation?: string;
}

/** Drops and creates database `name` on the engine's test server; returns its URL. */
export async function freshDatabase(engine: TestEngine, name: string, opts: FreshDatabaseOptions = {}): Promise<string> {
  if (engine === 'pg') {
    const base = opts.baseUrl ?? service('pg').url;
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`);
    await c.end();
    const u = new URL(base);
    u.pathname = `/${name}`;
    return u.toString();
  }
  const base = opts.baseUrl ?? service('mariadb').url;
  const collation = opts.collation ?? 'utf8mb4_unicode_ci';
  if (!/^utf8mb4_\w+$/.test(collation)) throw new Error(`not a utf8mb4 collation: ${collation}`);
  const c = await mysql.createConnection(base.replace(/^mariadb:/, 'mysql:'));
  await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE ${collation}`);
  await c.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * MariaDB: a user named `user` with every right on `databases` (of the server of `url`) and no
 * global privilege (no PROCESS: InnoDB's dictionary tables are closed to it); returns its URL
 * onto `url`'s database and a function that drops the user. Test files run in parallel: each
 * passes a user name of its own.
 */
export async function mariadbUserWithoutProcess(url: string, user: string, databases: readonly string[]): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!/^\w+$/.test(user) || databases.some((d) => !/^\w+$/.test(d))) throw new Error('plain names only');
  const c = await mysql.createConnection(url.replace(/^mariadb:/, 'mysql:'));
  try {
    for (const host of ['%', 'localhost']) {
      await c.query(`CREATE USER IF NOT EXISTS '${user}'@'${host}' IDENTIFIED BY 'np'`);
      for (const d of databases) await c.query(`GRANT ALL ON \`${d}\`.* TO '${user}'@'${host}'`);
    }
  } finally {
    await c.end();
  }
  const limited = new URL(url);
  limited.username = user;
  limited.password = 'np';
  return {
    url: limited.toString(),
    drop: async () => {
      const d = await mysql.createConnection(url.replace(/^mariadb:/, 'mysql:'));
      try {
        await d.query(`DROP USER IF EXISTS '${user}'@'%', '${user}'@'localhost'`);
      } finally {
        await d.end();
      }
    },
  };
}
