/**
 * Site facts: where the database and dataroot are, merged from config.php, command-line flags
 * and `VAULT_*` environment variables (flags win over env, env wins over config.php), plus the
 * agent's own state folder inside the dataroot.
 */
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isArray, parseConfigPhp, toStr, type PhpValue } from './config-php.js';

/** Name of the agent's state folder inside the dataroot; never backed up nor deleted on restore. */
export const AGENT_STATE_DIRNAME = 'vault-agent';

/** Moodle database families the agent supports. */
export type DbFamily = 'postgres' | 'mysql';

/** Error for missing or inconsistent site settings. */
export class SiteConfigError extends Error {
  readonly code = 'ERR_SITE_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'SiteConfigError';
  }
}

/** Everything the agent needs to know about the Moodle site it runs on. */
export interface SiteConfig {
  /** config.php path when one was read. */
  configPath?: string;
  /** Moodle code tree (for install.xml/version.php); optional. */
  moodleDir?: string;
  /** `$CFG->dbtype` as written (`pgsql`, `mariadb`, `mysqli`, `auroramysql`). */
  dbtype: string;
  family: DbFamily;
  dbhost: string;
  dbname: string;
  dbuser: string;
  dbpass: string;
  prefix: string;
  dbport?: number;
  dbsocket?: string;
  dataroot: string;
  wwwroot: string;
  /** Every `$CFG->x` scalar from config.php (the "config_php_settings"), stringified like PHP. */
  cfgOverrides: Record<string, string>;
  /** `$CFG->forced_plugin_settings`: plugin → name → value. */
  forcedPluginSettings: Record<string, Record<string, string>>;
}

/** Flag values (from commander) that can override config.php. */
export interface SiteFlags {
  config?: string;
  moodleDir?: string;
  dbtype?: string;
  dbhost?: string;
  dbname?: string;
  dbuser?: string;
  dbpass?: string;
  prefix?: string;
  dbport?: string | number;
  dbsocket?: string;
  dataroot?: string;
  wwwroot?: string;
}

const ENV: Record<keyof SiteFlags, string> = {
  config: 'VAULT_CONFIG_PHP',
  moodleDir: 'VAULT_MOODLE_DIR',
  dbtype: 'VAULT_DBTYPE',
  dbhost: 'VAULT_DBHOST',
  dbname: 'VAULT_DBNAME',
  dbuser: 'VAULT_DBUSER',
  dbpass: 'VAULT_DBPASS',
  prefix: 'VAULT_PREFIX',
  dbport: 'VAULT_DBPORT',
  dbsocket: 'VAULT_DBSOCKET',
  dataroot: 'VAULT_DATAROOT',
  wwwroot: 'VAULT_WWWROOT',
};

/** Maps `$CFG->dbtype` to the engine family. */
export function dbFamily(dbtype: string): DbFamily {
  const t = dbtype.toLowerCase();
  if (t === 'pgsql' || t === 'postgres' || t === 'postgresql') return 'postgres';
  if (t === 'mysqli' || t === 'mariadb' || t === 'auroramysql' || t === 'mysql') return 'mysql';
  throw new SiteConfigError(`unsupported dbtype '${dbtype}' (pgsql, mariadb, mysqli, auroramysql)`);
}

/**
 * Resolves the site from (in increasing priority) config.php, environment, flags. config.php is
 * looked up at `flags.config`, `$VAULT_CONFIG_PHP`, or `<moodleDir>/config.php`.
 */
export async function resolveSite(flags: SiteFlags = {}, env: NodeJS.ProcessEnv = process.env): Promise<SiteConfig> {
  const pick = (k: keyof SiteFlags): string | undefined => {
    const f = flags[k];
    if (f !== undefined && f !== '') return String(f);
    const e = env[ENV[k]];
    return e !== undefined && e !== '' ? e : undefined;
  };
  const moodleDir = pick('moodleDir');
  let configPath = pick('config');
  if (!configPath && moodleDir && existsSync(join(moodleDir, 'config.php'))) configPath = join(moodleDir, 'config.php');

  let cfg = new Map<string, PhpValue>();
  if (configPath) {
    configPath = resolve(configPath);
    cfg = parseConfigPhp(await readFile(configPath, 'utf8'), configPath).cfg;
  }
  const fromCfg = (name: string): string | undefined => {
    const v = cfg.get(name);
    return v === undefined || isArray(v) ? undefined : toStr(v);
  };
  const dboptions = cfg.get('dboptions');
  const dbopt = (name: string): string | undefined => {
    if (!isArray(dboptions)) return undefined;
    const v = dboptions.entries.get(name);
    return v === undefined || isArray(v) || v === '' ? undefined : toStr(v);
  };

  const dbtype = pick('dbtype') ?? fromCfg('dbtype');
  const dataroot = pick('dataroot') ?? fromCfg('dataroot');
  const missing = [['dbtype', dbtype], ['dataroot', dataroot]].filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) {
    throw new SiteConfigError(`missing ${missing.join(', ')}: pass --config <config.php> or the flags/env (${missing.map((m) => ENV[m as keyof SiteFlags]).join(', ')})`);
  }
  const portText = pick('dbport') ?? dbopt('dbport');
  const dbport = portText ? Number(portText) : undefined;
  if (dbport !== undefined && !Number.isInteger(dbport)) throw new SiteConfigError(`dbport '${portText}' is not a number`);

  const cfgOverrides: Record<string, string> = {};
  for (const [k, v] of cfg) if (!isArray(v)) cfgOverrides[k] = toStr(v);
  const forcedPluginSettings: Record<string, Record<string, string>> = {};
  const fps = cfg.get('forced_plugin_settings');
  if (isArray(fps)) {
    for (const [plugin, settings] of fps.entries) {
      if (!isArray(settings)) continue;
      const o: Record<string, string> = {};
      for (const [n, v] of settings.entries) o[n] = toStr(v);
      forcedPluginSettings[plugin] = o;
    }
  }

  const site: SiteConfig = {
    dbtype: dbtype as string,
    family: dbFamily(dbtype as string),
    dbhost: pick('dbhost') ?? fromCfg('dbhost') ?? 'localhost',
    dbname: pick('dbname') ?? fromCfg('dbname') ?? 'moodle',
    dbuser: pick('dbuser') ?? fromCfg('dbuser') ?? '',
    dbpass: pick('dbpass') ?? fromCfg('dbpass') ?? '',
    prefix: pick('prefix') ?? fromCfg('prefix') ?? 'mdl_',
    dataroot: resolve(dataroot as string),
    wwwroot: (pick('wwwroot') ?? fromCfg('wwwroot') ?? '').replace(/\/+$/, ''),
    cfgOverrides,
    forcedPluginSettings,
  };
  if (configPath) site.configPath = configPath;
  if (moodleDir) site.moodleDir = resolve(moodleDir);
  if (dbport !== undefined) site.dbport = dbport;
  const sock = pick('dbsocket') ?? dbopt('dbsocket');
  if (sock && sock !== '1' && sock !== 'true') site.dbsocket = sock;
  return site;
}

