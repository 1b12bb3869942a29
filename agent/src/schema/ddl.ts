/**
 * DDL per engine from the XMLDB model, following Moodle's XMLDB generators
 * (lib/ddl/postgres_sql_generator.php, mysql_sql_generator.php): the same type mapping,
 * BIGSERIAL / AUTO_INCREMENT sequences, keys as indexes, quoted identifiers.
 */
import { createHash } from 'node:crypto';
import { DdlError } from './errors.js';
import type { XmldbField, XmldbTable } from './model.js';
import { physicalIndexes, primaryKeyFields } from './model.js';

/** SQL family: MySQL and MariaDB share one dialect here. */
export type SqlFamily = 'postgres' | 'mysql';

/** Options for MySQL/MariaDB table creation. */
export interface DdlOptions {
  /** utf8mb4 collation for MySQL-family tables. */
  collation?: string;
  /** MySQL family: declare the secondary indexes inside CREATE TABLE (one DDL statement instead of one per index). */
  inlineIndexes?: boolean;
  /** MySQL family: initial AUTO_INCREMENT; InnoDB moves past explicit ids inserted later by itself. */
  autoIncrement?: number;
}

/** Quotes an identifier so reserved words (`order`, `user`, `group`) work. */
export function quoteIdent(family: SqlFamily, name: string): string {
  return family === 'postgres' ? `"${name.replace(/"/g, '""')}"` : `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal for DEFAULT clauses. */
export function quoteLiteral(family: SqlFamily, value: string): string {
  const s = value.replace(/'/g, "''");
  return family === 'mysql' ? `'${s.replace(/\\/g, '\\\\')}'` : `'${s}'`;
}

const intLength = (f: XmldbField): number => Number(f.length ?? '10') || 10;

/** The column type for a field on the engine, without NULL/DEFAULT. */
export function columnType(family: SqlFamily, f: XmldbField): string {
  switch (f.type) {
    case 'int': {
      const n = intLength(f);
      if (family === 'postgres') return n <= 4 ? 'SMALLINT' : n <= 9 ? 'INTEGER' : 'BIGINT';
      return n <= 2 ? 'TINYINT' : n <= 4 ? 'SMALLINT' : n <= 6 ? 'MEDIUMINT' : n <= 9 ? 'INT' : 'BIGINT';
    }
    case 'number': {
      const p = Number(f.length ?? '10');
      const s = Number(f.decimals ?? '0');
      return family === 'postgres' ? `NUMERIC(${p},${s})` : `DECIMAL(${p},${s})`;
    }
    // Always double precision: a REAL on one engine and DOUBLE on the other would not round-trip.
    case 'float':
      return family === 'postgres' ? 'DOUBLE PRECISION' : 'DOUBLE';
    case 'char':
      return `VARCHAR(${Number(f.length ?? '255')})`;
    case 'text':
      return family === 'postgres' ? 'TEXT' : 'LONGTEXT';
    case 'binary':
      return family === 'postgres' ? 'BYTEA' : 'LONGBLOB';
    case 'datetime':
    case 'timestamp':
      return family === 'postgres' ? 'TIMESTAMP' : 'DATETIME';
    default:
      throw new DdlError(`unknown XMLDB type ${String(f.type)} for field ${f.name}`);
  }
}

/** DEFAULT clause value for a field, or undefined. */
function defaultSql(family: SqlFamily, f: XmldbField): string | undefined {
  if (f.default === undefined || f.sequence) return undefined;
  // MySQL cannot give TEXT/BLOB columns a default; XMLDB drops those defaults too.
  if (f.type === 'text' || f.type === 'binary') return undefined;
  if (f.type === 'int' || f.type === 'number' || f.type === 'float') {
    const v = f.default.trim();
    if (v === '' || !/^[-+]?[0-9.eE+-]+$/.test(v)) return undefined;
    return v;
  }
  return quoteLiteral(family, f.default);
}

/** Full column definition (name, type, sequence, default, nullability). */
export function columnSql(family: SqlFamily, f: XmldbField): string {
  const name = quoteIdent(family, f.name);
  if (f.sequence) {
    return family === 'postgres' ? `${name} BIGSERIAL` : `${name} ${columnType(family, f)} NOT NULL AUTO_INCREMENT`;
  }
  let s = `${name} ${columnType(family, f)}`;
  const def = defaultSql(family, f);
  if (def !== undefined) s += ` DEFAULT ${def}`;
  s += f.notnull ? ' NOT NULL' : ' NULL';
  return s;
}

/** Deterministic index name, unique per table and at most 63 characters. */
export function indexName(prefix: string, table: string, fields: string[], unique: boolean): string {
  const suffix = unique ? 'uix' : 'ix';
  const abbrev = fields.map((f) => f.slice(0, 4)).join('');
  const plain = `${prefix}${table}_${abbrev}_${suffix}`;
  if (plain.length <= 63 && fields.every((f) => f.length <= 4)) return plain;
  // Abbreviations can collide (e.g. `userid` vs `usermodified`): a hash of the full list keeps names unique.
  const h = createHash('sha1').update(fields.join(',')).digest('hex').slice(0, 6);
  const head = `${prefix}${table}_${abbrev}`.slice(0, 63 - suffix.length - 8);
  return `${head}_${h}_${suffix}`;
}

/** CREATE TABLE (with primary key, without secondary indexes). */
export function createTableSql(family: SqlFamily, prefix: string, t: XmldbTable, opts: DdlOptions = {}): string {
  const cols = t.fields.map((f) => `  ${columnSql(family, f)}`);
  const pk = primaryKeyFields(t);
  if (pk.length) cols.push(`  PRIMARY KEY (${pk.map((c) => quoteIdent(family, c)).join(', ')})`);
  const name = quoteIdent(family, prefix + t.name);
  if (family === 'postgres') return `CREATE TABLE ${name} (\n${cols.join(',\n')}\n)`;
  if (opts.inlineIndexes) {
    for (const i of physicalIndexes(t)) {
      cols.push(`  ${i.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(family, indexName(prefix, t.name, i.fields, i.unique))} (${i.fields.map((c) => quoteIdent(family, c)).join(', ')})`);
    }
  }
  const collation = opts.collation ?? 'utf8mb4_bin';
  const autoInc = opts.autoIncrement && opts.autoIncrement > 1 ? ` AUTO_INCREMENT=${Math.floor(opts.autoIncrement)}` : '';
  return `CREATE TABLE ${name} (\n${cols.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation} ROW_FORMAT=DYNAMIC${autoInc}`;
}

/** CREATE INDEX statements for the table's keys and indexes. */
export function createIndexesSql(family: SqlFamily, prefix: string, t: XmldbTable): string[] {
  return physicalIndexes(t).map((i) => {
    const name = quoteIdent(family, indexName(prefix, t.name, i.fields, i.unique));
    const cols = i.fields.map((c) => quoteIdent(family, c)).join(', ');
    return `CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX ${name} ON ${quoteIdent(family, prefix + t.name)} (${cols})`;
  });
}

/** DROP TABLE IF EXISTS (PostgreSQL drops the owned sequence with it). */
export function dropTableSql(family: SqlFamily, prefix: string, table: string): string {
  return `DROP TABLE IF EXISTS ${quoteIdent(family, prefix + table)}`;
}

/** Name of the PostgreSQL sequence BIGSERIAL creates for a column. */
export function pgSequenceName(prefix: string, table: string, column: string): string {
  return `${prefix}${table}_${column}_seq`;
}
