/**
 * Whole-site backup through the API (format §7): pre-checks, `PUT backups`, database archives
 * (dbdump*, dbstructure), dataroot archives, filedir archives — each streamed to storage part by
 * part while it is produced — then `PATCH backups finished` with the total size and the SHA-256
 * of every archive (info keys `vaultagent_sha256_<n>`, which the plugin ignores).
 *
 * Resume: progress is kept in `<state folder>/backup.json` (archives done with their
 * hashes, the multipart upload in flight with its parts). A re-run with `resume` re-creates the
 * archives deterministically, skips those already uploaded (checking their hash) and re-sends only
 * the missing parts of the one in flight.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { join } from 'node:path';
import { disableMaintenance, enableMaintenance } from '../actions/maintenance.js';
import { anyFailed, formatReport, type CheckResult } from '../checks/report.js';
import { checkBackupDiskSpace, checkBackupMemory, checkConfigOverrides, checkDbStatus, checkEnvironment } from '../checks/backup-checks.js';
import type { ConfigOverride } from '../archive/dbstructure.js';
import type { DbAdapter } from '../db/adapter.js';
import { connectDatabase } from '../db/connect.js';
import { exportDatabase, type ExportOptions } from '../db/export-database.js';
import { writeArchiveSeries } from '../files/archive-series.js';
import { splitSettingList } from '../files/names.js';
import { datarootItems, filedirItems } from '../files/sources.js';
import { databaseUrl, installTreeCacheFile, type SiteConfig } from '../moodle/site.js';
import { loadInstallTree } from '../schema/install-tree.js';
import { readVaultSettings } from '../moodle/vault-settings.js';
import { AgentError, ApiError, CheckFailedError } from '../transfer/errors.js';
import type { SseCKey } from '../transfer/sse-c.js';
import { PartBuffers, ResumeMismatchError, uploadArchive, type MultipartState } from '../transfer/upload.js';
import { createByteProgress, type ByteProgress } from './byte-progress.js';
import { StateFile, vaultEnv, type AgentContext } from './context.js';

/** An archive uploaded by this backup. */
export interface DoneArchive {
  sha256: string;
  size: number;
  origsize: number;
  /** Resume cursor of files archives. */
  lastKey?: string;
}

/** Persistent progress of a backup. */
export interface BackupState {
  backupkey: string;
  encrypted: boolean;
  done: Record<string, DoneArchive>;
  current?: { name: string; multipart: MultipartState };
  dbDone?: boolean;
}

/** Options of a backup run. */
export interface BackupOptions {
  description?: string;
  expiredays?: number;
  bucket?: string;
  key: SseCKey | null;
  resume?: boolean;
  /** Put the site into CLI maintenance mode while the backup runs (consistent files). */
  maintenance?: boolean;
  /** Extra top-level dataroot names to skip (default: the site's `backupexcludedataroot`, else `muc, antivirus_quarantine`). */
  excludeDataroot?: string;
}

/** Result of a backup. */
export interface BackupResult {
  backupkey: string;
  archives: Record<string, DoneArchive>;
  totalsize: number;
  /** Most memory held in part buffers at once (nothing is written to temporary files). */
  bufferPeak: number;
  checks: CheckResult[];
}

/** The site or the stored state does not allow resuming; start a new backup. */
export class ResumeImpossibleError extends AgentError {
  constructor(message: string) {
    super('ERR_RESUME', message);
  }
}

/** Prefix of the info keys holding archive hashes. */
export const HASH_INFO_PREFIX = 'vaultagent_sha256_';

/** Encodes archive hashes as ≤ 4000-character info values (`name=sha256 name=sha256 …`). */
export function hashInfo(done: Record<string, DoneArchive>): Record<string, string> {
  const out: Record<string, string> = {};
  let cur = '';
  let i = 0;
  for (const [name, a] of Object.entries(done)) {
    const item = `${name}=${a.sha256}`;
    if (cur && cur.length + item.length + 1 > 4000) { out[`${HASH_INFO_PREFIX}${i++}`] = cur; cur = ''; }
    cur = cur ? `${cur} ${item}` : item;
  }
  if (cur) out[`${HASH_INFO_PREFIX}${i}`] = cur;
  return out;
}

