/**
 * Parses XMLDB documents — Moodle install.xml files and tool_vault's `__structure__.xml` —
 * into the schema model. Comments and hints are dropped; table names are trimmed and
 * lower-cased as the plugin's reader does; attribute values are trimmed as Moodle's xmldb
 * classes trim them.
 *
 * htmlparser2's tokenizer (XML mode) hands over each element's attributes and nothing is built in
 * between: a restore reads ~1.5 MB of XMLDB before its first change (the site's install.xml files
 * and the backup's structure), and a general-purpose object tree of it cost ~2.5× the CPU.
 */
import { Parser } from 'htmlparser2';
import { XmldbParseError } from './errors.js';
import type { XmldbField, XmldbFieldType, XmldbIndex, XmldbKey, XmldbKeyType, XmldbTable } from './model.js';

const FIELD_TYPES = new Set<XmldbFieldType>(['int', 'number', 'float', 'char', 'text', 'binary', 'datetime', 'timestamp']);
const KEY_TYPES = new Set<XmldbKeyType>(['primary', 'unique', 'foreign', 'foreign-unique']);

type Attrs = Record<string, string | undefined>;
const list = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const bool = (v: string | undefined): boolean => (v ?? '').toLowerCase() === 'true';

function parseField(a: Attrs, table: string): XmldbField {
  const name = a.NAME?.trim();
  const type = a.TYPE?.trim() as XmldbFieldType | undefined;
  if (!name || !type || !FIELD_TYPES.has(type)) throw new XmldbParseError(`table ${table}: invalid FIELD ${JSON.stringify(a)}`);
  const f: XmldbField = { name, type, notnull: bool(a.NOTNULL), sequence: bool(a.SEQUENCE) };
  if (a.LENGTH !== undefined && a.LENGTH !== '') f.length = a.LENGTH;
  if (a.DECIMALS !== undefined && a.DECIMALS !== '') f.decimals = a.DECIMALS;
  // The plugin's reader discards DEFAULT on text/binary fields; sequences never have one.
  if (a.DEFAULT !== undefined && type !== 'text' && type !== 'binary' && !f.sequence) f.default = a.DEFAULT;
  return f;
}

function parseKey(a: Attrs, table: string): XmldbKey {
  const type = a.TYPE?.trim() as XmldbKeyType | undefined;
  if (!a.NAME || !type || !KEY_TYPES.has(type)) throw new XmldbParseError(`table ${table}: invalid KEY ${JSON.stringify(a)}`);
  const k: XmldbKey = { name: a.NAME, type, fields: list(a.FIELDS) };
  if (a.REFTABLE) k.reftable = a.REFTABLE;
  if (a.REFFIELDS) k.reffields = list(a.REFFIELDS);
  return k;
}

function parseIndex(a: Attrs): XmldbIndex {
  return { name: a.NAME ?? '', unique: bool(a.UNIQUE), fields: list(a.FIELDS) };
}

/**
 * Parses an XMLDB document. `component` is used for tables without a COMPONENT attribute
 * (install.xml files); a structure file's own attribute wins. Only `XMLDB > TABLES > TABLE`
 * elements are tables, and only their `FIELDS > FIELD`, `KEYS > KEY` and `INDEXES > INDEX`
 * children are read.
 */
export function parseXmldb(xml: string, component = ''): XmldbTable[] {
  const tables: XmldbTable[] = [];
  const path: string[] = [];
  let table: XmldbTable | undefined;
  let root = false;
  let failure: Error | undefined;
  const parser = new Parser({
    onopentag(name, raw) {
      path.push(name);
      if (failure) return;
      try {
        const depth = path.length;
        if (depth === 1) root ||= name === 'XMLDB';
        if (!root || path[0] !== 'XMLDB' || path[1] !== 'TABLES') return;
        const a = trimmed(raw);
        if (depth === 3 && name === 'TABLE') {
          const tableName = (a.NAME ?? '').toLowerCase();
          if (!tableName) throw new XmldbParseError('TABLE without NAME');
          table = { name: tableName, component: a.COMPONENT ?? component, fields: [], keys: [], indexes: [] };
          tables.push(table);
        } else if (depth === 5 && table && path[2] === 'TABLE') {
          const group = path[3];
          if (group === 'FIELDS' && name === 'FIELD') table.fields.push(parseField(a, table.name));
          else if (group === 'KEYS' && name === 'KEY') table.keys.push(parseKey(a, table.name));
          else if (group === 'INDEXES' && name === 'INDEX') table.indexes.push(parseIndex(a));
        }
      } catch (err) {
        failure = err as Error;
      }
    },
    onclosetag(name) {
      if (path.pop() !== name) failure ??= new XmldbParseError(`not well-formed XML: unexpected </${name}>`);
      if (path.length === 2) table = undefined;
    },
    onerror(err) {
      failure ??= new XmldbParseError(`not well-formed XML: ${err.message}`, { cause: err });
    },
  }, { xmlMode: true, decodeEntities: true });
  parser.end(xml);
  if (failure) throw failure;
  if (path.length) throw new XmldbParseError(`not well-formed XML: <${path.join('> <')}> not closed`);
  if (!root) throw new XmldbParseError('no XMLDB root element');
  return tables;
}

/** Attribute values trimmed, as Moodle's xmldb classes read them. */
function trimmed(raw: Record<string, string>): Attrs {
  const a: Attrs = {};
  for (const k in raw) a[k] = (raw[k] ?? '').trim();
  return a;
}
