/**
 * Restores a database from tool_vault archives (ours or the plugin's), following the
 * database stage of spec §9.3: per table (largest first, over several connections), drop and
 * create it from the backup definition, bulk-load its chunks, create its indexes, then set its
 * sequence to max(recorded value, MAX(id)+1), in one transaction on PostgreSQL; indexes XMLDB
 * cannot express are created once every table is loaded (engine-indexes.ts). Tables of preserved
 * components are never touched; optional hooks run around each table (the site restore keeps
 * preserved plugins' rows with them). Each table is rebuilt from scratch, so running an
 * interrupted import again ends in the same state; `resumeState` merely skips tables already
 * finished. On PostgreSQL small tables are loaded several to a round trip (see loadBatch).
 *
 * With `staging` (the site restore) no live table is touched: every table is created and loaded
 * in the staging area (staging.ts) under the names it will have once published, engine indexes
 * included, and the caller switches them in afterwards; hooks read the live tables and write the
 * staged ones.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BINARY_ENCODING, decodeBinary } from '../archive/binary-encoding.js';
import type { DbStructure } from '../archive/dbstructure.js';
import { readDbStructure } from '../archive/dbstructure.js';
import { parseArchiveName, parseChunkName } from '../archive/names.js';
import type { ChunkFile } from '../archive/table-chunks.js';
import { openChunk } from '../archive/table-chunks.js';
import type { ReadBuffer } from '../archive/zip-reader.js';
import { ArchiveReadError, ZipArchiveReader } from '../archive/zip-reader.js';
import type { TransferProgress } from '../log/progress.js';
import type { EngineIndexPlan, EngineIndexResult, RestoreIndexPlan } from '../schema/engine-indexes.js';
import { applyEngineIndexes, planRestoreIndexes } from '../schema/engine-indexes.js';
import { planTableNames, type TableNames } from '../schema/ddl.js';
import type { XmldbTable } from '../schema/model.js';
import type { DbAdapter, FinishTableOptions, RowValue } from './adapter.js';
import { connectDatabase } from './connect.js';
import type { StagingArea } from './staging.js';
import { TableTransferError } from './errors.js';
import { tuneHeapForStreaming } from './heap.js';

/** Uncompressed chunk bytes up to which a table is small: loaded with others in one round trip (PostgreSQL). */
const SMALL_TABLE_BYTES = 64 * 1024;
/** Chunk bytes from which a table's secondary indexes are built after its rows (see deferIndexes). */
const DEFER_INDEXES_BYTES = 1024 * 1024;
/** Chunk bytes and tables of one such round trip. */
const BATCH_BYTES = 256 * 1024;
const BATCH_TABLES = 32;

/** Tables already restored, for resuming. */
export interface ImportState {
  done: string[];
}

/**
 * Called around each table's replacement. `before` gets the connection to the live table, before
 * an existing one is dropped (in place) or before its staged copy is created (staging); `after`
 * the connection loading the table, once it is loaded, indexed and its sequence set. In place on
 * PostgreSQL both run inside the table's transaction.
 */
export interface TableHooks {
  before?: (db: DbAdapter, table: XmldbTable, exists: boolean) => Promise<void>;
  after?: (db: DbAdapter, table: XmldbTable) => Promise<void>;
  /**
   * Whether the hooks may act on `table`. Tables they leave alone may be loaded several to a round
   * trip (PostgreSQL, small tables), without the hooks being called; without it every table is
   * loaded on its own and the hooks are called for each.
   */
  appliesTo?: (table: XmldbTable) => boolean;
}

