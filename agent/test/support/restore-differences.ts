/**
 * What a finished restore changes on purpose, for tests that compare a restored site with the
 * site its backup came from (real-site round trips, the crash matrix): {@link EXPECTED_DIFFERENT}
 * per table, as SQL conditions valid on both engines ({@link COMPARED_ROWS}, the `where` of
 * `tableHashes`), and {@link isVaultTable} for the tables that never travel.
 */

/**
 * tool_vault's own rows in the shared plugin-data tables, as the plugin selects them
 * (classes/local/helpers/plugindata.php, v3.9.18): a backup never carries them and a restore
 * keeps the target's (format §3.2, §9.3), so they are left out of the comparison.
 */
const NOT_TOOL_VAULT = {
  component: "(component IS NULL OR component <> 'tool_vault')",
  config_plugins: "NOT (plugin = 'tool_vault' OR (plugin = 'message' AND name LIKE '%_provider_tool_vault_%'))",
  config: "name NOT LIKE 'tool_vault_%' AND name <> 'behattest'",
  user_preferences: "name NOT LIKE 'message_provider_tool_vault_%'",
  role_capabilities: "capability NOT LIKE 'tool/vault:%'",
};
const COMPONENT_TABLES = ['external_services', 'external_functions', 'event', 'task_adhoc', 'task_scheduled', 'messageinbound_handlers', 'log_display',
  'tag_area', 'tag_coll', 'tag_instance', 'message_providers', 'capabilities', 'files'];

/**
 * The short list of rows that differ from the source after every restore on purpose: per table
 * the SQL condition selecting the rows that are compared, and why. The test bed
 * (shared/testbed/run-compat.sh EXPECTED_DIFF: config course config_plugins message_providers
 * task_scheduled sessions) leaves these whole tables out for the same reasons; here only the
 * affected rows are (vault-agent does not bump `course.cacherev`, so `course` is compared in
 * full). `tool_vault_*` tables are not compared: they never travel and stay the target's.
 */
export const EXPECTED_DIFFERENT: Record<string, { compare: string; why: string }> = {
  ...Object.fromEntries(COMPONENT_TABLES.map((t) => [t, { compare: NOT_TOOL_VAULT.component, why: "tool_vault's rows" }])),
  config_plugins: { compare: NOT_TOOL_VAULT.config_plugins, why: "tool_vault's rows, and its message providers' settings" },
  user_preferences: { compare: NOT_TOOL_VAULT.user_preferences, why: "tool_vault's message preferences" },
  role_capabilities: { compare: NOT_TOOL_VAULT.role_capabilities, why: "tool_vault's capabilities" },
  config: {
    compare: `${NOT_TOOL_VAULT.config} AND name NOT IN ('themerev', 'jsrev', 'templaterev', 'langrev', 'allcachesrev')`,
    why: "tool_vault's settings; cache revisions bumped by the post-restore purge (format §10)",
  },
  sessions: { compare: '1 = 0', why: 'every session is killed after a restore (format §10); the target must have none' },
};
/** Table → SQL condition of the rows compared (the `where` of tableHashes). */
export const COMPARED_ROWS: Record<string, string> = Object.fromEntries(Object.entries(EXPECTED_DIFFERENT).map(([t, d]) => [t, d.compare]));

/** `tool_vault_*` tables never travel: a restore keeps the target's. */
export const isVaultTable = (t: string): boolean => t.startsWith('tool_vault_');
