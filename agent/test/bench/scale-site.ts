/**
 * Memory and speed of the whole-site `vault-agent backup` / `restore` on the benchmark's site
 * (bench/site.ts: the generated Moodle 4.4 site, the local API, DynamoDB Local, Ceph RGW,
 * SSE-C), measured like `npm run bench` does (process tree RSS sampled every 50 ms, CPU from
 * /usr/bin/time), without starting the services for every run.
 *
 *   npx tsx agent/test/bench/scale-site.ts serve <dir> [scale]    # services + dataset + API; stays up
 *   npx tsx agent/test/bench/scale-site.ts measure <dir> [steps] [rounds]
 *
 * `serve` starts PostgreSQL, MariaDB, Ceph RGW, DynamoDB Local and the API, generates and loads
 * the dataset, registers a pro account and writes <dir>/site.json; it keeps everything running
 * until interrupted. `measure` bundles the current agent source and runs the steps (comma list of
 * backup_pg, backup_my, restore_my, restore_pg; default: backup_pg,restore_my,restore_pg) `rounds`
 * times; a restore restores the last backup made (run a backup step first). BENCH_NODE_FLAGS adds
 * node flags, BENCH_WRAP a command the agent runs under (e.g. `heaptrack -o /tmp/ht`),
 * BENCH_VERBOSE=1 drops `-q`; VAULT_AGENT_BUNDLE measures an already built agent.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createRepository } from '../../../lambdas/store/repository.js';
import { apiStores, call, startChild } from '../../../bench/api.js';
import { serviceCache, type BenchContext } from '../../../bench/context.js';
import { loadedDataset } from '../../../bench/db.js';
import { PREFIX, SCHEMA_DIR, withDatabase } from '../../../bench/dataset.js';
import { measureOk } from '../../../bench/measure.js';
import { buildAgent } from '../../scripts/build.js';
import { harnessArgs, runSteps } from './harness-args.js';

const { mode, dir, a3, a4, given, bundle: BUNDLE } = harnessArgs('scale-site.ts', 'site.mjs');

interface Site {
  pg: string;
  my: { url: string; port: number; user: string; password: string };
  pgPort: number;
  api: string;
  apikey: string;
  rgwHost: string;
  dataroot: string;
}

if (mode === 'serve') {
  mkdirSync(dir, { recursive: true });
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  const services = serviceCache(log);
  const ctx: BenchContext = { full: false, scales: [(a3 ?? 'S') as 'S'], only: new Set(['site']), dbSteps: new Set(), tmp: dir, log, ...services };
  const { ds } = await loadedDataset(ctx, ctx.scales[0] ?? 'S');
  const [pgs, my, rgw] = await Promise.all([ctx.postgres(), ctx.mariadb(), ctx.rgw()]);
  const { script, suffix, cfg } = await apiStores(ctx);
  const apiCfg = cfg('api');
  const api = await startChild(script, apiCfg);
  const stop = async (): Promise<void> => {
    api.stop();
    await services.stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const reg = await call(`${api.url}/account/register`, 'POST', {}, { email: `site-${suffix}@example.com` });
  const raw = new DynamoDBClient({ endpoint: apiCfg.ddbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  await createRepository(DynamoDBDocumentClient.from(raw), apiCfg.tableName).setAccountPlan(String(reg.accountid), 'pro');
  raw.destroy();
  const site: Site = {
    pg: pgs.url, pgPort: pgs.port, my: { url: my.url, port: my.port, user: my.user, password: my.password },
    api: api.url, apikey: String(reg.apikey), rgwHost: new URL(rgw.endpoint).host, dataroot: ds.dir,
  };
  writeFileSync(join(dir, 'site.json'), JSON.stringify(site));
  process.stdout.write(`ready: ${join(dir, 'site.json')}\n`);
  setInterval(() => undefined, 1 << 30);
} else {
  const s = JSON.parse(readFileSync(join(dir, 'site.json'), 'utf8')) as Site;
  if (!given) await buildAgent(BUNDLE);
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const common = ['--moodle-dir', SCHEMA_DIR, '--api-url', s.api, '--api-key', s.apikey, '--allow-storage-host', s.rgwHost,
    '--passphrase-env', 'BENCH_PASS', '--prefix', PREFIX, ...(process.env.BENCH_VERBOSE ? [] : ['-q'])];
  const env = { ...process.env, BENCH_PASS: 'bench passphrase' };
  const pgArgs = (db: string): string[] => ['--dbtype', 'pgsql', '--dbhost', '127.0.0.1', '--dbport', String(s.pgPort), '--dbname', db, '--dbuser', 'postgres'];
  const myArgs = ['--dbtype', 'mariadb', '--dbhost', '127.0.0.1', '--dbport', String(s.my.port), '--dbname', 'moodle', '--dbuser', s.my.user, '--dbpass', s.my.password];
  const keyFile = join(dir, 'backup-key.txt');
  const root = (name: string): string => {
    const r = join(dir, name);
    mkdirSync(join(r, 'filedir'), { recursive: true });
    return r;
  };
  /** A PostgreSQL target site: a copy of the source database. */
  const pgTarget = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: withDatabase(s.pg, 'postgres') });
    await c.connect();
    try {
      await c.query('DROP DATABASE IF EXISTS moodle_tgt WITH (FORCE)');
      await c.query('CREATE DATABASE moodle_tgt TEMPLATE moodle');
    } finally {
      await c.end();
    }
  };
  const steps: Record<string, { args: () => string[]; before?: () => Promise<void>; backup?: boolean }> = {
    backup_pg: { backup: true, args: () => ['backup', ...common, ...pgArgs('moodle'), '--dataroot', s.dataroot, '--wwwroot', 'https://bench-src.example.org', '--description', 'bench'] },
    backup_my: { backup: true, args: () => ['backup', ...common, ...myArgs, '--dataroot', s.dataroot, '--wwwroot', 'https://bench-src.example.org', '--description', 'bench'] },
    restore_my: { args: () => ['restore', readFileSync(keyFile, 'utf8').trim(), ...common, ...myArgs, '--dataroot', root('target-my'), '--wwwroot', 'https://bench-tgt.example.org'] },
    restore_pg: { before: pgTarget, args: () => ['restore', readFileSync(keyFile, 'utf8').trim(), ...common, ...pgArgs('moodle_tgt'), '--dataroot', root('target-pg'), '--wwwroot', 'https://bench-tgt.example.org'] },
  };
  await runSteps(steps, a3, 'backup_pg,restore_my,restore_pg', a4, async (id, step) => {
    const tmp = join(dir, `tmp-${id}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const out = join(dir, `${id}.out`);
    const wrap = process.env.BENCH_WRAP?.split(' ').filter(Boolean) ?? [];
    const argv = [...wrap, process.execPath, ...flags, BUNDLE, ...step.args(), '--tmp-dir', tmp];
    const m = await measureOk(argv[0] as string, argv.slice(1), { label: id, env, stdoutFile: out });
    if (step.backup) {
      const key = /Backup key:\s*(\S+)/.exec(readFileSync(out, 'utf8'))?.[1];
      if (!key) throw new Error(`${id} printed no backup key`);
      writeFileSync(keyFile, key);
    }
    return m;
  });
}