/** Options of {@link importDatabase}. */
export interface ImportOptions {
  db: string | DbAdapter;
  prefix?: string;
  /** Directory holding `dbstructure.zip` and (unless `archives` is given) `dbdump[-N].zip`. */
  source: string;
  /** `dbstructure.zip` as the caller has already read it (a restore reads it for its pre-checks). */
  structure?: DbStructure;
  /**
   * dbdump archive paths in sequence order, instead of those in `source`. Each is read only
   * after the previous one is fully imported, and the previous one is no longer used once the
   * next is requested, so a generator can download each just in time and delete it afterwards.
   * Tables never span archives here unless the manifest's chunk list says so.
   */
  archives?: Iterable<string> | AsyncIterable<string>;
  /** Hooks around each table (site restore: preserved plugins' rows, §9.3 steps 1 and 7). */
  tableHooks?: TableHooks;
  /** Table names (no prefix) to leave untouched even if in the backup. */
  preserveTables?: string[];
  /** Components whose tables are left untouched; `tool_vault` always is. */
  preserveComponents?: string[];
  resumeState?: ImportState;
  /** Called after every finished table with the updated state (persist it to resume). */
  onTableDone?: (state: ImportState) => void | Promise<void>;
  onProgress?: (p: TransferProgress) => void;
  /**
   * Connections loading tables in parallel (only with a URL `db`; default the adapter's
   * `loadConnections`: on MySQL/MariaDB 3 with LOAD DATA, 4 with INSERTs; 2 on PostgreSQL).
   * Per-table DDL dominates a MySQL restore of Moodle's ~500 mostly small tables and overlaps
   * well (measured: pg→MariaDB load 14.3 s with 1, 8.9 s with 4).
   */
  concurrency?: number;
  /**
   * The target code tree's table definitions (install.xml order): tables are then given their
   * index and key names in Moodle's install order, which makes Moodle's collision counters come
   * out as on an installed site. Without them, install.xml order within a component is unknown.
   */
  definitions?: readonly XmldbTable[];
  /** Told about each index the restore cannot create (see {@link ImportResult.engineIndexes}). */
  warn?: (message: string) => void;
  /**
   * Load into this staging area instead of replacing the live tables; `db` is then the live
   * database (read for names in use and by `before` hooks) and `concurrency` loading
   * connections are opened through the area.
   */
  staging?: StagingArea;
  /** Called once every table is loaded, before the engine indexes are built. */
  beforeEngineIndexes?: () => Promise<void>;
  /**
   * Tables (no prefix) left in place as they are (carry-over.ts: empty in the backup and live,
   * live definition exactly the restore's): neither created nor loaded. They still count in the
   * naming plan, so every other table gets the names it would get without carry-over.
   */
  carriedOver?: readonly string[];
  /**
   * Tables (no prefix) to leave in place as well if the backup turns out to hold no row for them:
   * for a backup without our manifest (the plugin's), whose row counts are known only once read
   * (carry-over.ts, findCarryIfEmpty). A table qualifies when its only chunk file holds no row;
   * it is then neither created nor loaded, and `onCarried` is told before the import goes on
   * (carried tables are not in `done`: a decision not persisted is simply made again on resume).
   */
  carryIfEmpty?: ReadonlySet<string>;
  /**
   * Tables (no prefix) to leave in place as well if the live table holds exactly the rows of the
   * table's only chunk file, as `sameAsLive` decides (carry-over.ts, findCarryIfSame and
   * sameRowsAsLive; `liveTable` is the live table's full name, `db` the loading connection).
   * `onCarried` is told as for `carryIfEmpty`.
   */
  carryIfSame?: ReadonlySet<string>;
  sameAsLive?: (db: DbAdapter, liveTable: string, table: XmldbTable, chunk: ChunkFile) => Promise<boolean>;
  onCarried?: (table: string) => Promise<void>;
}

/** Result of {@link importDatabase}. */
export interface ImportResult {
  structure: DbStructure;
  tables: { name: string; rows: number }[];
  skipped: string[];
  /**
   * Indexes outside XMLDB re-created after the data load (engine-indexes.ts), and those that
   * were not: the extension's untranslatable ones, failed statements, and keys or indexes of
   * `__structure__.xml` the target cannot create (the tables were created without them).
   */
  engineIndexes: EngineIndexResult;
}

/** dbdump archives of a directory in sequence order. */
export async function listDumpArchives(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).map((n) => ({ n, p: parseArchiveName(n) })).filter((x) => x.p?.type === 'dbdump');
  return names.sort((a, b) => (a.p?.seq ?? 0) - (b.p?.seq ?? 0)).map((x) => x.n);
}

