/**
 * API load: autocannon (its CLI, in its own process) at fixed request rates on
 * `GET validateapikey`, `GET backups` and `POST backups/{key}/upload/{file}` of the real API,
 * and on a baseline — bare Hono doing one DynamoDB GetItem — on the same DynamoDB Local, in the
 * same run. Each server runs in its own node process (esbuild bundle). Then, unloaded and one
 * request at a time, the first request of a key in the server process (cold: nothing about the
 * key is known there yet) against its second (warm), next to the baseline's sequential requests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createS3Client } from '../lambdas/store/aws-clients.js';
import { ensureBuckets, ensureTable } from '../lambdas/store/ensure-stores.js';
import { STORAGE_REGIONS } from '../lambdas/domain/regions.js';
import { bundleNode, CACHE_DIR } from './agent-build.js';
import { ROOT, type BenchContext } from './context.js';
import { procStat, statCpuMs, treeRss } from './measure.js';
import { fmtBytes, fmtMs, fmtRatio, type SectionResult, type TargetResult } from './report.js';
import type { ApiChildSettings } from './api-server-child.js';

export interface CannonResult {
  p50: number;
  p99: number;
  /** Mean requests per second over the phase. */
  rps: number;
  total: number;
  non2xx: number;
  errors: number;
}

/** Pick the figures we report from autocannon's --json output. */
export function parseCannon(json: string): CannonResult {
  const o = JSON.parse(json) as Record<string, unknown>;
  const lat = o.latency as Record<string, number> | undefined;
  const req = o.requests as Record<string, number> | undefined;
  if (!lat || !req || typeof lat.p50 !== 'number' || typeof lat.p99 !== 'number') throw new Error('unexpected autocannon output');
  return {
    p50: lat.p50, p99: lat.p99, rps: req.average ?? 0, total: req.total ?? 0,
    non2xx: Number(o.non2xx ?? 0), errors: Number(o.errors ?? 0) + Number(o.timeouts ?? 0),
  };
}

export interface Server { url: string; child: ChildProcess; stop(): void }

