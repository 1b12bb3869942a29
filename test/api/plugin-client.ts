/**
 * A stand-in for tool_vault's HTTP layer (spec §3): the same headers on every call, bodies
 * serialised like PHP's `json_encode` (escaped slashes, `\uXXXX`, `parts` as `5.0`), and S3
 * transfers with the SSE-C header lines of §7.1 added before the server's header list.
 */
import { createHash } from 'node:crypto';

/** PHP `json_encode` with default flags, for the values the plugin sends. */
export function phpJson(value: unknown, floats: string[] = []): string {
  let s = JSON.stringify(value)
    .replaceAll('/', '\\/')
    .replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // ceil() returns a float in PHP: {"parts":5} is sent as {"parts":5.0}.
  for (const key of floats) s = s.replace(new RegExp(`"${key}":(\\d+)([,}])`), `"${key}":$1.0$2`);
  return s;
}

/** SSE-C header lines for a passphrase (spec §7.1). */
export function sseHeaders(passphrase: string): string[] {
  if (!passphrase) return [];
  const key = createHash('sha256').update(passphrase, 'utf8').digest();
  return [
    'x-amz-server-side-encryption-customer-algorithm: AES256',
    `x-amz-server-side-encryption-customer-key: ${key.toString('base64')}`,
    `x-amz-server-side-encryption-customer-key-MD5: ${createHash('md5').update(key).digest('base64')}`,
  ];
}

/** Header lines ("Name: value") to a Headers object (later lines override earlier ones). */
export function headerLines(lines: string[]): Headers {
  const h = new Headers();
  for (const line of lines) {
    const i = line.indexOf(':');
    h.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return h;
}

/** Result of an API call. */
export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export const VAULT_VERSION = '2026051200';
export const VAULT_ENV = { PHP: '8.3.6', Moodle: '4.5.1+ (Build: 20250101)', DB: 'postgres 16.2', max_execution_time: '0', isvaultcli: false, max_allowed_packet: null };

/** One site: its id, url and key, calling the API like the plugin. */
export class PluginClient {
  /** How API calls are sent (default: real HTTP); tests may route them to `app.request`. */
  fetchApi: (url: string, init: RequestInit) => Promise<Response> = (url, init) => fetch(url, init);

  constructor(
    readonly apiUrl: string,
    public apikey: string | undefined,
    readonly siteid = 'S1TE0000000000000000000000000001',
    readonly siteurl = 'https://moodle.example.com/sub',
  ) {}

  /** `<apiurl>/<endpoint>` with the plugin's headers; `floats` = keys sent as PHP floats. */
  async call(method: string, endpoint: string, params?: Record<string, unknown>, floats: string[] = []): Promise<ApiResponse> {
    const headers: Record<string, string> = { 'X-Vault-Siteid': this.siteid, 'X-Vault-Siteurl': this.siteurl, Accept: 'application/json' };
    if (this.apikey) headers['X-Api-Key'] = this.apikey;
    let url = `${this.apiUrl}/${endpoint.replace(/^\/+/, '')}`;
    let body: string | undefined;
    if (method === 'GET') {
      if (params) url += `?${new URLSearchParams(params as Record<string, string>).toString()}`;
    } else {
      headers['Content-Type'] = 'application/json';
      body = phpJson(params ?? {}, floats);
    }
    const res = await this.fetchApi(url, { method, headers, body, signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = {};
    }
    return { status: res.status, body: parsed, text };
  }

  /** Like `call` but fails unless HTTP 200. */
  async ok(method: string, endpoint: string, params?: Record<string, unknown>, floats: string[] = []): Promise<Record<string, unknown>> {
    const r = await this.call(method, endpoint, params, floats);
    if (r.status !== 200) throw new Error(`${method} ${endpoint} → ${r.status} ${r.text}`);
    return r.body;
  }

  /** The plugin's upload of one archive: single PUT below `multipartPartSize * 1`, else multipart. */
  async uploadArchive(backupkey: string, name: string, data: Buffer, opts: { passphrase?: string; partSize?: number; origsize?: number } = {}): Promise<void> {
    const sse = sseHeaders(opts.passphrase ?? '');
    const origsize = opts.origsize ?? data.length * 3;
    if (!opts.partSize) {
      const r = await this.ok('POST', `backups/${backupkey}/upload/${name}`, { contenttype: 'application/zip' });
      const put = await fetch(r.uploadurl as string, { method: 'PUT', body: data, headers: headerLines([...sse, ...(r.uploadheaders as string[])]) });
      if (put.status !== 200) throw new Error(`S3 PUT ${put.status} ${await put.text()}`);
      await this.ok('POST', `backups/${backupkey}/uploadcompleted/${name}`, { origsize });
      return;
    }
    const parts = Math.ceil(data.length / opts.partSize);
    const step1 = await this.ok('POST', `backups/${backupkey}/upload/${name}`, { contenttype: 'application/zip', multipart: { parts } }, ['parts']);
    const init = await fetch(step1.multiplarturl as string, { method: 'POST', headers: headerLines([...sse, ...(step1.uploadheaders as string[])]) });
    const xml = await init.text();
    if (init.status !== 200) throw new Error(`initiate ${init.status} ${xml}`);
    const uploadid = /<UploadId>([^<]+)<\/UploadId>/.exec(xml)?.[1];
    if (!uploadid) throw new Error(`no UploadId in ${xml}`);
    const step2 = await this.ok('POST', `backups/${backupkey}/upload/${name}`, { contenttype: 'application/zip', multipart: { parts, uploadid } }, ['parts']);
    const urls = step2.uploadurls as string[];
    const etags: string[] = [];
    for (let i = 0; i < parts; i++) {
      const chunk = data.subarray(i * opts.partSize, (i + 1) * opts.partSize);
      const put = await fetch(urls[i] as string, { method: 'PUT', body: chunk, headers: headerLines([...sse, ...(step2.uploadheaders as string[])]) });
      if (put.status !== 200) throw new Error(`part ${i + 1}: ${put.status} ${await put.text()}`);
      etags.push(put.headers.get('etag') ?? 'Unknown');
    }
    await this.ok('POST', `backups/${backupkey}/uploadcompleted/${name}`, { origsize, multipart: { UploadId: uploadid, ETags: etags } });
  }

  /** Downloads an archive of a restore like the plugin (SSE-C lines when `encrypted`). */
  async downloadArchive(restorekey: string, name: string, passphrase = ''): Promise<Buffer> {
    const r = await this.ok('GET', `restores/${restorekey}/download/${name}`);
    const sse = r.encrypted === true ? sseHeaders(passphrase) : [];
    const res = await fetch(r.downloadurl as string, { headers: headerLines([...sse, ...((r.downloadheaders as string[] | undefined) ?? [])]) });
    if (res.status !== 200) throw new Error(`S3 GET ${res.status} ${await res.text()}`);
    return Buffer.from(await res.arrayBuffer());
  }
}