/** Restores the database; see {@link ImportOptions}. */
export async function importDatabase(opts: ImportOptions): Promise<ImportResult> {
  tuneHeapForStreaming();
  const prefix = opts.prefix ?? 'mdl_';
  const url = opts.db;
  // Connecting overlaps reading the structure (its XML takes a while to parse).
  const connecting = typeof url === 'string' ? connectDatabase(url, prefix) : Promise.resolve(url);
  connecting.catch(() => undefined);
  let structure: DbStructure;
  try {
    if (opts.structure) structure = opts.structure;
    else {
      const structZip = await ZipArchiveReader.open(join(opts.source, 'dbstructure.zip')).catch((err: unknown) => {
        throw new ArchiveReadError(`${opts.source}: no readable dbstructure.zip`, { cause: err });
      });
      structure = await readDbStructure(structZip).finally(() => structZip.close());
    }
  } catch (err) {
    if (typeof url === 'string') await connecting.then((d) => d.close(), () => undefined);
    throw err;
  }
  const db = await connecting;
  const staging = opts.staging;
  // Loading connections: the staging area's, else `db` plus more when given a URL; opened at once.
  const dbs: DbAdapter[] = staging ? [] : [db];
  const count = Math.max(1, opts.concurrency ?? db.loadConnections);
  try {
    if (staging) await staging.prepare();
    const open = staging ? () => staging.connect() : typeof url === 'string' ? () => connectDatabase(url, prefix) : undefined;
    const opened = open ? await Promise.allSettled(Array.from({ length: staging ? count : count - 1 }, open)) : [];
    for (const r of opened) if (r.status === 'fulfilled') dbs.push(r.value);
    for (const r of opened) if (r.status === 'rejected') throw r.reason;
  } catch (err) {
    await Promise.allSettled(dbs.filter((d) => d !== db).map((d) => d.close()));
    if (typeof url === 'string') await db.close().catch(() => undefined);
    throw err;
  }
  const loader = dbs[0] ?? db;
  // Small tables share round trips where the loading connections can queue statements (PostgreSQL).
  const batching = dbs.length > 0 && dbs.every((d) => d.defer !== undefined && d.loadChunkRows !== undefined);
  const marked = structure.manifest?.binaryEncoding === BINARY_ENCODING;
  // An index the target cannot create must not fail the restore: the table is made without it.
  const warn = opts.warn ?? (() => undefined);
  const planned = await planImport(db, structure, {
    prefix, tablePrefix: loader.prefix,
    ...(opts.preserveComponents ? { preserveComponents: opts.preserveComponents } : {}),
    ...(opts.preserveTables ? { preserveTables: opts.preserveTables } : {}),
    ...(opts.definitions ? { definitions: opts.definitions } : {}),
  });
  const { restored, uncreatable, names } = planned;
  const carried = new Set(opts.carriedOver ?? []);
  const tables = planned.tables.filter((t) => !carried.has(t.name));
  const plan = { create: planned.plan.create.filter((a) => !carried.has(a.table)), skip: planned.plan.skip.filter((s) => !carried.has(s.table)) };
  const skipped = structure.tables.filter((t) => !restored.includes(t)).map((t) => t.name);
  for (const u of uncreatable) warn(`index ${u.name} on ${u.table} not created: ${u.reason}`);
  const state: ImportState = { done: [...(opts.resumeState?.done ?? [])] };
  const done = new Set(state.done);
  const created = new Map<string, NonNullable<FinishTableOptions['created']>>();
  /** Tables of `carryIfEmpty` found empty in the backup: left in place. */
  const carriedNow = new Set<string>();
  const loaded = new Map<string, number>();
  const progress: TransferProgress = { tablesDone: done.size, tablesTotal: tables.length, rows: 0, bytes: 0 };

  let existing = new Set<string>();
  // `before` hooks of parallel loaders share the live connection: one at a time.
  let liveQueue: Promise<unknown> = Promise.resolve();
  const onLive = (fn: () => Promise<void>): Promise<void> => {
    const run = liveQueue.then(fn);
    liveQueue = run.catch(() => undefined);
    return run;
  };
  /** Each table's chunk files: how many, and their bytes (JSON, as stored uncompressed). */
  const chunks = new Map<string, { count: number; bytes: number }>();
  const addChunk = (table: string, bytes: number): void => {
    const c = chunks.get(table) ?? { count: 0, bytes: 0 };
    c.count++;
    c.bytes += bytes;
    chunks.set(table, c);
  };
  /**
   * Secondary indexes are built after the rows for a table of 3 chunk files or more, or of
   * {@link DEFER_INDEXES_BYTES}: one sorted build is cheaper than inserting into each index row by
   * row (MariaDB, ROW_FORMAT=COMPRESSED as Moodle creates tables: 5,435 rows of
   * grade_items_history with 8 indexes loaded in 100–110 ms instead of 130–135 ms; 1,002 users
   * with 15 indexes took the same either way, so smaller tables keep them in CREATE TABLE).
   */
  const deferIndexes = (table: string): boolean => {
    const c = chunks.get(table);
    return c !== undefined && (c.count >= 3 || c.bytes >= DEFER_INDEXES_BYTES);
  };
  // One read buffer (compressed chunk bytes) per loading connection, reused by its tables: one
  // per table left a dead buffer behind every loaded table until V8's next full collection, and
  // the C heap kept the memory after it.
  const readBuffers = new Map<DbAdapter, ReadBuffer>();
  const readBufferOf = (ldb: DbAdapter): ReadBuffer => {
    let b = readBuffers.get(ldb);
    if (!b) {
      b = { buffer: Buffer.alloc(0) };
      readBuffers.set(ldb, b);
    }
    return b;
  };
  /** PostgreSQL: indexes of the loading schema before the load (see CreateTableOptions.indexesInUse). */
  let indexesInUse: Map<string, string> | undefined;
  // Each table is one transaction on PostgreSQL. Its statements are queued and sent with the next
  // one that must wait for an answer: BEGIN and CREATE TABLE with the COPY, the indexes and the
  // sequence with the COMMIT: two round trips per table instead of eight or more.
  const begin = async (ldb: DbAdapter, t: XmldbTable, hooks = true): Promise<void> => {
    await beginTransaction(ldb);
    const before = hooks ? opts.tableHooks?.before : undefined;
    if (before) {
      if (staging) await onLive(() => before(db, t, existing.has(t.name)));
      else await before(ldb, t, existing.has(t.name));
    }
    const planned = names.get(t.name);
    const deferred = deferIndexes(t.name);
    await ldb.createTable(t, {
      exists: !staging && existing.has(t.name), nextId: structure.sequences.get(t.name), deferIndexes: deferred,
      defer: true, ...(planned ? { names: planned } : {}), ...(indexesInUse ? { indexesInUse } : {}),
    });
    created.set(t.name, { deferIndexes: deferred, ...(planned ? { names: planned } : {}) });
  };
  const finish = async (db: DbAdapter, t: XmldbTable): Promise<void> => {
    // Told how the table was created: a table continued over archives may finish on another connection.
    const how = created.get(t.name);
    await db.finishTable(t, structure.sequences.get(t.name) ?? 0, { defer: true, ...(how ? { created: how } : {}) }).catch((err: unknown) => { throw tableError(t, err); });
    await opts.tableHooks?.after?.(db, t);
    if (db.family === 'postgres') await db.execute('COMMIT').catch((err: unknown) => { throw tableError(t, err); });
    await markDone([t]);
  };
  /** Records committed tables, each told to onTableDone (which persists it to resume). */
  const markDone = async (list: readonly XmldbTable[]): Promise<void> => {
    for (const t of list) {
      done.add(t.name);
      state.done.push(t.name);
      progress.tablesDone++;
      progress.table = t.name;
      opts.onProgress?.(progress);
      await opts.onTableDone?.({ done: [...state.done] });
    }
  };

  /** dbdump archives opened ahead (their central directories read for the table list), by path. */
  const opened = new Map<string, ZipArchiveReader>();
  try {
    existing = new Set(await db.listTables());
    if (staging) {
      // Resume: tables finished in staging are kept, anything else there is rebuilt.
      const inStaging = await staging.stagedTables();
      await staging.dropStaged(inStaging.filter((t) => !done.has(t)));
      const kept = new Set(inStaging);
      for (const t of [...done]) if (!kept.has(t)) done.delete(t);
      state.done = state.done.filter((t) => done.has(t));
      progress.tablesDone = done.size;
    }
    if (loader.family === 'postgres') {
      const rows = await loader.query<{ n: string; t: string }>(
        `SELECT i.relname AS n, t.relname AS t FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace ns ON ns.oid = i.relnamespace WHERE ns.nspname = current_schema()`);
      indexesInUse = new Map(rows.map((r) => [r.n, r.t]));
    }
    if (structure.manifest) {
      progress.bytesTotal = structure.manifest.archives.filter((a) => a.name.startsWith('dbdump')).reduce((s, a) => s + a.origsize, 0);
    }
    // Which archive holds the last chunks of each table: from our manifest, else (given
    // archives, read one at a time) the archive being read; else the central directories.
    const lastArchive = new Map<string, string>();
    const basename = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);
    if (opts.archives) for (const [name, c] of Object.entries(structure.manifest?.chunks ?? {})) lastArchive.set(parseChunkName(name).table, c.archive);
    const fromManifest = lastArchive.size > 0;
    let archives: Iterable<string> | AsyncIterable<string> = opts.archives ?? [];
    if (!opts.archives) {
      const names = await listDumpArchives(opts.source);
      archives = names.map((n) => join(opts.source, n));
      for (const archive of names) {
        // Kept open for the load below (reading a central directory again costs as much).
        const zip = await ZipArchiveReader.open(join(opts.source, archive));
        opened.set(join(opts.source, archive), zip);
        for (const name of zip.names()) {
          const table = parseChunkName(name).table;
          lastArchive.set(table, archive);
          addChunk(table, zip.sizeOf(name));
        }
      }
    }
    for await (const path of archives) {
      const archive = basename(path);
      const zip = opened.get(path) ?? await ZipArchiveReader.open(path);
      opened.delete(path);
      try {
        const byTable = new Map<string, { name: string; n: number }[]>();
        for (const name of zip.names()) {
          const c = parseChunkName(name);
          const list = byTable.get(c.table) ?? [];
          list.push({ name, n: c.n });
          byTable.set(c.table, list);
        }
        if (opts.archives) {
          for (const [table, list] of byTable) {
            for (const f of list) addChunk(table, zip.sizeOf(f.name));
            if (!fromManifest) lastArchive.set(table, archive);
          }
        }
        // Largest tables first, as pg_restore -j orders its data: a large table started last would
        // keep one connection busy long after the others ran out of tables.
        const sizeOf = (t: XmldbTable): number => (byTable.get(t.name) ?? []).reduce((sum, f) => sum + zip.sizeOf(f.name), 0);
        const todo = tables.filter((t) => byTable.has(t.name) && !done.has(t.name)).map((t) => ({ t, size: sizeOf(t) }));
        todo.sort((a, b) => b.size - a.size);
        const filesOf = (t: XmldbTable): string[] => (byTable.get(t.name) ?? []).sort((x, y) => x.n - y.n).map((f) => f.name);
        /** Loads one table with COPY, in its own round trips. */
        const loadTable = async (db: DbAdapter, table: XmldbTable): Promise<void> => {
          const files = filesOf(table);
          // The plugin never splits a table across archives; if one is, append instead of recreating.
          const continuing = created.has(table.name);
          const only = files.length === 1 ? files[0] : undefined;
          const ifEmpty = opts.carryIfEmpty?.has(table.name) ?? false;
          const ifSame = (opts.carryIfSame?.has(table.name) ?? false) && opts.sameAsLive !== undefined;
          if (!continuing && only && (ifEmpty || ifSame) && lastArchive.get(table.name) === archive) {
            const chunk = openChunk(await zip.read(only, readBufferOf(db)));
            if (chunk && ((ifEmpty && chunk.count === 0) || (ifSame && chunk.count > 0 && await opts.sameAsLive?.(db, prefix + table.name, table, chunk)))) {
              carriedNow.add(table.name);
              await opts.onCarried?.(table.name);
              progress.tablesDone++;
              progress.table = table.name;
              opts.onProgress?.(progress);
              return;
            }
          }
          if (continuing) await beginTransaction(db);
          else await begin(db, table);
          try {
            const rows = await loadChunks(db, table, zip, files, readBufferOf(db), marked, progress, opts.onProgress);
            loaded.set(table.name, (loaded.get(table.name) ?? 0) + rows);
          } catch (err) {
            if (db.family === 'postgres') await rollback(db);
            created.delete(table.name);
            throw err;
          }
          if (lastArchive.get(table.name) === archive) await finish(db, table);
          else if (db.family === 'postgres') await db.execute('COMMIT');
        };
        /**
         * Loads small tables in few round trips: each table's BEGIN, CREATE TABLE, rows (as an
         * INSERT where they fit one heap page), indexes, sequence and COMMIT queued, all sent
         * with the next COPY or the last COMMIT. When anything fails, those before the failing
         * table may be committed: the batch's tables are dropped and loaded one by one, so that
         * a failing one fails as it would alone.
         */
        const loadBatch = async (db: DbAdapter, batch: readonly XmldbTable[]): Promise<void> => {
          try {
            for (const [i, table] of batch.entries()) {
              await begin(db, table, false);
              loaded.set(table.name, await loadChunks(db, table, zip, filesOf(table), readBufferOf(db), marked, progress, opts.onProgress, true));
              await db.finishTable(table, structure.sequences.get(table.name) ?? 0, { defer: true });
              if (i < batch.length - 1) db.defer?.('COMMIT');
              else await db.execute('COMMIT');
            }
          } catch {
            await rollback(db);
            for (const t of batch) {
              progress.rows -= loaded.get(t.name) ?? 0;
              loaded.delete(t.name);
              created.delete(t.name);
            }
            if (staging) await onLive(() => staging.dropStaged(batch.map((t) => t.name)));
            else for (const t of batch) existing.add(t.name);
            for (const t of batch) await loadTable(db, t);
            return;
          }
          await markDone(batch);
        };
        const hooks = opts.tableHooks;
        const batchable = batching
          ? todo.filter((x) => x.size <= SMALL_TABLE_BYTES && byTable.get(x.t.name)?.length === 1 && !created.has(x.t.name) && lastArchive.get(x.t.name) === archive && !opts.carryIfEmpty?.has(x.t.name) && !opts.carryIfSame?.has(x.t.name)
            && (!hooks || hooks.appliesTo?.(x.t) === false))
          : [];
        const batches: XmldbTable[][] = [];
        let bytes = Infinity;
        for (const x of batchable) {
          const last = batches[batches.length - 1];
          if (!last || bytes + x.size > BATCH_BYTES || last.length >= BATCH_TABLES) {
            batches.push([x.t]);
            bytes = x.size;
          } else {
            last.push(x.t);
            bytes += x.size;
          }
        }
        const inBatch = new Set(batchable.map((x) => x.t.name));
        const singles = todo.filter((x) => !inBatch.has(x.t.name)).map(({ t }) => (db: DbAdapter) => loadTable(db, t));
        // The largest tables on all connections but one; the small tables' batches on that one
        // while this process is busy turning the largest tables' rows into COPY text (their work is
        // the server's: creating tables); then the rest, largest first. Bench scale M onto
        // PostgreSQL, 6 loads: 9.2–9.7 s instead of 10.2–10.5 s with the batches last.
        const lead = Math.max(1, dbs.length - 1);
        const tasks = [...singles.slice(0, lead), ...batches.map((batch) => (db: DbAdapter) => loadBatch(db, batch)), ...singles.slice(lead)];
        await runOnPool(dbs, tasks);
      } finally {
        zip.close();
      }
    }
    // Tables without any chunk file (or split over archives) are finished here.
    await runOnPool(dbs, tables.filter((t) => !done.has(t.name) && !carriedNow.has(t.name)).map((table) => async (db: DbAdapter) => {
      if (!created.has(table.name)) await begin(db, table);
      else await beginTransaction(db);
      await finish(db, table);
    }));
    // Indexes XMLDB cannot express, after the data load (docs/format.md, "Engine-specific indexes").
    await opts.beforeEngineIndexes?.();
    // Not on tables carried over as the load found them: left as they are (carry-over.ts compared their FULLTEXT indexes).
    const engineIndexes = await applyEngineIndexes(loader, { ...plan, create: plan.create.filter((a) => !carriedNow.has(a.table)) }, warn);
    engineIndexes.skipped.unshift(...uncreatable);
    progress.table = undefined;
    opts.onProgress?.(progress);
    return { structure, tables: tables.filter((t) => !carriedNow.has(t.name)).map((t) => ({ name: t.name, rows: loaded.get(t.name) ?? 0 })), skipped, engineIndexes };
  } finally {
    for (const zip of opened.values()) zip.close();
    await Promise.allSettled(dbs.filter((d) => d !== db).map((d) => d.close()));
    if (typeof opts.db === 'string') await db.close().catch(() => undefined);
  }
}

