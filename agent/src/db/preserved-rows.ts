/**
 * Keeps the target site's own data across a restore (spec §9.3 steps 1 and 7): rows of
 * preserved plugins (always `tool_vault`, plus `restorepreserveplugins`) in the shared tables
 * of {@link PRESERVE_TABLES}, and the password hashes of `restorepreservepasswords` users.
 *
 * Saved rows are written to `stateDir` before the table is replaced and removed only after they
 * were re-inserted, so a process dying in between loses nothing: the re-run finds the file and
 * uses it instead of reading the (maybe replaced) table. In place on PostgreSQL save, replace and
 * re-insert also run in the table's one transaction. With a staged import (the site restore)
 * `before` reads the live table, which stays intact until the switch, and `after` writes the
 * staged one.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { XmldbTable } from '../schema/model.js';
import { quoteIdent } from '../schema/ddl.js';
import type { DbAdapter, RowValue } from './adapter.js';
import { isPluginName, PRESERVE_TABLES, pluginRowsCondition } from './excluded-plugin-rows.js';
import type { TableHooks } from './import-database.js';

/** Options of {@link preservedRowsHooks}. */
export interface PreserveRowsOptions {
  /** Preserved plugins; `tool_vault` is always added. */
  plugins: string[];
  /** Usernames whose manual-auth password hashes are kept (restorepreservepasswords). */
  passwordUsers?: string[];
  /** `userid` written into kept `files` rows: the backup metadata's userid (§9.3 step 1). */
  filesUserId?: number;
  /** Folder where saved rows wait until re-inserted (the agent's state folder); memory only without. */
  stateDir?: string;
  warn: (message: string) => void;
}

type Stored = string | null | { b64: string };
interface SavedRows {
  columns: string[];
  rows: Stored[][];
}
interface SavedPasswords {
  users: { username: string; password: string }[];
}

const encode = (v: RowValue): Stored => (v === null ? null : typeof v === 'string' ? v : { b64: v.toString('base64') });
const decode = (v: Stored): RowValue => (v === null || typeof v === 'string' ? v : Buffer.from(v.b64, 'base64'));

