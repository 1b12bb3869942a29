/**
 * Which rows of shared tables belong to given plugins (spec §3.2, `plugindata.php`). The one
 * definition serves both directions: the export keeps the complement (excluded plugins, always
 * `tool_vault`, plus `backupexcludeplugins`), the restore saves and re-inserts the rows of
 * preserved plugins (§9.3 steps 1 and 7) in the tables of {@link PRESERVE_TABLES}.
 */
import type { SqlFamily } from '../schema/ddl.js';
import { quoteIdent } from '../schema/ddl.js';
import type { XmldbTable } from '../schema/model.js';
import { PluginNameError } from './errors.js';

const COMPONENT_TABLES = new Set(['external_services', 'external_functions', 'event', 'task_adhoc', 'task_scheduled', 'messageinbound_handlers',
  'log_display', 'tag_area', 'tag_coll', 'tag_instance', 'message_providers', 'capabilities', 'files']);

/** Every plugin-data table of §3.2. */
export const PLUGIN_DATA_TABLES: ReadonlySet<string> = new Set([...COMPONENT_TABLES, 'messageinbound_datakeys', 'external_tokens', 'external_services_users',
  'external_services_functions', 'role_capabilities', 'config_plugins', 'user_preferences', 'config']);

/** Tables whose preserved plugins' rows survive a restore (§9.3 step 1: the plugin-data tables minus these). */
export const PRESERVE_TABLES: ReadonlySet<string> = new Set([...PLUGIN_DATA_TABLES].filter((t) => ![
  'event', 'tag_instance', 'user_preferences', 'role_capabilities', 'external_tokens', 'external_services_users', 'messageinbound_datakeys'].includes(t)));

/** True for a frankenstyle plugin name, the only kind that goes into the SQL below. */
export const isPluginName = (s: string): boolean => /^[a-z0-9_]+$/.test(s);

// Anything but a frankenstyle name is refused rather than quoted.
const lit = (s: string): string => {
  if (!isPluginName(s)) throw new PluginNameError(s);
  return `'${s}'`;
};
// `_` must match literally in LIKE; `\_` means that in both PostgreSQL and MySQL literals.
const likeLit = (s: string): string => `'${s.replace(/_/g, '\\_')}`;

/**
 * The WHERE condition selecting the rows of `table` that belong to `plugins`, or undefined when
 * the table holds no plugin data. Never NULL for a row (NULL components count as not belonging),
 * so `NOT (…)` is its exact complement.
 */
export function pluginRowsCondition(family: SqlFamily, prefix: string, table: XmldbTable, plugins: string[], present: Set<string>): string | undefined {
  if (plugins.length === 0) return undefined;
  const q = (s: string): string => quoteIdent(family, s);
  const t = (name: string): string => q(prefix + name);
  const list = plugins.map(lit).join(', ');
  const has = (c: string): boolean => table.fields.some((f) => f.name === c);
  const name = table.name;
  if (COMPONENT_TABLES.has(name) && has('component')) return `(${q('component')} IS NOT NULL AND ${q('component')} IN (${list}))`;
  if (name === 'config_plugins' && has('plugin') && has('name')) {
    const msg = plugins.map((p) => `LOWER(${q('name')}) LIKE ${likeLit(`%_provider_${p}_`)}%'`).join(' OR ');
    return `(${q('plugin')} IN (${list}) OR (${q('plugin')} = 'message' AND (${msg})))`;
  }
  if (name === 'user_preferences' && has('name')) return `(${plugins.map((p) => `LOWER(${q('name')}) LIKE ${likeLit(`message_provider_${p}_`)}%'`).join(' OR ')})`;
  if (name === 'config' && has('name')) return `(${plugins.map((p) => `${q('name')} LIKE ${likeLit(`${p}_`)}%'`).join(' OR ')} OR ${q('name')} = 'behattest')`;
  const sub = (col: string, refTable: string, refCol: string): string | undefined =>
    has(col) && present.has(refTable) ? `${q(col)} IN (SELECT ${q(refCol)} FROM ${t(refTable)} WHERE ${q('component')} IN (${list}))` : undefined;
  if (name === 'messageinbound_datakeys') return sub('handler', 'messageinbound_handlers', 'id');
  if (name === 'external_tokens' || name === 'external_services_users') return sub('externalserviceid', 'external_services', 'id');
  // Spec: the plugin compares function names with service names here (sic); kept for parity.
  if (name === 'external_services_functions') return sub('functionname', 'external_services', 'name');
  if (name === 'role_capabilities') return sub('capability', 'capabilities', 'name');
  return undefined;
}

/** The keep-condition for a table on export, or undefined when no row of it is filtered. */
export function keepRowsCondition(family: SqlFamily, prefix: string, table: XmldbTable, plugins: string[], present: Set<string>): string | undefined {
  const belongs = pluginRowsCondition(family, prefix, table, plugins, present);
  return belongs === undefined ? undefined : `NOT (${belongs})`;
}
