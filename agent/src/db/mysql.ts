/**
 * MySQL / MariaDB adapter: introspection from information_schema, rows out with a streaming
 * query, rows in with multi-row INSERTs sized below max_allowed_packet, AUTO_INCREMENT sequences.
 */
import mysql from 'mysql2';
import type { Connection } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { createIndexesSql, createTableSql, dropTableSql, quoteIdent } from '../schema/ddl.js';
import type { XmldbField, XmldbTable } from '../schema/model.js';
import { orderColumn, sequenceField } from '../schema/model.js';
import type { CreateTableOptions, DbAdapter, RowValue, TableStats } from './adapter.js';
import { normaliseFloat } from './adapter.js';
import { TableTransferError } from './errors.js';

const q = (s: string): string => quoteIdent('mysql', s);

interface ColumnRow { TABLE_NAME: string; COLUMN_NAME: string; DATA_TYPE: string; CHARACTER_MAXIMUM_LENGTH: number | null;
  NUMERIC_PRECISION: number | null; NUMERIC_SCALE: number | null; IS_NULLABLE: string; COLUMN_DEFAULT: string | null; EXTRA: string }
interface StatRow { TABLE_NAME: string; INDEX_NAME: string; NON_UNIQUE: number | string; COLUMN_NAME: string }

const INT_LENGTH: Record<string, string> = { tinyint: '2', smallint: '4', mediumint: '6', int: '9', integer: '9', bigint: '10' };

/** Escapes a string as a single-quoted MySQL literal (default sql_mode: backslash escapes on). */
export function mysqlString(s: string): string {
  // eslint-disable-next-line no-control-regex -- these control characters are exactly what MySQL needs escaped
  return `'${s.replace(/[\0\n\r\b\t\\'"\x1a]/g, (c) => {
    switch (c) {
      case '\0': return '\\0';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\b': return '\\b';
      case '\t': return '\\t';
      case '\x1a': return '\\Z';
      default: return `\\${c}`;
    }
  })}'`;
}

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

type Kind = 'plain' | 'float' | 'binary';

/** Target size of one multi-row INSERT of {@link MysqlAdapter.bulkLoad}. */
export const INSERT_STATEMENT_BYTES = 96 * 1024;

/** Adapter over one mysql2 connection. */
export class MysqlAdapter implements DbAdapter {
  readonly family = 'mysql' as const;
  private maxPacket = 4 * 1024 * 1024;

  private constructor(
    private readonly raw: Connection,
    private readonly conn: PromiseConnection,
    readonly engine: 'mysql' | 'mariadb',
    readonly prefix: string,
    private readonly collation: string,
  ) {}

