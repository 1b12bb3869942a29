/**
 * Memory and speed of `vault-agent dump` / `load` on the benchmark's scale-S site (485 tables,
 * ~50 MB of rows), measured like `npm run bench` does (process tree RSS sampled every 50 ms,
 * CPU from /usr/bin/time), without the rest of the benchmark.
 *
 *   npx tsx agent/test/bench/scale-s.ts serve <dir> [scale]    # servers + dataset + dumps; stays up
 *   npx tsx agent/test/bench/scale-s.ts measure <dir> [steps] [rounds]
 *
 * `serve` starts PostgreSQL and MariaDB, generates the dataset (bench/dataset.ts), loads it, dumps it
 * with the agent into <dir>/agent-pg and <dir>/agent-my and writes <dir>/servers.json; it keeps the
 * servers running until interrupted. `measure` bundles the current agent source and runs the steps
 * (comma list of dump_pg, dump_my, load_pg, load_my, load_cross, load_cross_my; default: all loads)
 * `rounds` times. BENCH_NODE_FLAGS adds node flags; VAULT_LOAD_ARGS extra `load` arguments.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset, loadIntoMariaDb, loadIntoPostgres, mariadbCreateDatabase, pgCreateDatabase, PREFIX, withDatabase } from '../../../bench/dataset.js';
import { measureOk } from '../../../bench/measure.js';
import { startMariaDb, startPostgres } from '../../../scripts/services/index.js';
import { buildAgent } from '../../scripts/build.js';
import { harnessArgs, runSteps } from './harness-args.js';

const { mode, dir, a3, a4, given, bundle: BUNDLE } = harnessArgs('scale-s.ts', 'cli.mjs');
const build = async (): Promise<void> => {
  if (!given) await buildAgent(BUNDLE);
};
interface Servers { pg: string; my: string }

async function dumpWith(bundle: string, url: string, out: string): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  await measureOk(process.execPath, [bundle, 'dump', '--db', url, '--prefix', PREFIX, '--out', out], { label: 'dump' });
}

if (mode === 'serve') {
  mkdirSync(dir, { recursive: true });
  const [pgs, my] = await Promise.all([startPostgres(), startMariaDb()]);
  const stop = async (): Promise<void> => {
    await Promise.allSettled([pgs.stop(), my.stop()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const ds = await generateDataset((a3 ?? 'S') as Parameters<typeof generateDataset>[0], join(dir, 'dataset'));
  await Promise.all([loadIntoPostgres(ds, pgs.url, 'moodle'), loadIntoMariaDb(ds, my.url, 'moodle')]);
  rmSync(join(dir, 'dataset'), { recursive: true, force: true });
  await build();
  await dumpWith(BUNDLE, withDatabase(pgs.url, 'moodle'), join(dir, 'agent-pg'));
  await dumpWith(BUNDLE, withDatabase(my.url, 'moodle'), join(dir, 'agent-my'));
  writeFileSync(join(dir, 'servers.json'), JSON.stringify({ pg: pgs.url, my: my.url } satisfies Servers));
  process.stdout.write(`ready: ${ds.tables.length} tables, ${ds.rows} rows, ${(ds.bytes / 1e6).toFixed(1)} MB; servers in ${join(dir, 'servers.json')}\n`);
  setInterval(() => undefined, 1 << 30);
} else {
  const s = JSON.parse(readFileSync(join(dir, 'servers.json'), 'utf8')) as Servers;
  await build();
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const extra = process.env.VAULT_LOAD_ARGS?.split(' ').filter(Boolean) ?? [];
  const steps: Record<string, { args: string[]; before?: () => Promise<void> }> = {
    dump_pg: { args: ['dump', '--db', withDatabase(s.pg, 'moodle'), '--prefix', PREFIX, '--out', join(dir, 'out-pg')], before: async () => rmSync(join(dir, 'out-pg'), { recursive: true, force: true }) },
    dump_my: { args: ['dump', '--db', withDatabase(s.my, 'moodle'), '--prefix', PREFIX, '--out', join(dir, 'out-my')], before: async () => rmSync(join(dir, 'out-my'), { recursive: true, force: true }) },
    load_pg: { args: ['load', '--db', withDatabase(s.pg, 'agent_pg'), '--prefix', PREFIX, '--in', join(dir, 'agent-pg'), ...extra], before: () => pgCreateDatabase(s.pg, 'agent_pg') },
    load_my: { args: ['load', '--db', withDatabase(s.my, 'agent_my'), '--prefix', PREFIX, '--in', join(dir, 'agent-my'), ...extra], before: () => mariadbCreateDatabase(s.my, 'agent_my') },
    load_cross: { args: ['load', '--db', withDatabase(s.pg, 'agent_cross'), '--prefix', PREFIX, '--in', join(dir, 'agent-my'), ...extra], before: () => pgCreateDatabase(s.pg, 'agent_cross') },
    load_cross_my: { args: ['load', '--db', withDatabase(s.my, 'agent_cross'), '--prefix', PREFIX, '--in', join(dir, 'agent-pg'), ...extra], before: () => mariadbCreateDatabase(s.my, 'agent_cross') },
  };
  await runSteps(steps, a3, 'load_pg,load_my,load_cross', a4, (id, step) => measureOk(process.execPath, [...flags, BUNDLE, ...step.args], { label: id }));
}
