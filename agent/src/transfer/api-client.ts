/**
 * Typed client for the Vault API site protocol (vault-api-protocol.md §3–§5), sending the same
 * headers and bodies as tool_vault so that the server cannot tell the agent from the plugin.
 * Responses are validated with zod; a non-200 surfaces the API's `{message}`.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ApiError, NetworkError } from './errors.js';

/** tool_vault version the agent speaks for (`vaultversion`). */
export const VAULT_VERSION = '2026051200';

/** Options of the API client. */
export interface ApiClientOptions {
  apiUrl: string;
  apiKey?: string;
  siteId: string;
  siteUrl: string;
  /** Per-attempt timeout; the plugin uses 20 s. */
  timeoutMs?: number;
  /** Pauses between attempts after connection errors; the plugin uses 2, 4, 6 s. */
  retryDelaysMs?: readonly number[];
}

/** `vaultenv` as the plugin sends it. */
export interface VaultEnv {
  PHP: string;
  Moodle: string;
  DB: string;
  max_execution_time: string;
  isvaultcli: boolean;
  max_allowed_packet: number | null;
}

const HeaderList = z.array(z.string()).optional();

const PrecheckSchema = z.object({
  expiredays: z.coerce.number().optional(),
  canchangeexpiration: z.boolean().optional(),
  limit: z.coerce.number().optional(),
  buckets: z.array(z.object({
    id: z.string(),
    label: z.string().optional(),
    isdefault: z.boolean().optional(),
    encryption: z.boolean().optional(),
    type: z.string().optional(),
  }).loose()).optional(),
}).loose();
/** Answer of the backup precheck. */
export type BackupPrecheck = z.infer<typeof PrecheckSchema>;

const UploadSchema = z.object({
  uploadurl: z.string().optional(),
  multiplarturl: z.string().optional(),
  uploadurls: z.array(z.string()).optional(),
  uploadheaders: HeaderList,
}).loose();
/** Answer of `POST backups/{key}/upload/{file}`. */
export type UploadUrls = z.infer<typeof UploadSchema>;

const FileSchema = z.object({
  name: z.string(),
  size: z.coerce.number().optional(),
  filesize: z.coerce.number().optional(),
  origsize: z.coerce.number().optional(),
  etag: z.string().optional(),
}).loose();
/** One archive in a backup record. */
export type BackupFile = z.infer<typeof FileSchema>;

/** An archive's stored size: `size` as the agent records it, `filesize` as the plugin's listing has it. */
export const backupFileSize = (f: BackupFile): number => f.size ?? f.filesize ?? 0;

const BackupSchema = z.object({
  backupkey: z.string().optional(),
  status: z.string(),
  timecreated: z.coerce.number().optional(),
  timemodified: z.coerce.number().optional(),
  info: z.record(z.string(), z.unknown()).or(z.array(z.unknown()).transform(() => ({}))).optional(),
  files: z.array(FileSchema).optional(),
}).loose();
/** A backup record (§6). */
export type BackupRecord = z.infer<typeof BackupSchema>;

const ValidateSchema = z.object({
  encrypted: z.boolean().optional(),
  downloadurl: z.string().optional(),
  downloadheaders: HeaderList,
}).loose();

const DownloadSchema = z.object({
  downloadurl: z.string(),
  encrypted: z.boolean().optional(),
  downloadheaders: HeaderList,
}).loose();
/** Answer of `GET restores/{key}/download/{file}`. */
export type DownloadUrl = z.infer<typeof DownloadSchema>;

/** Body of `uploadcompleted`. */
export interface UploadCompleted {
  origsize: number;
  multipart?: { UploadId: string; ETags: string[] };
}

/**
 * Keep-alive agents: a run's calls share their connection (on https, one TLS set-up). An idle
 * connection is closed after 4 s (as undici did), before servers with a 5 s keep-alive close it
 * under a reused request. Idle sockets do not keep the process alive.
 */
const apiAgents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 }),
};

/**
 * One exchange with the API: the status and the body's text, whatever the status (redirects are
 * not followed). Rejects on connection errors and when the whole exchange takes longer than
 * `timeoutMs`. node:http rather than fetch: fetch's first call loads and compiles undici, ~45 ms
 * of CPU at the start of every command, on its critical path (the first call validates the key).
 */
