/**
 * Row filters that keep excluded plugins' data out of shared tables (spec §3.2,
 * `plugindata.php` in negated form): always `tool_vault`, plus `backupexcludeplugins`.
 * Each filter is a WHERE condition selecting the rows to keep.
 */
import type { SqlFamily } from '../schema/ddl.js';
import { quoteIdent } from '../schema/ddl.js';
import type { XmldbTable } from '../schema/model.js';

const COMPONENT_TABLES = new Set(['external_services', 'external_functions', 'event', 'task_adhoc', 'task_scheduled', 'messageinbound_handlers',
  'log_display', 'tag_area', 'tag_coll', 'tag_instance', 'message_providers', 'capabilities', 'files']);

// Plugin names are frankenstyle ([a-z0-9_]); anything else is refused rather than quoted.
const lit = (s: string): string => {
  if (!/^[a-z0-9_]+$/.test(s)) throw new Error(`invalid plugin name ${JSON.stringify(s)}`);
  return `'${s}'`;
};
// `_` must match literally in LIKE; `\_` means that in both PostgreSQL and MySQL literals.
const likeLit = (s: string): string => `'${s.replace(/_/g, '\\_')}`;

/** The keep-condition for a table, or undefined when no row of it is filtered. */
export function keepRowsCondition(family: SqlFamily, prefix: string, table: XmldbTable, plugins: string[], present: Set<string>): string | undefined {
  if (plugins.length === 0) return undefined;
  const q = (s: string): string => quoteIdent(family, s);
  const t = (name: string): string => q(prefix + name);
  const list = plugins.map(lit).join(', ');
  const has = (c: string): boolean => table.fields.some((f) => f.name === c);
  const name = table.name;
  if (COMPONENT_TABLES.has(name) && has('component')) return `(${q('component')} IS NULL OR ${q('component')} NOT IN (${list}))`;
  if (name === 'config_plugins' && has('plugin') && has('name')) {
    const msg = plugins.map((p) => `LOWER(${q('name')}) LIKE ${likeLit(`%_provider_${p}_`)}%'`).join(' OR ');
    return `NOT (${q('plugin')} IN (${list}) OR (${q('plugin')} = 'message' AND (${msg})))`;
  }
  if (name === 'user_preferences' && has('name')) return `NOT (${plugins.map((p) => `LOWER(${q('name')}) LIKE ${likeLit(`message_provider_${p}_`)}%'`).join(' OR ')})`;
  if (name === 'config' && has('name')) return `NOT (${plugins.map((p) => `${q('name')} LIKE ${likeLit(`${p}_`)}%'`).join(' OR ')} OR ${q('name')} = 'behattest')`;
  const sub = (col: string, refTable: string, refCol: string): string | undefined =>
    has(col) && present.has(refTable) ? `${q(col)} NOT IN (SELECT ${q(refCol)} FROM ${t(refTable)} WHERE ${q('component')} IN (${list}))` : undefined;
  if (name === 'messageinbound_datakeys') return sub('handler', 'messageinbound_handlers', 'id');
  if (name === 'external_tokens' || name === 'external_services_users') return sub('externalserviceid', 'external_services', 'id');
  // Spec: the plugin compares function names with service names here (sic); kept for parity.
  if (name === 'external_services_functions') return sub('functionname', 'external_services', 'name');
  if (name === 'role_capabilities') return sub('capability', 'capabilities', 'name');
  return undefined;
}
