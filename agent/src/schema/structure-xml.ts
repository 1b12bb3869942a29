/**
 * Writes `__structure__.xml` exactly as tool_vault lays it out (spec §2.1): Moodle's xmlOutput
 * spacing and attribute order, no comments, a COMPONENT on every table and always a KEYS block.
 */
import type { XmldbField, XmldbIndex, XmldbKey, XmldbTable } from './model.js';

// The plugin writes DEFAULT unescaped; we escape, and the PHP reader decodes entities.
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One FIELD element, attributes in the plugin's order. */
export function fieldXml(f: XmldbField): string {
  let s = `<FIELD NAME="${esc(f.name)}" TYPE="${f.type}"`;
  if (f.length !== undefined && f.length !== '') s += ` LENGTH="${f.length}"`;
  s += ` NOTNULL="${f.notnull}"`;
  if (!f.sequence && f.default !== undefined) s += ` DEFAULT="${esc(f.default)}"`;
  s += ` SEQUENCE="${f.sequence}"`;
  if (f.decimals !== undefined && f.decimals !== '') s += ` DECIMALS="${f.decimals}"`;
  return `${s}/>`;
}

/** One KEY element. */
export function keyXml(k: XmldbKey): string {
  let s = `<KEY NAME="${esc(k.name)}" TYPE="${k.type}" FIELDS="${k.fields.join(', ')}"`;
  if ((k.type === 'foreign' || k.type === 'foreign-unique') && k.reftable) {
    s += ` REFTABLE="${esc(k.reftable)}" REFFIELDS="${(k.reffields ?? []).join(', ')}"`;
  }
  return `${s}/>`;
}

/** One INDEX element. */
export function indexXml(i: XmldbIndex): string {
  return `<INDEX NAME="${esc(i.name)}" UNIQUE="${i.unique}" FIELDS="${i.fields.join(', ')}"/>`;
}

/**
 * One TABLE element with its children, indented as inside TABLES. `engineIndexes` are never
 * written: XMLDB cannot express them (they travel in `__vault_agent__.json`, engine-indexes.ts).
 */
export function tableXml(t: XmldbTable): string {
  const lines = [`    <TABLE NAME="${esc(t.name)}" COMPONENT="${esc(t.component)}">`];
  const block = (tag: string, items: string[]): void => {
    if (items.length === 0) return;
    lines.push(`      <${tag}>`, ...items.map((i) => `        ${i}`), `      </${tag}>`);
  };
  block('FIELDS', t.fields.map(fieldXml));
  block('KEYS', t.keys.map(keyXml));
  block('INDEXES', t.indexes.map(indexXml));
  lines.push('    </TABLE>');
  return lines.join('\n');
}

/** The whole `__structure__.xml` document. */
export function structureXml(tables: XmldbTable[]): string {
  const head = '<?xml version="1.0" encoding="UTF-8" ?>\n<XMLDB     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n    xsi:noNamespaceSchemaLocation="xmldb.xsd"\n>\n';
  const body = tables.length ? `  <TABLES>\n${tables.map(tableXml).join('\n')}\n  </TABLES>\n` : '';
  return `${head}${body}</XMLDB>\n`;
}
