/**
 * Everything a command needs, built once from flags and environment: the site, the agent state,
 * the API client, storage options, temp folder and logger. The passphrase is read here from a
 * file or an environment variable and kept only in memory (as the derived SSE-C key).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_COMPRESSION_LEVEL } from '../archive/zip-writer.js';
import { DEFAULT_SPLIT_FILES } from '../files/archive-series.js';
import { createLogger, silentLogger, type Logger } from '../log/logger.js';
import { loadState, prepareStateDir, resolveSite, saveState, SiteConfigError, stateDir, type AgentState, type SiteConfig, type SiteFlags } from '../moodle/site.js';
import { ApiClient } from '../transfer/api-client.js';
import { AgentError } from '../transfer/errors.js';
import { deriveSseCKey, type SseCKey } from '../transfer/sse-c.js';
import type { RetryPolicy } from '../transfer/storage-http.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, type StorageOptions } from '../transfer/upload.js';

/** Default API base URL (the plugin's default). */
export const DEFAULT_API_URL = 'https://v1.api.lmsvault.io';

const MiB = 1024 * 1024;

/** Options shared by all site commands. */
export interface CommonOptions extends SiteFlags {
  apiUrl?: string;
  apiKey?: string;
  allowStorageHost?: string[];
  parallel?: string | number;
  partSize?: string | number;
  splitSize?: string | number;
  splitFiles?: string | number;
  tmpDir?: string;
  quiet?: boolean;
  compressionLevel?: string | number;
  passphraseFile?: string;
  passphraseEnv?: string;
  /** HTTP proxy for storage requests (env VAULT_STORAGE_PROXY). */
  storageProxy?: string;
  /** Tests: faster retries. */
  retry?: RetryPolicy;
}

/** The resolved environment of one command run. */
export interface AgentContext {
  site: SiteConfig;
  state: AgentState;
  api: ApiClient;
  apiUrl: string;
  storage: StorageOptions;
  logger: Logger;
  tmpDir: string;
  partSize: number;
  concurrency: number;
  splitSize: number;
  /** Files per filedir or dataroot archive before a new one starts (see archive-series.ts). */
  splitFiles: number;
  compressionLevel: number;
  quiet: boolean;
}

/** A required value (API key, passphrase source) is missing. */
export class UsageError extends AgentError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

function num(v: string | number | undefined, fallback: number, what: string): number {
  if (v === undefined || v === '') return fallback;
  const s = String(v).trim().toLowerCase();
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g|kib|mib|gib)?$/.exec(s);
  if (!m) throw new UsageError(`${what}: '${v}' is not a number`);
  const mult = { k: 1024, kib: 1024, m: MiB, mib: MiB, g: 1024 * MiB, gib: 1024 * MiB }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

