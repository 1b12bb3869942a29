/**
 * PostgreSQL adapter: introspection straight from pg_catalog (the information_schema route
 * takes seconds on a Moodle database), rows out with COPY TO STDOUT, rows in with COPY FROM
 * STDIN, BIGSERIAL sequences set with setval.
 */
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { addPrimaryKeySql, createIndexesSql, createTableSql, dropTableSql, planTableNames, quoteIdent, type TableNames } from '../schema/ddl.js';
import type { PgIndexInfo } from '../schema/engine-indexes.js';
import { classifyPostgresIndex } from '../schema/engine-indexes.js';
import type { XmldbField, XmldbKey, XmldbTable } from '../schema/model.js';
import { orderColumn, sequenceField } from '../schema/model.js';
import { encodeBinary } from '../archive/binary-encoding.js';
import type { ChunkFile } from '../archive/table-chunks.js';
import type { ChunkRowSource, CreateTableOptions, DbAdapter, FinishTableOptions, JsonRowSink, RowValue, TableStats } from './adapter.js';
import { normaliseFloat } from './adapter.js';
import { isLocalDatabase } from './connect.js';
import { TableTransferError } from './errors.js';
import { chunkRowSlots, FORM_COPY, FORM_VALUES } from './chunk-rows.js';
import { textPieces, TextRows } from './text-rows.js';
import { COPY_CONVERTED, COPY_TEXT, copyJsonBound, copyLineToPhpJson, copyTextLines, escapeCopyBytea, escapeCopyText } from './pg-copy-text.js';

const q = (s: string): string => quoteIdent('postgres', s);

/**
 * Whether an index needs pg_get_indexdef (anything but a plain btree over columns). That function
 * reads the catalog as it is now rather than as of the query's snapshot, so an index that another
 * connection drops meanwhile (a parallel restore, a killed run's backend finishing its DROP)
 * fails the whole query: plain indexes, nearly all of Moodle's, are described from the
 * snapshot's catalog rows alone.
 */
const NEEDS_DEF = `(am.amname <> 'btree' OR x.indpred IS NOT NULL OR x.indexprs IS NOT NULL OR x.indnatts <> x.indnkeyatts
  OR EXISTS (SELECT 1 FROM generate_series(0, x.indnkeyatts - 1) k JOIN pg_opclass o ON o.oid = x.indclass[k] WHERE NOT o.opcdefault))`;

interface ColumnRow { tbl: string; col: string; typname: string; typmod: number; notnull: boolean; def: string | null }
interface IndexRow { tbl: string; idx: string; isunique: boolean; isprimary: boolean; method: string; partial: boolean; included: number | string;
  cols: (string | null)[]; parts: string[]; opclasses: (string | null)[]; def: string }

/** Turns a pg_get_expr default into the XMLDB spelling; undefined = no (usable) default. */
function parseDefault(def: string | null): string | undefined {
  if (def === null) return undefined;
  let d = def.trim();
  while (d.startsWith('(') && d.endsWith(')')) d = d.slice(1, -1);
  if (/^NULL(::.*)?$/i.test(d)) return undefined;
  const m = /^'((?:[^']|'')*)'(::[\w\s"]+(\(\d+(,\d+)?\))?)*$/.exec(d);
  if (m) return (m[1] ?? '').replace(/''/g, "'");
  if (/^[-+]?[0-9.]+(e[-+]?\d+)?$/i.test(d)) return d;
  return undefined;
}

