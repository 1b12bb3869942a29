/**
 * MySQL / MariaDB adapter: introspection from information_schema, rows out with a streaming
 * query, rows in with `LOAD DATA LOCAL INFILE` where the server allows it, else multi-row INSERTs
 * sized below max_allowed_packet, AUTO_INCREMENT sequences.
 */
import { Readable } from 'node:stream';
import mysql from 'mysql2';
import type { Connection } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { createIndexesSql, createTableSql, dropTableSql, quoteIdent, type TableNames } from '../schema/ddl.js';
import type { MysqlIndexInfo } from '../schema/engine-indexes.js';
import { classifyMysqlIndex, mysqlIndexClause } from '../schema/engine-indexes.js';
import type { EngineIndexLogical, XmldbField, XmldbTable } from '../schema/model.js';
import { orderColumn, sequenceField } from '../schema/model.js';
import { encodeBinary } from '../archive/binary-encoding.js';
import { PLAIN_BYTE, phpJsonRow, utf8At, writeJsonAscii, writeJsonCodePoint, writePhpJsonString, type JsonOut } from '../archive/php-json.js';
import type { ChunkFile } from '../archive/table-chunks.js';
import type { ChunkRowSource, CreateTableOptions, DbAdapter, FinishTableOptions, JsonRowSink, RowValue, TableStats } from './adapter.js';
import { normaliseFloat } from './adapter.js';
import { chunkRowBound, chunkRowSlots, chunkRowToMysql, FORM_MYSQL, FORM_TSV, mysqlString, transcodeChunkRow } from './chunk-rows.js';
import { textPieces, TextRows } from './text-rows.js';
import { TableTransferError } from './errors.js';

const q = (s: string): string => quoteIdent('mysql', s);

interface ColumnRow { TABLE_NAME: string; COLUMN_NAME: string; DATA_TYPE: string; CHARACTER_MAXIMUM_LENGTH: number | null;
  NUMERIC_PRECISION: number | null; NUMERIC_SCALE: number | null; IS_NULLABLE: string; COLUMN_DEFAULT: string | null; EXTRA: string }
interface StatRow { TABLE_NAME: string; INDEX_NAME: string; NON_UNIQUE: number | string; COLUMN_NAME: string | null; INDEX_TYPE: string; SUB_PART: number | string | null }

const INT_LENGTH: Record<string, string> = { tinyint: '2', smallint: '4', mediumint: '6', int: '9', integer: '9', bigint: '10' };

function parseDefault(def: string | null, mariadb: boolean, type: XmldbField['type']): string | undefined {
  if (def === null) return undefined;
  if (mariadb) {
    // MariaDB ≥ 10.2.7 reports defaults as SQL expressions: NULL, quoted strings, numbers.
    if (def === 'NULL') return undefined;
    const m = /^'((?:[^'\\]|''|\\.)*)'$/s.exec(def);
    if (m) return (m[1] ?? '').replace(/''/g, "'").replace(/\\(.)/g, '$1');
    return def;
  }
  return type === 'text' || type === 'binary' ? undefined : def;
}

function fieldFromColumn(c: ColumnRow, mariadb: boolean): XmldbField {
  const f: XmldbField = { name: c.COLUMN_NAME, type: 'text', notnull: c.IS_NULLABLE === 'NO', sequence: /auto_increment/i.test(c.EXTRA) };
  const dt = c.DATA_TYPE.toLowerCase();
  if (INT_LENGTH[dt]) Object.assign(f, { type: 'int', length: INT_LENGTH[dt] });
  else if (dt === 'decimal') Object.assign(f, { type: 'number', length: String(c.NUMERIC_PRECISION), decimals: String(c.NUMERIC_SCALE) });
  // Spec §2.1: MySQL double length is capped at 20.
  // FLOAT(M,D) is what Moodle makes of a float with fewer than 6 decimals: keep M and D.
  else if (dt === 'float' && c.NUMERIC_SCALE !== null && c.NUMERIC_PRECISION !== null) Object.assign(f, { type: 'float', length: String(c.NUMERIC_PRECISION), decimals: String(c.NUMERIC_SCALE) });
  else if (dt === 'double' || dt === 'float') Object.assign(f, { type: 'float', length: '20', decimals: '8' });
  else if (dt === 'varchar' || dt === 'char') Object.assign(f, { type: 'char', length: String(c.CHARACTER_MAXIMUM_LENGTH) });
  else if (/blob|binary/.test(dt)) f.type = 'binary';
  else if (/date|time/.test(dt)) f.type = 'datetime';
  else f.type = 'text';
  if (!f.sequence) {
    const d = parseDefault(c.COLUMN_DEFAULT, mariadb, f.type);
    if (d !== undefined && f.type !== 'text' && f.type !== 'binary') f.default = d;
  }
  return f;
}

/** Moodle's collation detection when config.php sets none (mysqli_native_moodle_database::detect_collation). */
async function detectCollation(conn: PromiseConnection, prefix: string): Promise<string> {
  const [cfg] = (await conn.query(
    "SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'value'", [`${prefix}config`])) as unknown as [{ c: string | null }[]];
  const fromConfig = cfg[0]?.c;
  if (fromConfig) return fromConfig;
  const [[db]] = (await conn.query('SELECT @@collation_database AS c')) as unknown as [[{ c: string }]];
  if (/^utf8(mb4)?_/.test(db.c)) return db.c;
  const [rows] = (await conn.query("SHOW COLLATION WHERE Collation LIKE 'utf8mb4\\_%' AND Charset = 'utf8mb4'")) as unknown as [{ Collation: string; Default: string }[]];
  return rows.find((r) => r.Default.toUpperCase() === 'YES')?.Collation ?? rows.at(-1)?.Collation ?? 'utf8mb4_unicode_ci';
}