/** Decodes archive hashes from a backup's info. */
export function parseHashInfo(info: Record<string, unknown> | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(info ?? {})) {
    if (!k.startsWith(HASH_INFO_PREFIX) || typeof v !== 'string') continue;
    for (const item of v.split(' ')) {
      const [name, sha] = item.split('=');
      if (name && sha && /^[0-9a-f]{64}$/.test(sha)) m.set(name, sha);
    }
  }
  return m;
}

/**
 * What the export reads from the site's code tree: the folder itself (the plugin list with
 * add-on names, lib/xmldb/xmldb.xsd) and its install.xml definitions, parsed or from the state
 * folder's cache. Nothing without `--moodle-dir`.
 */
export async function codeTreeExportOptions(site: Pick<SiteConfig, 'moodleDir' | 'stateDir'>): Promise<Pick<ExportOptions, 'schemaDir' | 'definitions'>> {
  if (!site.moodleDir) return {};
  return { schemaDir: site.moodleDir, definitions: await loadInstallTree(site.moodleDir, { cacheFile: installTreeCacheFile(site) }) };
}

/** Runs the backup pre-checks (also used by `vault-agent check`). */
export async function runBackupChecks(ctx: AgentContext, db: DbAdapter): Promise<{ results: CheckResult[]; overrides: ConfigOverride[] }> {
  const results: CheckResult[] = [];
  results.push(await checkDbStatus(db, ctx.site));
  results.push(await checkBackupDiskSpace(ctx.tmpDir));
  results.push(checkBackupMemory(ctx.partSize, ctx.concurrency));
  const co = await checkConfigOverrides(db, ctx.site);
  results.push(co.result);
  results.push(checkEnvironment(db));
  return { results, overrides: co.included };
}

