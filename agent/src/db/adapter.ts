/**
 * The engine adapter contract: everything export, import, diff and the fixtures need from a
 * database, implemented once for PostgreSQL and once for MySQL/MariaDB.
 */
import type { JsonOut } from '../archive/php-json.js';
import type { ChunkFile } from '../archive/table-chunks.js';
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
  /** A large load follows: build secondary indexes afterwards on every engine, on PostgreSQL the primary key too. */
  deferIndexes?: boolean;
  /** Object names planned for the whole restore (Moodle's naming depends on creation order). */
  names?: TableNames;
  /**
   * PostgreSQL: the indexes in the schema before the restore began (name → its table's name, with
   * prefix). Only those can hold a planned name of another table (the restore's own names are
   * unique), so a table none of whose names is among them skips the catalog query for clashes.
   * Without it every table with `names` queries.
   */
  indexesInUse?: ReadonlyMap<string, string>;
  /**
   * Queue the statements (see {@link DbAdapter.defer}) instead of running them: they run with the
   * next statement on this connection. Engines without `defer` run them at once.
   */
  defer?: boolean;
}

/** Options of {@link DbAdapter.finishTable}. */
export interface FinishTableOptions {
  /** As {@link CreateTableOptions.defer}. */
  defer?: boolean;
  /**
   * What {@link CreateTableOptions.deferIndexes} and {@link CreateTableOptions.names} were when
   * the table was created, for a table another connection created (one continued over archives);
   * without them, this adapter's own record of the tables it created decides.
   */
  created?: { deferIndexes: boolean; names?: TableNames };
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

/** Where {@link DbAdapter.loadChunkRows} reads a table's rows from: chunk files as the import reads them. */
export interface ChunkRowSource {
  /** Per loaded column, in order: the index of its value in a chunk row (increasing). */
  pick: readonly number[];
  /** Per loaded column: a binary column (values decoded with decodeBinary). */
  binary: readonly boolean[];
  /** Binary values may be marked base64 (our archives: binary-encoding.ts). */
  marked: boolean;
  /** The table's chunk files in order (undecodable ones already left out). */
  chunks: AsyncIterable<ChunkFile>;
  /**
   * PostgreSQL, for small tables: rows that surely fit one heap page (where an INSERT places them
   * exactly as COPY does) are queued as an `INSERT … VALUES` statement (see
   * {@link DbAdapter.defer}) instead of being copied, so that several tables share a round trip;
   * other rows are copied as usual. Rows a query cannot carry (U+0000) make it throw.
   */
  defer?: boolean;
}

/** A connected database. Tables are named without prefix in every method. */
export interface DbAdapter {
  readonly family: SqlFamily;
  /** `postgres`, `mysql` or `mariadb` (from the server, not the URL scheme). */
  readonly engine: 'postgres' | 'mysql' | 'mariadb';
  readonly prefix: string;
  /** MySQL/MariaDB: the utf8mb4 collation tables are created with (Moodle's `dbcollation`). */
  readonly collation?: string;
  /** Connections a load (importDatabase) opens for this database unless told otherwise. */
  readonly loadConnections: number;
  /** Live tables with the prefix (only those of `only`, names without prefix, when given), introspected into the XMLDB model (COMPONENT ''). */
  introspect(only?: readonly string[]): Promise<XmldbTable[]>;
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
  finishTable(table: XmldbTable, nextId?: number, opts?: FinishTableOptions): Promise<void>;
  /** Drops a table if it exists. */
  dropTable(name: string): Promise<void>;
  /** Bulk-loads rows (values in `columns` order, encoded as RowValue). Returns rows written. */
  bulkLoad(table: XmldbTable, columns: string[], rows: AsyncIterable<RowValue[]>): Promise<number>;
  /**
   * What {@link bulkLoad} loads for the rows of chunk files (each row's picked values, null for a
   * missing one, binary through decodeBinary), straight from the files' bytes, without a JavaScript
   * value per field. Optional: the import falls back to bulkLoad. Resolves to the number of rows.
   */
  loadChunkRows?(table: XmldbTable, columns: string[], source: ChunkRowSource): Promise<number>;
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
  /**
   * Queues a statement whose result is not needed to run with the next statement on this
   * connection, in one round trip; an error it raises is raised by that next call. Optional
   * (PostgreSQL).
   */
  defer?(sql: string): void;
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
