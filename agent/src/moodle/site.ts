/**
 * Site facts: where the database and dataroot are, merged from config.php, command-line flags
 * and `VAULT_*` environment variables (flags win over env, env wins over config.php), plus the
 * agent's own state folder, which lives outside the dataroot and the code tree so that no
 * backup (the plugin's or the agent's) ever carries the stored API key.
 */
import { createHash, randomInt } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { discoverPlugins } from './components.js';
import { isArray, parseConfigPhp, toStr, type ConfigPhpIssue, type PhpValue } from './config-php.js';

/**
 * Name of the folder that older agents kept inside the dataroot. It is moved to the state folder
 * on first run; a leftover (e.g. written by a plugin restore of an old backup) is never backed up,
 * never extracted from an archive and never deleted by a restore.
 */
export const AGENT_STATE_DIRNAME = 'vault-agent';

/** Environment variable naming the base state folder (like `--state-dir`). */
export const STATE_DIR_ENV = 'VAULT_AGENT_STATE_DIR';

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
  /** `$CFG->dboptions['dbcollation']` (MySQL/MariaDB collation for new tables), when set. */
  dbcollation?: string;
  /** config.php values the reader could not be sure of (conditional assignments), for the log. */
  configWarnings?: string[];
  /** This site's agent state folder: `<state base>/<dataroot name>-<hash of its real path>`. */
  stateDir: string;
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
  /** Base state folder; each site gets a sub-folder in it. */
  stateDir?: string;
  /** MySQL/MariaDB collation (`$CFG->dboptions['dbcollation']`). */
  dbcollation?: string;
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
  stateDir: STATE_DIR_ENV,
  dbcollation: 'VAULT_DBCOLLATION',
};

/** Where each setting is in config.php and the flag that overrides it. */
const CONFIG_PATHS: [keyof SiteFlags, string[], string][] = [
  ['dbtype', ['dbtype'], '--dbtype'], ['dbhost', ['dbhost'], '--dbhost'], ['dbname', ['dbname'], '--dbname'],
  ['dbuser', ['dbuser'], '--dbuser'], ['dbpass', ['dbpass'], '--dbpass'], ['prefix', ['prefix'], '--prefix'],
  ['dataroot', ['dataroot'], '--dataroot'], ['wwwroot', ['wwwroot'], '--wwwroot'],
  ['dbport', ['dboptions', 'dbport'], '--dbport'], ['dbsocket', ['dboptions', 'dbsocket'], '--dbsocket'],
  ['dbcollation', ['dboptions', 'dbcollation'], '--dbcollation'],
];

/** tool_vault settings the agent takes from forced_plugin_settings, with their overrides. */
const FORCED_PATHS: [string, string][] = [['apiurl', '--api-url or VAULT_API_URL'], ['apikey', '--api-key or VAULT_API_KEY']];

const phpPath = (path: string[]): string => `$CFG->${path[0] ?? ''}${path.slice(1).map((k) => `['${k}']`).join('')}`;
const covers = (issue: string[], path: string[]): boolean => issue.length <= path.length && issue.every((k, i) => path[i] === k);

/**
 * Turns the reader's issues into an error (a database or dataroot setting whose value is unknown
 * and not given by a flag or variable) or warnings (conditional assignments over a readable
 * value, unreadable tool_vault overrides). Every message names the line and the override.
 */