/**
 * The ROW_FORMAT Moodle gives utf8mb4 tables (mysqli_native_moodle_database::get_row_format_sql):
 * Compressed when InnoDB has file-per-table and the Barracuda format (always, since MySQL 8.0
 * and MariaDB 10.3.1), else Dynamic.
 */
async function moodleRowFormat(conn: PromiseConnection, engine: 'mysql' | 'mariadb', version: string): Promise<string> {
  const [[v]] = (await conn.query('SELECT @@innodb_file_per_table AS f')) as unknown as [[{ f: number | string }]];
  if (!(Number(v.f) === 1 || String(v.f).toUpperCase() === 'ON')) return 'Dynamic';
  const [maj = 0, min = 0, patch = 0] = version.split(/[.-]/).map(Number);
  const n = maj * 10000 + min * 100 + patch;
  const barracudaOnly = engine === 'mariadb' ? n >= 100301 : n >= 80000;
  if (barracudaOnly) return 'Compressed';
  const [[ff]] = (await conn.query('SELECT @@innodb_file_format AS f').catch(() => [[{ f: '' }]])) as unknown as [[{ f: string }]];
  return ff.f === 'Barracuda' ? 'Compressed' : 'Dynamic';
}

type Kind = 'plain' | 'float' | 'binary';

/** How {@link mysqlRowToPhpJson} writes a column's bytes from the text protocol. */
const enum Wire {
  /** UTF-8 text (strings, and the numbers, decimals and dates mysql2 hands over as sent). */
  Text,
  /** An INT other than BIGINT: mysql2 makes it a number, the export its decimal string. */
  Int,
  /** A float column: normaliseFloat of the text. */
  Float,
  /** Bytes of a binary column: encodeBinary. */
  Binary,
}

/** Column metadata mysql2 gives a query's 'fields' listeners. */
interface WireField { columnType: number; characterSet: number; encoding: string; extendedFormat?: string }

/** mysql2's column type codes. */
const T = mysql.Types;
/** Types mysql2 hands over as the text sent (bigNumberStrings, decimalNumbers false, dateStrings). */
const AS_SENT = new Set<number>([T.LONGLONG, T.DECIMAL, T.NEWDECIMAL, T.TIMESTAMP, T.DATE, T.TIME, T.DATETIME]);
const BINARY_CHARSET = 63;

/**
 * How each column of a result goes to JSON bytes, mirroring what readRows (mysql2's text parser
 * with the adapter's options, then its conversions) makes of it; undefined when a column is one
 * the byte path does not handle (JSON, geometry, a text column in another character set): the
 * rows then go through mysql2's parser.
 */
function wireKinds(fields: WireField[], kinds: Kind[]): Uint8Array | undefined {
  const out = new Uint8Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as WireField;
    const t = f.columnType;
    if (f.extendedFormat === 'json' || t === T.JSON || t === T.GEOMETRY || t === T.VECTOR || t === T.NULL) return undefined;
    if (t === T.TINY || t === T.SHORT || t === T.LONG || t === T.INT24 || t === T.YEAR) out[i] = kinds[i] === 'float' ? Wire.Float : Wire.Int;
    else if (t === T.FLOAT || t === T.DOUBLE) out[i] = kinds[i] === 'float' ? Wire.Float : Wire.Int;
    else if (AS_SENT.has(t)) out[i] = kinds[i] === 'float' ? Wire.Float : Wire.Text;
    else if (f.characterSet === BINARY_CHARSET) out[i] = kinds[i] === 'binary' ? Wire.Binary : Wire.Text;
    else if (f.encoding === 'utf8') out[i] = kinds[i] === 'float' ? Wire.Float : Wire.Text;
    else return undefined;
  }
  return out;
}

/** Reads the length-encoded integer at `o`: value × 16 + its size in bytes; -1 for NULL (0xfb). */
function lengthAt(b: Buffer, o: number): number {
  const x = b[o] as number;
  if (x < 0xfb) return x * 16 + 1;
  if (x === 0xfb) return -1;
  if (x === 0xfc) return (b.readUInt16LE(o + 1)) * 16 + 3;
  if (x === 0xfd) return (b.readUIntLE(o + 1, 3)) * 16 + 4;
  return Number(b.readBigUInt64LE(o + 1)) * 16 + 9;
}

/** Upper bound of the JSON {@link mysqlRowToPhpJson} writes for a row packet of `bytes` bytes. */
export const mysqlJsonBound = (bytes: number, columns: number): number => 6 * bytes + 3 * columns + 2;

/** Whether bytes s–e are a decimal integer as JavaScript's String(Number) writes it. */
function canonicalInt(b: Buffer, s: number, e: number): boolean {
  let i = s;
  if (b[i] === 0x2d) i++;
  if (i >= e || (b[i] === 0x30 && (e - i > 1 || i > s))) return false;
  for (; i < e; i++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x39) return false;
  }
  return e - s < 16;
}

/**
 * Writes one text-protocol row (the packet's payload, bytes `s`–`e` of `src`) as the chunk-file
 * JSON array of its values at `out.len` (room for {@link mysqlJsonBound} bytes), byte for byte
 * what phpJsonRow gives for the values readRows and the export make of it, without a string per
 * value: text is escaped like PHP's json_encode while its bytes are copied; floats, binary values,
 * non-canonical integers and invalid UTF-8 take the string path.
 */