/**
 * Stages, as the backup has them, tables that were to be carried over (carry-over.ts) but changed
 * on the live site before the switch: created in the staging area as the import would have
 * (planned names, next id), empty, or with the rows of the chunk file in `rows` (a table carried
 * over with its rows). `plan` is the import's ({@link planImport}).
 */
export async function stageCarriedTables(staging: StagingArea, structure: DbStructure, plan: ImportPlan, names: readonly string[], rows: ReadonlyMap<string, ChunkFile> = new Map()): Promise<void> {
  if (!names.length) return;
  const wanted = new Set(names);
  const ldb = await staging.connect();
  try {
    // Leftovers of an interrupted run of this same step.
    await staging.dropStaged(names);
    for (const t of plan.tables.filter((x) => wanted.has(x.name))) {
      const planned = plan.names.get(t.name);
      const nextId = structure.sequences.get(t.name);
      const chunk = rows.get(t.name);
      // One round trip per empty table (see importDatabase).
      await beginTransaction(ldb);
      await ldb.createTable(t, { exists: false, defer: !chunk, ...(nextId !== undefined ? { nextId } : {}), ...(planned ? { names: planned } : {}) });
      if (chunk) {
        const { pick, columns, binary } = chunkColumns(t, chunk.columns);
        await ldb.bulkLoad(t, columns, rowsOf([chunk], pick, binary, true));
      }
      await ldb.finishTable(t, nextId ?? 0, { defer: !chunk });
      if (ldb.family === 'postgres') await ldb.execute('COMMIT');
    }
  } finally {
    await ldb.close();
  }
}

