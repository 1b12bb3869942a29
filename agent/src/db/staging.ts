/**
 * The staging area of an atomic restore: the backup's tables are loaded beside the live ones and
 * published in one step.
 *
 * - PostgreSQL: schema `vault_agent_staging` of the same database, tables under their final
 *   names (so Moodle's index, constraint and sequence names never meet the live ones); loading
 *   connections put it first in their `search_path`. The switch is one transaction of
 *   `ALTER TABLE … SET SCHEMA`: live tables into `vault_agent_old`, staged ones into the live
 *   schema (indexes, constraints and owned sequences move with their table).
 * - MySQL/MariaDB: tables `vault_stg_<prefix><name>` in the same database (index names are per
 *   table there, so they stay Moodle's); the switch is one multi-table `RENAME TABLE`, live
 *   tables becoming `vault_old_<prefix><name>`. Atomic on MySQL 8.0 and MariaDB ≥ 10.6 (atomic
 *   DDL); on older servers a crash inside the statement can leave part of the renames done,
 *   which {@link StagingArea.switchTables} completes when run again.
 *
 * Tables the restore carries over (carry-over.ts: empty, defined exactly as it would create
 * them) are in no plan: never staged, moved or dropped; the switch's `guard` re-checks them.
 *
 * Every operation here is idempotent and reads the catalogs to find what is left to do, so a
 * resumed restore calls them again whatever happened before; the switch is detectable from the
 * database alone: no staged table left in the staging area means switched.
 */
import { quoteIdent } from '../schema/ddl.js';
import type { DbAdapter } from './adapter.js';
import { connectDatabase, withCollation } from './connect.js';

/** PostgreSQL schema the restore loads into. */
export const STAGING_SCHEMA = 'vault_agent_staging';
/** PostgreSQL schema the replaced tables move to until they are dropped. */
export const OLD_SCHEMA = 'vault_agent_old';
/** MySQL/MariaDB name prefix of staged tables (before the site's prefix). */
export const STAGING_TABLE_PREFIX = 'vault_stg_';
/** MySQL/MariaDB name prefix of replaced tables until they are dropped. */
export const OLD_TABLE_PREFIX = 'vault_old_';
/** MySQL/MariaDB identifier limit. */
export const MYSQL_NAME_MAX = 64;

/** Tables (without prefix) a switch moves. */
export interface SwitchPlan {
  /** Loaded in staging: they become the live tables. */
  staged: string[];
  /** Live tables moved out (replaced by a staged one, or of plugins extra on this site). */
  moveOut: string[];
}

/** Where a restore's tables are loaded and how they are published. */
export interface StagingArea {
  readonly family: 'postgres' | 'mysql';
  /** Creates the staging schema (PostgreSQL); nothing on MySQL. */
  prepare(): Promise<void>;
  /** A new connection whose tables (prefix as the site's) are the staging tables. */
  connect(): Promise<DbAdapter>;
  /** Tables (without prefix) in the staging area. */
  stagedTables(): Promise<string[]>;
  /** Tables (without prefix) moved out by a switch and not dropped yet. */
  oldTables(): Promise<string[]>;
  /** Drops staging tables (all when `names` is undefined) and, on PostgreSQL, the schema when empty. */
  dropStaged(names?: readonly string[]): Promise<void>;
  /**
   * Publishes the staged tables in one statement or transaction; completes a partial switch.
   * `guard` runs on the live connection right before: on PostgreSQL inside the switch
   * transaction (its locks held to the commit), on MySQL in the round trip before the RENAME;
   * if it throws, nothing is switched.
   */
  switchTables(plan: SwitchPlan, guard?: (live: DbAdapter) => Promise<void>): Promise<void>;
  /** Reverses a switch: the published tables back to staging, the old ones back live. */
  unswitch(plan: SwitchPlan): Promise<void>;
  /** Drops old tables, all in one statement (one round trip instead of one per table). */
  dropOld(names: readonly string[]): Promise<void>;
  /** Removes the emptied staging and old schemas (PostgreSQL); nothing on MySQL. */
  tidy(): Promise<void>;
}

/** The staging area of the database `live` is connected to (`url` opens loading connections). */
export async function stagingArea(live: DbAdapter, url: string): Promise<StagingArea> {
  if (live.family === 'postgres') {
    const [row] = await live.query<{ s: string; p: string }>("SELECT current_schema() AS s, current_setting('search_path') AS p");
    return new PgStaging(live, url, row?.s ?? 'public', row?.p ?? 'public');
  }
  return new MysqlStaging(live, url);
}