function fieldFromColumn(c: ColumnRow): XmldbField {
  const f: XmldbField = { name: c.col, type: 'text', notnull: c.notnull, sequence: false };
  switch (c.typname) {
    case 'int2': Object.assign(f, { type: 'int', length: '4' }); break;
    case 'int4': Object.assign(f, { type: 'int', length: '9' }); break;
    case 'int8': Object.assign(f, { type: 'int', length: '10' }); break;
    // Unconstrained numeric/varchar have no XMLDB equivalent that keeps every value: use text.
    case 'numeric': {
      if (c.typmod < 0) break;
      const m = c.typmod - 4;
      Object.assign(f, { type: 'number', length: String((m >> 16) & 0xffff), decimals: String(m & 0xffff) });
      break;
    }
    case 'float4': Object.assign(f, { type: 'float', length: '11', decimals: '4' }); break;
    case 'float8': Object.assign(f, { type: 'float', length: '20', decimals: '8' }); break;
    case 'varchar': case 'bpchar': if (c.typmod >= 0) Object.assign(f, { type: 'char', length: String(c.typmod - 4) }); break;
    case 'bytea': f.type = 'binary'; break;
    case 'timestamp': case 'timestamptz': case 'date': f.type = 'datetime'; break;
    default: f.type = 'text';
  }
  if (c.def && /^nextval\(/.test(c.def)) f.sequence = true;
  else {
    const d = parseDefault(c.def);
    if (d !== undefined) f.default = d;
  }
  return f;
}

/** Column kinds that need conversion when read from COPY text. */
type Kind = 'plain' | 'float' | 'binary';
const kindOf = (f: XmldbField | undefined): Kind => (f?.type === 'float' ? 'float' : f?.type === 'binary' ? 'binary' : 'plain');

/**
 * Whether a chunk's rows surely fit one heap page: then INSERT places them exactly as COPY does
 * (in row order on page 0). On more pages they could differ: COPY into a table created in its
 * transaction never goes back to a page with room left, INSERT does (the free space map), and an
 * unordered SELECT would see another order. The bound: the file's bytes (each value's bytes at
 * most its JSON's), and per row a tuple header with null bitmap, alignment and line pointer
 * (40 + columns / 8 bytes) and per value a length word and alignment (12 bytes: an int8 stored
 * from `"1"` takes 8 bytes and up to 7 of alignment). It assumes PostgreSQL's default 8 KiB
 * pages. What it protects is fidelity, not data: only the physical row order could differ.
 */
function onOneHeapPage(chunk: ChunkFile, tableColumns: number): boolean {
  const bytes = chunk.raw?.data.length;
  if (bytes === undefined) return false;
  // Columns the chunk lacks are stored too, with their (short) defaults.
  const columns = Math.max(chunk.columns.length, tableColumns);
  return bytes + chunk.count * (40 + Math.ceil(columns / 8) + 12 * columns) <= HEAP_PAGE_ROOM;
}

/** Room for tuples on an 8 KiB heap page (its header and some slack off). */
const HEAP_PAGE_ROOM = 8000;

/** Two loading connections, as the load's anchor `pg_restore -j2` uses. */
const LOAD_CONNECTIONS = 2;

/**
 * The most parallel workers one index build of a load may have, for a server on this machine
 * (`local`) with `cpus` CPUs: the load already builds up to `connections` indexes at once, and
 * workers beyond the CPUs left over only add the cost of splitting and merging the sort (measured
 * on 2 CPUs at the bench's scale M, 3 loads each: the server's CPU time 13.2–13.8 s without
 * workers, 15.0–16.7 s with PostgreSQL's 2).
 * Undefined for a server elsewhere, whose CPUs the agent cannot know: PostgreSQL's setting stays.
 */
export function maintenanceWorkersCap(local: boolean, cpus: number, connections: number): number | undefined {
  return local ? Math.max(0, Math.floor(cpus / connections) - 1) : undefined;
}

/** Adapter over one pg client. */
export class PostgresAdapter implements DbAdapter {
  readonly loadConnections = LOAD_CONNECTIONS;
  readonly family = 'postgres' as const;
  readonly engine = 'postgres' as const;

  private constructor(
    private readonly client: pg.Client,
    readonly prefix: string,
    private readonly url: string,
  ) {}

  /** Connects to `postgres://…`. */
  static async connect(url: string, prefix: string): Promise<PostgresAdapter> {
    const client = new pg.Client({ connectionString: url.replace(/^postgresql:/, 'postgres:') });
    await client.connect();
    // Fixed output formats so values are the same whatever the server defaults are.
    let setup = "SET bytea_output = 'hex'; SET extra_float_digits = 1; SET client_encoding = 'UTF8'; SET standard_conforming_strings = on";
    const workers = maintenanceWorkersCap(isLocalDatabase(url), availableParallelism(), LOAD_CONNECTIONS);
    if (workers !== undefined) {
      setup += `; SELECT set_config('max_parallel_maintenance_workers', least(current_setting('max_parallel_maintenance_workers')::int, ${workers})::text, false)`;
    }
    await client.query(setup);
    return new PostgresAdapter(client, prefix, url);
  }

  /** Statements queued by {@link defer}, sent at the head of the next one. */
  private queued = '';
  /** Whether a queued statement returns rows (a COPY cannot carry it: its stream takes no rows). */
  private queuedRows = false;

  /**
   * Queues a statement whose result is not needed to run at the start of the next statement on
   * this connection, in the same round trip (a multi-statement simple query); an error it raises
   * is raised by that next call. Round trips, not statements, were most of the cost of creating a
   * restore's ~500 tables (client and server CPU alike). Queued statements are dropped by close().
   * `returnsRows` for a statement that returns rows: the queue is then sent on its own before a
   * COPY, whose stream (pg-copy-streams) takes no row messages.
   */
  defer(sql: string, returnsRows = false): void {
    this.queued += `${sql};\n`;
    if (returnsRows) this.queuedRows = true;
  }

  /** `sql` with the queued statements in front; the queue is sent with it. */
  private withQueued(sql: string): string {
    const text = this.queued + sql;
    this.queued = '';
    this.queuedRows = false;
    return text;
  }

  /** Sends the queued statements on their own (before a statement that cannot carry them). */
  private async flushQueued(): Promise<void> {
    if (this.queued) await this.client.query(this.withQueued(''));
  }

  async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    // Parameters take the extended protocol: one statement per message.
    if (params.length) await this.flushQueued();
    const r: pg.QueryResult | pg.QueryResult[] = await this.client.query(this.withQueued(sql), params);
    // With queued statements in front, one result per statement: the last is this one's.
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    return (last?.rows ?? []) as T[];
  }

  async execute(sql: string): Promise<void> {
    await this.client.query(this.withQueued(sql));
  }

  async introspect(only?: readonly string[]): Promise<XmldbTable[]> {
    const p: unknown[] = [this.prefix.length, this.prefix];
    // Only the tables named (without prefix), when given: $3.
    if (only) p.push(only.map((t) => this.prefix + t));
    const named = only ? ' AND c.relname = ANY($3)' : '';
    const cols = await this.query<ColumnRow & Record<string, unknown>>(
      `SELECT c.relname AS tbl, a.attname AS col, t.typname, a.atttypmod AS typmod, a.attnotnull AS notnull,
              pg_get_expr(d.adbin, d.adrelid) AS def
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND left(c.relname, $1) = $2${named}
        ORDER BY c.relname, a.attnum`, p);
    // Key parts: the column name, or NULL for an expression (attnum 0); indexdef per part and
    // whole so engine-specific indexes can be recognised and re-created (engine-indexes.ts).
    const idx = await this.query<IndexRow & Record<string, unknown>>(
      `SELECT c.relname AS tbl, i.relname AS idx, x.indisunique AS isunique, x.indisprimary AS isprimary,
              am.amname AS method, x.indpred IS NOT NULL AS partial, x.indnatts - x.indnkeyatts AS included,
              ARRAY(SELECT a.attname::text FROM generate_series(0, x.indnkeyatts - 1) k
                      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k] AND x.indkey[k] <> 0
                     ORDER BY k) AS cols,
              CASE WHEN ${NEEDS_DEF} THEN ARRAY(SELECT pg_get_indexdef(x.indexrelid, k + 1, true) FROM generate_series(0, x.indnkeyatts - 1) k ORDER BY k)
                   ELSE ARRAY(SELECT a.attname::text FROM generate_series(0, x.indnkeyatts - 1) k
                                JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k] ORDER BY k) END AS parts,
              ARRAY(SELECT CASE WHEN o.opcdefault THEN '' ELSE o.opcname::text END FROM generate_series(0, x.indnkeyatts - 1) k
                      LEFT JOIN pg_opclass o ON o.oid = x.indclass[k] ORDER BY k) AS opclasses,
              CASE WHEN ${NEEDS_DEF} THEN pg_get_indexdef(x.indexrelid) ELSE '' END AS def
         FROM pg_index x
         JOIN pg_class c ON c.oid = x.indrelid
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_am am ON am.oid = i.relam
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND left(c.relname, $1) = $2${named}
        ORDER BY c.relname, i.relname`, p);
    const tables = new Map<string, XmldbTable>();
    for (const c of cols) {
      const name = c.tbl.slice(this.prefix.length);
      let t = tables.get(name);
      if (!t) tables.set(name, (t = { name, component: '', fields: [], keys: [], indexes: [] }));
      t.fields.push(fieldFromColumn(c));
    }
    for (const i of idx) {
      const t = tables.get(i.tbl.slice(this.prefix.length));
      if (!t) continue;
      if (i.isprimary) {
        t.keys.unshift({ name: 'primary', type: 'primary', fields: i.cols.filter((c): c is string => c !== null) } satisfies XmldbKey);
        continue;
      }
      // A plain index has no definition from the query (NEEDS_DEF); spelled as pg_get_indexdef would.
      const definition = i.def || `CREATE ${i.isunique ? 'UNIQUE ' : ''}INDEX ${q(i.idx)} ON ${q(i.tbl)} USING btree (${i.parts.map(q).join(', ')})`;
      const info: PgIndexInfo = { table: t.name, name: i.idx, unique: i.isunique, method: i.method, columns: i.cols, parts: i.parts, opclasses: i.opclasses.map((o) => o ?? ''), partial: i.partial, included: Number(i.included), definition };
      const c = classifyPostgresIndex(info);
      if (c.kind === 'xmldb') t.indexes.push(c.index);
      else {
        const columns = i.cols.filter((x): x is string => x !== null);
        (t.engineIndexes ??= []).push({ table: t.name, name: i.idx, engine: 'postgres', reason: c.reasons.join(','), unique: i.isunique, columns, ...(c.logical ? { logical: c.logical } : {}), definition });
      }
    }
    return [...tables.values()];
  }

  async tableStats(): Promise<Map<string, TableStats>> {
    const rows = await this.query<{ tbl: string; rows: string; bytes: string }>(
      `SELECT c.relname AS tbl, GREATEST(c.reltuples, 0)::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND left(c.relname, $1) = $2`,
      [this.prefix.length, this.prefix]);
    return new Map(rows.map((r) => [r.tbl.slice(this.prefix.length), { rows: Number(r.rows), bytes: Number(r.bytes) }]));
  }

  async *readRows(table: XmldbTable, columns: string[], where?: string): AsyncGenerator<RowValue[]> {
    const kinds = columns.map((c) => kindOf(table.fields.find((f) => f.name === c)));
    await this.flushQueued();
    const stream = this.client.query(copyStreams.to(this.copySql(table, columns, where)));
    try {
      for await (const fields of copyTextLines(stream as AsyncIterable<Buffer>)) {
        const row: RowValue[] = fields;
        for (let i = 0; i < kinds.length; i++) {
          const v = fields[i];
          if (v === null || v === undefined) continue;
          if (kinds[i] === 'float') row[i] = normaliseFloat(v);
          else if (kinds[i] === 'binary') row[i] = Buffer.from(v.slice(2), 'hex');
        }
        yield row;
      }
    } catch (err) {
      throw new TableTransferError(table.name, `reading rows failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async writeJsonRows(table: XmldbTable, columns: string[], where: string | undefined, sink: JsonRowSink): Promise<number> {
    const kinds = columns.map((c) => kindOf(table.fields.find((f) => f.name === c)));
    const codes = Uint8Array.from(kinds, (k) => (k === 'plain' ? COPY_TEXT : COPY_CONVERTED));
    // The values readRows gives, then what the export makes of bytes (encodeBinary).
    const convert = (i: number, v: string): string => (kinds[i] === 'float' ? normaliseFloat(v) : encodeBinary(Buffer.from(v.slice(2), 'hex')));
    const ncols = columns.length;
    let rows = 0;
    /** Writes one COPY line as a chunk row (after `sink.beginRow()` has been awaited). Synchronous: no promise per row. */
    const put = (src: Buffer, s: number, e: number): void => {
      const out = sink.rowOut(copyJsonBound(e - s, ncols));
      copyLineToPhpJson(src, s, e, codes, convert, out);
      sink.endRow(out);
      rows++;
    };
    await this.flushQueued();
    const stream = this.client.query(copyStreams.to(this.copySql(table, columns, where)));
    try {
      // A line may span stream chunks: its pieces wait in `carry` until its LF arrives.
      let carry: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let start = 0;
        if (carry.length) {
          const nl = chunk.indexOf(10);
          if (nl === -1) {
            carry.push(chunk);
            continue;
          }
          carry.push(chunk.subarray(0, nl));
          const whole = Buffer.concat(carry);
          carry = [];
          await sink.beginRow();
          put(whole, 0, whole.length);
          start = nl + 1;
        }
        for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
          const wait = sink.beginRow();
          if (wait) await wait;
          put(chunk, start, nl);
          start = nl + 1;
        }
        if (start < chunk.length) carry.push(chunk.subarray(start));
      }
      if (carry.length) {
        const whole = Buffer.concat(carry);
        await sink.beginRow();
        put(whole, 0, whole.length);
      }
    } catch (err) {
      throw new TableTransferError(table.name, `reading rows failed: ${(err as Error).message}`, { cause: err });
    }
    return rows;
  }

  private copySql(table: XmldbTable, columns: string[], where: string | undefined): string {
    return `COPY (SELECT ${columns.map(q).join(', ')} FROM ${q(this.prefix + table.name)}${where ? ` WHERE ${where}` : ''} ORDER BY ${q(orderColumn(table))}) TO STDOUT`;
  }

  async listTables(): Promise<string[]> {
    const rows = await this.query<{ tbl: string }>(
      `SELECT c.relname AS tbl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND left(c.relname, $1) = $2`, [this.prefix.length, this.prefix]);
    return rows.map((r) => r.tbl.slice(this.prefix.length));
  }

  /** Names planned by createTable, used for the indexes in finishTable. */
  private readonly planned = new Map<string, TableNames>();
  /** Tables created without their primary key, which {@link finishTable} adds. */
  private readonly withoutPrimaryKey = new Set<string>();

  async createTable(table: XmldbTable, opts: CreateTableOptions = {}): Promise<void> {
    // Queued, then sent with the next statement (the query below, else the DDL's own).
    if (opts.exists !== false) this.defer(dropTableSql('postgres', this.prefix, table.name));
    // Index and constraint names are schema-wide on PostgreSQL: without a plan for the whole run,
    // skip the names already in use, as Moodle's generator does (isNameInUse).
    const names = opts.names ?? planTableNames('postgres', this.prefix, [table], { reserved: await this.objectNames() }).get(table.name);
    if (names) this.planned.set(table.name, names);
    if (opts.names) await this.moveAsideNames(table, opts.names, opts.indexesInUse);
    // A large load gets its primary key after the rows, as pg_restore does (see addPrimaryKeySql).
    if (opts.deferIndexes) this.withoutPrimaryKey.add(table.name);
    else this.withoutPrimaryKey.delete(table.name);
    this.defer(createTableSql('postgres', this.prefix, table, { ...(names ? { names } : {}), withoutPrimaryKey: opts.deferIndexes === true }));
    if (!opts.defer) await this.flushQueued();
  }

  /**
   * A planned name may still belong to an index of another table of the restore that is not
   * dropped yet (a target whose names came from a different history): that index is renamed out
   * of the way; its table is replaced later in the same restore. Only an index that existed
   * before the restore can: with those given (`inUse`), other tables cost no query.
   */
  private async moveAsideNames(table: XmldbTable, names: TableNames, inUse: ReadonlyMap<string, string> | undefined): Promise<void> {
    const wanted = [names.primaryKey, ...names.indexes.map((i) => i.name)].filter((n): n is string => Boolean(n));
    const own = this.prefix + table.name;
    if (inUse && !wanted.some((n) => (inUse.get(n) ?? own) !== own)) return;
    const clash = await this.query<{ n: string }>(
      `SELECT i.relname AS n FROM pg_class i JOIN pg_namespace ns ON ns.oid = i.relnamespace
         JOIN pg_index x ON x.indexrelid = i.oid JOIN pg_class t ON t.oid = x.indrelid
        WHERE ns.nspname = current_schema() AND i.relname = ANY($1) AND t.relname <> $2`, [wanted, this.prefix + table.name]);
    for (const c of clash) this.defer(`ALTER INDEX ${q(c.n)} RENAME TO ${q(`${c.n}_old_${Date.now().toString(36)}`)}`);
  }

  /** Names of the relations and constraints in the schema. */
  private async objectNames(): Promise<string[]> {
    const rows = await this.query<{ n: string }>(
      `SELECT c.relname AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = current_schema()
       UNION SELECT k.conname FROM pg_constraint k JOIN pg_namespace ns ON ns.oid = k.connamespace WHERE ns.nspname = current_schema()`);
    return rows.map((r) => r.n);
  }

  async finishTable(table: XmldbTable, nextId = 0, opts: FinishTableOptions = {}): Promise<void> {
    const names = opts.created ? opts.created.names : this.planned.get(table.name);
    this.planned.delete(table.name);
    const withoutPrimaryKey = this.withoutPrimaryKey.delete(table.name);
    // One round trip for the indexes and the sequence (inside the caller's transaction, if any,
    // else one implicit transaction).
    if (opts.created ? opts.created.deferIndexes : withoutPrimaryKey) {
      const pk = addPrimaryKeySql(this.prefix, table, names ? { names } : {});
      if (pk) this.defer(pk);
    }
    for (const sql of createIndexesSql('postgres', this.prefix, table, names ? { names } : {})) this.defer(sql);
    const seq = sequenceField(table);
    if (seq) {
      this.defer(`SELECT ${this.setSequenceSql(table, seq.name, nextId)}`, true);
    }
    if (!opts.defer) await this.flushQueued();
  }

  async dropTable(name: string): Promise<void> {
    await this.execute(dropTableSql('postgres', this.prefix, name));
  }

  async bulkLoad(table: XmldbTable, columns: string[], rows: AsyncIterable<RowValue[]>): Promise<number> {
    // Statements queued in front (the table's BEGIN and CREATE) share the COPY's round trip.
    if (this.queuedRows) await this.flushQueued();
    const sql = this.withQueued(`COPY ${q(this.prefix + table.name)} (${columns.map(q).join(', ')}) FROM STDIN`);
    const sink = this.client.query(copyStreams.from(sql)) as Writable;
    let count = 0;
    async function* lines(): AsyncGenerator<string> {
      let batch = '';
      for await (const row of rows) {
        let line = '';
        for (let i = 0; i < row.length; i++) {
          const v = row[i];
          if (i) line += '\t';
          line += v === null || v === undefined ? '\\N' : typeof v === 'string' ? escapeCopyText(v) : escapeCopyBytea(v);
        }
        batch += `${line}\n`;
        count++;
        // 64 Ki characters per write: below V8's large-object size, so each batch dies young.
        if (batch.length > 64 * 1024) {
          yield batch;
          batch = '';
        }
      }
      if (batch) yield batch;
    }
    try {
      await pipeline(lines(), sink);
    } catch (err) {
      throw new TableTransferError(table.name, `COPY failed: ${(err as Error).message}`, { cause: err });
    }
    return count;
  }

  async loadChunkRows(table: XmldbTable, columns: string[], source: ChunkRowSource): Promise<number> {
    const slots = chunkRowSlots(source.pick, source.binary);
    const into = `${q(this.prefix + table.name)} (${columns.map(q).join(', ')})`;
    let chunks = source.chunks;
    if (source.defer) {
      const it = source.chunks[Symbol.asyncIterator]();
      const first = await it.next();
      const second = first.done ? first : await it.next();
      if (second.done) {
        if (first.done || onOneHeapPage(first.value, table.fields.length)) {
          const out = new TextRows(slots, source.marked, FORM_VALUES);
          if (!first.done) out.addChunk(first.value);
          out.end();
          const values = out.ready[0];
          // The literals are standard strings (a backslash is itself): set again in the same
          // message, as a pooler or an ALTER ROLE … SET may have undone the connect-time SET.
          if (values) this.defer(`SET standard_conforming_strings = on;\nINSERT INTO ${into} VALUES\n${values.toString('utf8')}`);
          return out.rows;
        }
      }
      chunks = (async function* rest(): AsyncGenerator<ChunkFile> {
        try {
          if (!first.done) yield first.value;
          if (!second.done) yield second.value;
          for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
        } finally {
          await it.return?.();
        }
      })();
    }
    // Statements queued in front (the table's BEGIN and CREATE) share the COPY's round trip.
    if (this.queuedRows) await this.flushQueued();
    const sink = this.client.query(copyStreams.from(this.withQueued(`COPY ${into} FROM STDIN`))) as Writable;
    const out = new TextRows(slots, source.marked, FORM_COPY);
    try {
      await pipeline(textPieces(chunks, out), sink);
    } catch (err) {
      throw new TableTransferError(table.name, `COPY failed: ${(err as Error).message}`, { cause: err });
    }
    return out.rows;
  }

  async sequences(tables: XmldbTable[]): Promise<Map<string, number>> {
    const owned = await this.query<{ tbl: string; seq: string }>(
      `SELECT c.relname AS tbl, quote_ident(n.nspname) || '.' || quote_ident(s.relname) AS seq
         FROM pg_class s
         JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         JOIN pg_class c ON c.oid = d.refobjid
         JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE s.relkind = 'S' AND n.nspname = current_schema() AND left(c.relname, $1) = $2`,
      [this.prefix.length, this.prefix]);
    const wanted = new Set(tables.filter((t) => sequenceField(t)).map((t) => t.name));
    const list = owned.filter((r) => wanted.has(r.tbl.slice(this.prefix.length)));
    const out = new Map<string, number>();
    // pg_sequences shows NULL for a sequence set with is_called = false, so read the relations
    // themselves; one UNION ALL query instead of one round trip per table.
    for (let i = 0; i < list.length; i += 200) {
      const part = list.slice(i, i + 200);
      const sql = part.map((r, j) => `SELECT ${j} AS k, last_value, is_called FROM ${r.seq}`).join(' UNION ALL ');
      for (const v of await this.query<{ k: number; last_value: string; is_called: boolean }>(sql)) {
        const r = part[v.k];
        if (r) out.set(r.tbl.slice(this.prefix.length), Number(v.last_value) + (v.is_called ? 1 : 0));
      }
    }
    return out;
  }

  async setSequence(table: XmldbTable, next: number): Promise<void> {
    const seq = sequenceField(table);
    if (!seq) return;
    await this.execute(`SELECT ${this.setSequenceSql(table, seq.name, next)}`);
  }

  /** setval of the table's sequence to at least `next` and past MAX(column), with literals (so it can share a message). */
  private setSequenceSql(table: XmldbTable, column: string, next: number): string {
    const t = q(this.prefix + table.name);
    // A number that is not an integer is refused by ::bigint, as the parameter was.
    const n = pg.escapeLiteral(String(next));
    return `setval(pg_get_serial_sequence(${pg.escapeLiteral(t)}, ${pg.escapeLiteral(column)}), GREATEST(${n}::bigint, COALESCE((SELECT MAX(${q(column)}) FROM ${t}), 0) + 1), false)`;
  }

  async beginSnapshot(): Promise<void> {
    await this.execute('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async endSnapshot(): Promise<void> {
    await this.execute('COMMIT');
  }

  /**
   * The snapshot of this transaction exported (pg_export_snapshot) and imported by each reader
   * (SET TRANSACTION SNAPSHOT as the first statement of its REPEATABLE READ transaction): every
   * connection sees exactly the same data, as pg_dump -j does. A reader that cannot connect (e.g.
   * max_connections reached) is left out.
   */
  async beginSharedSnapshot(readers: number): Promise<DbAdapter[]> {
    await this.beginSnapshot();
    if (readers <= 0) return [];
    const [row] = await this.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    const id = row?.id ?? '';
    const opened = await Promise.all(Array.from({ length: readers }, async () => {
      let a: PostgresAdapter | undefined;
      try {
        a = await PostgresAdapter.connect(this.url, this.prefix);
        await a.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await a.client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(id)}`);
        return a;
      } catch {
        await a?.close().catch(() => undefined);
        return undefined;
      }
    }));
    return opened.filter((a): a is PostgresAdapter => a !== undefined);
  }

  async close(): Promise<void> {
    this.queued = '';
    this.queuedRows = false;
    await this.client.end();
  }
}
