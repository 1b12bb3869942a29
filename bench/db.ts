/**
 * Database export and import: vault-agent dump/load against pg_dump, pg_restore, mariadb-dump,
 * the mariadb client and pgloader, on the same generated Moodle 4.4 database, in the same run.
 */
import { spawnSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTools, type BenchContext, type Scale } from './context.js';
import { buildAgent, type AgentCommand } from './agent-build.js';
import { generateDataset, loadIntoMariaDb, loadIntoPostgres, mariadbCreateDatabase, mariadbDropDatabase, pgCreateDatabase, pgDropDatabase, PREFIX, withDatabase, type Dataset } from './dataset.js';
import { measureCommand, type Measurement } from './measure.js';
import { fmtBytes, fmtMs, fmtRatio, measurementCells, ratio, type Table, type TargetResult, type SectionResult } from './report.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
export const RSS_LIMIT = 150 * 1024 * 1024;

export interface DbRun {
  id: string;
  label: string;
  ours: boolean;
  /** ids of the anchors this run is compared with. */
  anchors: string[];
  m?: Measurement;
  /** Size of what the run wrote (dump file/folder), when it writes one. */
  outputBytes?: number;
  error?: string;
}

export interface DbScaleResult {
  scale: Scale;
  datasetBytes: number;
  datasetRows: number;
  tables: number;
  filedirBytes: number;
  generateMs: number;
  loadMs: number;
  skippedIndexes: string[];
  /** Whether the dataset was loaded into MariaDB too (not when the selected steps are PostgreSQL-only). */
  loadedMariaDb: boolean;
  reps: number;
  runs: DbRun[];
}

/** Bytes under a file or folder. */
export function sizeOf(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((a, e) => a + sizeOf(join(path, e)), 0);
}