export function mysqlRowToPhpJson(src: Buffer, s: number, e: number, wire: Uint8Array, out: JsonOut): void {
  let d = out.buf;
  let o = out.len;
  let p = s;
  d[o++] = 0x5b;
  const n = wire.length;
  for (let col = 0; col < n; col++) {
    if (col) d[o++] = 0x2c;
    const l = lengthAt(src, p);
    if (l < 0) {
      d[o++] = 0x6e; d[o++] = 0x75; d[o++] = 0x6c; d[o++] = 0x6c;
      p++;
      continue;
    }
    const fs = p + (l & 15);
    const fe = fs + Math.floor(l / 16);
    if (fe > e) throw new Error('MySQL row packet shorter than its fields');
    p = fe;
    const kind = wire[col] as number;
    if (kind === Wire.Text || (kind === Wire.Int && canonicalInt(src, fs, fe))) {
      let ok = true;
      let q = o;
      d[q++] = 0x22;
      for (let i = fs; i < fe;) {
        const b = src[i] as number;
        if (PLAIN_BYTE[b] === 1) {
          d[q++] = b;
          i++;
          continue;
        }
        if (b < 0x80) {
          q = writeJsonAscii(d, q, b);
          i++;
          continue;
        }
        const u = utf8At(src, i, fe);
        if (u < 0) {
          ok = false;
          break;
        }
        q = writeJsonCodePoint(d, q, u >>> 3);
        i += u & 7;
      }
      if (ok) {
        d[q++] = 0x22;
        o = q;
        continue;
      }
    }
    // The string path, as readRows and the export convert the value.
    let v: string;
    if (kind === Wire.Binary) v = encodeBinary(src.subarray(fs, fe));
    else {
      const text = src.toString('utf8', fs, fe);
      v = kind === Wire.Float ? normaliseFloat(text) : kind === Wire.Int ? String(Number(text)) : text;
    }
    out.len = o;
    writePhpJsonString(out, v);
    out.reserve(mysqlJsonBound(e - p, n - col));
    d = out.buf;
    o = out.len;
  }
  d[o++] = 0x5d;
  out.len = o;
}

/**
 * Bytes of `LOAD DATA` input per packet (mysql2 copies each into a packet buffer of its own, 4
 * bytes longer). At 256 KiB the copies are over the launcher's MALLOC_MMAP_THRESHOLD_ (128 KiB):
 * each gets pages of its own, returned to the system when the garbage collector frees it. At
 * 64 KiB they came from malloc's heap, where the freed ones stayed resident: the memory outside
 * V8's heap and buffers rose from ~50 to 80–88 MB while a restore loaded (whole-site restore at
 * bench scale M, 50 ms samples of `process.memoryUsage()`; 57–60 MB at 256 KiB).
 */
const LOAD_DATA_PACKET_BYTES = 256 * 1024 - 4;

/** `LOAD DATA LOCAL` refused: the server's local_infile is off (MySQL's default). */
const ER_NOT_ALLOWED_COMMAND = 1148;
/** `LOAD DATA LOCAL` refused by MySQL 8's client capability check. */
const ER_LOAD_INFILE_CAPABILITY_DISABLED = 3948;

/** Target size of one multi-row INSERT of {@link MysqlAdapter.bulkLoad} and {@link MysqlAdapter.loadChunkRows}. */
export const INSERT_STATEMENT_BYTES = 96 * 1024;

/**
 * The rows of a table's chunk files as multi-row `INSERT … VALUES` statements of up to `limit`
 * bytes (one row alone may be longer), transcoded from the chunks' JSON bytes (chunk-rows.ts)
 * into one buffer: no JavaScript value per field, one string per statement. Statements are handed
 * out one at a time ({@link next}), so that each is sent as soon as it is full and none waits
 * long enough to reach V8's old generation. A class, not a closure per table, for the reason
 * text-rows.ts TextRows gives.
 */
export class MysqlInserts {
  private buf: Buffer;
  private len: number;
  /** Tuples in the statement being written. */
  private tuples = 0;
  /** The chunk being read, its rows when it has no byte layout (decoded at once), and its next row. */
  private chunk: ChunkFile | undefined;
  private decoded: readonly (readonly unknown[])[] | undefined;
  private row = 0;
  /** A finished statement not handed out yet. */
  private ready: string | undefined;
  rows = 0;

  /** `head`: `INSERT INTO … VALUES `; `slots` as {@link transcodeChunkRow} takes them; `marked`: binary values may be marked base64. */
  constructor(private readonly head: Buffer, private readonly limit: number, private readonly slots: Uint8Array, private readonly marked: boolean) {
    this.buf = Buffer.allocUnsafe(Math.max(limit, head.length) + 4096);
    this.len = head.copy(this.buf);
  }

  /** Starts reading a chunk: its rows are written by {@link next}. */
  addChunk(chunk: ChunkFile): void {
    this.chunk = chunk;
    this.decoded = chunk.raw ? undefined : [...chunk.rows()];
    this.row = 0;
  }

  /**
   * Writes the chunk's rows until a statement is full and returns it; undefined once every row
   * is written (the statement being written then waits for the next chunk or {@link end}).
   */
  next(): string | undefined {
    const chunk = this.chunk;
    if (!chunk) return undefined;
    const raw = chunk.raw;
    const columns = this.slots.length;
    while (this.ready === undefined && this.row < chunk.count) {
      const r = this.row++;
      if (!raw) {
        this.addTuple(chunkRowToMysql(this.decoded?.[r] ?? [], this.slots, this.marked));
        continue;
      }
      const s = raw.spans[2 * r] as number;
      const e = raw.spans[2 * r + 1] as number;
      this.room(chunkRowBound(e - s, columns) + 1);
      const at = this.len;
      if (this.tuples) this.buf[this.len++] = 0x2c;
      const n = transcodeChunkRow(raw.data, s, e, this.slots, FORM_MYSQL, this.buf, this.len);
      this.len = at;
      if (n >= 0) this.placed(at, n);
      else this.addTuple(chunkRowToMysql(raw.row(r), this.slots, this.marked));
    }
    if (this.row >= chunk.count) {
      this.chunk = undefined;
      this.decoded = undefined;
    }
    const sql = this.ready;
    this.ready = undefined;
    return sql;
  }