/** What a restore creates: {@link planImport}. */
export interface ImportPlan {
  /** The backup's tables the restore replaces (preserved ones left out). */
  restored: XmldbTable[];
  /** The same, as created: without the indexes the target cannot create. */
  tables: XmldbTable[];
  uncreatable: RestoreIndexPlan['uncreatable'];
  /** Engine-specific indexes built after the load. */
  plan: EngineIndexPlan;
  /** Object names of every restored table, as Moodle's installer gives them. */
  names: Map<string, TableNames>;
}

/**
 * The tables a restore of `structure` creates and their object names: one plan shared by the
 * import and by the carry-over analysis (carry-over.ts), which must compare live tables with
 * exactly what the import would create.
 */
export async function planImport(db: DbAdapter, structure: DbStructure, opts: { prefix: string; tablePrefix?: string; preserveComponents?: string[]; preserveTables?: string[]; definitions?: readonly XmldbTable[] }): Promise<ImportPlan> {
  const preservedComponents = new Set(['tool_vault', ...(opts.preserveComponents ?? [])]);
  const preservedTables = new Set(opts.preserveTables ?? []);
  const restored = structure.tables.filter((t) => !preservedComponents.has(t.component) && !preservedTables.has(t.name));
  const { tables, uncreatable, plan } = planRestoreIndexes(restored, structure.manifest?.engineIndexes, db.family, opts.prefix, opts.tablePrefix ?? opts.prefix);
  // Object names as Moodle's installer gives them, planned over every restored table at once
  // (the collision counter depends on creation order, not on which connection creates a table).
  const names = planTableNames(db.family, opts.prefix, restored, { ...(opts.definitions ? { definitions: opts.definitions } : {}), reserved: await keptObjectNames(db, opts.prefix, restored) });
  return { restored, tables, uncreatable, plan, names };
}