/** Median by wall time (the measurement of the median run, so its CPU/RSS belong together). */
export function medianRun(ms: Measurement[]): Measurement | undefined {
  const sorted = [...ms].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Does the agent CLI have this sub-command yet? */
export function agentHas(agent: AgentCommand | undefined, command: string): boolean {
  if (!agent) return false;
  const [cmd, ...args] = agent.argv;
  const r = spawnSync(cmd as string, [...args, command, '--help'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0;
}

/** An import that takes longer than this is not repeated (see benchScale). */
const IMPORT_LONG_MS = 30_000;

interface Step {
  id: string;
  label: string;
  ours: boolean;
  anchors: string[];
  /** Reset state before each repetition (not timed). */
  before?: () => Promise<void>;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  stdinFile?: string;
  stdoutFile?: string;
  output?: string;
  /** Why it cannot run (the step is then reported, not run). */
  unavailable?: string;
  /** Steps whose output this one reads (it is not run when they are left out by --db-steps). */
  needs?: string[];
  /** After a run that exited 0: what is wrong with its result, or null (a tool can exit 0 and load nothing). */
  verify?: () => Promise<string | null>;
  /**
   * After each run, verified (not timed): the loaded database dropped, so that the server's work
   * on it after the tool exits (autovacuum's analyze of every loaded table, writing its dirty
   * pages) does not fall into the next step's time.
   */
  after?: () => Promise<void>;
}

/** Tables with the prefix and rows of the largest table in a loaded database (any schema on PostgreSQL: pgloader writes to one named after the source). */
async function loadedShape(engine: 'pg' | 'my', url: string): Promise<{ tables: number; largeRows: number }> {
  const large = `${PREFIX}logstore_standard_log`;
  if (engine === 'pg') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const t = await c.query<{ n: string; schema: string | null }>(
        `SELECT count(*) AS n, max(CASE WHEN c.relname = $2 THEN n.nspname END) AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(c.relname, length($1)) = $1`, [PREFIX, large]);
      const schema = t.rows[0]?.schema;
      const rows = schema ? await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"."${large}"`) : null;
      return { tables: Number(t.rows[0]?.n ?? 0), largeRows: Number(rows?.rows[0]?.n ?? 0) };
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ uri: url.replace(/^mariadb:/, 'mysql:') });
  try {
    const [t] = await c.query<mysql.RowDataPacket[]>('SELECT count(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?', [`${PREFIX}%`]);
    const [r] = await c.query<mysql.RowDataPacket[]>(`SELECT count(*) AS n FROM \`${large}\``).catch(() => [[{ n: 0 }]] as [mysql.RowDataPacket[]]);
    return { tables: Number(t[0]?.n ?? 0), largeRows: Number(r[0]?.n ?? 0) };
  } finally {
    await c.end();
  }
}

/** A verify hook: the loaded database has every table of the dataset and all rows of its largest one. */
function expectLoaded(ds: Dataset, engine: 'pg' | 'my', url: string): () => Promise<string | null> {
  const want = ds.tables.find((t) => t.table.name === 'logstore_standard_log')?.rows ?? 0;
  return async () => {
    const got = await loadedShape(engine, url);
    if (got.tables === ds.tables.length && got.largeRows === want) return null;
    return `incomplete result: ${got.tables} of ${ds.tables.length} tables, ${got.largeRows} of ${want} rows in logstore_standard_log`;
  };
}

/** One measured execution of a step (state reset first, not timed). */
async function runOnce(ctx: BenchContext, s: Step, note: string): Promise<Measurement> {
  if (s.output) rmSync(s.output, { recursive: true, force: true });
  await s.before?.();
  ctx.log(`  ${s.label}${note}`);
  let m = await measureCommand(s.cmd, s.args, { label: s.label, env: s.env, stdinFile: s.stdinFile, stdoutFile: s.stdoutFile });
  const problem = m.exitCode === 0 && s.verify ? await s.verify() : null;
  // Reported as a failed run: its time is not a figure to compare with.
  if (problem) m = { ...m, exitCode: -1, stderrTail: `${m.stderrTail}\n${problem}` };
  if (m.exitCode !== 0) ctx.log(`  ${s.label} failed (exit ${m.exitCode}): ${m.stderrTail.slice(-600)}`);
  await s.after?.();
  return m;
}

/**
 * Runs `steps` in interleaved rounds (A B C, A B C, ...) so that a slow spell of this shared
 * machine hits ours and the anchors alike; the figure is the median run. A step whose run takes
 * over `longMs` is long enough to be stable and is not repeated (keeps the quick profile short).
 */
export async function runInterleaved(ctx: BenchContext, steps: Step[], reps: number, longMs = 10_000): Promise<DbRun[]> {
  const ms = new Map<string, Measurement[]>(steps.map((s) => [s.id, []]));
  const failed = new Map<string, Measurement>();
  const done = new Set<string>(steps.filter((s) => s.unavailable).map((s) => s.id));
  for (let r = 0; r < reps; r++) {
    for (const s of steps) {
      if (done.has(s.id)) continue;
      const m = await runOnce(ctx, s, reps > 1 ? ` (round ${r + 1}/${reps})` : '');
      if (m.exitCode !== 0) {
        failed.set(s.id, m);
        done.add(s.id);
        continue;
      }
      ms.get(s.id)?.push(m);
      if (m.wallMs > longMs) done.add(s.id);
    }
  }
  return steps.map((s) => {
    const base = { id: s.id, label: s.label, ours: s.ours, anchors: s.anchors };
    if (s.unavailable) return { ...base, error: s.unavailable };
    const f = failed.get(s.id);
    if (f) return { ...base, m: f, error: `exit ${f.exitCode}: ${f.stderrTail.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}` };
    return { ...base, m: medianRun(ms.get(s.id) ?? []), ...(s.output ? { outputBytes: sizeOf(s.output) } : {}) };
  });
}

export interface LoadedDataset {
  ds: Dataset;
  generateMs: number;
  loadMs: number;
  skippedIndexes: string[];
  /** Database `moodle` on both engines holds the dataset. */
  database: 'moodle';
}

const loaded = new Map<Scale, Promise<LoadedDataset>>();

/** The dataset of `scale`, generated and loaded into database `moodle` on both engines once per run. */
export function loadedDataset(ctx: BenchContext, scale: Scale, engines: { mariadb: boolean } = { mariadb: true }): Promise<LoadedDataset> {
  let p = loaded.get(scale);
  if (!p) {
    p = (async () => {
      ctx.log(`generating dataset ${scale} ...`);
      const tg = Date.now();
      const ds = await generateDataset(scale, join(ctx.tmp, `dataset-${scale}`));
      const generateMs = Date.now() - tg;
      ctx.log(`dataset ${scale}: ${ds.tables.length} tables, ${ds.rows} rows, ${fmtBytes(ds.bytes)} of rows, filedir ${fmtBytes(ds.filedirBytes)} in ${fmtMs(generateMs)}`);
      const pgs = await ctx.postgres();
      const my = engines.mariadb ? await ctx.mariadb() : undefined;
      const tl = Date.now();
      const [, skippedIndexes] = await Promise.all([loadIntoPostgres(ds, pgs.url, 'moodle'), my ? loadIntoMariaDb(ds, my.url, 'moodle') : Promise.resolve([])]);
      const loadMs = Date.now() - tl;
      ctx.log(`loaded into PostgreSQL${my ? ' and MariaDB' : ' (MariaDB not needed by the selected steps)'} in ${fmtMs(loadMs)}`);
      // The row files are no longer needed; the filedir stays for the site section.
      rmSync(join(ds.dir, 'data'), { recursive: true, force: true });
      return { ds, generateMs, loadMs, skippedIndexes, database: 'moodle' as const };
    })();
    loaded.set(scale, p);
  }
  return p;
}

export async function benchScale(ctx: BenchContext, scale: Scale, agent: AgentCommand | undefined): Promise<DbScaleResult> {
  const dir = join(ctx.tmp, `db-${scale}`);
  mkdirSync(dir, { recursive: true });
  const PG_ONLY = new Set(['pg_dump_fc', 'pg_dump_fd', 'agent_dump_pg', 'pg_restore', 'agent_load_pg']);
  const needsMariaDb = ctx.dbSteps.size === 0 || [...ctx.dbSteps].some((x) => !PG_ONLY.has(x));
  const { ds, generateMs, loadMs, skippedIndexes } = await loadedDataset(ctx, scale, { mariadb: needsMariaDb });
  const [pgs, my] = await Promise.all([ctx.postgres(), ctx.mariadb()]);

  const pgUrl = (db: string) => withDatabase(pgs.url, db);
  const myUrl = (db: string) => withDatabase(my.url, db);
  const myArgs = ['--no-defaults', '-h', '127.0.0.1', '-P', String(my.port), '-u', my.user, `-p${my.password}`];
  const out = (n: string) => join(dir, n);
  const hasDump = agentHas(agent, 'dump');
  const hasLoad = agentHas(agent, 'load');
  const [agentCmd, ...agentArgs] = agent?.argv ?? [process.execPath];
  const A = agentCmd as string;
  const noDump = hasDump ? undefined : 'not measured yet: `vault-agent dump` has not landed (agent/bin/vault-agent.js dump --help fails)';
  const noLoad = hasLoad ? undefined : 'not measured yet: `vault-agent load` has not landed (agent/bin/vault-agent.js load --help fails)';
  const pgloaderVersion = spawnSync('pgloader', ['--version'], { encoding: 'utf8' });
  // pgloader's defaults exhaust its SBCL heap from scale M on ("GC invariant lost"): it gets a 4 GB
  // heap and smaller prefetch batches at every scale (also faster at S than its defaults).
  const pgloaderTuning = ['--dynamic-space-size', '4096', '--with', 'prefetch rows = 10000'];

  const steps: Step[] = [
    { id: 'pg_dump_fc', label: 'pg_dump -Fc', ours: false, anchors: [], cmd: `${PG_BIN}/pg_dump`, args: ['-Fc', '-f', out('pg.dump'), '-d', pgUrl('moodle')], output: out('pg.dump') },
    { id: 'pg_dump_fd', label: 'pg_dump -Fd -j2', ours: false, anchors: [], cmd: `${PG_BIN}/pg_dump`, args: ['-Fd', '-j2', '-f', out('pg.dir'), '-d', pgUrl('moodle')], output: out('pg.dir') },
    { id: 'agent_dump_pg', label: 'vault-agent dump (PostgreSQL)', ours: true, anchors: ['pg_dump_fc', 'pg_dump_fd'], cmd: A,
      args: [...agentArgs, 'dump', '--db', pgUrl('moodle'), '--prefix', PREFIX, '--out', out('agent-pg')], output: out('agent-pg'), unavailable: noDump },
    { id: 'mariadb_dump', label: 'mariadb-dump --single-transaction', ours: false, anchors: [], cmd: 'mariadb-dump',
      args: [...myArgs, '--single-transaction', 'moodle'], stdoutFile: out('my.sql'), output: out('my.sql') },
    { id: 'agent_dump_my', label: 'vault-agent dump (MariaDB)', ours: true, anchors: ['mariadb_dump'], cmd: A,
      args: [...agentArgs, 'dump', '--db', myUrl('moodle'), '--prefix', PREFIX, '--out', out('agent-my')], output: out('agent-my'), unavailable: noDump },
    { id: 'pg_restore', label: 'pg_restore -j2 (from -Fc)', ours: false, anchors: [], before: () => pgCreateDatabase(pgs.url, 'restore_pg'),
      cmd: `${PG_BIN}/pg_restore`, args: ['-j2', '-d', pgUrl('restore_pg'), out('pg.dump')], needs: ['pg_dump_fc'], verify: expectLoaded(ds, 'pg', pgUrl('restore_pg')), after: () => pgDropDatabase(pgs.url, 'restore_pg') },
    { id: 'agent_load_pg', label: 'vault-agent load (PostgreSQL → PostgreSQL)', ours: true, anchors: ['pg_restore'], before: () => pgCreateDatabase(pgs.url, 'agent_pg'),
      cmd: A, args: [...agentArgs, 'load', '--db', pgUrl('agent_pg'), '--prefix', PREFIX, '--in', out('agent-pg')],
      unavailable: noLoad ?? noDump, needs: ['agent_dump_pg'], verify: expectLoaded(ds, 'pg', pgUrl('agent_pg')), after: () => pgDropDatabase(pgs.url, 'agent_pg') },
    { id: 'mariadb_import', label: 'mariadb < dump.sql', ours: false, anchors: [], before: () => mariadbCreateDatabase(my.url, 'restore_my'),
      cmd: 'mariadb', args: [...myArgs, 'restore_my'], stdinFile: out('my.sql'), needs: ['mariadb_dump'], verify: expectLoaded(ds, 'my', myUrl('restore_my')), after: () => mariadbDropDatabase(my.url, 'restore_my') },
    { id: 'agent_load_my', label: 'vault-agent load (MariaDB → MariaDB)', ours: true, anchors: ['mariadb_import'], before: () => mariadbCreateDatabase(my.url, 'agent_my'),
      cmd: A, args: [...agentArgs, 'load', '--db', myUrl('agent_my'), '--prefix', PREFIX, '--in', out('agent-my')],
      unavailable: noLoad ?? noDump, needs: ['agent_dump_my'], verify: expectLoaded(ds, 'my', myUrl('agent_my')), after: () => mariadbDropDatabase(my.url, 'agent_my') },
    { id: 'pgloader', label: 'pgloader (MariaDB → PostgreSQL)', ours: false, anchors: [], before: () => pgCreateDatabase(pgs.url, 'pgloader_pg'),
      cmd: 'pgloader', args: [...pgloaderTuning, '--no-ssl-cert-verification', `mysql://${my.user}:${my.password}@127.0.0.1:${my.port}/moodle`, pgUrl('pgloader_pg')],
      env: { ...process.env, TMPDIR: dir }, unavailable: pgloaderVersion.status === 0 ? undefined : 'pgloader is not installed', verify: expectLoaded(ds, 'pg', pgUrl('pgloader_pg')), after: () => pgDropDatabase(pgs.url, 'pgloader_pg') },
    { id: 'agent_load_cross', label: 'vault-agent load (MariaDB backup → PostgreSQL)', ours: true, anchors: ['pgloader'], before: () => pgCreateDatabase(pgs.url, 'agent_cross'),
      cmd: A, args: [...agentArgs, 'load', '--db', pgUrl('agent_cross'), '--prefix', PREFIX, '--in', out('agent-my')],
      unavailable: noLoad ?? noDump, needs: ['agent_dump_my'], verify: expectLoaded(ds, 'pg', pgUrl('agent_cross')), after: () => pgDropDatabase(pgs.url, 'agent_cross') },
  ];
  // No anchor for this direction (pgloader only migrates into PostgreSQL): --full only, to keep the quick profile short.
  if (ctx.full) {
    steps.push({ id: 'agent_load_cross_my', label: 'vault-agent load (PostgreSQL backup → MariaDB)', ours: true, anchors: [], before: () => mariadbCreateDatabase(my.url, 'agent_cross'),
      cmd: A, args: [...agentArgs, 'load', '--db', myUrl('agent_cross'), '--prefix', PREFIX, '--in', out('agent-pg')],
      unavailable: noLoad ?? noDump, needs: ['agent_dump_pg'], verify: expectLoaded(ds, 'my', myUrl('agent_cross')), after: () => mariadbDropDatabase(my.url, 'agent_cross') });
  }
  const reps = 3;
  // --db-steps narrows the run (e.g. the target comparisons at a large scale); the rest is reported as skipped.
  const picked = ctx.dbSteps.size ? steps.filter((x) => ctx.dbSteps.has(x.id)) : steps;
  const pickedIds = new Set(picked.map((x) => x.id));
  const selected = picked.map((x) => {
    const missing = (x.needs ?? []).filter((id) => !pickedIds.has(id));
    return missing.length && !x.unavailable ? { ...x, unavailable: `not run: needs ${missing.join(', ')} in the same run (--db-steps)` } : x;
  });
  const runs: DbRun[] = [];
  // Exports, then imports (steps that reset a database first), each in interleaved rounds. An
  // import of ~10 s varied by ±10 % from run to run (pg_restore -j2 at scale M: 8.6–10.1 s over 7
  // runs), as much as the differences measured: it is repeated until it takes over 30 s.
  const exportRuns = await runInterleaved(ctx, selected.filter((x) => !x.before), reps);
  const importRuns = await runInterleaved(ctx, selected.filter((x) => x.before), reps, IMPORT_LONG_MS);
  const byId = new Map([...exportRuns, ...importRuns].map((x) => [x.id, x]));
  for (const s of selected) {
    const r = byId.get(s.id);
    if (r) runs.push(r);
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    scale, datasetBytes: ds.bytes, datasetRows: ds.rows, tables: ds.tables.length, filedirBytes: ds.filedirBytes,
    generateMs, loadMs, skippedIndexes, loadedMariaDb: needsMariaDb, reps, runs,
  };
}

/** The table for one scale: every run with its figures, ours with the ratio to each anchor. */
export function dbTable(r: DbScaleResult): Table {
  const byId = new Map(r.runs.map((x) => [x.id, x]));
  const rows = r.runs.map((x) => {
    const ratios = x.anchors.map((a) => {
      const anchor = byId.get(a);
      if (!anchor) return `(anchor ${a} not run)`;
      // A failed anchor's wall time is not a figure to compare with.
      if (anchor.error) return `– (${anchor.label} failed)`;
      return `${fmtRatio(ratio(x.m?.wallMs, anchor.m?.wallMs))} ${anchor.label}`;
    });
    const status = x.error ? x.error : x.ours ? ratios.join('; ') || '(no anchor)' : 'anchor';
    return [x.ours ? `**${x.label}**` : x.label, ...(x.error && !x.m ? ['–', '–', '–', '–'] : measurementCells(x.m, r.datasetBytes)), fmtBytes(x.outputBytes), status];
  });
  return {
    title: `Database export and import — scale ${r.scale} (${r.tables} tables, ${r.datasetRows.toLocaleString('en-US')} rows, ${fmtBytes(r.datasetBytes)} of row data; median of up to ${r.reps} interleaved rounds — one run when it takes over 10 s (exports) or ${IMPORT_LONG_MS / 1000} s (imports))`,
    columns: ['run', 'wall', 'CPU', 'peak RSS', 'MB/s', 'output', 'wall-time ratio to anchor (lower is faster)'],
    rows,
    notes: [
      `Dataset generated in ${fmtMs(r.generateMs)} and bulk-loaded into ${r.loadedMariaDb ? 'both engines' : 'PostgreSQL'} in ${fmtMs(r.loadMs)} (not part of any figure).`,
      ...(r.runs.length < 11 ? [`Only these steps ran (--db-steps ${r.runs.map((x) => x.id).join(',')}).`] : []),
      'MB/s = row data (tab-separated text size of all rows) / wall time. CPU and RSS are the measured process tree only (the database servers are not included for any tool).',
      ...(r.runs.some((x) => x.id === 'pgloader') ? ['pgloader ran with --dynamic-space-size 4096 --with "prefetch rows = 10000" (its defaults crash with an exhausted SBCL heap from scale M on).'] : []),
      ...(r.skippedIndexes.length ? [`${r.skippedIndexes.length} indexes MariaDB refused were skipped on both sides of the comparison.`] : []),
    ],
  };
}

export function dbTargets(results: DbScaleResult[]): TargetResult[] {
  const targets: TargetResult[] = [];
  for (const scale of ['S', 'M'] as Scale[]) {
    const r = results.find((x) => x.scale === scale);
    const ours = r?.runs.find((x) => x.id === 'agent_dump_pg');
    const anchor = r?.runs.find((x) => x.id === 'pg_dump_fc');
    const q = ratio(ours?.m?.wallMs, anchor?.m?.wallMs);
    targets.push({
      target: `agent dump ≤ 1.0× pg_dump -Fc time (scale ${scale})`,
      met: Number.isFinite(q) && !ours?.error ? q <= 1.0 : null,
      figure: !r ? `scale ${scale} not run in this profile` : !ours || !anchor ? 'not among the steps of this run (--db-steps)' : ours.error ?? `${fmtRatio(q)} (${fmtMs(ours.m?.wallMs)} vs ${fmtMs(anchor.m?.wallMs)})`,
    });
  }
  for (const r of results) {
    const ours = r.runs.find((x) => x.id === 'agent_load_cross');
    const anchor = r.runs.find((x) => x.id === 'pgloader');
    const q = ratio(ours?.m?.wallMs, anchor?.m?.wallMs);
    targets.push({
      target: `agent load into the other engine ≤ 1.0× pgloader (scale ${r.scale})`,
      met: Number.isFinite(q) && !ours?.error && !anchor?.error ? q <= 1.0 : null,
      figure: !ours || !anchor ? 'not among the steps of this run (--db-steps)' : ours.error ?? anchor.error ?? `${fmtRatio(q)} (${fmtMs(ours.m?.wallMs)} vs ${fmtMs(anchor.m?.wallMs)})`,
    });
  }
  for (const r of results) {
    const measured = r.runs.filter((x) => x.ours && x.m && !x.error);
    const worst = measured.reduce<DbRun | undefined>((a, x) => (!a || (x.m?.peakRssBytes ?? 0) > (a.m?.peakRssBytes ?? 0) ? x : a), undefined);
    targets.push({
      target: `agent peak RSS ≤ 150 MB (dump/load, scale ${r.scale})`,
      met: worst ? (worst.m?.peakRssBytes ?? 0) <= RSS_LIMIT : null,
      figure: worst ? `max ${fmtBytes(worst.m?.peakRssBytes)} (${worst.label}), over ${measured.length} agent runs` : 'no agent run measured',
    });
  }
  return targets;
}

export async function runDbSection(ctx: BenchContext): Promise<SectionResult> {
  ensureTools(['pgDump', 'mariadbDump', 'pgloader']);
  const results: DbScaleResult[] = [];
  const agent = await buildAgent();
  ctx.log(agent ? `agent: ${agent.mode}${agent.note ? ` (${agent.note})` : ''}` : 'agent CLI not found');
  for (const scale of ctx.scales) results.push(await benchScale(ctx, scale, agent));
  const notMeasured = [...new Set(results.flatMap((r) => r.runs.filter((x) => x.error && !x.m).map((x) => `${x.label}: ${x.error}`)))];
  const tables = results.map(dbTable);
  if (agent) tables[0]?.notes.push(`vault-agent ran as ${agent.mode === 'esbuild bundle' ? 'an esbuild bundle of agent/src/cli.ts under plain node with the malloc settings of its launcher agent/bin/vault-agent (as a built agent would run)' : 'the tsx development entry agent/bin/vault-agent.js'}${agent.note ? `: ${agent.note}` : ''}.`);
  return { id: 'db', tables, targets: dbTargets(results), data: { agent: agent?.mode ?? null, results }, notMeasured };
}