  /** The last statement, once every chunk is read; undefined when it holds no row. */
  end(): string | undefined {
    if (!this.tuples) return undefined;
    const sql = this.buf.toString('utf8', 0, this.len);
    this.len = this.head.length;
    this.tuples = 0;
    return sql;
  }

  /** A tuple from the string path. */
  private addTuple(tuple: string): void {
    const bytes = Buffer.from(tuple);
    this.room(bytes.length + 1);
    const at = this.len;
    let o = at;
    if (this.tuples) this.buf[o++] = 0x2c;
    o += bytes.copy(this.buf, o);
    this.placed(at, o);
  }

  /**
   * The tuple written at `at`–`end` (its comma first, unless the statement had none) stays in
   * the statement, or, when it would take the statement past the limit, starts the next one.
   */
  private placed(at: number, end: number): void {
    if (this.tuples && end > this.limit) {
      this.ready = this.buf.toString('utf8', 0, at);
      this.len = this.head.length + this.buf.copy(this.buf, this.head.length, at + 1, end);
      this.tuples = 1;
    } else {
      this.len = end;
      this.tuples++;
    }
    this.rows++;
  }

  /** Room for `n` more bytes. */
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.len + n, 2 * this.buf.length));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}

/** Adapter over one mysql2 connection. */
export class MysqlAdapter implements DbAdapter {
  readonly family = 'mysql' as const;
  private maxPacket = 4 * 1024 * 1024;
  /** The server takes `LOAD DATA LOCAL INFILE` (its `local_infile`; MariaDB's default is on). */
  private localInfile = false;

  /**
   * Loading connections: four for INSERTs; three with `LOAD DATA`, which streams each table
   * faster, so that four at once raised a whole-site restore's peak RSS at bench scale M from
   * 138 to 153–159 MB (three: 144.6 MB in 54.1 s, INSERTs over four 64.5 s).
   */
  get loadConnections(): number {
    return this.localInfile ? 3 : 4;
  }
  /** The URL connected to (more connections for an export's readers). */
  private url = '';

  private constructor(
    private readonly raw: Connection,
    private readonly conn: PromiseConnection,
    readonly engine: 'mysql' | 'mariadb',
    readonly prefix: string,
    readonly collation: string,
    /** `ROW_FORMAT` Moodle would give new tables on this server. */
    readonly rowFormat: string,
  ) {}

  /**
   * Connects to `mysql://…` or `mariadb://…`. Tables are created with `?collation=` (config.php's
   * `dboptions['dbcollation']`, or an explicit choice), else the collation Moodle detects
   * (mysqli_native_moodle_database::detect_collation): that of `<prefix>config.value`, else the
   * database default when it is utf8mb4, else the server's default utf8mb4 collation. Detection
   * runs at connect, before a restore changes any table.
   */
  static async connect(url: string, prefix: string): Promise<MysqlAdapter> {
    const u = new URL(url.replace(/^mariadb:/, 'mysql:'));
    const wanted = u.searchParams.get('collation');
    u.searchParams.delete('collation');
    const raw = mysql.createConnection({
      uri: u.toString(),
      charset: 'utf8mb4_general_ci',
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      dateStrings: true,
      multipleStatements: false,
      // No prepared statements are used (query, never execute); mysql2's default cache of 16000
      // preallocates ~0.5 MB of arrays per connection, five connections in a restore.
      maxPreparedStatements: 16,
    });
    const conn = raw.promise();
    const [[v]] = (await conn.query('SELECT VERSION() AS v, @@max_allowed_packet AS p, @@local_infile AS li')) as unknown as [[{ v: string; p: number | string; li: number | string }]];
    const engine = /mariadb/i.test(v.v) ? 'mariadb' : 'mysql';
    // Strict mode so nothing is silently truncated; NO_AUTO_VALUE_ON_ZERO so an id 0 stays 0.
    await conn.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
    await conn.query("SET NAMES utf8mb4");
    const collation = wanted ?? (await detectCollation(conn, prefix));
    const a = new MysqlAdapter(raw, conn, engine, prefix, collation, await moodleRowFormat(conn, engine, v.v));
    a.maxPacket = Number(v.p);
    // VAULT_AGENT_LOAD_DATA=0 loads with INSERTs (a proxy that does not pass LOAD DATA LOCAL on).
    a.localInfile = Number(v.li) === 1 && process.env.VAULT_AGENT_LOAD_DATA !== '0';
    a.url = url;
    return a;
  }

