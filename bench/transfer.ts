/**
 * Transfer: the agent's uploader and downloader (agent/src/transfer) against `curl` PUT/GET of
 * the same bytes to the same presigned Ceph RGW URLs, and against `aws s3 cp` (Debian awscli).
 * Ratios are to curl. Quick profile: 256 MB archive; --full: 1 GB.
 */
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../agent/src/transfer/upload.js';
import { DOWNLOAD_SEGMENT } from '../agent/src/transfer/download.js';
import { createS3Client } from '../lambdas/store/aws-clients.js';
import { bundleNode, CACHE_DIR, launcherEnv } from './agent-build.js';
import { ensureTools, ROOT, type BenchContext } from './context.js';
import { medianRun } from './db.js';
import { measureCommand, procStats, statCpuMs, type Measurement } from './measure.js';
import { fmtBytes, fmtRatio, fmtRate, fmtMs, mbPerSec, type SectionResult, type TargetResult } from './report.js';
import type { DriverSettings } from './agent-transfer-driver.js';

const MiB = 1024 * 1024;

export interface TransferRun {
  id: string;
  label: string;
  direction: 'upload' | 'download';
  ours: boolean;
  m?: Measurement;
  /** Wall time of the transfer itself (the agent driver reports it without node start-up; tools: process wall). */
  transferMs?: number;
  /** CPU time the storage server (radosgw) spent during the run. */
  storageCpuMs?: number;
  error?: string;
}

