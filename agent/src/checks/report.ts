/** Pre-check results and their readable report. */
import { statfs } from 'node:fs/promises';

/** Outcome of one pre-check. */
export interface CheckResult {
  name: string;
  title: string;
  status: 'pass' | 'warn' | 'fail';
  summary: string;
  details: string[];
}

/** True when any check failed. */
export function anyFailed(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.status === 'fail');
}

const MARK = { pass: 'OK  ', warn: 'WARN', fail: 'FAIL' } as const;

/** Plain-text report, one block per check. */
export function formatReport(heading: string, results: readonly CheckResult[]): string {
  const lines = [heading, '='.repeat(heading.length)];
  for (const r of results) {
    lines.push(`[${MARK[r.status]}] ${r.title}: ${r.summary}`);
    for (const d of r.details) lines.push(`         ${d}`);
  }
  lines.push(anyFailed(results) ? 'Result: FAILED — nothing was changed.' : 'Result: all checks passed.');
  return `${lines.join('\n')}\n`;
}

/** Human-readable byte size. */
export function humanBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** A disk-space check: free space in `dir` against `need` bytes, `why` saying what the bytes are for. */
export async function diskSpaceCheck(name: string, dir: string, need: number, why: string): Promise<CheckResult> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  return { name, title: 'Disk space', status: free > need ? 'pass' : 'fail', summary: `${humanBytes(free)} free in ${dir}, ${humanBytes(need)} needed (${why})`, details: [] };
}