/**
 * PostgreSQL: names of relations and constraints the restore does not replace (tables of other
 * prefixes, preserved tables, tables absent from the backup). Moodle's generator skips names in
 * use (isNameInUse), so they are skipped here too. MySQL checks only the table's own indexes,
 * which the restore recreates: nothing is reserved there.
 */
async function keptObjectNames(db: DbAdapter, prefix: string, restored: readonly XmldbTable[]): Promise<string[]> {
  if (db.family !== 'postgres') return [];
  const replaced = restored.map((t) => prefix + t.name);
  const rows = await db.query<{ n: string }>(
    `SELECT c.relname AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = x.indrelid
      WHERE ns.nspname = current_schema() AND c.relkind IN ('i', 'S') AND NOT (COALESCE(t.relname, '') = ANY($1))
        AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM unnest($1::text[]) r WHERE c.relname LIKE r || '\\_%'))
     UNION SELECT conname FROM pg_constraint k JOIN pg_namespace ns ON ns.oid = k.connamespace JOIN pg_class t ON t.oid = k.conrelid
      WHERE ns.nspname = current_schema() AND NOT (t.relname = ANY($1))`, [replaced]);
  return rows.map((r) => r.n);
}

/** PostgreSQL: starts a table's transaction, queued to go with its next statement where the adapter can. */
async function beginTransaction(db: DbAdapter): Promise<void> {
  if (db.family !== 'postgres') return;
  if (db.defer) db.defer('BEGIN');
  else await db.execute('BEGIN');
}

