/**
 * The engine adapter contract: everything export, import, diff and the fixtures need from a
 * database, implemented once for PostgreSQL and once for MySQL/MariaDB.
 */
import type { JsonOut } from '../archive/php-json.js';
import type { SqlFamily, TableNames } from '../schema/ddl.js';
import type { XmldbTable } from '../schema/model.js';

/**
 * A row value in engine-independent form: ints as decimal strings, numbers as fixed decimals,
 * floats in JavaScript's shortest round-trip notation, text as is, binary as bytes.
 */
export type RowValue = string | Buffer | null;

/** Row count and on-disk size the engine reports for a table. */
export interface TableStats {
  rows: number;
  bytes: number;
}

/** Options of {@link DbAdapter.createTable}. */
export interface CreateTableOptions {
  /** False when the caller knows the table does not exist (skips a DROP, slow on MySQL). */
  exists?: boolean;
  /** Sequence start (MySQL AUTO_INCREMENT table option). */
  nextId?: number;
  /** A large load follows: build secondary indexes afterwards on every engine. */
  deferIndexes?: boolean;
  /** Object names planned for the whole restore (Moodle's naming depends on creation order). */
  names?: TableNames;
}

/** Where {@link DbAdapter.writeJsonRows} writes rows (a TableChunkWriter). */
export interface JsonRowSink {
  /** Starts a row; a promise only when the caller must wait (a full chunk being handed over). */
  beginRow(): Promise<void> | undefined;
  /** Where to write the row's JSON array, with room for `maxBytes`. */
  rowOut(maxBytes: number): JsonOut;
  /** Ends the row written into `out`. */
  endRow(out: JsonOut): void;
}

/** A connected database. Tables are named without prefix in every method. */
export interface DbAdapter {
  readonly family: SqlFamily;
  /** `postgres`, `mysql` or `mariadb` (from the server, not the URL scheme). */
  readonly engine: 'postgres' | 'mysql' | 'mariadb';
  readonly prefix: string;
  /** MySQL/MariaDB: the utf8mb4 collation tables are created with (Moodle's `dbcollation`). */
  readonly collation?: string;
  /** Live tables with the prefix, introspected into the XMLDB model (COMPONENT ''). */
  introspect(): Promise<XmldbTable[]>;
  /** Engine statistics per table, for metadata and progress. */
  tableStats(): Promise<Map<string, TableStats>>;
  /** Streams a table's rows ordered by its order column, values normalised; `where` keeps a subset. */
  readRows(table: XmldbTable, columns: string[], where?: string): AsyncIterable<RowValue[]>;
  /**
   * What {@link readRows} gives, written straight into chunk files as their JSON rows (values as
   * the export writes them: binary through encodeBinary), without a JavaScript value per field.
   * Optional: the export falls back to readRows. Resolves to the number of rows.
   */
  writeJsonRows?(table: XmldbTable, columns: string[], where: string | undefined, sink: JsonRowSink): Promise<number>;
  /** Names (without prefix) of the live tables with the prefix. */
  listTables(): Promise<string[]>;
  /**
   * Creates a table for loading, dropping an existing one first unless `exists` is false.
   * PostgreSQL creates secondary indexes in {@link finishTable} (faster after COPY); MySQL
   * declares them, and the sequence start `nextId`, in CREATE TABLE (DDL is slow there).
   */
  createTable(table: XmldbTable, opts?: CreateTableOptions): Promise<void>;
  /** Completes a loaded table: remaining indexes, sequence at least `nextId` and past MAX(id). */
  finishTable(table: XmldbTable, nextId?: number): Promise<void>;
  /** Drops a table if it exists. */
  dropTable(name: string): Promise<void>;
  /** Bulk-loads rows (values in `columns` order, encoded as RowValue). Returns rows written. */
  bulkLoad(table: XmldbTable, columns: string[], rows: AsyncIterable<RowValue[]>): Promise<number>;
  /** Next auto-increment value per table (tables without a sequence are absent). */
  sequences(tables: XmldbTable[]): Promise<Map<string, number>>;
  /** Sets the next value of the table's sequence to at least `next` and past MAX(seq column). */
  setSequence(table: XmldbTable, next: number): Promise<void>;
  /** Starts a consistent read snapshot for the export. */
  beginSnapshot(): Promise<void>;
  /**
   * {@link beginSnapshot}, plus up to `readers` more connections reading that same snapshot (for
   * reading several tables at once), which the caller closes. Fewer or none when the engine or
   * the account cannot share a snapshot; this connection is in the snapshot either way.
   */
  beginSharedSnapshot?(readers: number): Promise<DbAdapter[]>;
  endSnapshot(): Promise<void>;
  /** Runs one SQL statement without result. */
  execute(sql: string): Promise<void>;
  /** Runs a query and returns rows as objects (small results only). */
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** Formats a float the way both engines' values are compared and written: JS shortest round-trip. */
export function normaliseFloat(text: string): string {
  const n = Number(text);
  if (Number.isNaN(n)) return text;
  // -0 prints as "0" in JS; keep it so, PostgreSQL and MySQL compare it equal to 0.
  return String(n);
}