async function writeArchive(file: string, bytes: number): Promise<void> {
  const ws = createWriteStream(file);
  const block = 8 * MiB;
  for (let done = 0; done < bytes; done += block) {
    if (!ws.write(randomBytes(Math.min(block, bytes - done)))) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/**
 * CPU time (user + system, ms) of the local storage server's processes so far (radosgw and any
 * Ceph daemon), read from /proc: on a small machine the server and the client share the cores.
 */
export function storageCpuMs(): number | undefined {
  let ms = 0;
  let found = false;
  for (const { comm, fields } of procStats()) {
    if (!/^(radosgw|ceph-)/.test(comm)) continue;
    ms += statCpuMs(fields);
    found = true;
  }
  // None visible (another PID namespace): unknown.
  return found ? ms : undefined;
}

async function objectSize(s3: S3Client, Bucket: string, Key: string): Promise<number> {
  const h = await s3.send(new HeadObjectCommand({ Bucket, Key }));
  return h.ContentLength ?? -1;
}

export async function runTransferSection(ctx: BenchContext): Promise<SectionResult> {
  ensureTools(['curl', 'aws', 'openssl']);
  const size = (ctx.full ? 1024 : 256) * MiB;
  // The local RGW keeps objects in a 4 GB memory store and does not free deleted ones during a run:
  // with the 1 GB archive of --full, every tool uploads once (3 GB in all).
  const reps = ctx.full ? 1 : 3;
  const rgw = await ctx.rgw();
  const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } });
  const Bucket = `bench-${Date.now()}`;
  await s3.send(new CreateBucketCommand({ Bucket }));
  const dir = join(ctx.tmp, 'transfer');
  mkdirSync(dir, { recursive: true });
  const archive = join(dir, 'archive.zip');
  ctx.log(`writing a ${fmtBytes(size)} archive (random bytes, incompressible like a zip) ...`);
  await writeArchive(archive, size);

  // The agent driver as one bundled file under plain node.
  const driver = join(CACHE_DIR, 'agent-transfer.mjs');
  let driverError: string | undefined;
  const agentSrc = join(ROOT, 'agent', 'src', 'transfer', 'upload.ts');
  if (!existsSync(agentSrc)) driverError = 'not measured yet: agent/src/transfer has not landed';
  else {
    try {
      await bundleNode(join(ROOT, 'bench', 'agent-transfer-driver.ts'), driver);
    } catch (err) {
      driverError = `agent driver did not build: ${(err as Error).message.split('\n')[0] ?? ''}`;
    }
  }
  // The agent's defaults: what a user gets without flags.
  const partSize = DEFAULT_PART_SIZE;
  const concurrency = DEFAULT_CONCURRENCY;
  const awsConfig = join(dir, 'aws-config');
  writeFileSync(awsConfig, '[default]\nregion = us-east-1\n');
  const awsEnv: NodeJS.ProcessEnv = {
    ...process.env, AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: awsConfig, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'), AWS_PAGER: '',
  };
  const driverEnv = (key: string): NodeJS.ProcessEnv => {
    const cfg: DriverSettings = { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket: Bucket, key, partSize, concurrency };
    // The agent's malloc settings (its launcher's), as for the agent commands.
    const malloc = Object.fromEntries(launcherEnv().map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    return { ...process.env, ...malloc, BENCH_TRANSFER: JSON.stringify(cfg) };
  };
  const presign = (cmd: PutObjectCommand | GetObjectCommand) => getSignedUrl(s3, cmd, { expiresIn: 3600 });
  const del = (Key: string) => s3.send(new DeleteObjectCommand({ Bucket, Key }));
  const downloaded = join(dir, 'downloaded.zip');

  interface Op { id: string; label: string; direction: 'upload' | 'download'; ours: boolean; unavailable?: string;
    run(rep: number): Promise<{ m: Measurement; transferMs: number }> }
  const checked = async (m: Measurement, check: () => Promise<void> | void): Promise<Measurement> => {
    if (m.exitCode !== 0) throw new Error(`exit ${m.exitCode}: ${m.stderrTail.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}`);
    await check();
    return m;
  };
  const sameSize = (file: string) => () => {
    const got = statSync(file).size;
    if (got !== size) throw new Error(`downloaded ${got} bytes, expected ${size}`);
  };
  const storedSize = (Key: string) => async () => {
    const got = await objectSize(s3, Bucket, Key);
    if (got !== size) throw new Error(`stored object has ${got} bytes, expected ${size}`);
  };
  const driverRun = async (label: string, mode: 'upload' | 'download' | 'download-nohash', file: string, key: string) => {
    const out = join(dir, 'driver-out.json');
    const m = await measureCommand(process.execPath, [driver, mode, file], { label, env: driverEnv(key), stdoutFile: out });
    await checked(m, () => undefined);
    const res = JSON.parse(readFileSync(out, 'utf8').trim()) as { ms: number; size: number };
    if (res.size !== size) throw new Error(`agent ${mode} moved ${res.size} bytes, expected ${size}`);
    return { m, transferMs: res.ms };
  };

  const ops: Op[] = [
    { id: 'curl_put', label: 'curl -T (presigned PUT)', direction: 'upload', ours: false, async run(rep) {
      // The last curl upload stays: it is the object every download fetches.
      const key = rep === reps - 1 ? 'source' : `curl-put-${rep}`;
      const url = await presign(new PutObjectCommand({ Bucket, Key: key }));
      const m = await checked(await measureCommand('curl', ['-sS', '-f', '-T', archive, url], { label: this.label }), storedSize(key));
      if (key !== 'source') await del(key);
      return { m, transferMs: m.wallMs };
    } },
    { id: 'tools_put_hash', label: 'openssl dgst -sha256, then curl -T (the same work with the usual tools)', direction: 'upload', ours: false,
      // A fourth 1 GB upload would not fit the RGW's 4 GB store next to the download's source.
      ...(ctx.full ? { unavailable: 'not run with --full: the local RGW\'s 4 GB store holds three 1 GB uploads and the download source' } : {}),
      async run(rep) {
        const key = `tools-put-${rep}`;
        const url = await presign(new PutObjectCommand({ Bucket, Key: key }));
        const m = await checked(await measureCommand('bash', ['-c', 'openssl dgst -sha256 "$1" >/dev/null && curl -sS -f -T "$1" "$2"', 'hash-then-put', archive, url], { label: this.label }), storedSize(key));
        await del(key);
        return { m, transferMs: m.wallMs };
      } },
    { id: 'aws_up', label: 'aws s3 cp (upload)', direction: 'upload', ours: false, async run(rep) {
      const key = `aws-${rep}`;
      const m = await checked(await measureCommand('/usr/bin/aws', ['--endpoint-url', rgw.endpoint, '--no-cli-pager', 's3', 'cp', '--only-show-errors', archive, `s3://${Bucket}/${key}`], { label: this.label, env: awsEnv }), storedSize(key));
      await del(key);
      return { m, transferMs: m.wallMs };
    } },
    { id: 'agent_up', label: `vault-agent upload (multipart, ${partSize / MiB} MiB parts × ${concurrency})`, direction: 'upload', ours: true, unavailable: driverError, async run(rep) {
      const key = `agent-${rep}`;
      const r = await driverRun(this.label, 'upload', archive, key);
      await storedSize(key)();
      await del(key);
      return r;
    } },
    { id: 'curl_get', label: 'curl -o (presigned GET)', direction: 'download', ours: false, async run() {
      rmSync(downloaded, { force: true });
      const url = await presign(new GetObjectCommand({ Bucket, Key: 'source' }));
      const m = await checked(await measureCommand('curl', ['-sS', '-f', '-o', downloaded, url], { label: this.label }), sameSize(downloaded));
      return { m, transferMs: m.wallMs };
    } },
    { id: 'tools_get_hash', label: 'curl | tee | openssl dgst -sha256 (the same work with the usual tools)', direction: 'download', ours: false, async run() {
      rmSync(downloaded, { force: true });
      const url = await presign(new GetObjectCommand({ Bucket, Key: 'source' }));
      const m = await checked(await measureCommand('bash', ['-c', 'set -o pipefail; curl -sS -f "$2" | tee "$1" | openssl dgst -sha256 >/dev/null', 'get-and-hash', downloaded, url], { label: this.label }), sameSize(downloaded));
      return { m, transferMs: m.wallMs };
    } },
    { id: 'aws_down', label: 'aws s3 cp (download)', direction: 'download', ours: false, async run() {
      rmSync(downloaded, { force: true });
      const m = await checked(await measureCommand('/usr/bin/aws', ['--endpoint-url', rgw.endpoint, '--no-cli-pager', 's3', 'cp', '--only-show-errors', `s3://${Bucket}/source`, downloaded], { label: this.label, env: awsEnv }), sameSize(downloaded));
      return { m, transferMs: m.wallMs };
    } },
    { id: 'agent_down', label: 'vault-agent download (streamed, SHA-256 on the fly)', direction: 'download', ours: true, unavailable: driverError, async run() {
      rmSync(downloaded, { force: true });
      const r = await driverRun(this.label, 'download', downloaded, 'source');
      sameSize(downloaded)();
      return r;
    } },
    { id: 'agent_down_nohash', label: 'vault-agent download without SHA-256 (reference: what the hash costs)', direction: 'download', ours: false, unavailable: driverError, async run() {
      rmSync(downloaded, { force: true });
      const r = await driverRun(this.label, 'download-nohash', downloaded, 'source');
      sameSize(downloaded)();
      return r;
    } },
  ];

  // Interleaved rounds per direction (curl, aws, agent, then aws, agent, curl, ...), so a slow
  // spell of this shared machine hits the agent and its anchors alike; the figure is the median run.
  const runs: TransferRun[] = [];
  for (const direction of ['upload', 'download'] as const) {
    const group = ops.filter((o) => o.direction === direction);
    if (direction === 'download' && (await objectSize(s3, Bucket, 'source').catch(() => -1)) !== size) {
      throw new Error('the download source (the last curl upload) is missing, so downloads cannot be measured');
    }
    const results = new Map<string, { m: Measurement; transferMs: number; storageCpuMs?: number }[]>(group.map((o) => [o.id, []]));
    const errors = new Map<string, string>();
    for (let rep = 0; rep < reps; rep++) {
      // Each round starts one tool later, so none is always the one that runs when the store is
      // fullest (the RGW frees nothing during a run, and uploads were seen to slow as it filled).
      const shift = rep % group.length;
      for (const op of [...group.slice(shift), ...group.slice(0, shift)]) {
        // aws s3 cp is a reference, not the ratio anchor: one run in the quick profile.
        const n = op.id.startsWith('aws') && !ctx.full ? 1 : reps;
        if (op.unavailable || errors.has(op.id) || rep >= n) continue;
        ctx.log(`  ${op.label} (${rep + 1}/${n})`);
        try {
          // Each run starts with no dirty pages: the previous run's written file (256 MB or more)
          // would otherwise be flushed during this one and charged to whichever tool comes next.
          rmSync(downloaded, { force: true });
          spawnSync('sync');
          const cpu0 = storageCpuMs();
          const r = await op.run(rep);
          const cpu1 = storageCpuMs();
          results.get(op.id)?.push({ ...r, ...(cpu0 !== undefined && cpu1 !== undefined ? { storageCpuMs: cpu1 - cpu0 } : {}) });
        } catch (err) {
          ctx.log(`  ${op.label} failed: ${(err as Error).message}`);
          errors.set(op.id, (err as Error).message.split('\n')[0] ?? 'failed');
        }
      }
    }
    for (const op of group) {
      const base = { id: op.id, label: op.label, direction: op.direction, ours: op.ours };
      const err = op.unavailable ?? errors.get(op.id);
      const rs = results.get(op.id) ?? [];
      if (err || rs.length === 0) {
        runs.push({ ...base, error: err ?? 'no run' });
        continue;
      }
      // Median by transfer time; keep that run's CPU and RSS.
      const med = medianRun(rs.map((r) => ({ ...r.m, wallMs: r.transferMs })));
      const chosen = rs.find((r) => r.transferMs === med?.wallMs) ?? rs[0];
      runs.push({ ...base, m: chosen?.m, transferMs: chosen?.transferMs, storageCpuMs: chosen?.storageCpuMs });
    }
  }
  rmSync(dir, { recursive: true, force: true });

  const curlOf = (d: 'upload' | 'download') => runs.find((r) => r.id === (d === 'upload' ? 'curl_put' : 'curl_get'));
  const rows = runs.map((r) => {
    const curl = curlOf(r.direction);
    const thr = r.transferMs !== undefined ? mbPerSec(size, r.transferMs) : Number.NaN;
    const curlThr = curl?.transferMs !== undefined ? mbPerSec(size, curl.transferMs) : Number.NaN;
    return [
      r.ours ? `**${r.label}**` : r.label, r.direction,
      r.error ?? fmtMs(r.transferMs), r.m ? fmtMs(r.m.cpuMs) : '–', r.storageCpuMs !== undefined ? fmtMs(r.storageCpuMs) : '–', r.m ? fmtBytes(r.m.peakRssBytes) : '–',
      r.transferMs !== undefined ? fmtRate(size, r.transferMs) : '–',
      r.id.startsWith('curl') ? 'anchor' : fmtRatio(thr / curlThr),
    ];
  });
  const up = runs.find((r) => r.id === 'agent_up');
  const curlUp = curlOf('upload');
  const upRatio = up?.transferMs !== undefined && curlUp?.transferMs !== undefined ? curlUp.transferMs / up.transferMs : Number.NaN;
  const down = runs.find((r) => r.id === 'agent_down');
  const curlDown = curlOf('download');
  const downRatio = down?.transferMs !== undefined && curlDown?.transferMs !== undefined ? curlDown.transferMs / down.transferMs : Number.NaN;
  const targets: TargetResult[] = [{
    target: 'agent upload ≥ 0.9× curl throughput',
    met: Number.isFinite(upRatio) ? upRatio >= 0.9 : null,
    figure: up?.error ?? curlUp?.error ?? `${fmtRatio(upRatio)} (${fmtRate(size, up?.transferMs)} vs curl ${fmtRate(size, curlUp?.transferMs)}, ${fmtBytes(size)})`,
  }, {
    target: 'agent download + SHA-256 ≥ 0.9× curl -o throughput',
    met: Number.isFinite(downRatio) ? downRatio >= 0.9 : null,
    figure: down?.error ?? curlDown?.error ?? `${fmtRatio(downRatio)} (${fmtRate(size, down?.transferMs)} vs curl ${fmtRate(size, curlDown?.transferMs)}, ${fmtBytes(size)})`,
  }];
  return {
    id: 'transfer',
    tables: [{
      title: `Transfer — ${fmtBytes(size)} archive to/from Ceph RGW on this machine (${reps > 1 ? `median of ${reps} interleaved rounds; aws s3 cp: 1 run` : 'one run each: the local RGW holds at most 4 GB and keeps deleted objects during a run'})`,
      columns: ['run', 'direction', 'wall', 'CPU', 'storage CPU', 'peak RSS', 'throughput', 'throughput ratio to curl (higher is faster)'],
      rows,
      notes: [
        'Before every run the downloaded file of the previous one is removed and `sync` flushes what is still unwritten, so no run pays for another\'s writes.',
        'Every tool moves the same bytes to the same RGW. curl and the agent use presigned URLs (curl: one PUT / one GET); aws s3 cp signs itself (its default multipart: 8 MiB parts, 10 at once).',
        `The agent is agent/src/transfer as bundled by esbuild, run under plain node; its wall time is the transfer itself as the agent process timed it (node start-up and the API stand-in's SDK set-up excluded, as the real API is a server already running; presigning part URLs in this process included), the tools' wall time is the whole process. The agent reads the file in 1 MiB chunks into one reused buffer (as curl does) and, with its default settings, copies the stream into ${partSize / MiB} MiB part buffers in memory (hashed once, where they are copied to), up to ${concurrency} parts in flight, and writes no temporary files.`,
        'Storage CPU: what the local Ceph RGW processes (radosgw and any ceph- daemon) spent during the run (/proc), next to the client\'s own CPU. On a machine with few cores the two share them: the agent hashes every byte (SHA-256 for the archive\'s recorded hash; `openssl speed -evp sha256` does about 2 GB/s on one core of this machine, so about 130 ms of CPU per 256 MB), curl hashes nothing, so with storage busy the hash\'s CPU comes off the agent\'s throughput.',
        'What the hash costs, measured in the same rounds: "the same work with the usual tools" saves and hashes the bytes as the agent does (download: curl piped through tee into openssl; upload: openssl, then curl -T, since a presigned PUT needs the length and a pipe has none), and "vault-agent download without SHA-256" is the agent\'s download with the hash turned off. The targets compare the agent, hash included, with curl, which does not hash.',
        `The agent's download reads the socket straight into ${DOWNLOAD_SEGMENT / MiB} MiB pooled segments (no per-read buffers), hashes each once and writes it at its offset while the next fills; curl -o computes no hash.`,
      ],
    }],
    targets,
    data: { size, reps, runs },
    notMeasured: runs.filter((r) => r.error && !r.m).map((r) => `${r.label}: ${r.error ?? ''}`),
  };
}