/**
 * Rolls a failed table's transaction back. Statements still queued go with the ROLLBACK; when one
 * of them fails, the rest of that message (the ROLLBACK too) is skipped: then it is sent again.
 */
async function rollback(db: DbAdapter): Promise<void> {
  await db.execute('ROLLBACK').catch(() => db.execute('ROLLBACK')).catch(() => undefined);
}

/**
 * Runs tasks in order on a fixed set of connections, one task per connection at a time. The
 * first failure stops further tasks from starting and is rethrown once running ones settle.
 */
async function runOnPool(dbs: DbAdapter[], tasks: ((db: DbAdapter) => Promise<void>)[]): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  await Promise.all(dbs.map(async (db) => {
    while (!failure && next < tasks.length) {
      const task = tasks[next++];
      try {
        await task?.(db);
      } catch (err) {
        failure ??= { err };
      }
    }
  }));
  if (failure) throw failure.err;
}

async function loadChunks(
  db: DbAdapter,
  table: XmldbTable,
  zip: ZipArchiveReader,
  files: string[],
  into: ReadBuffer,
  marked: boolean,
  progress: TransferProgress,
  onProgress: ((p: TransferProgress) => void) | undefined,
  /** Queue the rows (PostgreSQL: as an INSERT, see ChunkRowSource.defer) instead of loading them now. */
  defer = false,
): Promise<number> {
  // Column list comes from the first decodable chunk header.
  let columns: string[] | undefined;
  let pick: number[] = [];
  let binary: boolean[] = [];
  // Not const: the chunk generator drops it once read, or the first chunk's bytes would stay in
  // memory until the whole table is loaded.
  let first = files.length ? openChunk(await zip.read(files[0] ?? '', into)) : undefined;
  if (first) ({ pick, columns, binary } = chunkColumns(table, first.columns));
  if (!columns || columns.length === 0) return 0;
  const cols = columns;
  /**
   * The decodable chunks in order. While one is being loaded the next is read and inflated (each
   * into a buffer of its own; `into` holds the compressed bytes of one read at a time), so
   * reading overlaps loading. A chunk the plugin could not decode is skipped, as the plugin does.
   */
  async function* chunks(): AsyncGenerator<ChunkFile> {
    const read = (i: number): Promise<Buffer> | undefined => {
      if (i >= files.length) return undefined;
      const p = zip.read(files[i] ?? '', into);
      // Awaited below, or dropped only when loading failed: never an unhandled rejection.
      p.catch(() => undefined);
      return p;
    };
    let next = read(1);
    try {
      for (let i = 0; i < files.length; i++) {
        let chunk: ChunkFile | undefined;
        if (i === 0) {
          chunk = first;
          first = undefined;
        } else {
          const data = await next;
          next = read(i + 1);
          chunk = data ? openChunk(data) : undefined;
        }
        progress.bytes += zip.sizeOf(files[i] ?? '');
        if (!chunk) continue;
        yield chunk;
        progress.rows += chunk.count;
        onProgress?.(progress);
      }
    } finally {
      // A read still going writes into `into`, which the connection's next table uses.
      await next?.catch(() => undefined);
    }
  }
  try {
    if (db.loadChunkRows) return await db.loadChunkRows(table, cols, { pick, binary, marked, chunks: chunks(), ...(defer ? { defer } : {}) });
    return await db.bulkLoad(table, cols, rowsOf(chunks(), pick, binary, marked));
  } catch (err) {
    if (err instanceof TableTransferError) throw err;
    throw new TableTransferError(table.name, (err as Error).message, { cause: err });
  }
}