function checkConfigIssues(issues: ConfigPhpIssue[], file: string, overridden: (k: keyof SiteFlags) => boolean, known: (path: string[]) => boolean): string[] {
  const warnings: string[] = [];
  const errors: string[] = [];
  for (const [key, path, flag] of CONFIG_PATHS) {
    if (overridden(key)) continue;
    const hits = issues.filter((i) => covers(i.path, path));
    const last = hits[hits.length - 1];
    if (!last) continue;
    const how = `pass ${flag} or set ${ENV[key]}`;
    const unconditional = hits.filter((i) => !i.conditional);
    if (unconditional.length) {
      const u = unconditional[unconditional.length - 1] as ConfigPhpIssue;
      errors.push(`${file} line ${u.line}: cannot read ${phpPath(u.path)} (${u.reason}); ${how}`);
    } else if (!known(path)) {
      errors.push(`${file} line ${last.line}: ${phpPath(last.path)} is only ${last.reason}; ${how}`);
    } else {
      warnings.push(`${file} line ${last.line}: ${phpPath(last.path)} is ${last.reason}; the agent uses the unconditional value — ${how} if the site runs with the other one`);
    }
  }
  for (const [name, how] of FORCED_PATHS) {
    const path = ['forced_plugin_settings', 'tool_vault', name];
    const hit = issues.filter((i) => covers(i.path, path)).pop();
    if (hit) warnings.push(`${file} line ${hit.line}: cannot read ${phpPath(hit.path)} (${hit.reason}); tool_vault's ${name} from config.php is ignored — pass ${how}`);
  }
  if (errors.length) throw new SiteConfigError(errors.join('\n'));
  return warnings;
}

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
  let issues: ConfigPhpIssue[] = [];
  let environment: string[] = [];
  if (configPath) {
    configPath = resolve(configPath);
    ({ cfg, issues, environment } = parseConfigPhp(await readFile(configPath, 'utf8'), configPath, env));
  }
  const configWarnings = checkConfigIssues(issues, configPath ?? 'config.php', (k) => pick(k) !== undefined, (path) => {
    let v: PhpValue | undefined = cfg.get(path[0] as string);
    for (const k of path.slice(1)) v = isArray(v) ? v.entries.get(k) : undefined;
    return v !== undefined;
  });
  // PHP may see other values (php-fpm's clear_env, variables_order without E): say where they came
  // from, names only (values can be passwords).
  if (environment.length) {
    configWarnings.push(`${configPath ?? 'config.php'} reads ${environment.join(', ')} from the environment: the agent used its own environment's value${environment.length > 1 ? 's' : ''}; if the web server's differ, pass the --db*/--dataroot/--wwwroot flags or VAULT_* variables`);
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
    stateDir: siteStateDir(pick('stateDir') ?? defaultStateBase(env), resolve(dataroot as string)),
  };
  if (configPath) site.configPath = configPath;
  if (moodleDir) site.moodleDir = resolve(moodleDir);
  const collation = pick('dbcollation') ?? dbopt('dbcollation');
  if (collation) site.dbcollation = collation;
  if (configWarnings.length) site.configWarnings = configWarnings;
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

/** Agent state persisted in `<state folder>/state.json` (API key, site id, API URL). */
export interface AgentState {
  siteid: string;
  apikey?: string;
  apiurl?: string;
  /** Real path of the dataroot this state belongs to (for the admin reading the folder). */
  dataroot?: string;
}

/**
 * Base state folder: `--state-dir`, else `$VAULT_AGENT_STATE_DIR`, else `/var/lib/vault-agent` for
 * root, else `$XDG_STATE_HOME/vault-agent` (default `~/.local/state/vault-agent`), as the XDG base
 * directory spec and the FHS place per-machine and per-user state.
 */
export function defaultStateBase(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  const given = env[STATE_DIR_ENV];
  if (given) return resolve(given);
  if (uid === 0) return '/var/lib/vault-agent';
  const xdg = env.XDG_STATE_HOME;
  // The spec says a relative XDG path is invalid and must be ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'vault-agent');
}

/**
 * Real path of `path`: of the folder itself when it exists (symlinked dataroots map to one state
 * folder), else of its nearest existing ancestor with the rest appended, so a folder not created
 * yet under a symlink is placed where the link really leads.
 */
function realOrResolved(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realOrResolved(parent), basename(abs));
  }
}

/**
 * The site's own state folder inside `base`: the dataroot's folder name (for people) plus the
 * first 16 hex digits of SHA-256 of its real path (stable, unique per site on the machine).
 */
export function siteStateDir(base: string, dataroot: string): string {
  const real = realOrResolved(dataroot);
  const name = basename(real).replace(/[^A-Za-z0-9._-]/g, '_') || 'root';
  return join(resolve(base), `${name}-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`);
}

/** True when `inner` is `outer` or inside it. */
function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Path of the agent's state folder of this site. */
export function stateDir(site: Pick<SiteConfig, 'stateDir'>): string {
  return site.stateDir;
}

/** Where the parsed install.xml definitions of the site's code tree are kept between runs (schema/install-tree.ts). */
export function installTreeCacheFile(site: Pick<SiteConfig, 'stateDir'>): string {
  return join(site.stateDir, 'install-tree.json');
}