  async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.conn.query(sql, params);
    return rows as T[];
  }

  async execute(sql: string): Promise<void> {
    await this.conn.query(sql);
  }

  private likePrefix(): string {
    return `${this.prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  }

  async introspect(only?: readonly string[]): Promise<XmldbTable[]> {
    // Only the tables named (without prefix), when given.
    const params: unknown[] = [this.likePrefix(), ...(only ? [only.length ? only.map((t) => this.prefix + t) : ['']] : [])];
    const named = only ? ' AND TABLE_NAME IN (?)' : '';
    const tablesRows = await this.query<{ TABLE_NAME: string }>(
      `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ?${named} ORDER BY TABLE_NAME`, params);
    const cols = await this.query<ColumnRow & Record<string, unknown>>(
      `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?${named} ORDER BY TABLE_NAME, ORDINAL_POSITION`, params);
    const stats = await this.query<StatRow & Record<string, unknown>>(
      `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, INDEX_TYPE, SUB_PART FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?${named} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, params);
    const tables = new Map<string, XmldbTable>();
    for (const r of tablesRows) {
      const name = r.TABLE_NAME.slice(this.prefix.length);
      tables.set(name, { name, component: '', fields: [], keys: [], indexes: [] });
    }
    const mariadb = this.engine === 'mariadb';
    for (const c of cols) tables.get(c.TABLE_NAME.slice(this.prefix.length))?.fields.push(fieldFromColumn(c, mariadb));
    const dataTypes = new Map(cols.map((c) => [`${c.TABLE_NAME}\0${c.COLUMN_NAME}`, c.DATA_TYPE]));
    const byIndex = new Map<string, { table: XmldbTable; info: MysqlIndexInfo }>();
    for (const s of stats) {
      const table = tables.get(s.TABLE_NAME.slice(this.prefix.length));
      if (!table) continue;
      const k = `${s.TABLE_NAME}\0${s.INDEX_NAME}`;
      let e = byIndex.get(k);
      if (!e) byIndex.set(k, (e = { table, info: { table: table.name, name: s.INDEX_NAME, unique: Number(s.NON_UNIQUE) === 0, type: s.INDEX_TYPE, parts: [] } }));
      const dataType = s.COLUMN_NAME === null ? '' : dataTypes.get(`${s.TABLE_NAME}\0${s.COLUMN_NAME}`) ?? '';
      e.info.parts.push({ column: s.COLUMN_NAME, subPart: s.SUB_PART === null ? null : Number(s.SUB_PART), dataType });
    }
    const special: { table: XmldbTable; info: MysqlIndexInfo; reasons: string[]; logical?: EngineIndexLogical }[] = [];
    for (const { table, info } of byIndex.values()) {
      if (info.name === 'PRIMARY') {
        table.keys.unshift({ name: 'primary', type: 'primary', fields: info.parts.map((p) => p.column ?? '') });
        continue;
      }
      const c = classifyMysqlIndex(info);
      if (c.kind === 'xmldb') table.indexes.push(c.index);
      else special.push({ table, info, reasons: c.reasons, logical: c.logical });
    }
    // The source's own definition, from SHOW CREATE TABLE (only tables that have such indexes).
    const created = new Map<string, string>();
    for (const e of special) {
      const full = this.prefix + e.table.name;
      let ddl = created.get(full);
      if (ddl === undefined) {
        const [row] = await this.query<{ 'Create Table': string }>(`SHOW CREATE TABLE ${q(full)}`);
        created.set(full, (ddl = row?.['Create Table'] ?? ''));
      }
      const columns = e.info.parts.map((p) => p.column).filter((x): x is string => x !== null);
      (e.table.engineIndexes ??= []).push({
        table: e.table.name, name: e.info.name, engine: this.engine, reason: e.reasons.join(','), unique: e.info.unique, columns,
        ...(e.logical ? { logical: e.logical } : {}), definition: mysqlIndexClause(ddl, e.info.name) ?? '',
      });
    }
    return [...tables.values()];
  }

  async tableStats(): Promise<Map<string, TableStats>> {
    const rows = await this.query<{ TABLE_NAME: string; TABLE_ROWS: number | string | null; DATA_LENGTH: number | string | null }>(
      'SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?', [this.likePrefix()]);
    return new Map(rows.map((r) => [r.TABLE_NAME.slice(this.prefix.length), { rows: Number(r.TABLE_ROWS ?? 0), bytes: Number(r.DATA_LENGTH ?? 0) }]));
  }

  async *readRows(table: XmldbTable, columns: string[], where?: string): AsyncGenerator<RowValue[]> {
    const kinds: Kind[] = columns.map((c) => {
      const t = table.fields.find((f) => f.name === c)?.type;
      return t === 'float' ? 'float' : t === 'binary' ? 'binary' : 'plain';
    });
    const stream = this.raw.query({ sql: this.selectSql(table, columns, where), rowsAsArray: true }).stream({ highWaterMark: 500 });
    try {
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        const row: RowValue[] = new Array<RowValue>(raw.length);
        for (let i = 0; i < raw.length; i++) {
          const v = raw[i];
          if (v === null || v === undefined) row[i] = null;
          else if (Buffer.isBuffer(v)) row[i] = kinds[i] === 'binary' ? v : v.toString('utf8');
          else if (kinds[i] === 'float') row[i] = normaliseFloat(String(v));
          else row[i] = typeof v === 'string' ? v : String(v);
        }
        yield row;
      }
    } catch (err) {
      throw new TableTransferError(table.name, `reading rows failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * readRows written straight into chunk files: mysql2 reads the result set, but each row packet
   * goes to {@link mysqlRowToPhpJson} instead of its row parser (the parser is swapped on the
   * query once mysql2 has built it from the column definitions), so no value becomes a JavaScript
   * string or number. The connection is paused while a full chunk waits for room in the archive.
   */
  async writeJsonRows(table: XmldbTable, columns: string[], where: string | undefined, sink: JsonRowSink): Promise<number> {
    const kinds: Kind[] = columns.map((c) => {
      const t = table.fields.find((f) => f.name === c)?.type;
      return t === 'float' ? 'float' : t === 'binary' ? 'binary' : 'plain';
    });
    const raw = this.raw;
    const query = raw.query({ sql: this.selectSql(table, columns, where), rowsAsArray: true });
    let rows = 0;
    let failure: unknown;
    const waits = new Set<Promise<void>>();
    let wire: Uint8Array | undefined;
    let parser: { next(packet: unknown, fields: WireField[], options: unknown): unknown } | undefined;
    const ncols = columns.length;
    const rowParser = {
      next: (packet: { buffer: Buffer; offset: number; end: number }, fields: WireField[], options: unknown): null => {
        if (failure !== undefined) return null;
        try {
          if (fields.length !== ncols) throw new Error(`result has ${fields.length} columns, expected ${ncols}`);
          const wait = sink.beginRow();
          if (wait) {
            raw.pause();
            waits.add(wait);
            wait.then(() => { waits.delete(wait); raw.resume(); }, (err: unknown) => { failure ??= err; waits.delete(wait); raw.resume(); });
          }
          wire ??= wireKinds(fields, kinds) ?? new Uint8Array(0);
          if (wire.length) {
            const out = sink.rowOut(mysqlJsonBound(packet.end - packet.offset, ncols));
            mysqlRowToPhpJson(packet.buffer, packet.offset, packet.end, wire, out);
            sink.endRow(out);
          } else {
            // Columns the byte path does not handle: mysql2's parser, then what readRows and the export do.
            const values = (parser as NonNullable<typeof parser>).next(packet, fields, options) as unknown[];
            const json = phpJsonRow(values.map((v, i) => (v === null || v === undefined ? null
              : Buffer.isBuffer(v) ? (kinds[i] === 'binary' ? encodeBinary(v) : v.toString('utf8'))
                : kinds[i] === 'float' ? normaliseFloat(String(v)) : typeof v === 'string' ? v : String(v))));
            const out = sink.rowOut(json.length);
            out.len += out.buf.write(json, out.len, 'latin1');
            sink.endRow(out);
          }
          rows++;
        } catch (err) {
          // mysql2 would end the query quietly on an exception here: keep reading, report at the end.
          failure ??= err;
        }
        return null;
      },
    };
    // mysql2 sets `_rowParser` once the column definitions are read and calls its next() per row.
    Object.defineProperty(query, '_rowParser', {
      configurable: true,
      get: () => (parser ? rowParser : undefined),
      set: (p: typeof parser) => { parser = p; },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        query.on('error', reject);
        query.on('end', () => resolve());
      });
      while (waits.size) await Promise.all([...waits]);
      if (failure !== undefined) throw failure;
    } catch (err) {
      throw new TableTransferError(table.name, `reading rows failed: ${(err as Error).message}`, { cause: err });
    }
    return rows;
  }

  private selectSql(table: XmldbTable, columns: string[], where: string | undefined): string {
    return `SELECT ${columns.map(q).join(', ')} FROM ${q(this.prefix + table.name)}${where ? ` WHERE ${where}` : ''} ORDER BY ${q(orderColumn(table))}`;
  }

  async listTables(): Promise<string[]> {
    const rows = await this.query<{ TABLE_NAME: string }>(
      "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ?", [this.likePrefix()]);
    return rows.map((r) => r.TABLE_NAME.slice(this.prefix.length));
  }

  private deferred = new Set<string>();

  /** Names planned by createTable for indexes deferred to finishTable. */
  private readonly planned = new Map<string, TableNames>();

  async createTable(table: XmldbTable, opts: CreateTableOptions = {}): Promise<void> {
    if (opts.exists !== false) await this.conn.query(dropTableSql('mysql', this.prefix, table.name));
    const inline = !opts.deferIndexes;
    if (inline) this.deferred.delete(table.name);
    else this.deferred.add(table.name);
    if (opts.names && !inline) this.planned.set(table.name, opts.names);
    else this.planned.delete(table.name);
    await this.conn.query(createTableSql('mysql', this.prefix, table, {
      collation: this.collation, rowFormat: this.rowFormat, inlineIndexes: inline, autoIncrement: opts.nextId, ...(opts.names ? { names: opts.names } : {}),
    }));
  }

  async finishTable(table: XmldbTable, _nextId = 0, opts: FinishTableOptions = {}): Promise<void> {
    // Small tables got their indexes in CREATE TABLE (one DDL is much cheaper than two);
    // large ones get them now, built once over the loaded rows. AUTO_INCREMENT was declared in
    // CREATE TABLE and InnoDB has moved it past the largest id inserted: max(recorded, MAX+1).
    const names = opts.created ? opts.created.names : this.planned.get(table.name);
    this.planned.delete(table.name);
    const deferred = this.deferred.delete(table.name);
    if (opts.created ? opts.created.deferIndexes : deferred) await this.createIndexes(table, names);
  }

  /** Index DDL for an existing table (one ALTER, one table pass). */
  async createIndexes(table: XmldbTable, names?: TableNames): Promise<void> {
    const stmts = createIndexesSql('mysql', this.prefix, table, names ? { names } : {});
    if (!stmts.length) return;
    const adds = stmts.map((s) => s.replace(/^CREATE (UNIQUE )?INDEX (`(?:[^`]|``)+`) ON `(?:[^`]|``)+` /, (_m, u: string | undefined, n: string) => `ADD ${u ? 'UNIQUE ' : ''}INDEX ${n} `));
    await this.conn.query(`ALTER TABLE ${q(this.prefix + table.name)} ${adds.join(', ')}`);
  }

  async dropTable(name: string): Promise<void> {
    await this.conn.query(dropTableSql('mysql', this.prefix, name));
  }

  /** Bytes of one multi-row INSERT: {@link INSERT_STATEMENT_BYTES}, within max_allowed_packet. */
  private insertLimit(): number {
    return Math.max(16 * 1024, Math.min(this.maxPacket - 64 * 1024, INSERT_STATEMENT_BYTES));
  }

  /**
   * Runs `load` in one transaction with foreign key and unique checks off, rolled back on failure
   * (which names the table). Resolves to what `load` gives: the rows inserted.
   */
  private async loadTransaction(table: XmldbTable, load: () => Promise<number>): Promise<number> {
    await this.conn.query('SET foreign_key_checks = 0, unique_checks = 0, sql_notes = 0');
    await this.conn.query('START TRANSACTION');
    let failed = false;
    try {
      const count = await load();
      await this.conn.query('COMMIT');
      return count;
    } catch (err) {
      failed = true;
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw new TableTransferError(table.name, `loading rows failed: ${(err as Error).message.slice(0, 500)}`, { cause: err });
    } finally {
      // After a failure (a lost connection, say) the table's error is the one reported.
      const checksOn = this.conn.query('SET foreign_key_checks = 1, unique_checks = 1, sql_notes = 1');
      if (failed) await checksOn.catch(() => undefined);
      else await checksOn;
    }
  }

  async bulkLoad(table: XmldbTable, columns: string[], rows: AsyncIterable<RowValue[]>): Promise<number> {
    const head = `INSERT INTO ${q(this.prefix + table.name)} (${columns.map(q).join(', ')}) VALUES `;
    // Statements of ~96 KiB (always under max_allowed_packet, which bounds the whole statement):
    // the text stays below V8's large-object size (128 KiB) and lives a few ms, so it dies in the
    // young generation. 2 MiB statements, built over thousands of rows and alive during their round
    // trip, were promoted to the old generation and, 4 connections at once, held ~60 MB of dead
    // strings until a full collection; per-statement overhead at this size is not measurable.
    const limit = this.insertLimit();
    return this.loadTransaction(table, async () => {
      let sql = '';
      let bytes = 0;
      let count = 0;
      const flush = async (): Promise<void> => {
        if (!sql) return;
        await this.conn.query(head + sql);
        sql = '';
        bytes = 0;
      };
      for await (const row of rows) {
        let tuple = '(';
        for (let i = 0; i < row.length; i++) {
          const v = row[i];
          if (i) tuple += ',';
          tuple += v === null || v === undefined ? 'NULL' : typeof v === 'string' ? mysqlString(v) : `X'${v.toString('hex')}'`;
        }
        tuple += ')';
        // Length in UTF-16 units ≤ bytes ≤ 4× units; use the byte length for the bound.
        const len = Buffer.byteLength(tuple);
        if (bytes && bytes + len + head.length > limit) await flush();
        sql += bytes ? `,${tuple}` : tuple;
        bytes += len + 1;
        count++;
      }
      await flush();
      return count;
    });
  }

  /**
   * {@link bulkLoad} of chunk-file rows, transcoded from their JSON bytes: with `LOAD DATA LOCAL
   * INFILE` where the server allows it (about half the server's CPU of the same rows as INSERTs,
   * measured on MariaDB 10.11), else as multi-row INSERTs ({@link MysqlInserts}).
   */
  async loadChunkRows(table: XmldbTable, columns: string[], source: ChunkRowSource): Promise<number> {
    if (this.localInfile) {
      let started = false;
      try {
        return await this.loadTransaction(table, () => this.loadDataInfile(table, columns, source, () => { started = true; }));
      } catch (err) {
        // Refused before a row was read (local_infile turned off since connecting, a proxy in
        // between): the INSERTs below read the chunks from the start.
        const errno = (err as { cause?: { errno?: number } }).cause?.errno;
        if (started || (errno !== ER_NOT_ALLOWED_COMMAND && errno !== ER_LOAD_INFILE_CAPABILITY_DISABLED)) throw err;
        this.localInfile = false;
      }
    }
    const head = Buffer.from(`INSERT INTO ${q(this.prefix + table.name)} (${columns.map(q).join(', ')}) VALUES `);
    const out = new MysqlInserts(head, this.insertLimit(), chunkRowSlots(source.pick, source.binary), source.marked);
    return this.loadTransaction(table, async () => {
      let running: Promise<unknown> = Promise.resolve();
      const send = async (sql: string): Promise<void> => {
        await running;
        running = this.conn.query(sql);
        // Awaited before the next statement or at the end; never an unhandled rejection meanwhile.
        running.catch(() => undefined);
      };
      for await (const chunk of source.chunks) {
        out.addChunk(chunk);
        for (let sql = out.next(); sql !== undefined; sql = out.next()) await send(sql);
      }
      const last = out.end();
      if (last !== undefined) await send(last);
      await running;
      return out.rows;
    });
  }

  /**
   * One `LOAD DATA LOCAL INFILE` of the table's rows as lines in the statement's default format
   * (chunk-rows.ts FORM_TSV), binary columns through `UNHEX`. With LOCAL the server turns data
   * errors into warnings and skips duplicate keys (it cannot stop the client mid-file): any
   * warning, or a row count other than the rows sent, fails the table instead. (Galera before
   * MariaDB 10.4.2 committed LOAD DATA every 10 000 rows by default, `wsrep_load_data_splitting`:
   * a failed table is then dropped with the staging area, not rolled back.)
   */
  private async loadDataInfile(table: XmldbTable, columns: string[], source: ChunkRowSource, started: () => void): Promise<number> {
    const out = new TextRows(chunkRowSlots(source.pick, source.binary), source.marked, FORM_TSV);
    const targets = columns.map((c, j) => (source.binary[j] ? `@b${j}` : q(c)));
    const sets = columns.flatMap((c, j) => (source.binary[j] ? [`${q(c)} = UNHEX(@b${j})`] : []));
    const sql = `LOAD DATA LOCAL INFILE 'vault-agent-rows' INTO TABLE ${q(this.prefix + table.name)} CHARACTER SET utf8mb4 (${targets.join(', ')})${sets.length ? ` SET ${sets.join(', ')}` : ''}`;
    // A packet of the file may not exceed max_allowed_packet (a line may span packets).
    const limit = Math.max(1024, Math.min(LOAD_DATA_PACKET_BYTES, this.maxPacket - 1024));
    async function* packets(): AsyncGenerator<Buffer> {
      started();
      for await (const piece of textPieces(source.chunks, out)) {
        for (let at = 0; at < piece.length; at += limit) yield piece.subarray(at, Math.min(piece.length, at + limit));
      }
    }
    // mysql2 pauses and resumes the file with the socket, but leaves it alone when the query fails
    // (a lost connection): destroyed here then, so the chunk reading behind it stops and closes.
    let file: Readable | undefined;
    let res: { affectedRows: number; warningStatus: number };
    try {
      [res] = (await this.conn.query({
        sql,
        infileStreamFactory: () => {
          file = Readable.from(packets(), { objectMode: false });
          // An error of the rows reaches the query (mysql2 listens too); never unhandled after it.
          file.on('error', () => undefined);
          return file;
        },
      })) as unknown as [{ affectedRows: number; warningStatus: number }];
    } finally {
      if (file && !file.readableEnded) file.destroy();
    }
    // Notes (sql_notes is off while a table loads) are not counted: as with INSERTs, a value
    // rounded to its column's decimals loads.
    if (res.warningStatus > 0) {
      const [warnings] = (await this.conn.query('SHOW WARNINGS LIMIT 3')) as unknown as [{ Level: string; Code: number; Message: string }[]];
      throw new Error(`LOAD DATA: ${res.warningStatus} warning(s): ${warnings.map((w) => `${w.Level} ${w.Code}: ${w.Message}`).join('; ')}`);
    }
    if (res.affectedRows !== out.rows) throw new Error(`LOAD DATA: ${res.affectedRows} of ${out.rows} rows loaded`);
    return out.rows;
  }

  async sequences(tables: XmldbTable[]): Promise<Map<string, number>> {
    // MySQL 8 caches information_schema statistics; MariaDB has no such variable.
    if (this.engine === 'mysql') await this.conn.query('SET SESSION information_schema_stats_expiry = 0');
    const rows = await this.query<{ TABLE_NAME: string; AUTO_INCREMENT: number | string | null }>(
      'SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?', [this.likePrefix()]);
    const wanted = new Set(tables.filter((t) => sequenceField(t)).map((t) => t.name));
    const out = new Map<string, number>();
    for (const r of rows) {
      const name = r.TABLE_NAME.slice(this.prefix.length);
      if (wanted.has(name) && r.AUTO_INCREMENT !== null && Number(r.AUTO_INCREMENT) > 0) out.set(name, Number(r.AUTO_INCREMENT));
    }
    return out;
  }

  async setSequence(table: XmldbTable, next: number): Promise<void> {
    const seq = sequenceField(table);
    if (!seq) return;
    const t = q(this.prefix + table.name);
    const [[m]] = (await this.conn.query(`SELECT MAX(${q(seq.name)}) AS m FROM ${t}`)) as unknown as [[{ m: string | number | null }]];
    const n = Math.max(next, Number(m.m ?? 0) + 1, 1);
    await this.conn.query(`ALTER TABLE ${t} AUTO_INCREMENT = ${n}`);
  }

  async beginSnapshot(): Promise<void> {
    await this.conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  }

  async endSnapshot(): Promise<void> {
    await this.conn.query('COMMIT');
  }

  /**
   * Snapshots that see the same data on this connection and `readers` more, the way mydumper
   * makes them: while one more connection holds commits back — MariaDB's `BACKUP STAGE
   * BLOCK_COMMIT` (writes go on, only their commits wait), MySQL's `FLUSH TABLES WITH READ LOCK` —
   * every connection starts its consistent-snapshot transaction, then the lock is let go (a few
   * milliseconds). No commit can fall between two of the snapshots, so all see the same
   * committed state. Both need the RELOAD privilege; without it (or when the lock is not granted
   * within 5 s, e.g. behind a long statement on MySQL), or on any other failure, only this
   * connection's snapshot is started and no readers are returned.
   */
  async beginSharedSnapshot(readers: number): Promise<DbAdapter[]> {
    if (readers <= 0 || !this.url) {
      await this.beginSnapshot();
      return [];
    }
    const opened = await Promise.all(Array.from({ length: readers + 1 }, () => MysqlAdapter.connect(this.url, this.prefix).catch(() => undefined)));
    const conns = opened.filter((a): a is MysqlAdapter => a !== undefined);
    const lock = conns.pop();
    const closeAll = (list: MysqlAdapter[]): Promise<unknown> => Promise.all(list.map((a) => a.close().catch(() => undefined)));
    let locked = false;
    try {
      if (!lock || conns.length === 0) throw new Error('no connections for readers');
      await lock.conn.query('SET SESSION lock_wait_timeout = 5');
      if (this.engine === 'mariadb') {
        await lock.conn.query('BACKUP STAGE START');
        locked = true;
        await lock.conn.query('BACKUP STAGE BLOCK_COMMIT');
      } else {
        await lock.conn.query('FLUSH TABLES WITH READ LOCK');
        locked = true;
      }
      await Promise.all([this, ...conns].map((a) => a.beginSnapshot()));
      await lock.conn.query(this.engine === 'mariadb' ? 'BACKUP STAGE END' : 'UNLOCK TABLES');
      locked = false;
      return conns;
    } catch {
      if (locked) await lock?.conn.query(this.engine === 'mariadb' ? 'BACKUP STAGE END' : 'UNLOCK TABLES').catch(() => undefined);
      await closeAll(conns);
      // This connection may have started its snapshot before the failure: start it afresh.
      await this.conn.query('ROLLBACK').catch(() => undefined);
      await this.beginSnapshot();
      return [];
    } finally {
      await lock?.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.conn.end();
  }
}