/**
 * Staged tables a switch has published: gone from staging, live, and either the live one they
 * replaced is among the old ones or there was none (never the untouched live table).
 */
function published(plan: SwitchPlan, staged: Set<string>, live: Set<string>, old: Set<string>): string[] {
  return plan.staged.filter((t) => !staged.has(t) && live.has(t) && (old.has(t) || !plan.moveOut.includes(t)));
}

const pq = (s: string): string => quoteIdent('postgres', s);
const mq = (s: string): string => quoteIdent('mysql', s);

class PgStaging implements StagingArea {
  readonly family = 'postgres' as const;
  constructor(private readonly live: DbAdapter, private readonly url: string, private readonly schema: string, private readonly searchPath: string) {}

  async prepare(): Promise<void> {
    await this.live.execute(`CREATE SCHEMA IF NOT EXISTS ${pq(STAGING_SCHEMA)}`);
  }

  async connect(): Promise<DbAdapter> {
    const db = await connectDatabase(this.url, this.live.prefix);
    // The live schema stays on the path after staging, for extension operator classes and
    // functions an engine index may name; the loader never drops a table it did not list in
    // staging, so an unqualified name never reaches a live table by falling through.
    await db.execute(`SET search_path TO ${pq(STAGING_SCHEMA)}, ${this.searchPath}`).catch(async (err: unknown) => {
      await db.close();
      throw err;
    });
    return db;
  }

  private async tablesIn(schema: string): Promise<string[]> {
    const p = this.live.prefix;
    const rows = await this.live.query<{ t: string }>(
      `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND left(c.relname, $2) = $3`, [schema, p.length, p]);
    return rows.map((r) => r.t.slice(p.length)).sort();
  }

  stagedTables(): Promise<string[]> {
    return this.tablesIn(STAGING_SCHEMA);
  }

  oldTables(): Promise<string[]> {
    return this.tablesIn(OLD_SCHEMA);
  }

  async dropStaged(names?: readonly string[]): Promise<void> {
    const present = new Set(await this.stagedTables());
    for (const n of names ?? [...present]) {
      if (present.has(n)) await this.live.execute(`DROP TABLE IF EXISTS ${pq(STAGING_SCHEMA)}.${pq(this.live.prefix + n)} CASCADE`);
    }
    if (!names) await this.tidy();
  }

