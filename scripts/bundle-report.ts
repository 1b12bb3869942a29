/**
 * Lambda bundle budget: builds each function with the exact esbuild settings of the CDK stack
 * (infra/bundling.ts) and reports bundle bytes, gzip bytes, module-load time (median of 10
 * fresh `node` processes importing the bundle) and, in the same processes, the time of the
 * handler's first invocation. Run: `npx tsx scripts/bundle-report.ts`.
 * Exits non-zero when a bundle exceeds the gzip budget.
 *
 * The first invocation is one that needs every lazily loaded part (the S3 client code of site and
 * ops, lambdas/store/lazy-object-storage.ts), so that what a cold start no longer loads is still
 * measured: site `POST /backups/{key}/uploadcompleted/dbdump.zip` (key lookup, backup and file
 * read, the object's size from an S3 listing, the file recorded, account and backup re-read),
 * ops one run (table queries, then ListMultipartUploads per bucket), account
 * `POST /account/register`. DynamoDB and S3 are a stub HTTP server in this process that answers
 * at once (stubAws), so the figure is the function's own work, not a database's.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildFunction, FUNCTION_NAMES, PROJECT_ROOT, type LambdaName } from '../infra/bundling.js';
import { generateApiKey } from '../lambdas/domain/api-keys.js';

export interface BundleRow {
  fn: LambdaName;
  /** Size of the minified code (index.mjs and its chunks), bytes. */
  bytes: number;
  /** Its gzip size (level 9, per file, summed), bytes: what the budget is about. */
  gzipBytes: number;
  /** Size of index.mjs alone (without the lazily imported files), bytes. */
  entryBytes: number;
  entryGzipBytes: number;
  /** Median time to import the bundle in a fresh node process, ms (wall clock). */
  loadMs: number;
  /** Median CPU time (user + system) of that import, ms: steadier than wall time on a busy machine. */
  cpuMs: number;
  /** The handler's first invocation right after the import (same processes; see the module doc). */
  firstRequest: FirstRequestFigures;
}

/** Median wall and CPU time of a handler's first invocation in a fresh process. */
export interface FirstRequestFigures {
  /** What was invoked, e.g. `POST /backups/{key}/upload/dbdump.zip`. */
  label: string;
  wallMs: number;
  cpuMs: number;
}

/** Wall and CPU (user + system) time of one import or invocation, ms. */
export interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Budget per function (gzip). */
export const GZIP_BUDGET_BYTES = 300 * 1024;

const LOAD_RUNS = 10;
const OUT_DIR = join(PROJECT_ROOT, '.tmp', 'bundles');