/**
 * A database error of a table's own statements (its indexes and primary key, sent with its COMMIT:
 * e.g. a duplicate id, found when the key is built after the rows) named with the table and the
 * server's detail.
 */
function tableError(t: XmldbTable, err: unknown): unknown {
  if (err instanceof TableTransferError || !(err instanceof Error)) return err;
  const detail = (err as { detail?: unknown }).detail;
  return new TableTransferError(t.name, `${err.message}${typeof detail === 'string' && detail ? ` (${detail})` : ''}`, { cause: err });
}

/** Which elements of a chunk row (its header `header`) the table's columns load, their names, and which are binary. */
function chunkColumns(table: XmldbTable, header: readonly string[]): { pick: number[]; columns: string[]; binary: boolean[] } {
  const fieldNames = new Set(table.fields.map((f) => f.name));
  const pick = header.map((c, i) => (fieldNames.has(c) ? i : -1)).filter((i) => i >= 0);
  const columns = pick.map((i) => header[i] ?? '');
  return { pick, columns, binary: columns.map((c) => table.fields.find((f) => f.name === c)?.type === 'binary') };
}

/** The rows of chunk files as bulkLoad takes them: the picked values, binary ones decoded. */
async function* rowsOf(chunks: AsyncIterable<ChunkFile> | Iterable<ChunkFile>, pick: readonly number[], binary: readonly boolean[], marked: boolean): AsyncGenerator<RowValue[]> {
  for await (const chunk of chunks) {
    for (const raw of chunk.rows()) {
      const out: RowValue[] = new Array<RowValue>(pick.length);
      for (let j = 0; j < pick.length; j++) {
        const v = raw[pick[j] ?? 0];
        if (v === null || v === undefined) out[j] = null;
        else {
          const s = typeof v === 'string' ? v : String(v);
          out[j] = binary[j] ? decodeBinary(s, marked) : s;
        }
      }
      yield out;
    }
  }
}
