/**
 * MariaDB: reading InnoDB's own dictionary (`information_schema.INNODB_SYS_*`) instead of the
 * information_schema views that open every table they describe. With ~490 Moodle tables and the
 * default table_definition_cache of 400, each such view opens every table's definition again; a
 * dictionary table is one read. The dictionary needs the PROCESS privilege and spells names as
 * `<database>/<table>` in InnoDB's file-name encoding.
 */
import type { DbAdapter } from './adapter.js';

/** Unquoted names as InnoDB's dictionary spells them in every lower_case_table_names mode. */
const PLAIN_NAME = /^[a-z0-9_]+$/;

/**
 * `names` (tables of the current database, prefix included) as InnoDB's dictionary spells them,
 * or undefined where it cannot be used: not MariaDB (MySQL 8's information_schema is its
 * dictionary already), a database or table name InnoDB would store encoded (anything but
 * lower-case letters, digits and `_`).
 */
async function dictionaryNames(db: DbAdapter, names: readonly string[]): Promise<string[] | undefined> {
  if (db.engine !== 'mariadb' || !names.every((n) => PLAIN_NAME.test(n))) return undefined;
  const schema = (await db.query<{ d: string | null }>('SELECT DATABASE() AS d'))[0]?.d;
  if (!schema || !PLAIN_NAME.test(schema)) return undefined;
  return names.map((n) => `${schema}/${n}`);
}

/**
 * Runs a query over InnoDB's dictionary for `names` (see {@link dictionaryNames}), or resolves to
 * undefined where the dictionary cannot be used or read (no PROCESS privilege: the caller then
 * asks information_schema).
 */
export async function fromDictionary<T>(db: DbAdapter, names: readonly string[], query: (qualified: string[]) => Promise<T>): Promise<T | undefined> {
  try {
    const qualified = await dictionaryNames(db, names);
    return qualified ? await query(qualified) : undefined;
  } catch {
    return undefined;
  }
}
