/**
 * Spec §9.3 step 8, as far as the agent can decide it without Moodle's version logic: site
 * tables absent from the backup are removed only when the code tree's
 * install.xml defines them for a plugin that the backup's metadata does not list (a plugin
 * extra on this site), so that Moodle's upgrade re-creates them. Preserved plugins' tables,
 * core tables, tables no install.xml defines and tables of plugins the backup lists (e.g.
 * excluded at backup time, or needing an upgrade) are left as they were, with their data. The
 * restore moves the extra tables out in the same switch that publishes the staged ones, and
 * drops them with the replaced tables afterwards.
 */
import type { XmldbTable } from '../schema/model.js';

/** What {@link extraPluginTables} decided. */
export interface ExtraTablesResult {
  /** Tables to remove (moved out in the switch). */
  extra: string[];
  /** Site tables absent from the backup that were kept, with the reason. */
  kept: { table: string; reason: string }[];
}

/** Options of {@link extraPluginTables}. */
export interface ExtraTablesOptions {
  /** Table names of the backup's structure. */
  backupTables: Iterable<string>;
  /** install.xml definitions of this site's code tree (with components). */
  definitions: readonly XmldbTable[];
  /** Plugins listed in the backup metadata. */
  backupPlugins: Iterable<string>;
  /** Preserved plugins (tool_vault is always added). */
  preserve: readonly string[];
  /** The site's tables (`listTables`). */
  live: Iterable<string>;
}

const isCore = (component: string): boolean => component === 'core' || component.startsWith('core_') || component === 'moodle';

/** The tables of plugins extra on this site, and the absent ones kept; see the module comment. */
export function extraPluginTables(opts: ExtraTablesOptions): ExtraTablesResult {
  const inBackup = new Set(opts.backupTables);
  const plugins = new Set(opts.backupPlugins);
  const preserved = new Set(['tool_vault', ...opts.preserve]);
  const defs = new Map(opts.definitions.map((t) => [t.name, t]));
  const result: ExtraTablesResult = { extra: [], kept: [] };
  const absent = [...opts.live].filter((t) => !inBackup.has(t)).sort();
  for (const table of absent) {
    const component = defs.get(table)?.component;
    let reason: string | undefined;
    if (!component || component === '?') reason = 'not defined by any install.xml';
    else if (isCore(component)) reason = `core table (${component})`;
    else if (preserved.has(component)) reason = `preserved plugin ${component}`;
    else if (plugins.size === 0) reason = 'the backup metadata lists no plugins';
    else if (plugins.has(component)) reason = `plugin ${component} is in the backup`;
    if (reason) {
      result.kept.push({ table, reason });
      continue;
    }
    result.extra.push(table);
  }
  return result;
}
