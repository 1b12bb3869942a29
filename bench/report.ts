/**
 * Result model, formatting and output: the stdout table, the JSON file under bench/results/ and
 * docs/benchmarks.md. Pure functions except the writers at the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Measurement } from './measure.js';

/** One table of a section: header plus rows of already formatted cells. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  notes: string[];
}

/** A target of the issue and how this run did against it. `met: null` = not measured in this run. */
export interface TargetResult {
  target: string;
  met: boolean | null;
  figure: string;
}

export interface SectionResult {
  id: string;
  tables: Table[];
  targets: TargetResult[];
  /** Raw figures for the JSON file. */
  data: unknown;
  /** Things this section could not measure, with why. */
  notMeasured: string[];
}

export interface BenchReport {
  startedAt: string;
  durationMs: number;
  command: string;
  profile: 'quick' | 'full';
  scales: string[];
  machine: Record<string, string>;
  sections: SectionResult[];
  /**
   * Who created the generated database's tables: 'agent' = the agent's XMLDB code
   * (agent/src/schema via its database adapter). Absent in results from before that, when the
   * bench had its own XMLDB reader and DDL writer (bench/xmldb.ts).
   */
  schema?: 'agent';
  /** Git commit of the code measured (absent in older results). */
  commit?: string;
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '–';
  if (b >= 1024 ** 3) return `${(b / 1024 ** 3).toFixed(2)} GB`;
  if (b >= 1024 ** 2) return `${(b / 1024 ** 2).toFixed(1)} MB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KB`;
  return `${b} B`;
}

/** MB/s (10^6 bytes per second) of `bytes` moved in `ms`. */
export function mbPerSec(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : Number.NaN;
}

export function fmtRate(bytes: number | undefined, ms: number | undefined): string {
  if (bytes === undefined || ms === undefined) return '–';
  const r = mbPerSec(bytes, ms);
  return Number.isFinite(r) ? `${r.toFixed(1)} MB/s` : '–';
}

/** ours / anchor; NaN when either side is missing or the anchor is zero. */
export function ratio(ours: number | undefined, anchor: number | undefined): number {
  if (ours === undefined || anchor === undefined || !Number.isFinite(ours) || !Number.isFinite(anchor) || anchor === 0) return Number.NaN;
  return ours / anchor;
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '–';
}

/** A measurement as the common cells: wall, CPU, peak RSS, MB/s over `bytes`. */
export function measurementCells(m: Measurement | undefined, bytes?: number): string[] {
  if (!m) return ['–', '–', '–', '–'];
  return [fmtMs(m.wallMs), fmtMs(m.cpuMs), fmtBytes(m.peakRssBytes), bytes === undefined ? '–' : fmtRate(bytes, m.wallMs)];
}

