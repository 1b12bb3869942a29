/**
 * Lambda bundles: per function, bundle bytes, gzip bytes and module-load time, from the infra
 * helper's `scripts/bundle-report.ts` (`bundleReport()`: esbuild metafile sizes and the median
 * module-load time of 10 fresh node processes), and the time of the handler's first invocation
 * in those processes (one that needs the code the functions load lazily, so that cost is shown
 * next to the load time it no longer counts in). Targets: ≤ 300 KB gzip, ≤ 60 ms load.
 */
import { bundleReport, GZIP_BUDGET_BYTES as GZIP_LIMIT, type BundleRow } from '../scripts/bundle-report.js';
import type { BenchContext } from './context.js';
import { fmtBytes, fmtMs, type SectionResult, type TargetResult } from './report.js';

export const LOAD_LIMIT_MS = 60;

/** The two per-function budgets, judged on the worst function. */
export function bundleTargets(rows: (Pick<BundleRow, 'bytes' | 'gzipBytes' | 'loadMs'> & { fn: string })[]): TargetResult[] {
  if (rows.length === 0) return [{ target: 'each Lambda ≤ 300 KB gzip and ≤ 60 ms module load', met: null, figure: 'no bundles reported' }];
  const maxGz = rows.reduce((a, r) => (r.gzipBytes > a.gzipBytes ? r : a));
  const maxLoad = rows.reduce((a, r) => (r.loadMs > a.loadMs ? r : a));
  return [
    { target: 'each Lambda ≤ 300 KB gzip', met: maxGz.gzipBytes <= GZIP_LIMIT, figure: `largest ${maxGz.fn}: ${fmtBytes(maxGz.gzipBytes)} gzip (${rows.length} functions)` },
    { target: 'each Lambda ≤ 60 ms module load', met: maxLoad.loadMs <= LOAD_LIMIT_MS, figure: `slowest ${maxLoad.fn}: ${fmtMs(maxLoad.loadMs)} (median of 10 fresh node processes)` },
  ];
}

export async function runBundlesSection(ctx: BenchContext): Promise<SectionResult> {
  ctx.log('bundling Lambda functions (esbuild) and timing module loads ...');
  const rows = await bundleReport();
  const sorted = [...rows].sort((a, b) => a.fn.localeCompare(b.fn));
  return {
    id: 'bundles',
    tables: [{
      title: 'Lambda bundles',
      columns: ['function', 'bundle', 'gzip', 'gzip / 300 KB', 'module load (median of 10)', 'load / 60 ms', 'load CPU', 'first invocation', 'its wall / CPU (median)'],
      rows: sorted.map((r) => [
        r.fn, fmtBytes(r.bytes), fmtBytes(r.gzipBytes), `${(r.gzipBytes / GZIP_LIMIT).toFixed(2)}×`, fmtMs(r.loadMs), `${(r.loadMs / LOAD_LIMIT_MS).toFixed(2)}×`,
        fmtMs(r.cpuMs),
        r.firstRequest.label,
        `${fmtMs(r.firstRequest.wallMs)} / ${fmtMs(r.firstRequest.cpuMs)}`,
      ]),
      notes: [
        'First invocation: in the same fresh processes, right after the import, against a stub DynamoDB/S3 that answers at once (scripts/bundle-report.ts); site and ops load their S3 client code on first use, and these invocations include that.',
      ],
    }],
    targets: bundleTargets(sorted),
    data: sorted,
    notMeasured: [],
  };
}
