/**
 * Whole-site backup/restore through the local API: `vault-agent backup` of the generated site
 * (PostgreSQL database + filedir) and `vault-agent restore` of it onto the MariaDB site, with a
 * passphrase (SSE-C on Ceph RGW). Wall time, CPU, peak RSS and the peak of the agent's temporary
 * folder. There is no anchor tool doing the same; the db and transfer sections hold the ratios.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRepository } from '../lambdas/store/repository.js';
import { buildAgent } from './agent-build.js';
import { apiStores, call, startChild } from './api.js';
import type { BenchContext } from './context.js';
import { agentHas, loadedDataset, sizeOf } from './db.js';
import { measureCommand, type Measurement } from './measure.js';
import { fmtBytes, fmtMs, fmtRate, type SectionResult } from './report.js';
import { PREFIX, SCHEMA_DIR } from './dataset.js';

export interface SiteRun {
  label: string;
  m?: Measurement;
  tempPeakBytes: number;
  error?: string;
}

export async function runSiteSection(ctx: BenchContext): Promise<SectionResult> {
  const agent = await buildAgent();
  if (!agentHas(agent, 'backup') || !agentHas(agent, 'restore')) {
    return { id: 'site', tables: [], targets: [], data: null, notMeasured: ['whole-site backup/restore: `vault-agent backup`/`restore` have not landed'] };
  }
  const scale = ctx.scales[0] ?? 'S';
  const { ds } = await loadedDataset(ctx, scale);
  const [pgs, my, rgw] = await Promise.all([ctx.postgres(), ctx.mariadb(), ctx.rgw()]);
  const { script, suffix, cfg } = await apiStores(ctx);
  const apiCfg = cfg('api');
  const api = await startChild(script, apiCfg);
  const runs: SiteRun[] = [];
  try {
    const reg = await call(`${api.url}/account/register`, 'POST', {}, { email: `site-${suffix}@example.com` });
    const raw = new DynamoDBClient({ endpoint: apiCfg.ddbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
    // The pro plan allows a passphrase (SSE-C), as a production site would use.
    await createRepository(DynamoDBDocumentClient.from(raw), apiCfg.tableName).setAccountPlan(String(reg.accountid), 'pro');
    raw.destroy();
    const [agentCmd, ...agentArgs] = agent?.argv ?? [];
    const common = ['--moodle-dir', SCHEMA_DIR, '--api-url', api.url, '--api-key', String(reg.apikey), '--allow-storage-host', new URL(rgw.endpoint).host,
      '--passphrase-env', 'BENCH_PASS', '--prefix', PREFIX, '-q'];
    const env = { ...process.env, BENCH_PASS: 'bench passphrase' };
    const dir = join(ctx.tmp, 'site');
    const tgtRoot = join(dir, 'moodledata-target');
    mkdirSync(join(tgtRoot, 'filedir'), { recursive: true });

    const timed = async (label: string, args: string[], tmpDir: string, stdoutFile: string): Promise<SiteRun> => {
      mkdirSync(tmpDir, { recursive: true });
      let tempPeak = 0;
      const timer = setInterval(() => { tempPeak = Math.max(tempPeak, sizeOf(tmpDir)); }, 200);
      ctx.log(`  ${label}`);
      const m = await measureCommand(agentCmd as string, [...agentArgs, ...args, '--tmp-dir', tmpDir], { label, env, stdoutFile });
      clearInterval(timer);
      if (m.exitCode !== 0) return { label, m, tempPeakBytes: tempPeak, error: `exit ${m.exitCode}: ${m.stderrTail.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}` };
      return { label, m, tempPeakBytes: tempPeak };
    };
    const backupOut = join(dir, 'backup.out');
    const backup = await timed('vault-agent backup (PostgreSQL site → API + RGW, SSE-C)', ['backup', ...common,
      '--dbtype', 'pgsql', '--dbhost', '127.0.0.1', '--dbport', String(pgs.port), '--dbname', 'moodle', '--dbuser', 'postgres',
      '--dataroot', ds.dir, '--wwwroot', 'https://bench-src.example.org', '--description', 'bench'], join(dir, 'tmp-backup'), backupOut);
    runs.push(backup);
    const key = /Backup key:\s*(\S+)/.exec(readFileSync(backupOut, 'utf8'))?.[1];
    if (!backup.error && !key) backup.error = 'backup printed no backup key';
    if (key) {
      runs.push(await timed('vault-agent restore (→ MariaDB site, SSE-C)', ['restore', key, ...common,
        '--dbtype', 'mariadb', '--dbhost', '127.0.0.1', '--dbport', String(my.port), '--dbname', 'moodle', '--dbuser', my.user, '--dbpass', my.password,
        '--dataroot', tgtRoot, '--wwwroot', 'https://bench-tgt.example.org'], join(dir, 'tmp-restore'), join(dir, 'restore.out')));
    }
  } finally {
    api.stop();
  }
  const siteBytes = ds.bytes + ds.filedirBytes;
  return {
    id: 'site',
    tables: [{
      title: `Whole-site backup/restore through the local API — scale ${scale} (${fmtBytes(ds.bytes)} of row data + ${fmtBytes(ds.filedirBytes)} filedir in ${ds.filedirFiles} files)`,
      columns: ['run', 'wall', 'CPU', 'peak RSS', 'temp disk peak', 'MB/s (rows + filedir)'],
      rows: runs.map((r) => [r.label, r.error ?? fmtMs(r.m?.wallMs), fmtMs(r.m?.cpuMs), fmtBytes(r.m?.peakRssBytes), fmtBytes(r.tempPeakBytes), r.error ? '–' : fmtRate(siteBytes, r.m?.wallMs)]),
      notes: ['The API (createApp, own node process), DynamoDB Local and Ceph RGW run on this machine. Temp disk peak = largest size of the agent\'s --tmp-dir, sampled every 200 ms. No anchor tool does the same end to end.'],
    }],
    targets: runs.filter((r) => r.m && !r.error).map((r) => ({
      target: `agent peak RSS ≤ 150 MB (${r.label.split(' (')[0] ?? r.label}, scale ${scale})`,
      met: (r.m?.peakRssBytes ?? 0) <= 150 * 1024 * 1024,
      figure: fmtBytes(r.m?.peakRssBytes),
    })),
    data: { scale, siteBytes, runs },
    notMeasured: runs.filter((r) => r.error).map((r) => `${r.label}: ${r.error ?? ''}`),
  };
}