/** Render a table as Markdown with padded columns (readable on stdout as well). */
export function renderTable(t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [`### ${t.title}`, '', line(t.columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...t.rows.map(line)];
  if (t.notes.length) out.push('', ...t.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

export function renderTargets(targets: TargetResult[]): string {
  const t: Table = {
    title: 'Targets (issue 7)',
    columns: ['target', 'met', 'figure'],
    rows: targets.map((x) => [x.target, x.met === null ? 'not measured' : x.met ? 'yes' : 'NO', x.figure]),
    notes: [],
  };
  return renderTable(t);
}

export function renderReport(r: BenchReport): string {
  const parts: string[] = [];
  for (const s of r.sections) {
    for (const t of s.tables) parts.push(renderTable(t));
    if (s.notMeasured.length) parts.push(`Not measured (${s.id}):\n${s.notMeasured.map((n) => `- ${n}`).join('\n')}`);
  }
  parts.push(renderTargets(r.sections.flatMap((s) => s.targets)));
  return parts.join('\n\n');
}

function firstLine(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error || res.status !== 0) return 'not installed';
  return `${res.stdout}${res.stderr}`.trim().split('\n')[0] ?? '';
}

/** Facts about this machine and the tool versions the anchors ran with. */
export function machineFacts(): Record<string, string> {
  const c = cpus();
  return {
    cpus: `${c.length} × ${c[0]?.model ?? 'unknown'}`,
    memory: fmtBytes(totalmem()),
    kernel: release(),
    node: process.version,
    pg_dump: firstLine('/usr/lib/postgresql/15/bin/pg_dump', ['--version']),
    postgres: firstLine('/usr/lib/postgresql/15/bin/postgres', ['--version']),
    mariadb: firstLine('mariadb', ['--version']),
    'mariadb-dump': firstLine('mariadb-dump', ['--version']),
    pgloader: firstLine('pgloader', ['--version']),
    curl: firstLine('curl', ['--version']),
    aws: firstLine('/usr/bin/aws', ['--version']),
    radosgw: firstLine('radosgw', ['--version']),
  };
}

export function writeJson(r: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${r.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

/** One run as a docs section: command, profile, time, machine facts and every table. */
function schemaNote(r: BenchReport): string {
  return r.schema === 'agent'
    ? "created by the agent's own XMLDB code (loadInstallTree + its DDL via the database adapter; MariaDB source tables utf8mb4_unicode_ci, Moodle's default)"
    : "created by the bench's former own XMLDB reader and DDL writer (bench/xmldb.ts, since removed: other index names, indexes built before the rows were loaded)";
}

function renderRun(r: BenchReport): string {
  const facts = Object.entries(r.machine).map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`);
  return `## Run: \`${r.command}\`

- Profile: ${r.profile}; scales: ${r.scales.join(', ') || '–'}${r.commit ? `; code: commit ${r.commit}` : ''}
- Started: ${r.startedAt}; run time: ${fmtMs(r.durationMs)}${r.sections.some((x) => x.id === 'db' || x.id === 'site') ? `\n- Database schema: ${schemaNote(r)}` : ''}

| machine | |
|---|---|
${facts.join('\n')}

${renderReport(r)}
`;
}

export function renderDocs(reports: BenchReport[]): string {
  return `# Benchmarks

Vault Cloud and vault-agent measured against the tools a Moodle administrator or an operator
would pick instead. Every figure below comes from **one run on one machine**, and every
comparison is a ratio to an anchor tool run on the same data in the same run
(ratio = ours / anchor: below 1.0× is faster or smaller for times and sizes; for throughput
the table says which way). The machines these runs happen on are shared and noisy (other
builds and test suites run at the same time), so absolute numbers move between runs; the
ratios are what to compare.

This file is rewritten by \`npm run bench\` at the end of each run (or from saved results with
\`npm run bench -- --docs-from bench/results/a.json,bench/results/b.json\`, which measures nothing).

## How to run

\`\`\`sh
npm run bench                 # quick profile: db at scale S, 256 MB transfer, API at 100 req/s, bundles (target < 10 min)
npm run bench -- --full       # everything: scales S, M and L, 1 GB transfer, API at 50 and 200 req/s, PG→MariaDB load, whole site
npm run bench -- --only site  # whole-site backup/restore through the local API at scale S
npm run bench -- --scale M --only db --db-steps pg_dump_fc,agent_dump_pg,agent_dump_my,pgloader,agent_load_cross
\`\`\`

Sections (\`--only\`): \`db\` (vault-agent dump/load vs pg_dump -Fc, pg_dump -Fd -j2,
mariadb-dump --single-transaction, pg_restore -j2, mariadb < dump.sql, pgloader),
\`transfer\` (agent upload/download vs curl and aws s3 cp on Ceph RGW), \`api\` (autocannon at
fixed rates vs a bare Hono + GetItem baseline), \`bundles\` (Lambda bundle size and module-load
time, from scripts/bundle-report.ts), \`site\` (whole-site backup/restore through the local
API). \`--db-steps\` narrows the db section to some steps (ids: pg_dump_fc, pg_dump_fd,
agent_dump_pg, mariadb_dump, agent_dump_my, pg_restore, agent_load_pg, mariadb_import,
agent_load_my, pgloader, agent_load_cross, agent_load_cross_my). Raw figures of each run go to
\`bench/results/\` (JSON, not committed).

Datasets are generated per run from a seed: all 485 tables of the Moodle 4.4.12+ schema
(shared/moodle-schema/4.4.12+/), with a large logstore_standard_log, text-heavy forum posts,
\`files\` rows with a matching filedir (about half of the contents incompressible, like
images and zips, 1 in 8 rows sharing content), sizeable user/grade/question tables and a dozen
rows in each of the other tables; S ≈ 50 MB of row data, M ×10, L ×40. The tables, indexes
and sequences are created by the agent's own schema code (install.xml read by its
loadInstallTree, DDL by its database adapter), as \`vault-agent load\` creates them; the same rows
are then bulk-loaded into PostgreSQL 15 (COPY) and MariaDB (LOAD DATA), database \`moodle\`,
prefix mdl_.

How things are measured: each tool runs as a child process under \`/usr/bin/time\` (CPU =
user + sys of the child and its waited-for descendants; the database server's own CPU is not
included, for ours or the anchors) while the summed RSS of the child's process tree is sampled
from /proc every 50 ms (peak RSS). MB/s is the row data size (tab-separated text of all rows)
or the transferred bytes over wall time. vault-agent runs as an esbuild bundle of
agent/src/cli.ts under plain node, as a built agent would (not through the tsx dev loader).
Each import loads into a fresh database after a PostgreSQL checkpoint, and the database it
loaded is dropped once verified: the server's work after a tool exits (autovacuum analysing
every table it loaded, writing the pages it left dirty) does not fall into the next tool's time.

${renderSummary(reports)}

${reports.map(renderRun).join('\n')}`;
}

/** Every target of every run in one table; "not measured" only when no run measured it. */
export function renderSummary(reports: BenchReport[]): string {
  const all = reports.flatMap((r) => r.sections.flatMap((s) => s.targets.map((t) => ({ ...t, run: r.command, code: r.commit ?? '–' }))));
  const measured = new Set(all.filter((t) => t.met !== null).map((t) => t.target));
  const seen = new Set<string>();
  const rows = all.filter((t) => {
    if (t.met === null && measured.has(t.target)) return false;
    const key = `${t.target}|${t.run}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return renderTable({
    title: 'Targets of issue 7 — summary of the runs below',
    columns: ['target', 'met', 'figure', 'code', 'run'],
    rows: rows.map((t) => [t.target, t.met === null ? 'not measured' : t.met ? 'yes' : 'NO', t.figure, t.code, `\`${t.run}\``]),
    notes: [],
  }).replace(/^### /, '## ');
}

export function writeDocs(reports: BenchReport[], file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderDocs(reports));
}