/** Backs up the whole site; see module doc. */
export async function runBackup(ctx: AgentContext, opts: BackupOptions): Promise<BackupResult> {
  const stateFile = StateFile.in<BackupState>(ctx.site, 'backup.json');
  const prior = opts.resume ? await stateFile.load() : null;
  if (opts.resume && !prior) ctx.logger.warn('no interrupted backup to resume: starting a new one');
  if (prior && prior.encrypted !== Boolean(opts.key)) throw new ResumeImpossibleError('the interrupted backup was made with a different passphrase setting');

  const db = await connectDatabase(databaseUrl(ctx.site), ctx.site.prefix);
  const buffers = new PartBuffers(ctx.concurrency + 1);
  const progress = createByteProgress('upload', { quiet: ctx.quiet, logger: ctx.logger });
  let state: BackupState | null = prior;
  try {
    const { results, overrides } = await runBackupChecks(ctx, db);
    if (!ctx.quiet) process.stderr.write(formatReport('Backup pre-checks', results));
    if (anyFailed(results)) throw new CheckFailedError(`backup pre-check failed: ${results.filter((r) => r.status === 'fail').map((r) => `${r.title}: ${r.summary}`).join('; ')}`);

    if (!state) {
      await ctx.api.precheckBackup();
      const release = (await db.query<{ value: string }>(`SELECT value FROM ${db.prefix}config WHERE name = 'release'`).catch(() => []))[0]?.value ?? '';
      const description = truncateBytes(opts.description ?? ctx.site.wwwroot, 255);
      const backupkey = await ctx.api.createBackup({
        description, encrypted: Boolean(opts.key), bucket: opts.bucket ?? '', expiredays: opts.expiredays ?? 0,
        vaultenv: vaultEnv(db.engine, release),
      });
      state = { backupkey, encrypted: Boolean(opts.key), done: {} };
      await stateFile.save(state);
      ctx.logger.info(`backup ${backupkey} started`);
    } else {
      ctx.logger.info(`resuming backup ${state.backupkey} (${Object.keys(state.done).length} archives already uploaded)`);
    }
    const st: BackupState = state;
    if (opts.maintenance) await enableMaintenance(ctx.site.dataroot, 'This site is being backed up by vault-agent. Please come back later.');
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await backupArchives(ctx, db, st, stateFile, opts, overrides, buffers, progress);
          break;
        } catch (err) {
          // The in-flight archive came out different from the interrupted run's: start it over once.
          if (!(err instanceof ResumeMismatchError) || attempt > 1) throw err;
          ctx.logger.warn(err.message);
          delete st.current;
          await stateFile.save(st);
        }
      }
      const totalsize = Object.values(st.done).reduce((s, a) => s + a.size, 0);
      await ctx.api.patchBackup(st.backupkey, 'finished', { totalsize, ...hashInfo(st.done) });
      await stateFile.remove();
      progress.finish();
      ctx.logger.info(`backup ${st.backupkey} finished: ${Object.keys(st.done).length} archives, ${totalsize} bytes; part buffers peak ${buffers.peak} bytes in memory, no temporary files`);
      return { backupkey: st.backupkey, archives: st.done, totalsize, bufferPeak: buffers.peak, checks: results };
    } catch (err) {
      // Network, storage and API-side (5xx) failures keep the state for --resume; anything else is
      // reported to the API as failed.
      const resumable = err instanceof AgentError && (err.code === 'ERR_NETWORK' || err.code === 'ERR_STORAGE' || (err instanceof ApiError && err.status >= 500));
      if (resumable) ctx.logger.error(`backup interrupted: re-run with --resume to continue backup ${st.backupkey}`);
      else {
        await ctx.api.patchBackup(st.backupkey, 'failed', { faileddetails: `${err instanceof Error ? err.message : String(err)}\n\nvault-agent / Node ${process.versions.node} / DB ${db.engine}` }).catch(() => undefined);
        // A backup reported failed cannot take more uploads: nothing left to resume.
        await stateFile.remove();
      }
      throw err;
    }
  } finally {
    if (opts.maintenance) await disableMaintenance(ctx.site.dataroot);
    await db.close();
  }
}

