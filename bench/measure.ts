/**
 * Runs one child process and measures it: wall time, CPU time (user + sys of the whole child
 * tree, from `/usr/bin/time`, which waits for it and sums its waited-for descendants) and peak
 * RSS of the process tree (sum of the RSS of every process in the tree, sampled from /proc every
 * 50 ms). Also measures in-process work (for SDK-driven steps) with the same record shape.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measurement {
  /** Label of what ran. */
  label: string;
  wallMs: number;
  /** User + system CPU of the child tree. */
  cpuMs: number;
  /** Peak of the summed RSS of the process tree, bytes. */
  peakRssBytes: number;
  exitCode: number;
  /** Last part of stderr, for failure messages. */
  stderrTail: string;
}

export interface RunOptions {
  label: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File fed to stdin (`cmd < file`). */
  stdinFile?: string;
  /** File stdout is written to (`cmd > file`); otherwise stdout is discarded. */
  stdoutFile?: string;
  /** Sampling period of the RSS poller. */
  sampleMs?: number;
}

const PAGE = 4096;
export const TIME_BIN = '/usr/bin/time';

/**
 * Every live process: its pid, name (`comm`) and the fields of /proc/<pid>/stat after the name
 * (`fields[0]` is the state, `[1]` the parent pid, `[11]`/`[12]` user/system CPU in clock ticks).
 */
export function* procStats(): Generator<{ pid: number; comm: string; fields: string[] }> {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = procStat(pid);
    if (stat) yield stat;
  }
}

/** /proc/<pid>/stat of one process (see {@link procStats}); undefined once it has gone. */
export function procStat(pid: number): { pid: number; comm: string; fields: string[] } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields after the last ')'
  const close = stat.lastIndexOf(')');
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
}

/** User + system CPU (ms) in the fields of a /proc/<pid>/stat (USER_HZ is 100 on Linux). */
export function statCpuMs(fields: readonly string[]): number {
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Parent pid of every live process, from /proc/<pid>/stat. */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const { pid, fields } of procStats()) {
    const ppid = Number(fields[1]);
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  return children;
}

function rssOf(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * PAGE;
  } catch {
    return 0;
  }
}

/** Summed RSS of `root` and all its descendants, excluding `exclude` (the /usr/bin/time wrapper). */
export function treeRss(root: number, exclude?: number): number {
  const children = parentMap();
  let total = 0;
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (pid !== exclude) total += rssOf(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return total;
}

/** Parse `/usr/bin/time -f '%e %U %S'` output (the last line holds the numbers). */
export function parseTimeOutput(text: string): { userMs: number; sysMs: number } {
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const m = /^(\d+\.\d+) (\d+\.\d+)$/.exec(last.trim());
  if (!m) throw new Error(`unexpected /usr/bin/time output: ${JSON.stringify(text.slice(-200))}`);
  return { userMs: Number(m[1]) * 1000, sysMs: Number(m[2]) * 1000 };
}

/** Run `cmd args` under /usr/bin/time and the RSS poller. Never throws on a non-zero exit. */
export async function measureCommand(cmd: string, args: string[], opts: RunOptions): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
  const timeFile = join(dir, 'time.txt');
  const stdin = opts.stdinFile ? openSync(opts.stdinFile, 'r') : 'ignore';
  const stdout = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : 'ignore';
  let stderrTail = '';
  const t0 = process.hrtime.bigint();
  const child = spawn(TIME_BIN, ['-o', timeFile, '-f', '%U %S', cmd, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: [stdin, stdout, 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-4000);
  });
  const rootPid = child.pid;
  let peak = 0;
  const sample = () => {
    if (rootPid === undefined) return;
    const rss = treeRss(rootPid, rootPid);
    if (rss > peak) peak = rss;
  };
  sample();
  const timer = setInterval(sample, opts.sampleMs ?? 50);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(timer);
  if (typeof stdin === 'number') closeSync(stdin);
  if (typeof stdout === 'number') closeSync(stdout);
  let cpuMs = Number.NaN;
  try {
    const t = parseTimeOutput(readFileSync(timeFile, 'utf8'));
    cpuMs = t.userMs + t.sysMs;
  } catch (err) {
    if (exitCode === 0) throw err;
  }
  rmSync(dir, { recursive: true, force: true });
  return { label: opts.label, wallMs, cpuMs, peakRssBytes: peak, exitCode, stderrTail };
}

/** Like measureCommand, but fails with the child's stderr when it exits non-zero. */
export async function measureOk(cmd: string, args: string[], opts: RunOptions): Promise<Measurement> {
  const m = await measureCommand(cmd, args, opts);
  if (m.exitCode !== 0) {
    throw new Error(`${opts.label}: ${cmd} exited ${m.exitCode}\n${m.stderrTail.slice(-1500)}`);
  }
  return m;
}

/** Measure async work inside this process: wall time, CPU (process.cpuUsage delta), RSS peak of this process. */
export async function measureInProcess<T>(label: string, fn: () => Promise<T>): Promise<{ m: Measurement; value: T }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  }, 50);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  try {
    const value = await fn();
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
    return { m: { label, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssBytes: peak, exitCode: 0, stderrTail: '' }, value };
  } finally {
    clearInterval(timer);
  }
}
