/**
 * Lambda bundle budget: builds each function with the exact esbuild settings of the CDK stack
 * (infra/bundling.ts) and reports bundle bytes, gzip bytes and module-load time (median of 10
 * fresh `node` processes importing the bundle). Run: `npx tsx scripts/bundle-report.ts`.
 * Exits non-zero when a bundle exceeds the gzip budget.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ESBUILD_SETTINGS, FUNCTION_NAMES, entryOf, PROJECT_ROOT, type LambdaName } from '../infra/bundling.js';

export interface BundleRow {
  fn: LambdaName;
  /** Size of the minified bundle (index.mjs), bytes. */
  bytes: number;
  /** Its gzip size (level 9), bytes: what the budget is about. */
  gzipBytes: number;
  /** Median time to import the bundle in a fresh node process, ms (wall clock). */
  loadMs: number;
  /** Median CPU time (user + system) of that import, ms: steadier than wall time on a busy machine. */
  cpuMs: number;
}

/** Budget per function (gzip). */
export const GZIP_BUDGET_BYTES = 300 * 1024;

const LOAD_RUNS = 10;
const OUT_DIR = join(PROJECT_ROOT, '.tmp', 'bundles');

/** Environment the handlers need at import time (they read it when the module loads). */
const IMPORT_ENV: Record<string, string> = {
  AWS_REGION: 'eu-central-1',
  TABLE_NAME: 'bundle-report',
  BUCKETS: '{}',
  MAX_PRESIGN_SECONDS: '3600',
  AWS_ACCESS_KEY_ID: 'AKIDBUNDLEREPORT',
  AWS_SECRET_ACCESS_KEY: 'bundle-report',
  VERIFY_SECRET: 'bundle-report-verify-secret-0123456789abcdef',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** Builds one function's bundle into `outDir/<fn>/index.mjs` and returns that path. */
export async function bundle(fn: LambdaName, outDir = OUT_DIR): Promise<string> {
  const outfile = join(outDir, fn, 'index.mjs');
  await build({
    entryPoints: [entryOf(fn)],
    outfile,
    bundle: true,
    platform: ESBUILD_SETTINGS.platform,
    target: ESBUILD_SETTINGS.target,
    format: ESBUILD_SETTINGS.format,
    minify: ESBUILD_SETTINGS.minify,
    sourcemap: ESBUILD_SETTINGS.sourcemap,
    sourcesContent: ESBUILD_SETTINGS.sourcesContent,
    mainFields: [...ESBUILD_SETTINGS.mainFields],
    banner: { js: ESBUILD_SETTINGS.banner },
    external: [...ESBUILD_SETTINGS.external],
    alias: { ...ESBUILD_SETTINGS.alias },
    absWorkingDir: PROJECT_ROOT,
    metafile: true,
    logLevel: 'error',
  });
  return outfile;
}

/**
 * Import time of one fresh process (excludes node's own start-up). Fails if the module does not
 * export a `handler` function.
 */
export function loadOnce(file: string): { wallMs: number; cpuMs: number } {
  const script = [
    'const c = process.cpuUsage(); const t = performance.now();',
    `const m = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const ms = performance.now() - t; const cu = process.cpuUsage(c);',
    "if (typeof m.handler !== 'function') throw new Error('no handler export');",
    'process.stdout.write(JSON.stringify({ wallMs: ms, cpuMs: (cu.user + cu.system) / 1000 }));',
  ].join(' ');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...IMPORT_ENV },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as { wallMs: number; cpuMs: number };
}

/** Raw and gzip (level 9) size of a bundle file. */
export function sizesOf(file: string): { bytes: number; gzipBytes: number } {
  const code = readFileSync(file);
  return { bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Builds and measures every function's bundle. */
export async function bundleReport(): Promise<BundleRow[]> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const rows: BundleRow[] = [];
  for (const fn of FUNCTION_NAMES) {
    const file = await bundle(fn);
    const loads = Array.from({ length: LOAD_RUNS }, () => loadOnce(file));
    const round = (n: number): number => Math.round(n * 10) / 10;
    rows.push({ fn, ...sizesOf(file), loadMs: round(median(loads.map((l) => l.wallMs))), cpuMs: round(median(loads.map((l) => l.cpuMs))) });
  }
  return rows;
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(1)} KB`;
}

async function main(): Promise<void> {
  const rows = await bundleReport();
  const lines = [
    ['function', 'bytes', 'gzip', 'load (median of 10)', 'cpu (median)', 'budget'],
    ...rows.map((r) => [r.fn, kb(r.bytes), kb(r.gzipBytes), `${r.loadMs} ms`, `${r.cpuMs} ms`, r.gzipBytes <= GZIP_BUDGET_BYTES ? 'ok' : 'OVER 300 KB gzip']),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] as string).length)));
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
  if (rows.some((r) => r.gzipBytes > GZIP_BUDGET_BYTES)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
