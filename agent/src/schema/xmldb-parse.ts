/**
 * Parses XMLDB documents — Moodle install.xml files and tool_vault's `__structure__.xml` —
 * into the schema model. Comments and hints are dropped; table names are trimmed and
 * lower-cased as the plugin's reader does.
 */
import { XMLParser } from 'fast-xml-parser';
import { XmldbParseError } from './errors.js';
import type { XmldbField, XmldbFieldType, XmldbIndex, XmldbKey, XmldbKeyType, XmldbTable } from './model.js';

const FIELD_TYPES = new Set<XmldbFieldType>(['int', 'number', 'float', 'char', 'text', 'binary', 'datetime', 'timestamp']);
const KEY_TYPES = new Set<XmldbKeyType>(['primary', 'unique', 'foreign', 'foreign-unique']);

type Attrs = Record<string, string | undefined>;
type RawTable = Attrs;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  // Entities in DEFAULT values must come back decoded, like PHP's parser does.
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => ['TABLE', 'FIELD', 'KEY', 'INDEX'].includes(name),
});

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
 * (install.xml files); a structure file's own attribute wins.
 */
export function parseXmldb(xml: string, component = ''): XmldbTable[] {
  let doc: { XMLDB?: { TABLES?: { TABLE?: RawTable[] } | string } };
  try {
    doc = parser.parse(xml) as typeof doc;
  } catch (err) {
    throw new XmldbParseError(`not well-formed XML: ${(err as Error).message}`, { cause: err });
  }
  if (!doc.XMLDB) throw new XmldbParseError('no XMLDB root element');
  const tables = typeof doc.XMLDB.TABLES === 'object' ? (doc.XMLDB.TABLES.TABLE ?? []) : [];
  return tables.map((t) => {
    const name = (t.NAME ?? '').trim().toLowerCase();
    if (!name) throw new XmldbParseError('TABLE without NAME');
    const raw = t as unknown as { FIELDS?: { FIELD?: Attrs[] }; KEYS?: { KEY?: Attrs[] }; INDEXES?: { INDEX?: Attrs[] } };
    return {
      name,
      component: t.COMPONENT ?? component,
      fields: (raw.FIELDS?.FIELD ?? []).map((a) => parseField(a, name)),
      keys: (raw.KEYS?.KEY ?? []).map((a) => parseKey(a, name)),
      indexes: (raw.INDEXES?.INDEX ?? []).map(parseIndex),
    };
  });
}