/** A connection URL for the site's database (credentials URL-encoded). */
export function databaseUrl(site: SiteConfig): string {
  const scheme = site.family === 'postgres' ? 'postgres' : 'mysql';
  const auth = site.dbuser ? `${encodeURIComponent(site.dbuser)}${site.dbpass ? `:${encodeURIComponent(site.dbpass)}` : ''}@` : '';
  const host = site.dbhost.includes(':') && !site.dbhost.startsWith('[') ? `[${site.dbhost}]` : site.dbhost;
  const port = site.dbport ? `:${site.dbport}` : '';
  const base = `${scheme}://${auth}${host}${port}/${encodeURIComponent(site.dbname)}`;
  if (site.dbsocket) return `${base}?${site.family === 'postgres' ? 'host' : 'socketPath'}=${encodeURIComponent(site.dbsocket)}`;
  return base;
}

/** Agent state persisted in `<dataroot>/vault-agent/state.json` (API key, site id, API URL). */
export interface AgentState {
  siteid: string;
  apikey?: string;
  apiurl?: string;
}

/** Path of the agent's state folder. */
export function stateDir(site: Pick<SiteConfig, 'dataroot'>): string {
  return join(site.dataroot, AGENT_STATE_DIRNAME);
}

const SITEID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random 32-char `[A-Za-z0-9]` site id, like the plugin's. */
export function newSiteId(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += SITEID_ALPHABET[randomInt(SITEID_ALPHABET.length)];
  return s;
}

/** Loads the agent state, creating it (with a fresh site id) on first use. */
export async function loadState(site: Pick<SiteConfig, 'dataroot'>): Promise<AgentState> {
  const file = join(stateDir(site), 'state.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<AgentState>;
    if (typeof parsed.siteid === 'string' && parsed.siteid) return parsed as AgentState;
  }
  const state: AgentState = { siteid: newSiteId() };
  await saveState(site, state);
  return state;
}

/** Writes the state atomically, readable by the owner only (it holds the API key). */
export async function saveState(site: Pick<SiteConfig, 'dataroot'>, state: AgentState): Promise<void> {
  const dir = stateDir(site);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `state.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  await rename(tmp, join(dir, 'state.json'));
}

/**
 * Plugins present in a Moodle code tree: from `PLUGINS.tsv` (schema snapshots) or by reading
 * `$plugin->component` from every `version.php` (never executed). Returns component → version.
 */
export async function codePlugins(moodleDir: string): Promise<Map<string, string>> {
  const { readdir: rd } = await import('node:fs/promises');
  const out = new Map<string, string>();
  const tsv = join(moodleDir, 'PLUGINS.tsv');
  if (existsSync(tsv)) {
    for (const line of (await readFile(tsv, 'utf8')).split('\n').slice(1)) {
      const [component, , version] = line.split('\t');
      if (component) out.set(component.trim(), (version ?? '').trim());
    }
    return out;
  }
  const skip = new Set(['.git', 'node_modules', 'vendor', 'tests', 'amd', 'yui', 'lang', 'templates', 'classes', 'pix', 'db']);
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await rd(dir, { withFileTypes: true }).catch(() => []);
    if (entries.some((e) => e.isFile() && e.name === 'version.php')) {
      const src = await readFile(join(dir, 'version.php'), 'utf8').catch(() => '');
      const comp = /\$plugin->component\s*=\s*['"]([a-z0-9_]+)['"]/.exec(src)?.[1];
      const ver = /\$plugin->version\s*=\s*([0-9.]+)/.exec(src)?.[1];
      if (comp) out.set(comp, ver ?? '');
    }
    if (depth >= 6) return;
    for (const e of entries) if (e.isDirectory() && !skip.has(e.name) && !e.name.startsWith('.')) await walk(join(dir, e.name), depth + 1);
  };
  await walk(moodleDir, 0);
  return out;
}