  /** Connects to `mysql://…` or `mariadb://…`; `?collation=` overrides the table collation. */
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
    });
    const conn = raw.promise();
    const [[v]] = (await conn.query('SELECT VERSION() AS v, @@max_allowed_packet AS p')) as unknown as [[{ v: string; p: number | string }]];
    const engine = /mariadb/i.test(v.v) ? 'mariadb' : 'mysql';
    // Strict mode so nothing is silently truncated; NO_AUTO_VALUE_ON_ZERO so an id 0 stays 0.
    await conn.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
    await conn.query("SET NAMES utf8mb4");
    // Binary, no-pad collations keep every distinct string distinct (case, accents, trailing
    // spaces, emoji), so data from PostgreSQL never collides in a unique index.
    const collation = wanted ?? (engine === 'mariadb' ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin');
    const a = new MysqlAdapter(raw, conn, engine, prefix, collation);
    a.maxPacket = Number(v.p);
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

  async introspect(): Promise<XmldbTable[]> {
    const like = this.likePrefix();
    const tablesRows = await this.query<{ TABLE_NAME: string }>(
      "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ? ORDER BY TABLE_NAME", [like]);
    const cols = await this.query<ColumnRow & Record<string, unknown>>(
      `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? ORDER BY TABLE_NAME, ORDINAL_POSITION`, [like]);
    const stats = await this.query<StatRow & Record<string, unknown>>(
      `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, [like]);
    const tables = new Map<string, XmldbTable>();
    for (const r of tablesRows) {
      const name = r.TABLE_NAME.slice(this.prefix.length);
      tables.set(name, { name, component: '', fields: [], keys: [], indexes: [] });
    }
    const mariadb = this.engine === 'mariadb';
    for (const c of cols) tables.get(c.TABLE_NAME.slice(this.prefix.length))?.fields.push(fieldFromColumn(c, mariadb));
    const byIndex = new Map<string, { table: XmldbTable; name: string; unique: boolean; fields: string[] }>();
    for (const s of stats) {
      const table = tables.get(s.TABLE_NAME.slice(this.prefix.length));
      if (!table) continue;
      const k = `${s.TABLE_NAME}\0${s.INDEX_NAME}`;
      let e = byIndex.get(k);
      if (!e) byIndex.set(k, (e = { table, name: s.INDEX_NAME, unique: Number(s.NON_UNIQUE) === 0, fields: [] }));
      e.fields.push(s.COLUMN_NAME);
    }
    for (const e of byIndex.values()) {
      if (e.name === 'PRIMARY') e.table.keys.unshift({ name: 'primary', type: 'primary', fields: e.fields });
      else e.table.indexes.push({ name: e.name, unique: e.unique, fields: e.fields });
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
    const sql = `SELECT ${columns.map(q).join(', ')} FROM ${q(this.prefix + table.name)}${where ? ` WHERE ${where}` : ''} ORDER BY ${q(orderColumn(table))}`;
    const stream = this.raw.query({ sql, rowsAsArray: true }).stream({ highWaterMark: 500 });
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

  async listTables(): Promise<string[]> {
    const rows = await this.query<{ TABLE_NAME: string }>(
      "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ?", [this.likePrefix()]);
    return rows.map((r) => r.TABLE_NAME.slice(this.prefix.length));
  }

  private deferred = new Set<string>();

  async createTable(table: XmldbTable, opts: CreateTableOptions = {}): Promise<void> {
    if (opts.exists !== false) await this.conn.query(dropTableSql('mysql', this.prefix, table.name));
    const inline = !opts.deferIndexes;
    if (inline) this.deferred.delete(table.name);
    else this.deferred.add(table.name);
    await this.conn.query(createTableSql('mysql', this.prefix, table, { collation: this.collation, inlineIndexes: inline, autoIncrement: opts.nextId }));
  }

  async finishTable(table: XmldbTable): Promise<void> {
    // Small tables got their indexes in CREATE TABLE (one DDL is much cheaper than two);
    // large ones get them now, built once over the loaded rows. AUTO_INCREMENT was declared in
    // CREATE TABLE and InnoDB has moved it past the largest id inserted: max(recorded, MAX+1).
    if (this.deferred.delete(table.name)) await this.createIndexes(table);
  }

  /** Index DDL for an existing table (one ALTER, one table pass). */
  async createIndexes(table: XmldbTable): Promise<void> {
    const stmts = createIndexesSql('mysql', this.prefix, table);
    if (!stmts.length) return;
    const adds = stmts.map((s) => s.replace(/^CREATE (UNIQUE )?INDEX (`(?:[^`]|``)+`) ON `(?:[^`]|``)+` /, (_m, u: string | undefined, n: string) => `ADD ${u ? 'UNIQUE ' : ''}INDEX ${n} `));
    await this.conn.query(`ALTER TABLE ${q(this.prefix + table.name)} ${adds.join(', ')}`);
  }

  async dropTable(name: string): Promise<void> {
    await this.conn.query(dropTableSql('mysql', this.prefix, name));
  }

  async bulkLoad(table: XmldbTable, columns: string[], rows: AsyncIterable<RowValue[]>): Promise<number> {
    const head = `INSERT INTO ${q(this.prefix + table.name)} (${columns.map(q).join(', ')}) VALUES `;
    // Statements of ~96 KiB (always under max_allowed_packet, which bounds the whole statement):
    // the text stays below V8's large-object size (128 KiB) and lives a few ms, so it dies in the
    // young generation. 2 MiB statements, built over thousands of rows and alive during their round
    // trip, were promoted to the old generation and, 4 connections at once, held ~60 MB of dead
    // strings until a full collection; per-statement overhead at this size is not measurable.
    const limit = Math.max(16 * 1024, Math.min(this.maxPacket - 64 * 1024, INSERT_STATEMENT_BYTES));
    let sql = '';
    let bytes = 0;
    let count = 0;
    const flush = async (): Promise<void> => {
      if (!sql) return;
      await this.conn.query(head + sql);
      sql = '';
      bytes = 0;
    };
    await this.conn.query('SET foreign_key_checks = 0, unique_checks = 0');
    await this.conn.query('START TRANSACTION');
    try {
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
      await this.conn.query('COMMIT');
    } catch (err) {
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw new TableTransferError(table.name, `INSERT failed: ${(err as Error).message.slice(0, 500)}`, { cause: err });
    } finally {
      await this.conn.query('SET foreign_key_checks = 1, unique_checks = 1');
    }
    return count;
  }

  async sequences(tables: XmldbTable[]): Promise<Map<string, number>> {
    // MySQL 8 caches information_schema statistics; MariaDB has no such variable.
    await this.conn.query('SET SESSION information_schema_stats_expiry = 0').catch(() => undefined);
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

  async close(): Promise<void> {
    await this.conn.end();
  }
}

