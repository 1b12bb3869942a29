/**
 * `npm run bench`: vault-agent and the API against the tools a user would pick instead, as
 * ratios measured in one run. Flags: --full, --scale S|M|L (repeatable or comma list),
 * --only db,transfer,api,bundles,site.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { reapOrphans } from '../scripts/services/index.js';
import { ensureTools, ROOT, SECTIONS, serviceCache, type BenchContext, type Scale, type SectionId } from './context.js';
import { machineFacts, renderReport, writeDocs, writeJson, type BenchReport, type SectionResult } from './report.js';
import { runDbSection } from './db.js';
import { runTransferSection } from './transfer.js';
import { runApiSection } from './api.js';
import { runBundlesSection } from './bundles.js';
import { runSiteSection } from './site.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_REQUEST_CHECKSUM_CALCULATION ??= 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION ??= 'WHEN_REQUIRED';

export interface Flags {
  full: boolean;
  scales: Scale[];
  only: Set<SectionId>;
  dbSteps: Set<string>;
  /** Rewrite docs/benchmarks.md from these result files and measure nothing. */
  docsFrom: string[];
}

export function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      full: { type: 'boolean', default: false },
      scale: { type: 'string', multiple: true },
      only: { type: 'string' },
      'db-steps': { type: 'string' },
      'docs-from': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--full] [--scale S|M|L ...] [--only db,transfer,api,bundles,site] [--db-steps pg_dump_fc,agent_dump_pg,...] [--docs-from a.json,b.json]\n');
    process.exit(0);
  }
  const full = values.full ?? false;
  const scaleArgs = (values.scale ?? []).flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const s of scaleArgs) if (s !== 'S' && s !== 'M' && s !== 'L') throw new Error(`--scale must be S, M or L (got ${s})`);
  const scales = (scaleArgs.length ? [...new Set(scaleArgs)] : full ? ['S', 'M', 'L'] : ['S']) as Scale[];
  // The quick profile leaves out the whole-site run (it needs every service and ~2 more minutes): --full or --only site.
  const defaults = full ? [...SECTIONS] : SECTIONS.filter((x) => x !== 'site');
  const onlyArgs = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : defaults;
  for (const o of onlyArgs) if (!(SECTIONS as readonly string[]).includes(o)) throw new Error(`--only: unknown section ${o} (known: ${SECTIONS.join(',')})`);
  const dbSteps = new Set((values['db-steps'] ?? '').split(',').map((x) => x.trim()).filter(Boolean));
  const docsFrom = (values['docs-from'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  return { full, scales, only: new Set(onlyArgs as SectionId[]), dbSteps, docsFrom };
}

const RUNNERS: Record<SectionId, (ctx: BenchContext) => Promise<SectionResult>> = {
  bundles: runBundlesSection,
  db: runDbSection,
  transfer: runTransferSection,
  api: runApiSection,
  site: runSiteSection,
};

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.docsFrom.length) {
    const reports = flags.docsFrom.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchReport);
    writeDocs(reports, join(ROOT, 'docs', 'benchmarks.md'));
    process.stdout.write(`docs/benchmarks.md rewritten from ${flags.docsFrom.join(', ')}\n`);
    return;
  }
  reapOrphans();
  ensureTools(['time']);
  const started = new Date();
  const t0 = Date.now();
  const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
  const services = serviceCache(log);
  const tmp = mkdtempSync(join(tmpdir(), 'vault-bench-'));
  const ctx: BenchContext = { ...flags, tmp, log, ...services };
  const sections: SectionResult[] = [];
  try {
    // Cheapest first; the transfer runs last because the local RGW keeps deleted objects in its
    // 4 GB store until the run ends (with --full the whole-site run came after 3 GB of transfers
    // and crawled), and after db so the DB servers' page cache stays out of it.
    for (const id of ['bundles', 'db', 'site', 'api', 'transfer'] as SectionId[]) {
      if (!flags.only.has(id)) continue;
      log(`section ${id}`);
      try {
        sections.push(await RUNNERS[id](ctx));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        log(`section ${id} failed: ${msg}`);
        sections.push({ id, tables: [], targets: [], data: { error: msg }, notMeasured: [`section ${id} failed: ${msg.split('\n')[0] ?? ''}`] });
      }
    }
  } finally {
    // Service handles are unref'd: keep the loop alive while they stop, or node would exit early.
    const keepAlive = setInterval(() => undefined, 1000);
    await services.stopAll();
    clearInterval(keepAlive);
    rmSync(tmp, { recursive: true, force: true });
  }
  const argv = process.argv.slice(2);
  const report: BenchReport = {
    startedAt: started.toISOString(),
    durationMs: Date.now() - t0,
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    profile: flags.full ? 'full' : 'quick',
    scales: flags.scales,
    machine: machineFacts(),
    sections,
    schema: 'agent',
    ...gitCommit(),
  };
  process.stdout.write(`${renderReport(report)}\n\nTotal run time: ${(report.durationMs / 1000).toFixed(0)} s\n`);
  const file = writeJson(report, join(ROOT, 'bench', 'results'));
  writeDocs([report], join(ROOT, 'docs', 'benchmarks.md'));
  log(`wrote ${file} and docs/benchmarks.md`);
}

/** The measured code's commit, with `+changes` when the working tree differs from it. */
function gitCommit(): { commit?: string } {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return {};
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  return { commit: `${head.stdout.trim()}${dirty ? '+changes' : ''}` };
}

const isMain = process.argv[1]?.endsWith('run.ts') ?? false;
if (isMain) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