export function exchange(method: string, url: string, headers: Record<string, string>, payload: string | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const h = payload === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(payload)) };
  return new Promise((resolve, reject) => {
    const deadline: { timer?: NodeJS.Timeout } = {};
    const fail = (err: Error): void => {
      clearTimeout(deadline.timer);
      reject(err);
    };
    let req: http.ClientRequest;
    try {
      // Throws at once on a header value node refuses (a line break, a character above U+00FF).
      req = (secure ? https : http).request(u, { method, headers: h, agent: secure ? apiAgents.https : apiAgents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(deadline.timer);
          // As fetch's text(): a leading byte-order mark is not part of the text.
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8').replace(/^\uFEFF/, '') });
        });
      });
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    deadline.timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', fail);
    req.end(payload);
  });
}

/** Client for the Vault API. One instance per command run. */
export class ApiClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly retryDelaysMs: readonly number[];

  constructor(private readonly opts: ApiClientOptions) {
    this.base = opts.apiUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.retryDelaysMs = opts.retryDelaysMs ?? [2000, 4000, 6000];
  }

  /** Sends one call; retries only when no HTTP status was received, like the plugin. */
  async call(method: 'GET' | 'PUT' | 'POST' | 'PATCH', endpoint: string, body?: unknown, apiKey = this.opts.apiKey): Promise<unknown> {
    const url = `${this.base}/${endpoint.replace(/^\/+/, '')}`;
    const headers: Record<string, string> = {
      'X-Vault-Siteid': this.opts.siteId,
      'X-Vault-Siteurl': this.opts.siteUrl,
      Accept: 'application/json',
      // node:http sends none; some firewalls refuse requests without one (fetch sent `node`).
      'User-Agent': 'vault-agent',
    };
    if (apiKey) headers['X-Api-Key'] = apiKey;
    let payload: string | undefined;
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body ?? {});
    }
    let lastErr: unknown;
    for (let attempt = 0; attempt <= this.retryDelaysMs.length; attempt++) {
      if (attempt > 0) await sleep(this.retryDelaysMs[attempt - 1] ?? 0);
      let res: { status: number; text: string };
      try {
        res = await exchange(method, url, headers, payload, this.timeoutMs);
      } catch (err) {
        lastErr = err;
        continue;
      }
      const { text } = res;
      if (res.status !== 200) throw new ApiError(res.status, apiMessageOf(text), `${method} ${endpoint}`);
      if (text.trim() === '') return {};
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ApiError(res.status, `invalid JSON in response: ${text.slice(0, 200)}`, `${method} ${endpoint}`);
      }
    }
    const cause = lastErr instanceof Error ? (lastErr.cause instanceof Error ? lastErr.cause.message : lastErr.message) : String(lastErr);
    throw new NetworkError(`Cannot reach the Vault API: ${method} ${url}: ${cause}`, { cause: lastErr });
  }

  private parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const r = schema.safeParse(value);
    if (!r.success) throw new ApiError(200, `unexpected response to ${what}: ${r.error.message}`, what);
    return r.data;
  }

  /** True when the key is valid (200), false on 401. */
  async validateApiKey(key = this.opts.apiKey): Promise<boolean> {
    try {
      await this.call('GET', 'validateapikey', undefined, key);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return false;
      throw err;
    }
  }

  /** `PUT backups {precheckonly: 1}`: plan options, or a refusal. */
  async precheckBackup(): Promise<BackupPrecheck> {
    return this.parse(PrecheckSchema, await this.call('PUT', 'backups', { precheckonly: 1, vaultversion: VAULT_VERSION }), 'backup precheck');
  }

  /** `PUT backups`: creates the record, returns the backup key. */
  async createBackup(req: { description: string; encrypted: boolean; bucket: string; expiredays: number; vaultenv: VaultEnv }): Promise<string> {
    const r = this.parse(z.object({ backupkey: z.string().min(1) }).loose(), await this.call('PUT', 'backups', { ...req, vaultversion: VAULT_VERSION }), 'create backup');
    return r.backupkey;
  }

  /** `POST backups/{key}/upload/{file}` (single, multipart step 1 or step 2). */
  async requestUpload(backupkey: string, filename: string, multipart?: { parts: number; uploadid?: string }): Promise<UploadUrls> {
    const body: Record<string, unknown> = { contenttype: 'application/zip' };
    if (multipart) body.multipart = multipart;
    return this.parse(UploadSchema, await this.call('POST', `backups/${backupkey}/upload/${filename}`, body), 'upload');
  }

  /** `POST backups/{key}/uploadcompleted/{file}`. */
  async uploadCompleted(backupkey: string, filename: string, body: UploadCompleted): Promise<void> {
    await this.call('POST', `backups/${backupkey}/uploadcompleted/${filename}`, body);
  }

  /** `PATCH backups/{key}`. */
  async patchBackup(backupkey: string, status: 'finished' | 'failed', info: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `backups/${backupkey}`, { status, info });
  }

  /** `GET backups`: all records this key may see (unfiltered). */
  async listBackups(): Promise<BackupRecord[]> {
    const r = this.parse(z.object({ backups: z.array(BackupSchema) }).loose(), await this.call('GET', 'backups'), 'list backups');
    return r.backups;
  }

  /** `GET backups/{key}` including `files`. */
  async getBackup(backupkey: string): Promise<BackupRecord> {
    const r = this.parse(BackupSchema, await this.call('GET', `backups/${backupkey}`), 'get backup');
    return { ...r, backupkey };
  }

  /** `GET backups/{key}/validate`: restore gate and passphrase-check URL. */
  async validateBackup(backupkey: string): Promise<z.infer<typeof ValidateSchema>> {
    return this.parse(ValidateSchema, await this.call('GET', `backups/${backupkey}/validate?vaultversion=${VAULT_VERSION}`), 'validate');
  }

  /** `PUT restores`: returns the restore key. */
  async createRestore(req: { backupkey: string; dryrun?: boolean; vaultenv: VaultEnv }): Promise<string> {
    const body: Record<string, unknown> = { backupkey: req.backupkey };
    if (req.dryrun) body.dryrun = true;
    body.vaultversion = VAULT_VERSION;
    body.vaultenv = req.vaultenv;
    const r = this.parse(z.object({ restorekey: z.string().min(1) }).loose(), await this.call('PUT', 'restores', body), 'create restore');
    return r.restorekey;
  }

  /** `PATCH restores/{key}`. */
  async patchRestore(restorekey: string, status: 'resume' | 'finished' | 'failed', info?: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `restores/${restorekey}`, info && Object.keys(info).length ? { status, info } : { status });
  }

  /** `GET restores/{key}/download/{file}`. */
  async downloadUrl(restorekey: string, filename: string): Promise<DownloadUrl> {
    return this.parse(DownloadSchema, await this.call('GET', `restores/${restorekey}/download/${filename}`), 'download');
  }

  /** `POST reporterror`; failures are swallowed like the plugin does. */
  async reportError(faileddetails: string): Promise<void> {
    await this.call('POST', 'reporterror', { faileddetails }).catch(() => undefined);
  }

  /** `POST account/register {email}` (our account API); returns the response as-is. */
  async register(email: string): Promise<Record<string, unknown>> {
    return this.parse(z.record(z.string(), z.unknown()), await this.call('POST', 'account/register', { email }, ''), 'register');
  }
}

/** The error text of a non-200 body: `message` of a `{message}` object, else the raw body. */
function apiMessageOf(text: string): string {
  try {
    const o = JSON.parse(text) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === 'message') return String((o as { message: unknown }).message);
    }
  } catch { /* not JSON */ }
  return text.trim().slice(0, 2000);
}

/** Parses `"Name: value"` header lines from the API into a header object. */
export function headerLines(lines: readonly string[] | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  for (const line of lines ?? []) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    // An empty Authorization line is the plugin's curl idiom for "no auth header": drop it.
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'authorization' && value === '') continue;
    h[name] = value;
  }
  return h;
}