export async function startChild(script: string, cfg: ApiChildSettings): Promise<Server> {
  const child = spawn(process.execPath, [script], { env: { ...process.env, BENCH_API: JSON.stringify(cfg) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (l) => resolve((JSON.parse(l) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${cfg.mode} server exited ${code}: ${stderr}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child, stop: () => child.kill('SIGTERM') };
}

interface Phase {
  id: string;
  label: string;
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  server: Server;
  baseline: boolean;
}

async function cannon(p: Phase, rate: number, seconds: number): Promise<CannonResult> {
  const args = [join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), '--json', '-c', '10', '-R', String(rate), '-d', String(seconds), '-m', p.method];
  for (const [k, v] of Object.entries(p.headers)) args.push('-H', `${k}=${v}`);
  if (p.body !== undefined) args.push('-b', p.body);
  args.push(p.url);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const code = await new Promise<number>((r) => child.once('close', (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`autocannon exited ${code}: ${err}`);
  return parseCannon(out.trim().split('\n').pop() ?? '');
}

export async function call(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method, headers: { ...headers, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Wall time of one request in ms; throws unless 200. */
async function timed(url: string, headers: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return ms;
}

/** User + system CPU (ms) of process `pid` so far, from /proc; 0 when it cannot be read. */
function processCpuMs(pid: number | undefined): number {
  const stat = pid === undefined ? undefined : procStat(pid);
  return stat ? statCpuMs(stat.fields) : 0;
}

/** The value at quantile `q` (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

interface SequentialRow { label: string; samples: number[] }

/**
 * Cold and warm, one request at a time: each of `keys` makes its first request in the server
 * process (cold) and then a second (warm); half on validateapikey, half on GET backups. The
 * baseline makes as many sequential requests.
 */
async function sequentialLatencies(apiUrl: string, baseUrl: string, keys: string[], site: Record<string, string>): Promise<SequentialRow[]> {
  const rows: SequentialRow[] = [
    { label: 'baseline: bare Hono + 1 GetItem', samples: [] },
    { label: 'GET validateapikey, first request of the key (cold)', samples: [] },
    { label: 'GET validateapikey, second request (warm)', samples: [] },
    { label: 'GET backups, first request of the key (cold)', samples: [] },
    { label: 'GET backups, second request (warm)', samples: [] },
  ];
  const [base, vCold, vWarm, bCold, bWarm] = rows as [SequentialRow, SequentialRow, SequentialRow, SequentialRow, SequentialRow];
  for (const [i, key] of keys.entries()) {
    const headers = { ...site, 'X-Api-Key': key };
    const [cold, warm, url] = i % 2 === 0 ? [vCold, vWarm, `${apiUrl}/validateapikey`] : [bCold, bWarm, `${apiUrl}/backups`];
    cold.samples.push(await timed(url, headers));
    warm.samples.push(await timed(url, headers));
    base.samples.push(await timed(`${baseUrl}/baseline`, {}));
  }
  return rows;
}

/** A fresh table and buckets on the run's DynamoDB Local and RGW, plus the bundled server script. */
export async function apiStores(ctx: BenchContext): Promise<{ script: string; suffix: string; ddbPid: number | undefined; cfg(mode: 'api' | 'baseline'): ApiChildSettings }> {
  const [ddb, rgw] = await Promise.all([ctx.dynamodb(), ctx.rgw()]);
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const tableName = `bench_${suffix}`;
  const buckets = Object.fromEntries(STORAGE_REGIONS.map((r) => [r.id, `bench-api-${suffix}-${r.id}`]));
  const credentials = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
  const raw = new DynamoDBClient({ endpoint: ddb.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials });
  await Promise.all([ensureTable(raw, tableName), ensureBuckets(s3, Object.values(buckets))]);
  raw.destroy();
  s3.destroy();
  const script = join(CACHE_DIR, 'api-server.mjs');
  await bundleNode(join(ROOT, 'bench', 'api-server-child.ts'), script);
  return { script, suffix, ddbPid: ddb.proc.child.pid, cfg: (mode) => ({ mode, ddbEndpoint: ddb.endpoint, rgw: { endpoint: rgw.endpoint, ...credentials }, tableName, buckets }) };
}

/** Keys per route in the cold/warm comparison. */
const SEQUENTIAL_KEYS = 30;

export async function runApiSection(ctx: BenchContext): Promise<SectionResult> {
  const { script, suffix, ddbPid, cfg } = await apiStores(ctx);
  const [api, base] = await Promise.all([startChild(script, cfg('api')), startChild(script, cfg('baseline'))]);
  try {
    const reg = await call(`${api.url}/account/register`, 'POST', {}, { email: `bench-${suffix}@example.com` });
    const apikey = String(reg.apikey);
    const site = { 'X-Api-Key': apikey, 'X-Vault-Siteid': `bench-site-${suffix}`, 'X-Vault-Siteurl': 'https://moodle.bench.example', Accept: 'application/json' };
    const created = await call(`${api.url}/backups`, 'PUT', site, {
      description: 'bench', encrypted: false, bucket: '', expiredays: 0, vaultversion: '2026051200',
      vaultenv: { PHP: '8.2', Moodle: '4.4', DB: 'pgsql', max_execution_time: '0', isvaultcli: true, max_allowed_packet: null },
    });
    const backupkey = String(created.backupkey);
    const json = { ...site, 'Content-Type': 'application/json' };
    const phases: Phase[] = [
      { id: 'baseline', label: 'baseline: bare Hono + 1 GetItem', method: 'GET', url: `${base.url}/baseline`, headers: {}, server: base, baseline: true },
      { id: 'validateapikey', label: 'GET validateapikey', method: 'GET', url: `${api.url}/validateapikey`, headers: site, server: api, baseline: false },
      { id: 'backups', label: 'GET backups', method: 'GET', url: `${api.url}/backups`, headers: site, server: api, baseline: false },
      { id: 'upload', label: 'POST backups/{key}/upload/{file}', method: 'POST', url: `${api.url}/backups/${backupkey}/upload/dbdump.zip`, headers: json, body: JSON.stringify({ contenttype: 'application/zip' }), server: api, baseline: false },
    ];
    // Every phase is checked once by hand first, so a broken route fails loudly instead of measuring 4xx.
    for (const p of phases) {
      const res = await fetch(p.url, { method: p.method, headers: p.headers, body: p.body });
      if (res.status !== 200) throw new Error(`${p.label}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    }
    const rates = ctx.full ? [50, 200] : [100];
    const seconds = ctx.full ? 20 : 10;
    // Keys for the cold/warm comparison, made before any load (each is new to the server process).
    const seqKeys: string[] = [];
    for (let i = 0; i < 2 * SEQUENTIAL_KEYS; i++) seqKeys.push(String((await call(`${api.url}/account/keys`, 'POST', { 'X-Api-Key': apikey }, {})).apikey));
    ctx.log(`  cold and warm requests, one at a time, ${SEQUENTIAL_KEYS} keys per route`);
    await sequentialLatencies(api.url, base.url, seqKeys.slice(0, 4), site); // warm-up of the processes
    const sequential = await sequentialLatencies(api.url, base.url, seqKeys.slice(4), site);
    interface Row { phase: Phase; rate: number; r: CannonResult; rssBytes: number; serverCpuMs: number; dynamoDbCpuMs: number }
    const rows: Row[] = [];
    for (const rate of rates) {
      for (const p of phases) {
        ctx.log(`  autocannon ${p.label} at ${rate} req/s for ${seconds} s`);
        await cannon(p, Math.min(rate, 50), 2); // warm-up (JIT, connections, SDK clients)
        let rss = 0;
        const timer = setInterval(() => { if (p.server.child.pid) rss = Math.max(rss, treeRss(p.server.child.pid)); }, 200);
        const [server0, ddb0] = [processCpuMs(p.server.child.pid), processCpuMs(ddbPid)];
        const r = await cannon(p, rate, seconds);
        const [server1, ddb1] = [processCpuMs(p.server.child.pid), processCpuMs(ddbPid)];
        clearInterval(timer);
        rows.push({ phase: p, rate, r, rssBytes: rss, serverCpuMs: server1 - server0, dynamoDbCpuMs: ddb1 - ddb0 });
      }
    }
    const baseOf = (rate: number) => rows.find((x) => x.rate === rate && x.phase.baseline)?.r;
    const targets: TargetResult[] = [];
    for (const rate of rates) {
      const b = baseOf(rate);
      const worst = rows.filter((x) => x.rate === rate && !x.phase.baseline).reduce<Row | undefined>((a, x) => (!a || x.r.p99 > a.r.p99 ? x : a), undefined);
      const q = worst && b ? worst.r.p99 / b.p99 : Number.NaN;
      targets.push({
        target: `API p99 ≤ 1.5× the bare baseline (${rate} req/s)`,
        met: Number.isFinite(q) ? q <= 1.5 : null,
        figure: worst && b ? `worst ${worst.phase.label}: p99 ${worst.r.p99} ms vs baseline ${b.p99} ms = ${fmtRatio(q)}` : 'not measured',
      });
    }
    return {
      id: 'api',
      tables: [{
        title: `API under fixed-rate load (autocannon, 10 connections, ${seconds} s per phase after a 2 s warm-up)`,
        columns: ['endpoint', 'rate', 'p50', 'p99', 'throughput', 'non-2xx / errors', 'server RSS', 'CPU per request: server / DynamoDB Local', 'p50 ratio', 'p99 ratio to baseline (lower is better)'],
        rows: rows.map((x) => {
          const b = baseOf(x.rate);
          return [
            x.phase.baseline ? x.phase.label : `**${x.phase.label}**`, `${x.rate} req/s`, `${x.r.p50} ms`, `${x.r.p99} ms`, `${x.r.rps.toFixed(0)} req/s`,
            `${x.r.non2xx} / ${x.r.errors}`, fmtBytes(x.rssBytes),
            x.r.total > 0 ? `${(x.serverCpuMs / x.r.total).toFixed(2)} / ${(x.dynamoDbCpuMs / x.r.total).toFixed(2)} ms` : '–',
            x.phase.baseline ? 'baseline' : fmtRatio(b ? x.r.p50 / b.p50 : Number.NaN),
            x.phase.baseline ? 'baseline' : fmtRatio(b ? x.r.p99 / b.p99 : Number.NaN),
          ];
        }),
        notes: [
          ...rows.filter((x) => x.r.rps < 0.9 * x.rate).map((x) => `${x.phase.label} at ${x.rate} req/s: saturated (served ${x.r.rps.toFixed(0)} req/s), so its latencies include queueing.`),
          'Both servers are node processes (esbuild bundles) on the same DynamoDB Local (in-memory) and Ceph RGW; autocannon runs in a third process. The API is createApp(deps) built as test/support/api-server.ts does; the baseline is bare Hono doing one GetItem per request.',
          'latencies are autocannon\'s (ms resolution); a fixed rate (overallRate) does not correct for coordinated omission.',
          'The API runs with rate limits on, as the Lambda functions do (limits raised so that no request is refused).',
          'CPU per request: the server process\'s and DynamoDB Local\'s user + system CPU over the phase (/proc), divided by the requests served. The API makes two DynamoDB calls per request where the baseline makes one (the key\'s admission, a conditional write that also meters the request, plus the route\'s read, sent together); each call costs CPU in the AWS SDK and in DynamoDB Local, and both share this machine\'s cores with autocannon.',
        ],
      }, {
        title: 'Cold and warm keys, one request at a time (no load)',
        columns: ['request', 'samples', 'p50', 'p90', 'p50 ratio to baseline'],
        rows: sequential.map((x, i) => [
          x.label, String(x.samples.length), fmtMs(quantile(x.samples, 0.5)), fmtMs(quantile(x.samples, 0.9)),
          i === 0 ? 'baseline' : fmtRatio(quantile(x.samples, 0.5) / quantile(sequential[0]?.samples ?? [], 0.5)),
        ]),
        notes: [
          'Cold: the first request with a key the server process has not seen (a new Lambda instance, or a key new to it); warm: the same key\'s second request. Same processes as above, before the load phases.',
        ],
      }],
      targets,
      data: [
        ...rows.map((x) => ({ endpoint: x.phase.id, rate: x.rate, ...x.r, serverRssBytes: x.rssBytes, serverCpuMs: x.serverCpuMs, dynamoDbCpuMs: x.dynamoDbCpuMs })),
        ...sequential.map((x) => ({ endpoint: x.label, sequential: true, p50: quantile(x.samples, 0.5), p90: quantile(x.samples, 0.9), samples: x.samples.length })),
      ],
      notMeasured: [],
    };
  } finally {
    api.stop();
    base.stop();
  }
}