  private async inTransaction(statements: string[], guard?: (live: DbAdapter) => Promise<void>): Promise<void> {
    if (!statements.length) return;
    await this.live.execute('BEGIN');
    try {
      await guard?.(this.live);
      for (const s of statements) await this.live.execute(s);
      await this.live.execute('COMMIT');
    } catch (err) {
      await this.live.execute('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async switchTables(plan: SwitchPlan, guard?: (live: DbAdapter) => Promise<void>): Promise<void> {
    const staged = new Set(await this.stagedTables());
    if (![...staged].some((t) => plan.staged.includes(t))) return;
    const live = new Set(await this.live.listTables());
    const old = new Set(await this.oldTables());
    const p = this.live.prefix;
    const out = plan.moveOut.filter((t) => live.has(t) && !old.has(t));
    await this.inTransaction([
      `CREATE SCHEMA IF NOT EXISTS ${pq(OLD_SCHEMA)}`,
      ...out.map((t) => `ALTER TABLE ${pq(this.schema)}.${pq(p + t)} SET SCHEMA ${pq(OLD_SCHEMA)}`),
      ...plan.staged.filter((t) => staged.has(t)).map((t) => `ALTER TABLE ${pq(STAGING_SCHEMA)}.${pq(p + t)} SET SCHEMA ${pq(this.schema)}`),
    ], guard);
  }

  async unswitch(plan: SwitchPlan): Promise<void> {
    const staged = new Set(await this.stagedTables());
    const live = new Set(await this.live.listTables());
    const old = new Set(await this.oldTables());
    const p = this.live.prefix;
    await this.inTransaction([
      `CREATE SCHEMA IF NOT EXISTS ${pq(STAGING_SCHEMA)}`,
      ...published(plan, staged, live, old).map((t) => `ALTER TABLE ${pq(this.schema)}.${pq(p + t)} SET SCHEMA ${pq(STAGING_SCHEMA)}`),
      ...plan.moveOut.filter((t) => old.has(t)).map((t) => `ALTER TABLE ${pq(OLD_SCHEMA)}.${pq(p + t)} SET SCHEMA ${pq(this.schema)}`),
    ]);
  }

  async dropOld(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    // CASCADE drops only foreign keys of other old tables: the pre-check refuses a restore when a
    // table that stays references one that is replaced.
    await this.live.execute(`DROP TABLE IF EXISTS ${names.map((n) => `${pq(OLD_SCHEMA)}.${pq(this.live.prefix + n)}`).join(', ')} CASCADE`);
  }

  async tidy(): Promise<void> {
    // Only when empty: another site (another prefix) of the same database may be restoring.
    for (const s of [STAGING_SCHEMA, OLD_SCHEMA]) {
      const [row] = await this.live.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = $1`, [s]);
      if (Number(row?.n ?? 0) === 0) await this.live.execute(`DROP SCHEMA IF EXISTS ${pq(s)}`);
    }
  }
}

class MysqlStaging implements StagingArea {
  readonly family = 'mysql' as const;
  constructor(private readonly live: DbAdapter, private readonly url: string) {}

  async prepare(): Promise<void> {
    // Tables live in the site's database: nothing to create.
  }

  async connect(): Promise<DbAdapter> {
    // The live connection's collation, detected before anything changed, not a new detection
    // (the staging prefix has no config table to detect it from).
    return connectDatabase(withCollation(this.url, this.live.collation), STAGING_TABLE_PREFIX + this.live.prefix);
  }

  private async tablesWith(prefix: string): Promise<string[]> {
    const full = prefix + this.live.prefix;
    const like = `${full.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.live.query<{ TABLE_NAME: string }>(
      "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ?", [like]);
    return rows.map((r) => r.TABLE_NAME.slice(full.length)).sort();
  }

  stagedTables(): Promise<string[]> {
    return this.tablesWith(STAGING_TABLE_PREFIX);
  }

  oldTables(): Promise<string[]> {
    return this.tablesWith(OLD_TABLE_PREFIX);
  }

  private stg(t: string): string {
    return mq(STAGING_TABLE_PREFIX + this.live.prefix + t);
  }

  private old(t: string): string {
    return mq(OLD_TABLE_PREFIX + this.live.prefix + t);
  }

  private cur(t: string): string {
    return mq(this.live.prefix + t);
  }

  async dropStaged(names?: readonly string[]): Promise<void> {
    const present = new Set(await this.stagedTables());
    const drop = (names ?? [...present]).filter((n) => present.has(n));
    for (let i = 0; i < drop.length; i += 100) await this.live.execute(`DROP TABLE IF EXISTS ${drop.slice(i, i + 100).map((t) => this.stg(t)).join(', ')}`);
  }

  async switchTables(plan: SwitchPlan, guard?: (live: DbAdapter) => Promise<void>): Promise<void> {
    const staged = new Set(await this.stagedTables());
    const live = new Set(await this.live.listTables());
    const old = new Set(await this.oldTables());
    // Per table: the live one out first, then the staged one in; a pair already done on an old
    // server interrupted inside the statement is left out.
    const renames = [
      ...plan.moveOut.filter((t) => live.has(t) && !old.has(t) && (staged.has(t) || !plan.staged.includes(t))).map((t) => `${this.cur(t)} TO ${this.old(t)}`),
      ...plan.staged.filter((t) => staged.has(t)).map((t) => `${this.stg(t)} TO ${this.cur(t)}`),
    ];
    if (!renames.length) return;
    await guard?.(this.live);
    await this.live.execute(`RENAME TABLE ${renames.join(', ')}`);
  }

  async unswitch(plan: SwitchPlan): Promise<void> {
    const staged = new Set(await this.stagedTables());
    const live = new Set(await this.live.listTables());
    const old = new Set(await this.oldTables());
    const renames = [
      ...published(plan, staged, live, old).map((t) => `${this.cur(t)} TO ${this.stg(t)}`),
      ...plan.moveOut.filter((t) => old.has(t)).map((t) => `${this.old(t)} TO ${this.cur(t)}`),
    ];
    if (renames.length) await this.live.execute(`RENAME TABLE ${renames.join(', ')}`);
  }

  async dropOld(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    // Foreign keys between old tables must not order the drops (see the pre-check for the others).
    await this.live.execute('SET foreign_key_checks = 0');
    try {
      await this.live.execute(`DROP TABLE IF EXISTS ${names.map((n) => this.old(n)).join(', ')}`);
    } finally {
      await this.live.execute('SET foreign_key_checks = 1');
    }
  }

  async tidy(): Promise<void> {
    // Tables only: nothing else to remove.
  }
}
