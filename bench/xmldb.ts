/**
 * The Moodle 4.4 schema for the bench datasets: reads every install.xml under
 * shared/moodle-schema/4.4.12+/ and writes CREATE TABLE statements for PostgreSQL and MariaDB the
 * way Moodle's own DDL generators type the columns (kept independent of the agent's schema code,
 * so the bench never measures the agent with its own DDL).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './context.js';

export const SCHEMA_DIR = join(ROOT, '..', 'shared', 'moodle-schema', '4.4.12+');

export type FieldType = 'int' | 'number' | 'float' | 'char' | 'text' | 'binary';

export interface Field {
  name: string;
  type: FieldType;
  length: number;
  decimals: number;
  notnull: boolean;
  sequence: boolean;
  default?: string;
}

export interface Index {
  fields: string[];
  unique: boolean;
}

export interface Table {
  name: string;
  component: string;
  fields: Field[];
  primary: string[];
  indexes: Index[];
}

function installFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...installFiles(p));
    else if (e === 'install.xml') out.push(p);
  }
  return out.sort();
}

/** Attributes of one XML start tag (`NAME="x" TYPE="int"`), entities decoded. */
export function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_:][\w:.-]*)="([^"]*)"/g)) {
    out[m[1] as string] = (m[2] as string).replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  }
  return out;
}

const list = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Parse one install.xml (XMLDB is a flat, regular format: TABLE > FIELDS/KEYS/INDEXES > empty elements). */
export function parseInstallXml(xml: string, component: string): Table[] {
  const tables: Table[] = [];
  for (const tm of xml.matchAll(/<TABLE\s([^>]*)>([\s\S]*?)<\/TABLE>/g)) {
    const body = tm[2] as string;
    const tag = (name: string) => [...body.matchAll(new RegExp(`<${name}\\s([^>]*?)/?>`, 'g'))].map((m) => attributes(m[1] as string));
    const fields: Field[] = tag('FIELD').map((f) => ({
      name: f.NAME ?? '',
      type: (f.TYPE ?? 'char') as FieldType,
      length: Number(f.LENGTH ?? 0) || 0,
      decimals: Number(f.DECIMALS ?? 0) || 0,
      notnull: f.NOTNULL === 'true',
      sequence: f.SEQUENCE === 'true',
      ...(f.DEFAULT !== undefined ? { default: f.DEFAULT } : {}),
    }));
    const keys = tag('KEY');
    const primary = list(keys.find((k) => k.TYPE === 'primary')?.FIELDS);
    const seen = new Map<string, Index>();
    const add = (fieldsList: string[], unique: boolean) => {
      const sig = fieldsList.join(',');
      if (sig === primary.join(',')) return;
      const prev = seen.get(sig);
      if (prev && (prev.unique || !unique)) return;
      seen.set(sig, { fields: fieldsList, unique });
    };
    for (const k of keys) if (k.TYPE !== 'primary') add(list(k.FIELDS), (k.TYPE ?? '').includes('unique'));
    for (const i of tag('INDEX')) add(list(i.FIELDS), i.UNIQUE === 'true');
    tables.push({ name: attributes(tm[1] as string).NAME ?? '', component, fields, primary, indexes: [...seen.values()] });
  }
  return tables;
}

/** All tables of the Moodle 4.4 schema (485), sorted by name. */
export function loadSchema(dir = SCHEMA_DIR): Table[] {
  const tables: Table[] = [];
  for (const file of installFiles(dir)) {
    const component = relative(dir, file).replace(/\/db\/install\.xml$/, '');
    tables.push(...parseInstallXml(readFileSync(file, 'utf8'), component));
  }
  return tables.sort((a, b) => a.name.localeCompare(b.name));
}

export type Engine = 'pg' | 'mariadb';

function pgType(f: Field): string {
  switch (f.type) {
    case 'int':
      if (f.sequence) return 'BIGSERIAL';
      return f.length > 9 ? 'BIGINT' : f.length > 4 ? 'INTEGER' : 'SMALLINT';
    case 'number':
      return `NUMERIC(${f.length},${f.decimals})`;
    case 'float':
      return 'DOUBLE PRECISION';
    case 'char':
      return `VARCHAR(${f.length})`;
    case 'text':
      return 'TEXT';
    case 'binary':
      return 'BYTEA';
  }
}

function myType(f: Field): string {
  switch (f.type) {
    case 'int':
      return f.length > 9 ? 'BIGINT' : f.length > 6 ? 'INT' : f.length > 4 ? 'MEDIUMINT' : f.length > 2 ? 'SMALLINT' : 'TINYINT';
    case 'number':
      return `DECIMAL(${f.length},${f.decimals})`;
    case 'float':
      return 'DOUBLE';
    case 'char':
      return `VARCHAR(${f.length})`;
    case 'text':
      return 'LONGTEXT';
    case 'binary':
      return 'LONGBLOB';
  }
}

function defaultClause(f: Field, engine: Engine): string {
  if (f.default === undefined || f.sequence || f.type === 'text' || f.type === 'binary') return '';
  if (f.type === 'char') return ` DEFAULT '${f.default.replace(/'/g, "''")}'`;
  return f.default === '' ? '' : ` DEFAULT ${engine === 'pg' ? `'${f.default}'` : f.default}`;
}

export function quote(engine: Engine, name: string): string {
  return engine === 'pg' ? `"${name}"` : `\`${name}\``;
}

/** CREATE TABLE plus its CREATE INDEX statements. Index names are short and unique per database. */
export function createTableSql(t: Table, engine: Engine, prefix: string, tableNo: number): string[] {
  const q = (n: string) => quote(engine, n);
  const cols = t.fields.map((f) => {
    const type = engine === 'pg' ? pgType(f) : myType(f);
    const extra = engine === 'mariadb' && f.sequence ? ' AUTO_INCREMENT' : '';
    return `${q(f.name)} ${type}${f.notnull || f.sequence ? ' NOT NULL' : ''}${defaultClause(f, engine)}${extra}`;
  });
  if (t.primary.length) cols.push(`PRIMARY KEY (${t.primary.map(q).join(', ')})`);
  const suffix = engine === 'mariadb' ? ' ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci' : '';
  const stmts = [`CREATE TABLE ${q(prefix + t.name)} (${cols.join(', ')})${suffix}`];
  t.indexes.forEach((ix, n) => {
    stmts.push(`CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX ${q(`${prefix}ix${tableNo}_${n}`)} ON ${q(prefix + t.name)} (${ix.fields.map(q).join(', ')})`);
  });
  return stmts;
}