/** The state folder must stay out of everything a backup carries (dataroot) or a web server serves (code tree). */
function assertStateDirOutside(site: Pick<SiteConfig, 'stateDir' | 'dataroot' | 'moodleDir' | 'configPath'>): void {
  const dir = realOrResolved(site.stateDir);
  // config.php's folder is the code tree on a real site (it has version.php); a bare config.php elsewhere is not.
  const configDir = site.configPath ? dirname(site.configPath) : undefined;
  const codeTree = site.moodleDir ?? (configDir && existsSync(join(configDir, 'version.php')) ? configDir : undefined);
  for (const [what, root] of [['dataroot', site.dataroot], ['Moodle code tree', codeTree]] as const) {
    if (root && isWithin(dir, realOrResolved(root))) {
      throw new SiteConfigError(`the agent state folder ${site.stateDir} is inside the ${what} ${root}: a backup or the web server would expose the API key; choose another with --state-dir or ${STATE_DIR_ENV}`);
    }
  }
}

/** Makes every file under `dir` owner-only (0600 files, 0700 folders). */
async function restrictTree(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await restrictTree(p);
    else if (e.isFile()) await chmod(p, 0o600);
  }
}

/** What {@link prepareStateDir} did, for the log. */
export interface StatePreparation {
  /** The old `<dataroot>/vault-agent/` was moved here. */
  movedFrom?: string;
  /** A `<dataroot>/vault-agent/` exists but the state folder already had a state: left alone. */
  leftover?: string;
}

/**
 * Creates the site's state folder (0700) and, on the first run after an upgrade, moves an existing
 * `<dataroot>/vault-agent/` into it (rename, or copy and remove across file systems). A leftover
 * found when the state folder already holds a state is not adopted: it came from somewhere else
 * (typically a restore of a backup taken while the state lived in the dataroot).
 */
export async function prepareStateDir(site: Pick<SiteConfig, 'stateDir' | 'dataroot' | 'moodleDir'>): Promise<StatePreparation> {
  assertStateDirOutside(site);
  const dir = site.stateDir;
  const old = join(site.dataroot, AGENT_STATE_DIRNAME);
  const oldIsDir = (await lstat(old).catch(() => null))?.isDirectory() ?? false;
  const out: StatePreparation = {};
  if (oldIsDir && !existsSync(join(dir, 'state.json'))) {
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o700 });
    let moved = false;
    if (!existsSync(dir)) {
      try {
        await rename(old, dir);
        moved = true;
      } catch (err) {
        // Another file system: copy, then remove (below).
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      }
    }
    if (!moved) {
      // Merge into a folder that exists without a state (e.g. a run that stopped before writing it).
      await cp(old, dir, { recursive: true, force: false, preserveTimestamps: true });
      await rm(old, { recursive: true, force: true });
    }
    await restrictTree(dir);
    out.movedFrom = old;
  } else if (oldIsDir) {
    out.leftover = old;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by the umask and ignored for an existing folder.
  if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
  return out;
}

const SITEID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random 32-char `[A-Za-z0-9]` site id, like the plugin's. */
export function newSiteId(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += SITEID_ALPHABET[randomInt(SITEID_ALPHABET.length)];
  return s;
}

/** Loads the agent state, creating it (with a fresh site id) on first use; a state readable by others is made 0600. */
export async function loadState(site: Pick<SiteConfig, 'stateDir' | 'dataroot'>): Promise<AgentState> {
  const file = join(stateDir(site), 'state.json');
  const st = await stat(file).catch(() => null);
  if (st) {
    if ((st.mode & 0o077) !== 0) await chmod(file, 0o600);
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<AgentState>;
    if (typeof parsed.siteid === 'string' && parsed.siteid) return parsed as AgentState;
  }
  const state: AgentState = { siteid: newSiteId(), dataroot: realOrResolved(site.dataroot) };
  await saveState(site, state);
  return state;
}

/** Writes the state atomically, readable by the owner only (it holds the API key). */
export async function saveState(site: Pick<SiteConfig, 'stateDir' | 'dataroot'>, state: AgentState): Promise<void> {
  const dir = stateDir(site);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `state.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify({ ...state, dataroot: state.dataroot ?? realOrResolved(site.dataroot) }, null, 2), { mode: 0o600 });
  await rename(tmp, join(dir, 'state.json'));
}

/**
 * Components of the plugins present in a Moodle code tree: from `PLUGINS.tsv` (schema snapshots),
 * else found like `core_component` does (plugin type folders, subplugins; `auth/db` included).
 */
export async function codeComponents(moodleDir: string): Promise<Set<string>> {
  const tsv = join(moodleDir, 'PLUGINS.tsv');
  if (existsSync(tsv)) {
    return new Set((await readFile(tsv, 'utf8')).split('\n').slice(1).map((line) => (line.split('\t')[0] ?? '').trim()).filter(Boolean));
  }
  return new Set([...(await discoverPlugins(moodleDir)).values()].map((p) => p.component));
}