/** Builds the context; `env` defaults to process.env. */
export async function createContext(opts: CommonOptions, env: NodeJS.ProcessEnv = process.env): Promise<AgentContext> {
  const site = await resolveSite(opts, env);
  // Never create a dataroot from a mistyped path: the state folder would silently go there.
  if (!existsSync(site.dataroot)) throw new SiteConfigError(`dataroot ${site.dataroot} does not exist`);
  const quiet = Boolean(opts.quiet);
  const logger = quiet ? { ...silentLogger, error: createLogger().error } : createLogger();
  for (const w of site.configWarnings ?? []) logger.warn(w);
  const prepared = await prepareStateDir(site);
  if (prepared.movedFrom) logger.info(`agent state moved from ${prepared.movedFrom} to ${site.stateDir} (files 0600): it no longer travels in backups of the dataroot`);
  if (prepared.leftover) {
    logger.warn(`${prepared.leftover} is not this agent's state (that is ${site.stateDir}); it probably came with a restore and may hold another site's API key: delete it. It is never backed up.`);
  }
  const state = await loadState(site);
  const fps = site.forcedPluginSettings.tool_vault ?? {};
  const apiUrl = (opts.apiUrl ?? env.VAULT_API_URL ?? fps.apiurl ?? state.apiurl ?? DEFAULT_API_URL).replace(/\/+$/, '');
  const apiKey = opts.apiKey ?? env.VAULT_API_KEY ?? fps.apikey ?? state.apikey;
  const api = new ApiClient({ apiUrl, siteId: state.siteid, siteUrl: site.wwwroot, ...(apiKey ? { apiKey } : {}) });
  const allow = [...(opts.allowStorageHost ?? []), ...(env.VAULT_ALLOW_STORAGE_HOST ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
  const tmpDir = opts.tmpDir ?? env.VAULT_TMPDIR ?? join(stateDir(site), 'tmp');
  await mkdir(tmpDir, { recursive: true });
  const partSize = num(opts.partSize ?? env.VAULT_PART_SIZE, DEFAULT_PART_SIZE, '--part-size');
  if (partSize < 5 * MiB) throw new UsageError('--part-size must be at least 5 MiB (S3 minimum)');
  const storage: StorageOptions = { key: null, policy: { allowHosts: allow } };
  if (opts.retry) storage.retry = opts.retry;
  const proxy = opts.storageProxy ?? env.VAULT_STORAGE_PROXY;
  if (proxy) storage.proxy = proxy;
  storage.onRetry = (attempt, reason) => logger.warn(`storage request retry ${attempt}: ${reason}`);
  return {
    site, state, api, apiUrl, storage, logger, tmpDir, partSize, quiet,
    concurrency: Math.max(1, num(opts.parallel ?? env.VAULT_PARALLEL, DEFAULT_CONCURRENCY, '--parallel')),
    splitSize: num(opts.splitSize ?? env.VAULT_SPLIT_SIZE, 1024 * MiB, '--split-size'),
    splitFiles: num(opts.splitFiles ?? env.VAULT_SPLIT_FILES, DEFAULT_SPLIT_FILES, '--split-files'),
    compressionLevel: Math.min(9, Math.max(0, num(opts.compressionLevel, DEFAULT_COMPRESSION_LEVEL, '--compression-level'))),
  };
}

/** Reads the passphrase from `--passphrase-file` (one trailing newline dropped) or `--passphrase-env`. */
export async function readPassphrase(opts: Pick<CommonOptions, 'passphraseFile' | 'passphraseEnv'>, env: NodeJS.ProcessEnv = process.env): Promise<SseCKey | null> {
  if (opts.passphraseFile) return deriveSseCKey((await readFile(opts.passphraseFile, 'utf8')).replace(/\r?\n$/, ''));
  if (opts.passphraseEnv) {
    const v = env[opts.passphraseEnv];
    if (v === undefined) throw new UsageError(`environment variable ${opts.passphraseEnv} is not set`);
    return deriveSseCKey(v);
  }
  return null;
}

/** Stores the API key (and URL) in the agent state. */
export async function rememberApiKey(ctx: AgentContext, apikey: string): Promise<void> {
  ctx.state.apikey = apikey;
  ctx.state.apiurl = ctx.apiUrl;
  await saveState(ctx.site, ctx.state);
}

/** A JSON state file in the agent's state folder, written atomically (survives kill -9). */
export class StateFile<T> {
  constructor(readonly path: string) {}
  static in<T>(site: SiteConfig, name: string): StateFile<T> {
    return new StateFile<T>(join(stateDir(site), name));
  }
  async load(): Promise<T | null> {
    if (!existsSync(this.path)) return null;
    return JSON.parse(await readFile(this.path, 'utf8')) as T;
  }
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;
  private latest: T | undefined;
  /** The write not begun yet, which every save called before it begins shares. */
  private queued: Promise<void> | undefined;
  /**
   * Saves are serialised, and coalesced: saves called while a write is in progress share the
   * next write, of the value given last, serialised when that write begins (parallel table
   * loads and part uploads report concurrently; the last call wins).
   */
  save(v: T): Promise<void> {
    this.latest = v;
    if (this.queued) return this.queued;
    const next = this.chain.then(async () => {
      this.queued = undefined;
      const text = JSON.stringify(this.latest);
      const tmp = `${this.path}.${process.pid}.${++this.seq}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.queued = next;
    this.chain = next.catch(() => undefined);
    return next;
  }
  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** `vaultenv` for API calls made by the agent. */
export function vaultEnv(engine: string, release: string): { PHP: string; Moodle: string; DB: string; max_execution_time: string; isvaultcli: boolean; max_allowed_packet: number | null } {
  return { PHP: `none (vault-agent on Node ${process.versions.node})`, Moodle: release, DB: engine, max_execution_time: '0', isvaultcli: true, max_allowed_packet: null };
}