async function backupArchives(ctx: AgentContext, db: DbAdapter, st: BackupState, stateFile: StateFile<BackupState>, opts: BackupOptions, overrides: ConfigOverride[], buffers: PartBuffers, progress: ByteProgress): Promise<void> {

  /** Uploads one archive stream, or for an archive already uploaded only checks its hash. */
  const upload = async (name: string, bytes: Readable, origsize: () => number | Promise<number>, lastKey?: () => string): Promise<DoneArchive> => {
    const done = st.done[name];
    if (done) {
      const h = createHash('sha256');
      for await (const c of bytes) h.update(c as Buffer);
      const sha = h.digest('hex');
      if (sha !== done.sha256) throw new ResumeImpossibleError(`${name} differs from the copy uploaded before the interruption (the site changed); start a new backup`);
      return done;
    }
    const resume = st.current?.name === name ? st.current.multipart : undefined;
    progress.archive(name);
    const r = await uploadArchive(bytes, {
      onBytes: (n) => progress.bytes(n),
      api: ctx.api, backupkey: st.backupkey, filename: name, key: opts.key, policy: ctx.storage.policy,
      ...(ctx.storage.retry ? { retry: ctx.storage.retry } : {}), ...(ctx.storage.onRetry ? { onRetry: ctx.storage.onRetry } : {}), ...(ctx.storage.proxy ? { proxy: ctx.storage.proxy } : {}),
      partSize: ctx.partSize, concurrency: ctx.concurrency, origsize, buffers,
      ...(resume ? { resume } : {}),
      onState: async (m) => { st.current = { name, multipart: m }; await stateFile.save(st); },
    });
    progress.done(name);
    if (r.reusedParts) ctx.logger.info(`${name}: ${r.reusedParts} part(s) reused from the interrupted run`);
    const a: DoneArchive = { sha256: r.sha256, size: r.size, origsize: r.origsize, ...(lastKey ? { lastKey: lastKey() } : {}) };
    st.done[name] = a;
    delete st.current;
    await stateFile.save(st);
    ctx.logger.info(`uploaded ${name}: ${r.size} bytes (${r.parts} part(s)), sha256 ${r.sha256.slice(0, 16)}…`);
    return a;
  };

  // tool_vault's settings on this site (config_plugins / config.php) decide what is left out.
  const settings = await readVaultSettings(db, ctx.site);
  if (!st.dbDone) {
    const uploads = new Map<string, { promise: Promise<DoneArchive>; setOrig: (n: number) => void }>();
    let uploadFailure: unknown = null;
    await exportDatabase({
      db, prefix: ctx.site.prefix, compressionLevel: ctx.compressionLevel,
      ...await codeTreeExportOptions(ctx.site),
      metadata: { wwwroot: ctx.site.wwwroot },
      configOverride: overrides,
      excludeTables: settings.backupexcludetables,
      excludeComponents: settings.backupexcludeplugins,
      splitBytes: ctx.splitSize,
      out: (name) => {
        const pass = new PassThrough();
        let setOrig: (n: number) => void = () => undefined;
        const orig = new Promise<number>((r) => { setOrig = r; });
        const promise = upload(name, pass, () => orig);
        promise.catch((e: unknown) => { uploadFailure ??= e; pass.destroy(); });
        uploads.set(name, { promise, setOrig });
        return pass as Writable;
      },
      onArchive: async (info) => {
        const u = uploads.get(info.name);
        if (!u) return;
        u.setOrig(info.origsize);
        const a = await u.promise;
        if (a.sha256 !== info.sha256) throw new AgentError('ERR_INTERNAL', `${info.name}: uploaded bytes hash ${a.sha256}, writer reported ${info.sha256}`);
      },
    }).catch((err: unknown) => {
      // The writer then only sees its sink closed: report why the upload stopped instead.
      throw uploadFailure ?? err;
    });
    st.dbDone = true;
    await stateFile.save(st);
  }

  const warnings = { warn: (m: string) => ctx.logger.warn(m) };
  const cursor = (type: string): { startSeq: number; after: string | undefined } => {
    const names = Object.keys(st.done).filter((n) => n === `${type}.zip` || n.startsWith(`${type}-`));
    const seqs = names.map((n) => (n === `${type}.zip` ? 0 : Number(n.slice(type.length + 1, -4)))).sort((a, b) => a - b);
    const last = seqs.length ? seqs[seqs.length - 1] as number : -1;
    const lastName = last === 0 ? `${type}.zip` : `${type}-${last}.zip`;
    return { startSeq: last + 1, after: last >= 0 ? st.done[lastName]?.lastKey : undefined };
  };
  const series = (type: string) => ({
    type, splitSize: ctx.splitSize, splitFiles: ctx.splitFiles, compressionLevel: ctx.compressionLevel,
    upload: (name: string, bytes: Readable, origsize: () => number, lastKey: () => string) => upload(name, bytes, origsize, lastKey),
  });

  const excluded = opts.excludeDataroot !== undefined ? splitSettingList(opts.excludeDataroot) : settings.backupexcludedataroot;
  const dr = cursor('dataroot');
  await writeArchiveSeries(datarootItems(ctx.site.dataroot, excluded, warnings, dr.after), { ...series('dataroot'), startSeq: dr.startSeq });
  const fd = cursor('filedir');
  await writeArchiveSeries(filedirItems(db, join(ctx.site.dataroot, 'filedir'), warnings, fd.after ?? ''), { ...series('filedir'), startSeq: fd.startSeq });
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
export function truncateBytes(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && ((b[end] ?? 0) & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
