/**
 * Lambda bundles: per function, bundle bytes, gzip bytes and module-load time, from the infra
 * helper's `scripts/bundle-report.ts` (`bundleReport()`: esbuild metafile sizes and the median
 * module-load time of 10 fresh node processes), and the time of the handler's first invocation
 * in those processes (one that needs the code the functions load lazily, so that cost is shown
 * next to the load time it no longer counts in). Targets: ≤ 300 KB gzip, ≤ 60 ms load.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, type BenchContext } from './context.js';
import { fmtBytes, fmtMs, type SectionResult, type TargetResult } from './report.js';

export interface BundleRow {
  fn: string;
  bytes: number;
  gzipBytes: number;
  loadMs: number;
  /** Median CPU time of the import, ms (when reported). */
  cpuMs?: number;
  /** The first invocation after the import (when reported). */
  firstRequest?: { label: string; wallMs: number; cpuMs: number };
}

export const GZIP_LIMIT = 300 * 1024;
export const LOAD_LIMIT_MS = 60;

export function isBundleRows(v: unknown): v is BundleRow[] {
  return Array.isArray(v) && v.every((r: unknown) => {
    if (typeof r !== 'object' || r === null) return false;
    const o = r as Record<string, unknown>;
    return typeof o.fn === 'string' && typeof o.bytes === 'number' && typeof o.gzipBytes === 'number' && typeof o.loadMs === 'number';
  });
}

export function bundleTargets(rows: BundleRow[]): TargetResult[] {
  if (rows.length === 0) return [{ target: 'each Lambda ≤ 300 KB gzip and ≤ 60 ms module load', met: null, figure: 'no bundles reported' }];
  const maxGz = rows.reduce((a, r) => (r.gzipBytes > a.gzipBytes ? r : a));
  const maxLoad = rows.reduce((a, r) => (r.loadMs > a.loadMs ? r : a));
  return [
    { target: 'each Lambda ≤ 300 KB gzip', met: maxGz.gzipBytes <= GZIP_LIMIT, figure: `largest ${maxGz.fn}: ${fmtBytes(maxGz.gzipBytes)} gzip (${rows.length} functions)` },
    { target: 'each Lambda ≤ 60 ms module load', met: maxLoad.loadMs <= LOAD_LIMIT_MS, figure: `slowest ${maxLoad.fn}: ${fmtMs(maxLoad.loadMs)} (median of 10 fresh node processes)` },
  ];
}

export async function runBundlesSection(ctx: BenchContext): Promise<SectionResult> {
  const file = join(ROOT, 'scripts', 'bundle-report.ts');
  const notMeasured: string[] = [];
  if (!existsSync(file)) {
    notMeasured.push('Lambda bundles: scripts/bundle-report.ts (infra helper) has not landed yet');
    return { id: 'bundles', tables: [], targets: bundleTargets([]), data: null, notMeasured };
  }
  const mod: unknown = await import(pathToFileURL(file).href);
  const fn = (mod as { bundleReport?: unknown }).bundleReport;
  if (typeof fn !== 'function') {
    notMeasured.push('Lambda bundles: scripts/bundle-report.ts does not export bundleReport() yet');
    return { id: 'bundles', tables: [], targets: bundleTargets([]), data: null, notMeasured };
  }
  ctx.log('bundling Lambda functions (esbuild) and timing module loads ...');
  const rows: unknown = await (fn as () => Promise<unknown>)();
  if (!isBundleRows(rows)) throw new Error('bundleReport() returned an unexpected shape');
  const sorted = [...rows].sort((a, b) => a.fn.localeCompare(b.fn));
  return {
    id: 'bundles',
    tables: [{
      title: 'Lambda bundles',
      columns: ['function', 'bundle', 'gzip', 'gzip / 300 KB', 'module load (median of 10)', 'load / 60 ms', 'load CPU', 'first invocation', 'its wall / CPU (median)'],
      rows: sorted.map((r) => [
        r.fn, fmtBytes(r.bytes), fmtBytes(r.gzipBytes), `${(r.gzipBytes / GZIP_LIMIT).toFixed(2)}×`, fmtMs(r.loadMs), `${(r.loadMs / LOAD_LIMIT_MS).toFixed(2)}×`,
        r.cpuMs !== undefined ? fmtMs(r.cpuMs) : '–',
        r.firstRequest?.label ?? '–',
        r.firstRequest ? `${fmtMs(r.firstRequest.wallMs)} / ${fmtMs(r.firstRequest.cpuMs)}` : '–',
      ]),
      notes: [
        'First invocation: in the same fresh processes, right after the import, against a stub DynamoDB/S3 that answers at once (scripts/bundle-report.ts); site and ops load their S3 client code on first use, and these invocations include that.',
      ],
    }],
    targets: bundleTargets(sorted),
    data: sorted,
    notMeasured,
  };
}