/** Environment the handlers need at import time (they read it when the module loads). */
const IMPORT_ENV: Record<string, string> = {
  AWS_REGION: 'eu-central-1',
  TABLE_NAME: 'bundle-report',
  BUCKETS: '{}',
  MAX_PRESIGN_SECONDS: '3600',
  AWS_ACCESS_KEY_ID: 'AKIDBUNDLEREPORT',
  AWS_SECRET_ACCESS_KEY: 'bundle-report',
  VERIFY_SECRET: 'bundle-report-verify-secret-0123456789abcdef',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** Builds one function's bundle into `outDir/<fn>/` (index.mjs and lazy/) and returns the index.mjs path. */
export async function bundle(fn: LambdaName, outDir = OUT_DIR): Promise<string> {
  const dir = join(outDir, fn);
  rmSync(dir, { recursive: true, force: true });
  const [index] = await buildFunction(fn, dir);
  return index as string;
}

/**
 * Script lines that import `file` as `m`, leaving its wall time in `ms` and CPU usage in `cu`;
 * they throw if the module does not export a `handler` function.
 */
function importTimingLines(file: string): string[] {
  return [
    'const c = process.cpuUsage(); const t = performance.now();',
    `const m = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const ms = performance.now() - t; const cu = process.cpuUsage(c);',
    "if (typeof m.handler !== 'function') throw new Error('no handler export');",
  ];
}

/**
 * Import time of one fresh process (excludes node's own start-up). Fails if the module does not
 * export a `handler` function.
 */
export function loadOnce(file: string): Timing {
  const script = [
    ...importTimingLines(file),
    'process.stdout.write(JSON.stringify({ wallMs: ms, cpuMs: (cu.user + cu.system) / 1000 }));',
  ].join(' ');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...IMPORT_ENV },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as Timing;
}

/**
 * Raw and gzip (level 9) size of a function's code: `index.mjs` and its lazily imported files in
 * `lazy/` (what is deployed, source maps aside), and of `index.mjs` alone (`entry*`: what a cold
 * start reads).
 */
export function sizesOf(file: string): { bytes: number; gzipBytes: number; entryBytes: number; entryGzipBytes: number } {
  const files = [file, ...codeFiles(join(dirname(file), 'lazy'))];
  let bytes = 0;
  let gzipBytes = 0;
  for (const f of files) {
    const code = readFileSync(f);
    bytes += code.length;
    gzipBytes += gzipSync(code, { level: 9 }).length;
  }
  const entry = readFileSync(file);
  return { bytes, gzipBytes, entryBytes: entry.length, entryGzipBytes: gzipSync(entry, { level: 9 }).length };
}

function codeFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.mjs')).map((f) => join(dir, f));
}

const execFileAsync = promisify(execFile);
const STUB_ACCOUNT = 'acct-bundle-report';
const STUB_BACKUP = 'bundlereport0001';

/** The first invocation measured per function (see the module doc). */
export const FIRST_REQUESTS: Record<LambdaName, { label: string; event: unknown }> = {
  account: { label: 'POST /account/register', event: httpEvent('POST', '/account/register', { 'content-type': 'application/json' }, JSON.stringify({ email: 'bundle-report@example.org' })) },
  site: {
    label: 'POST /backups/{key}/uploadcompleted/dbdump.zip',
    event: httpEvent('POST', `/backups/${STUB_BACKUP}/uploadcompleted/dbdump.zip`, { 'content-type': 'application/json', 'x-api-key': generateApiKey(), 'x-vault-siteid': 'bundle-report', 'x-vault-siteurl': 'https://moodle.example.org' }, JSON.stringify({ origsize: 2048 })),
  },
  ops: { label: 'scheduled run (nothing due)', event: {} },
};

/** An API Gateway HTTP API (payload 2.0) event. */
function httpEvent(method: string, path: string, headers: Record<string, string>, body: string): unknown {
  return {
    version: '2.0', routeKey: `${method} ${path}`, rawPath: path, rawQueryString: '',
    headers: { host: 'api.example.org', ...headers },
    requestContext: {
      accountId: '1', apiId: 'a', domainName: 'api.example.org', domainPrefix: 'api', requestId: 'r', routeKey: `${method} ${path}`,
      stage: '$default', time: '', timeEpoch: 0, http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'bundle-report' },
    },
    body, isBase64Encoded: false,
  };
}

type Attr = { S: string } | { N: string } | { BOOL: boolean } | { M: Record<string, Attr> } | { L: Attr[] };
const str = (v: string): Attr => ({ S: v });
const num = (v: number): Attr => ({ N: String(v) });

/** The item a stub GetItem returns for a sort key: a key with every scope, a free account, an in-progress backup. */
function stubItem(pk: string, sk: string): Record<string, Attr> | undefined {
  const base = { pk: str(pk), sk: str(sk) };
  if (sk === 'APIKEY') {
    return { ...base, keyId: str('k1'), accountId: str(STUB_ACCOUNT), name: str('bundle-report'), scopes: { L: [str('backup'), str('restore'), str('account')] }, hint: str('vault...'), createdAt: num(1) };
  }
  if (sk === 'META') return { ...base, accountId: str(STUB_ACCOUNT), email: str('bundle-report@example.org'), plan: str('free'), verified: { BOOL: true }, createdAt: num(1) };
  if (sk.startsWith('BACKUP#')) {
    return {
      ...base, accountId: str(STUB_ACCOUNT), backupKey: str(sk.slice(7)), status: str('inprogress'), siteId: str('bundle-report'), siteUrl: str(''),
      description: str(''), encrypted: { BOOL: false }, region: str('eu'), expireDays: num(0), expiry: num(0), createdAt: num(1), modifiedAt: num(1),
      archivedBytes: num(0), info: { M: {} }, vaultVersion: str(''),
    };
  }
  return undefined;
}

/**
 * DynamoDB (JSON protocol, by `X-Amz-Target`) and S3 on one local port, answering at once:
 * GetItem and BatchGetItem by sort key (stubItem), Query with no items, writes accepted; an object listing holds
 * the object asked for, no multipart uploads.
 */
export async function stubAws(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      if (typeof target === 'string') {
        const op = target.split('.')[1] ?? '';
        type Key = { pk?: { S?: string }; sk?: { S?: string } };
        const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Key?: Key; RequestItems?: Record<string, { Keys?: Key[] }> };
        let out: unknown = {};
        if (op === 'GetItem') {
          const item = stubItem(input.Key?.pk?.S ?? '', input.Key?.sk?.S ?? '');
          out = item ? { Item: item } : {};
        } else if (op === 'BatchGetItem') {
          const responses = Object.fromEntries(Object.entries(input.RequestItems ?? {}).map(([table, req]) => [
            table, (req.Keys ?? []).map((k) => stubItem(k.pk?.S ?? '', k.sk?.S ?? '')).filter((i) => i !== undefined),
          ]));
          out = { Responses: responses, UnprocessedKeys: {} };
        } else if (op === 'Query') out = { Items: [], Count: 0, ScannedCount: 0 };
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'stub' });
        res.end(JSON.stringify(out));
        return;
      }
      const url = new URL(req.url ?? '/', 'http://stub');
      const bucket = url.pathname.split('/')[1] ?? '';
      const prefix = url.searchParams.get('prefix') ?? '';
      // A listing by prefix finds that object (2 KiB); there are no multipart uploads.
      const xml = url.searchParams.has('uploads')
        ? `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`
        : `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name><Prefix>${prefix}</Prefix><IsTruncated>false</IsTruncated><KeyCount>1</KeyCount><Contents><Key>${prefix}</Key><Size>2048</Size><ETag>"0123456789abcdef0123456789abcdef"</ETag></Contents></ListBucketResult>`;
      res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': 'stub' });
      res.end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** One fresh process: the import (as `loadOnce`), then the first invocation of `fn`'s handler against the stub. */
export async function loadAndInvokeOnce(file: string, fn: LambdaName, endpoint: string): Promise<{ load: Timing; first: Timing }> {
  const script = [
    ...importTimingLines(file),
    'const c2 = process.cpuUsage(); const t2 = performance.now();',
    `const res = await m.handler(${JSON.stringify(FIRST_REQUESTS[fn].event)}, {});`,
    'const ms2 = performance.now() - t2; const cu2 = process.cpuUsage(c2);',
    fn === 'ops'
      ? "if (!res || typeof res.abortedUploads !== 'number') throw new Error('first run: ' + JSON.stringify(res));"
      : "if (!res || res.statusCode !== 200) throw new Error('first request: ' + (res && res.statusCode) + ' ' + (res && res.body));",
    "process.stdout.write('\\n@@figures ' + JSON.stringify({ load: { wallMs: ms, cpuMs: (cu.user + cu.system) / 1000 }, first: { wallMs: ms2, cpuMs: (cu2.user + cu2.system) / 1000 } }));",
  ].join(' ');
  const env = { PATH: process.env.PATH ?? '', ...IMPORT_ENV, BUCKETS: '{"eu":"bundle-report-eu"}', DDB_ENDPOINT: endpoint, S3_ENDPOINT: endpoint };
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return JSON.parse(stdout.slice(stdout.lastIndexOf('@@figures ') + 10)) as { load: Timing; first: Timing };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Measures the bundles at `files` (function → bundle path): sizes, load and first invocation. */
export async function measureBundles(files: ReadonlyMap<LambdaName, string>): Promise<BundleRow[]> {
  const stub = await stubAws();
  try {
    const rows: BundleRow[] = [];
    const round = (n: number): number => Math.round(n * 10) / 10;
    for (const [fn, file] of files) {
      const runs: Awaited<ReturnType<typeof loadAndInvokeOnce>>[] = [];
      for (let i = 0; i < LOAD_RUNS; i++) runs.push(await loadAndInvokeOnce(file, fn, stub.endpoint));
      rows.push({
        fn, ...sizesOf(file),
        loadMs: round(median(runs.map((r) => r.load.wallMs))), cpuMs: round(median(runs.map((r) => r.load.cpuMs))),
        firstRequest: { label: FIRST_REQUESTS[fn].label, wallMs: round(median(runs.map((r) => r.first.wallMs))), cpuMs: round(median(runs.map((r) => r.first.cpuMs))) },
      });
    }
    return rows;
  } finally {
    await stub.close();
  }
}

/** Builds and measures every function's bundle. */
export async function bundleReport(): Promise<BundleRow[]> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const files = new Map<LambdaName, string>();
  for (const fn of FUNCTION_NAMES) files.set(fn, await bundle(fn));
  return measureBundles(files);
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(1)} KB`;
}

async function main(): Promise<void> {
  const rows = await bundleReport();
  const lines = [
    ['function', 'bytes', 'gzip', 'index.mjs', 'load (median of 10)', 'cpu (median)', 'first request', 'first req. wall', 'first req. cpu', 'budget'],
    ...rows.map((r) => [
      r.fn, kb(r.bytes), kb(r.gzipBytes), kb(r.entryBytes), `${r.loadMs} ms`, `${r.cpuMs} ms`,
      r.firstRequest.label, `${r.firstRequest.wallMs} ms`, `${r.firstRequest.cpuMs} ms`, r.gzipBytes <= GZIP_BUDGET_BYTES ? 'ok' : 'OVER 300 KB gzip',
    ]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] as string).length)));
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
  if (rows.some((r) => r.gzipBytes > GZIP_BUDGET_BYTES)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
