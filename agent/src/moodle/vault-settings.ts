/**
 * tool_vault's own settings (format §12), read like the plugin does: `config_plugins` rows of
 * plugin `tool_vault`, overridden by `$CFG->forced_plugin_settings['tool_vault']`. Command-line
 * flags override both. Lists are split on whitespace/commas, lower-cased, de-duplicated.
 */
import type { DbAdapter } from '../db/adapter.js';
import { splitSettingList } from '../files/names.js';
import type { SiteConfig } from './site.js';

/** The settings that change what a backup contains or what a restore keeps. */
export interface VaultSettings {
  backupexcludetables: string[];
  backupexcludedataroot: string[];
  backupexcludeplugins: string[];
  restorepreservedataroot: string[];
  restorepreserveplugins: string[];
  /** Usernames (manual auth) whose current password hashes survive a restore. */
  restorepreservepasswords: string[];
  allowrestorewithmissing: boolean;
}

/** Reads the settings from the site database and config.php. */
export async function readVaultSettings(db: DbAdapter, site: SiteConfig): Promise<VaultSettings> {
  const raw = new Map<string, string>();
  const ph = db.family === 'postgres' ? '$1' : '?';
  const rows = await db.query<{ name: string; value: string }>(`SELECT name, value FROM ${db.prefix}config_plugins WHERE plugin = ${ph}`, ['tool_vault']).catch(() => []);
  for (const r of rows) raw.set(r.name, r.value);
  for (const [k, v] of Object.entries(site.forcedPluginSettings.tool_vault ?? {})) raw.set(k, v);
  return {
    backupexcludetables: splitSettingList(raw.get('backupexcludetables')),
    // The plugin's default applies only when the setting was never saved.
    backupexcludedataroot: raw.has('backupexcludedataroot') ? splitSettingList(raw.get('backupexcludedataroot')) : ['muc', 'antivirus_quarantine'],
    backupexcludeplugins: splitSettingList(raw.get('backupexcludeplugins')),
    restorepreservedataroot: splitSettingList(raw.get('restorepreservedataroot')),
    restorepreserveplugins: splitSettingList(raw.get('restorepreserveplugins')),
    restorepreservepasswords: splitSettingList(raw.get('restorepreservepasswords')),
    allowrestorewithmissing: ['1', 'true'].includes((raw.get('allowrestorewithmissing') ?? '').trim()),
  };
}
