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

export function renderDocs(r: BenchReport): string {
  const facts = Object.entries(r.machine).map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`);
  return `# Benchmarks

Vault Cloud and vault-agent measured against the tools a Moodle administrator or an operator
would pick instead. Every figure below comes from **one run on one machine**, and every
comparison is a ratio to an anchor tool run on the same data in the same run
(ratio = ours / anchor: below 1.0× is faster or smaller for times and sizes). The machines
these runs happen on are shared and noisy, so absolute numbers move between runs; the
ratios are what to compare.

This file is rewritten by \`npm run bench\` at the end of each run.

## How to run

\`\`\`sh
npm run bench                 # quick profile: S scale, 256 MB transfer, short API phases (< 10 min)
npm run bench -- --full       # everything: S, M and L scales, 1 GB transfer, longer API phases
npm run bench -- --scale M --only db,transfer   # a subset
\`\`\`

Sections: \`db\` (dump/load vs pg_dump, pg_restore, mariadb-dump, mariadb, pgloader),
\`transfer\` (upload/download vs curl and aws s3 cp on Ceph RGW), \`api\` (autocannon at fixed
rates vs a bare Hono + GetItem baseline), \`bundles\` (Lambda bundle size and module-load time),
\`site\` (whole-site backup/restore through the local API). Raw figures of each run go to
\`bench/results/\` (JSON, not committed).

How things are measured: each tool runs as a child process under \`/usr/bin/time\` (CPU =
user + sys of the child and its waited-for descendants; the database server's own CPU is not
included, for ours or the anchors) while the summed RSS of the child's process tree is sampled
from /proc every 50 ms (peak RSS). MB/s is the logical database size (sum of table data as the
server reports it) or the transferred bytes over wall time.

## Latest run

- Command: \`${r.command}\`
- Profile: ${r.profile}; scales: ${r.scales.join(', ') || '–'}
- Started: ${r.startedAt}; run time: ${fmtMs(r.durationMs)}

| machine | |
|---|---|
${facts.join('\n')}

${renderReport(r)}
`;
}

export function writeDocs(r: BenchReport, file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderDocs(r));
}