/** Import hooks that save before and restore after each affected table; see {@link PreserveRowsOptions}. */
export function preservedRowsHooks(opts: PreserveRowsOptions): TableHooks & { readonly kept: Map<string, number> } {
  // A typo in the setting must not stop a restore half-way: such a name matches no plugin anyway.
  for (const p of opts.plugins) if (!isPluginName(p)) opts.warn(`restorepreserveplugins: '${p}' is not a plugin name; ignored for rows in shared tables`);
  const plugins = [...new Set(['tool_vault', ...opts.plugins.filter(isPluginName)])];
  const passwordUsers = [...new Set(opts.passwordUsers ?? [])];
  const memory = new Map<string, SavedRows | SavedPasswords>();
  const kept = new Map<string, number>();
  let live: { tables: Map<string, XmldbTable>; names: Set<string> } | undefined;
  const fileOf = (table: string): string | undefined => (opts.stateDir ? join(opts.stateDir, `${table}.json`) : undefined);

  const persist = async (table: string, data: SavedRows | SavedPasswords): Promise<void> => {
    memory.set(table, data);
    const file = fileOf(table);
    if (!file || !opts.stateDir) return;
    await mkdir(opts.stateDir, { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify(data), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  };
  const load = async <T extends SavedRows | SavedPasswords>(table: string): Promise<T | undefined> => {
    const m = memory.get(table);
    if (m) return m as T;
    const file = fileOf(table);
    return file && existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as T) : undefined;
  };
  const forget = async (table: string): Promise<void> => {
    memory.delete(table);
    const file = fileOf(table);
    if (file) await rm(file, { force: true });
  };
  const ph = (db: DbAdapter, i: number): string => (db.family === 'postgres' ? `$${i}` : '?');

  return {
    kept,
    appliesTo: (table: XmldbTable): boolean => PRESERVE_TABLES.has(table.name) || (table.name === 'user' && passwordUsers.length > 0),
    async before(db: DbAdapter, table: XmldbTable, exists: boolean): Promise<void> {
      const name = table.name;
      const wantsRows = PRESERVE_TABLES.has(name);
      const wantsPasswords = name === 'user' && passwordUsers.length > 0;
      if ((!wantsRows && !wantsPasswords) || !exists) return;
      // Saved by an interrupted run: the table may already hold the backup's rows now.
      if (await load(name)) return;
      const q = (s: string): string => quoteIdent(db.family, s);
      const t = q(db.prefix + name);
      if (wantsPasswords) {
        const params = passwordUsers;
        const users = await db.query<{ username: string; password: string }>(
          `SELECT username, password FROM ${t} WHERE auth = 'manual' AND username IN (${params.map((_u, i) => ph(db, i + 1)).join(', ')})`, params);
        await persist(name, { users: users.map((u) => ({ username: String(u.username), password: String(u.password) })) });
        return;
      }
      // The preserved tables only (the whole schema took ~40 ms of a restore's critical path).
      live ??= { tables: new Map((await db.introspect([...PRESERVE_TABLES])).map((x) => [x.name, x])), names: new Set(await db.listTables()) };
      const def = live.tables.get(name);
      if (!def) return;
      let where = pluginRowsCondition(db.family, db.prefix, def, plugins, live.names);
      if (!where) return;
      const has = (c: string): boolean => def.fields.some((f) => f.name === c);
      if (name === 'task_adhoc' && has('userid')) where += ` AND ${q('userid')} IS NULL`;
      if (name === 'files' && has('referencefileid')) where += ` AND ${q('referencefileid')} IS NULL`;
      const columns = def.fields.map((f) => f.name);
      const userCol = name === 'files' ? columns.indexOf('userid') : -1;
      const rows: Stored[][] = [];
      for await (const row of db.readRows(def, columns, where)) {
        if (userCol >= 0) row[userCol] = String(opts.filesUserId ?? 2);
        rows.push(row.map(encode));
      }
      await persist(name, { columns, rows });
    },

    async after(db: DbAdapter, table: XmldbTable): Promise<void> {
      const name = table.name;
      const q = (s: string): string => quoteIdent(db.family, s);
      const t = q(db.prefix + name);
      if (name === 'user' && passwordUsers.length > 0) {
        const saved = await load<SavedPasswords>(name);
        if (!saved) return;
        for (const u of saved.users) {
          const hit = await db.query(`SELECT id FROM ${t} WHERE username = ${ph(db, 1)} AND auth = 'manual'`, [u.username]);
          if (!hit.length) {
            opts.warn(`restorepreservepasswords: no user '${u.username}' with manual auth in the restored site; password not kept`);
            continue;
          }
          await db.query(`UPDATE ${t} SET password = ${ph(db, 1)} WHERE username = ${ph(db, 2)} AND auth = 'manual'`, [u.password, u.username]);
        }
        for (const u of passwordUsers) if (!saved.users.some((s) => s.username === u)) opts.warn(`restorepreservepasswords: no user '${u}' with manual auth on this site before the restore`);
        kept.set(name, saved.users.length);
        await forget(name);
        return;
      }
      if (!PRESERVE_TABLES.has(name)) return;
      const saved = await load<SavedRows>(name);
      const present = new Set(await db.listTables());
      const where = pluginRowsCondition(db.family, db.prefix, table, plugins, present);
      // PostgreSQL: a failure here must not abort the table's transaction (its COMMIT would roll back).
      const pg = db.family === 'postgres';
      if (pg) await db.execute('SAVEPOINT vault_keep_rows');
      try {
        // The backup's rows of preserved plugins give way to the site's own.
        if (where) await db.execute(`DELETE FROM ${t} WHERE ${where}`);
        if (saved?.rows.length) {
          // New ids from the sequence (spec: "insert the saved rows (new ids)").
          const fields = new Set(table.fields.filter((f) => !f.sequence).map((f) => f.name));
          const pick = saved.columns.map((c, i) => (fields.has(c) ? i : -1)).filter((i) => i >= 0);
          const columns = pick.map((i) => saved.columns[i] ?? '');
          async function* rows(): AsyncGenerator<RowValue[]> {
            for (const r of saved?.rows ?? []) yield pick.map((i) => decode(r[i] ?? null));
          }
          await db.bulkLoad(table, columns, rows());
        }
        if (pg) await db.execute('RELEASE SAVEPOINT vault_keep_rows');
        kept.set(name, saved?.rows.length ?? 0);
        await forget(name);
      } catch (err) {
        if (pg) await db.execute('ROLLBACK TO SAVEPOINT vault_keep_rows').catch(() => undefined);
        const file = fileOf(name);
        opts.warn(`${name}: could not re-insert the site's preserved rows (${(err as Error).message})${file ? `; they are kept in ${file}` : ''}`);
      }
    },
  };
}
