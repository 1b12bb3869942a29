/**
 * Whole-site restore through the API in the plugin's order (format §9.2), made atomic: it either
 * completes or leaves the site exactly as it was, and says which.
 *
 * 1. Validate (and check the passphrase with a HEAD), `PUT restores`, fetch the record, read
 *    `dbstructure.zip`, pre-checks (versions, plugins, disk space for both copies, engine,
 *    indexes, collation, foreign keys onto replaced tables, staging rights).
 * 2. Staging, site live, the database and the files side by side (each archive downloaded,
 *    verified against its recorded SHA-256, applied, deleted; nothing of the old site is
 *    replaced before the switch, so a damaged archive found here rolls back to the untouched
 *    site). Database: every table loaded into the staging area (db/staging.ts) under its final
 *    names, engine indexes included (the site's preserved rows and passwords read from the live
 *    tables into the staged ones), except the tables carried over (db/carry-over.ts: empty in
 *    the backup and live, defined exactly as the restore would create them; left in place);
 *    config overrides, session rows, cache revisions, version hash and site identifier done on
 *    the staged tables. Files: dataroot archives extracted into `<dataroot>/.vault-agent-staging`,
 *    new filedir blobs in place, each journaled before it is written (files/blob-journal.ts).
 * 3. Switch, maintenance on: carried-over tables written to meanwhile are staged (empty), then
 *    the database in one transaction or RENAME (the commit point; carried-over tables checked
 *    once more right before it, inside it on PostgreSQL; tables of plugins extra on this site
 *    moved out with the replaced ones), then the dataroot by a journaled list of renames
 *    (files/dataroot-switch.ts).
 * 4. Cleanup: old tables dropped, old dataroot entries deleted, session files and caches
 *    emptied, blobs only the old site used removed, maintenance off, `PATCH restores finished`.
 *
 * An error before the end of the switch rolls everything back (staged tables, staging folder,
 * journaled blobs; a database switch already made is reversed) and the error says the site is
 * unchanged; an error after it leaves the restored site and names what cleanup is left. At most
 * one database archive and one files archive are on disk at a time.
 *
 * Resume: `<state folder>/restore.json` records the restore key, tables carried over and
 * finished in staging, archives applied, the switch plans and how far the switch and cleanup got;
 * `restore-new-blobs.txt` the journal; a re-run with `resume` continues from there (the database
 * switch is also recognised from the database itself), one with `abandon` rolls back.
 */
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { disableMaintenance, enableMaintenance } from '../actions/maintenance.js';
import { applyConfigOverrides, bumpCacheRevisions, deleteSessions, emptySessionFiles, fileHashes, pluginsMissingFromCode, purgeCacheFolders, recalcVersionHash, resetSiteIdentifier, snapshotVersions, type VersionSnapshot } from '../actions/site-actions.js';
import { parseArchiveName } from '../archive/names.js';
import { openChunk, type ChunkFile } from '../archive/table-chunks.js';
import { readDbStructure, type DbStructure } from '../archive/dbstructure.js';
import { ZipArchiveReader } from '../archive/zip-reader.js';
import { checkCollation, checkEngine, checkEngineIndexes, checkForeignKeys, checkPlugins, checkRestoreDiskSpace, checkStagingRights, checkVersion, localDataDirectory, readSiteVersions, roomForAllDumps, type RestoreDiskPlaces } from '../checks/restore-checks.js';
import { anyFailed, formatReport, type CheckResult } from '../checks/report.js';
import type { DbAdapter } from '../db/adapter.js';
import { findCollationConflicts } from '../db/collation-conflicts.js';
import { connectDatabase, withCollation } from '../db/connect.js';
import { changedCarried, findCarriedOver, findCarryIfEmpty, findCarryIfSame, lockAndCheckCarried, readLiveCatalog, sameRowsAsLive, type CarriedTable, type LiveCatalog } from '../db/carry-over.js';
import { importDatabase, planImport, stageCarriedTables, type ImportState } from '../db/import-database.js';
import { preservedRowsHooks } from '../db/preserved-rows.js';
import { stagingArea, type StagingArea, type SwitchPlan } from '../db/staging.js';
import { failpoint } from '../failpoints.js';
import { loadInstallTree } from '../schema/install-tree.js';
import type { XmldbTable } from '../schema/model.js';
import { BlobJournal } from '../files/blob-journal.js';
import { applyMoves, DATAROOT_OLD, DATAROOT_STAGING, planDatarootSwitch, removeSwitchFolders, reverseMoves, type DatarootMove } from '../files/dataroot-switch.js';
import { extractDatarootArchive, extractFiledirArchive, removeBlobs } from '../files/extract.js';
import { flushFileSystems } from '../files/flush.js';
import { splitSettingList } from '../files/names.js';
import { codeComponents, databaseUrl, installTreeCacheFile, stateDir } from '../moodle/site.js';
import { readVaultSettings, type VaultSettings } from '../moodle/vault-settings.js';
import { backupFileSize, type BackupFile, type BackupRecord } from '../transfer/api-client.js';
import { checkPassphrase, downloadArchive, DOWNLOAD_SEGMENTS, type DownloadResult } from '../transfer/download.js';
import { AgentError, CheckFailedError, IntegrityError, WrongPassphraseError } from '../transfer/errors.js';
import type { SseCKey } from '../transfer/sse-c.js';
import { PartBuffers } from '../transfer/upload.js';
import { parseHashInfo } from './backup.js';
import { createByteProgress, type ByteProgress } from './byte-progress.js';
import { StateFile, vaultEnv, type AgentContext } from './context.js';
import { extraPluginTables, type ExtraTablesResult } from './extra-tables.js';

/** Options of a restore. */
export interface RestoreOptions {
  key: SseCKey | null;
  dryRun?: boolean;
  resume?: boolean;
  allowMissingPlugins?: boolean;
  resetSiteIdentifier?: boolean;
  /** Extra top-level dataroot names kept (restorepreservedataroot). */
  preserveDataroot?: string;
  /**
   * MySQL/MariaDB: collation for the restored tables instead of the site's (config.php
   * `dboptions['dbcollation']`, else what Moodle detects on the database).
   */
  collation?: string;
}

/** Persistent progress of a restore. */
export interface RestoreState {
  backupkey: string;
  restorekey: string;
  /** Tables finished in staging. */
  db?: ImportState;
  /**
   * Tables left in place (db/carry-over.ts): empty in the backup and live (MariaDB: or holding
   * the backup's very rows, with their checksum), defined exactly as the restore would create
   * them; never staged, switched or dropped. Those that changed before the switch are staged
   * then and taken out of the list.
   */
  carried?: CarriedTable[];
  /**
   * A backup without our manifest (the plugin's): tables to carry over if the load finds them
   * empty in the backup; each one found so is added to `carried` before the load goes on.
   */
  carryIfEmpty?: CarriedTable[];
  /**
   * MariaDB: tables holding rows live, to carry over if the load finds the backup's rows equal
   * (carry-over.ts, sameRowsAsLive); each one found so is added to `carried` with its checksum,
   * its chunk file saved in the work folder ({@link carriedRowsFile}) to stage it from if it
   * changes before the switch.
   */
  carryIfSame?: CarriedTable[];
  /** Every table staged and the staged post-restore actions done. */
  dbStaged?: boolean;
  /** Archives applied: dbdumps loaded, dataroot archives staged, filedir archives extracted. */
  applied: string[];
  before?: VersionSnapshot;
  settings?: VaultSettings;
  /** Tables the database switch moves; saved before it. */
  switch?: SwitchPlan;
  /** The database switch committed: the commit point of the restore. */
  dbSwitched?: boolean;
  /** Renames of the dataroot switch; saved before the first. */
  datarootMoves?: DatarootMove[];
  datarootSwitched?: boolean;
  /** Cleanup has begun: the old site can no longer be brought back. */
  cleanup?: boolean;
  upgradeNeeded?: boolean;
  notes?: string[];
}

/** Result of a restore. */
export interface RestoreResult {
  restorekey: string;
  checks: CheckResult[];
  upgradeNeeded: boolean;
  notes: string[];
  /** Largest total size of downloaded archives on disk at once in the apply phase. */
  tempPeakBytes: number;
}

/** Bytes of archives currently in the restore's temp folder, and the peak. */
class TempUsage {
  private now = 0;
  peak = 0;
  private readonly sizes = new Map<string, number>();
  async added(path: string): Promise<void> {
    const size = (await stat(path)).size;
    this.now += size - (this.sizes.get(path) ?? 0);
    this.sizes.set(path, size);
    this.peak = Math.max(this.peak, this.now);
  }
  async removed(path: string): Promise<void> {
    await rm(path, { force: true });
    this.now -= this.sizes.get(path) ?? 0;
    this.sizes.delete(path);
  }
}

const TYPE_ORDER: Record<string, number> = { dbstructure: 0, dbdump: 1, dataroot: 2, filedir: 3 };

/** Archive list in processing order: type, then numeric sequence. */
export function orderedFiles(files: readonly BackupFile[]): { name: string; type: string; seq: number; file: BackupFile }[] {
  return files
    .filter((f) => f.name.endsWith('.zip'))
    .map((f) => {
      const base = f.name.slice(0, -4);
      const m = /^(.*)-(\d+)$/.exec(base);
      return { name: f.name, type: m ? (m[1] as string) : base, seq: m ? Number(m[2]) : 0, file: f };
    })
    .filter((f) => f.type in TYPE_ORDER)
    .sort((a, b) => (TYPE_ORDER[a.type] ?? 9) - (TYPE_ORDER[b.type] ?? 9) || a.seq - b.seq);
}

/** Tables a restore leaves in place (carry-over.ts): decided up front, and decided as the load reads them. */
interface CarryOver {
  carried: CarriedTable[];
  carryIfEmpty: CarriedTable[];
  carryIfSame: CarriedTable[];
}

/** Which tables a restore can leave in place (carry-over.ts), read on `db` (the live catalog too unless given). */
async function analyseCarryOverOn(db: DbAdapter, structure: DbStructure, plan: Awaited<ReturnType<typeof planImport>>, live?: LiveCatalog): Promise<CarryOver> {
  const opts = live ? { live } : {};
  return { carried: await findCarriedOver(db, structure, plan, opts), carryIfEmpty: await findCarryIfEmpty(db, structure, plan, opts), carryIfSame: await findCarryIfSame(db, structure, plan, opts) };
}

/** Where a table carried over with its rows keeps the backup's chunk file until the restore ends. */
function carriedRowsFile(work: string, table: string): string {
  return join(work, 'carried', `${table}.json`);
}

/** What the carry-over analysis needs of the backup: its structure and the import's plan. */
interface CarryInputs {
  structure: DbStructure;
  plan: (db: DbAdapter) => ReturnType<typeof planImport>;
}

/**
 * The carry-over analysis over a connection of its own (closed when done): the live catalog is
 * read at once, the backup's side once `inputs` arrive (undefined: the restore no longer needs
 * the analysis, which then ends with undefined).
 */
async function analyseCarryOver(url: string, prefix: string, inputs: Promise<CarryInputs | undefined>): Promise<CarryOver | undefined> {
  const own = await connectDatabase(url, prefix);
  try {
    const live = await readLiveCatalog(own);
    const got = await inputs;
    if (!got) return undefined;
    return await analyseCarryOverOn(own, got.structure, await got.plan(own), live);
  } finally {
    await own.close();
  }
}

/**
 * Writes the staged files (`paths`: dataroot, filedir) to disk before the switch makes the database
 * point at them: the switch is durable at once, and a power loss after it must not find new blobs
 * empty. A large restore can leave gigabytes in the kernel's cache: a slow flush is announced. A
 * flush that cannot run is a warning, not a failure.
 */
async function flushStagedFiles(ctx: AgentContext, paths: string[]): Promise<void> {
  const slowFlush = setTimeout(() => ctx.logger.info('writing the staged files to disk before the switch (the site is still live) …'), 3000);
  try {
    const f = await flushFileSystems(paths);
    ctx.logger.info(`staged files written to disk (${f.how}) in ${f.seconds.toFixed(2)} s`);
  } catch (err) {
    ctx.logger.warn(`could not write the staged files to disk before the switch (${messageOf(err)}): a power loss in the next seconds could lose some of them`);
  } finally {
    clearTimeout(slowFlush);
  }
}

/** Old tables dropped per statement after the switch (bounded: PostgreSQL holds a lock per object until commit). */
const OLD_DROP_BATCH = 50;

/** Validates the backup and checks the passphrase (HEAD) before anything else. */
export async function validateAndCheckPassphrase(ctx: AgentContext, backupkey: string, key: SseCKey | null): Promise<boolean> {
  const v = await ctx.api.validateBackup(backupkey);
  if (v.encrypted) {
    if (!key) throw new WrongPassphraseError();
    if (!v.downloadurl) throw new AgentError('ERR_API', 'validate returned no URL for the passphrase check');
    await checkPassphrase(v.downloadurl, v.downloadheaders, { ...ctx.storage, key });
  }
  return Boolean(v.encrypted);
}

/** Downloads archives through the restore's URLs, verifying recorded hashes. */
export class ArchiveFetcher {
  private readonly progress: ByteProgress;
  /**
   * Body segments shared by every download of the restore (8 × 1 MiB): a pool per download left
   * 8 MiB of dead segments per archive for the garbage collector, and the C heap kept them.
   * Trimmed whenever no download runs: the database load, where a restore's memory peaks, goes
   * on for long after the last archive has arrived.
   */
  private readonly buffers = new PartBuffers(DOWNLOAD_SEGMENTS);
  /** Downloads running now. */
  private running = 0;
  /** A backup without hashes (the plugin's) is said so once, not for each archive. */
  private unhashedWarned = false;
  /** `total`: bytes the restore expects to download (for the progress bar's percentage and ETA). */
  constructor(private readonly ctx: AgentContext, private readonly restorekey: string, private readonly key: SseCKey | null, readonly hashes: Map<string, string>, total?: number) {
    this.progress = createByteProgress('download', { quiet: ctx.quiet, logger: ctx.logger, ...(total ? { total } : {}) });
  }

  /** Prints the final transfer figures. */
  finish(): void {
    this.progress.finish();
  }

  /** Counts `bytes` more in the expected total: archives that will be downloaded a second time. */
  expectAgain(bytes: number): void {
    this.progress.expect(bytes);
  }

  /**
   * Dbdump archives downloaded before dbstructure's manifest was read, without a hash from the
   * backup record: their SHA-256, compared once the manifest's hashes arrive ({@link addManifestHashes}).
   */
  private readonly awaitingManifest = new Map<string, string>();
  private manifestRead = false;

  /**
   * Downloads `name` into `dest` (or only hashes it when null); throws IntegrityError on mismatch.
   * An archive saved to `dest` without a recorded hash is hashed only while dbstructure's manifest
   * may still bring one (a dbdump started ahead of it): otherwise nothing would compare it.
   * Several fetches may run at once (they share the segment pool).
   */
  async fetch(name: string, dest: string | null, signal?: AbortSignal): Promise<{ sha256?: string; size: number; verified: boolean }> {
    const d = await this.ctx.api.downloadUrl(this.restorekey, name);
    const expected = this.hashes.get(name);
    const mayGetHash = !expected && !this.manifestRead && parseArchiveName(name)?.type === 'dbdump';
    this.progress.archive(name);
    let r: DownloadResult;
    this.running++;
    try {
      // The hash is asked for at the end: the manifest may bring it while the archive downloads.
      r = await downloadArchive(name, { url: d.downloadurl, encrypted: Boolean(d.encrypted), ...(d.downloadheaders ? { headerLines: d.downloadheaders } : {}) }, dest, {
        ...this.ctx.storage, key: this.key, ...(expected || mayGetHash ? { expectedSha256: () => this.hashes.get(name) } : {}), hash: dest === null,
        onBytes: (n) => this.progress.bytes(n), buffers: this.buffers, ...(signal ? { signal } : {}),
      });
    } finally {
      this.progress.done(name);
      if (--this.running === 0) this.buffers.trim();
    }
    const verified = this.hashes.has(name);
    if (!verified && mayGetHash && !this.manifestRead && r.sha256 !== undefined) this.awaitingManifest.set(name, r.sha256);
    else if (!verified) this.warnUnhashed(name);
    await failpoint('restore.download.archive');
    return { ...r, verified };
  }

  /**
   * Takes the dbdump hashes of dbstructure's manifest (a second record beside the backup's), for
   * archives the record has none for, and checks those already downloaded against them.
   */
  addManifestHashes(archives: readonly { name: string; sha256: string }[]): void {
    for (const a of archives) if (!this.hashes.has(a.name)) this.hashes.set(a.name, a.sha256);
    this.manifestRead = true;
    for (const [name, sha256] of this.awaitingManifest) {
      const want = this.hashes.get(name);
      if (want === undefined) this.warnUnhashed(name);
      else if (want !== sha256) throw new IntegrityError(name, want, sha256);
    }
    this.awaitingManifest.clear();
  }

  /** A backup without hashes (the plugin's) is said so once. */
  private warnUnhashed(name: string): void {
    if (name === 'dbstructure.zip' || this.unhashedWarned) return;
    this.unhashedWarned = true;
    this.ctx.logger.warn(`archives without a recorded hash (backup made by the plugin?), ${name} first: each is checked only as it is applied (entry sizes, and CRC-32 for the database's; filedir blobs against their SHA-1 names)`);
  }
}

/**
 * Archives downloaded into the restore's work folder, verified and counted in the temp usage,
 * some ahead of their use: the first dbdump starts downloading while the pre-checks run, and one
 * the collation check read can be kept for the load.
 */
class ArchiveCache {
  private readonly ready = new Map<string, Promise<string>>();
  private readonly stop = new AbortController();
  constructor(private readonly fetcher: ArchiveFetcher, private readonly work: string, private readonly temp: TempUsage) {}

  /** Starts downloading `name` now (its errors surface when it is taken). */
  prefetch(name: string): void {
    if (this.ready.has(name)) return;
    const p = this.download(name, this.stop.signal);
    p.catch(() => undefined);
    this.ready.set(name, p);
  }

  /** Keeps the downloaded archive at `path` for a later {@link take}. */
  keep(name: string, path: string): void {
    this.ready.set(name, Promise.resolve(path));
  }

  /**
   * The path of `name`, downloaded (or waited for) now; the caller removes it when done. `signal`
   * also stops a download started ahead (and with it the others: the restore is failing).
   */
  take(name: string, signal?: AbortSignal): Promise<string> {
    const p = this.ready.get(name);
    this.ready.delete(name);
    if (!p) return this.download(name, signal);
    if (!signal) return p;
    const onAbort = (): void => this.stop.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return p.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Stops downloads in flight and removes every archive not taken. */
  async discard(): Promise<void> {
    this.stop.abort(new AgentError('ERR_RESTORE', 'download no longer needed'));
    const left = [...this.ready.entries()];
    this.ready.clear();
    for (const [, p] of left) await p.then((path) => this.temp.removed(path), () => undefined);
  }

  private async download(name: string, signal?: AbortSignal): Promise<string> {
    const path = join(this.work, name);
    await this.fetcher.fetch(name, path, signal);
    await this.temp.added(path);
    return path;
  }
}

/**
 * Runs `tasks` side by side. The first to fail aborts `stop` (the others check it at their next
 * step) and, once every task has settled, its error is thrown: nothing is left running.
 */
export async function settleTogether(tasks: readonly (() => Promise<void>)[], stop: AbortController): Promise<void> {
  await Promise.allSettled(tasks.map(async (task) => {
    try {
      await task();
    } catch (err) {
      if (!stop.signal.aborted) stop.abort(err);
      throw err;
    }
  }));
  if (stop.signal.aborted) throw stop.signal.reason;
}

/** The code of the error that made a restore fail (its exit code stays that error's). */
function codeOf(cause: unknown): string {
  const code = cause instanceof Error ? (cause as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_') ? code : 'ERR_RESTORE';
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

/**
 * A restore failed and the site is exactly as it was: nothing had changed yet, or everything
 * was rolled back (`rolledBack`). Keeps the code of the error that caused it.
 */
export class RestoreUnchangedError extends AgentError {
  constructor(cause: unknown, readonly rolledBack: boolean) {
    super(codeOf(cause), `${messageOf(cause)}; ${rolledBack ? 'the restore was rolled back' : 'the restore changed nothing'}: the site is unchanged`, { cause });
  }
}

/** A restore's site-side pieces, for running, rolling back and abandoning it. */
interface RestoreSite {
  ctx: AgentContext;
  db: DbAdapter;
  area: StagingArea;
  journal: BlobJournal;
  preservedDir: string;
}

function restoreSite(ctx: AgentContext, db: DbAdapter, area: StagingArea): RestoreSite {
  return { ctx, db, area, journal: new BlobJournal(join(stateDir(ctx.site), 'restore-new-blobs.txt')), preservedDir: join(stateDir(ctx.site), 'restore-preserved') };
}

/**
 * Brings the site back to its state before the restore: a switch made (database, dataroot
 * renames) is reversed, staged tables and the staging folder deleted, the journaled new blobs
 * removed (except those the live site references now), maintenance off. Every step is
 * idempotent, so a failed rollback can be run again (`--abandon`).
 */
async function rollBack(s: RestoreSite, st: Pick<RestoreState, 'switch' | 'datarootMoves'>): Promise<void> {
  const dataroot = s.ctx.site.dataroot;
  if (st.datarootMoves) await reverseMoves(dataroot, st.datarootMoves);
  if (st.switch) await s.area.unswitch(st.switch);
  await s.area.dropStaged();
  await rm(join(dataroot, DATAROOT_STAGING), { recursive: true, force: true });
  // Empty once every rename is undone; if not, it holds the old site's entries: never deleted here.
  await rmdir(join(dataroot, DATAROOT_OLD)).catch(() => undefined);
  await s.journal.rollback(join(dataroot, 'filedir'), () => fileHashes(s.db));
  await rm(s.preservedDir, { recursive: true, force: true });
  await disableMaintenance(dataroot);
}

/**
 * Clears what an earlier restore left that was never switched (its staging tables and folder,
 * its new blobs) before a new restore. One past its database switch is never cleared here: the
 * new restore refuses to start (only `--resume` or `--abandon` of it decide about the old site).
 */
async function clearLeftovers(s: RestoreSite, prior: RestoreState | null): Promise<void> {
  if (prior) await rollBack(s, prior);
  await s.area.dropStaged();
  await s.journal.rollback(join(s.ctx.site.dataroot, 'filedir'), () => fileHashes(s.db));
  await rm(s.preservedDir, { recursive: true, force: true });
  // Old tables and old dataroot entries without a switched restore to own them: those of a
  // restore whose state is gone, which nobody can bring back any more (and a stale old folder
  // would make the next dataroot switch take its moves for done).
  await s.area.dropOld(await s.area.oldTables());
  await s.area.tidy();
  await removeSwitchFolders(s.ctx.site.dataroot);
}

/** Restores (or, with `dryRun`, only pre-checks) a backup onto this site. */
export async function runRestore(ctx: AgentContext, backupkey: string, opts: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  /** Seconds since the restore started, for the log's phase lines. */
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  // Tables are created with the collation Moodle would use on this site (detected at connect,
  // before anything changes), unless one is chosen explicitly. The database connects while the
  // API validates the backup (connecting changes nothing).
  const url = withCollation(databaseUrl(ctx.site), opts.collation ?? ctx.site.dbcollation);
  const connecting = connectDatabase(url, ctx.site.prefix);
  connecting.catch(() => undefined);
  const stateFile = StateFile.in<RestoreState>(ctx.site, 'restore.json');
  let found: RestoreState | null;
  let recordRead: Promise<BackupRecord>;
  try {
    await validateAndCheckPassphrase(ctx, backupkey, opts.key);
    // The backup record is read while the restore is registered.
    recordRead = ctx.api.getBackup(backupkey);
    recordRead.catch(() => undefined);
    found = await stateFile.load();
  } catch (err) {
    await connecting.then((d) => d.close(), () => undefined);
    throw err;
  }
  const prior = opts.resume && found?.backupkey === backupkey ? found : null;
  if (opts.resume && !prior) ctx.logger.warn('no interrupted restore of this backup: starting a new one');
  if (!prior && found?.dbSwitched && !opts.dryRun) {
    await connecting.then((d) => d.close(), () => undefined);
    throw new AgentError('ERR_RESTORE_UNFINISHED', `restore ${found.restorekey} of backup ${found.backupkey} is past its switch: finish it with 'vault-agent restore ${found.backupkey} --resume'${found.cleanup ? '' : ' or undo it with --abandon'} first`);
  }
  const db = await connecting;
  const work = join(ctx.tmpDir, `restore-${backupkey}`);
  await mkdir(work, { recursive: true });
  let restorekey = '';
  let maintenance = false;
  /** Set once the restore may have changed something: from then on an error rolls back. */
  let changing = false;
  const temp = new TempUsage();
  const site = restoreSite(ctx, db, await stagingArea(db, url).catch(async (err: unknown) => {
    await db.close();
    throw err;
  }));
  const { area, journal, preservedDir } = site;
  const dataroot = ctx.site.dataroot;
  let st: RestoreState = { backupkey, restorekey, applied: [] };
  let cached: ArchiveCache | undefined;
  let carryAnalysis: Promise<CarryOver | undefined> | undefined;
  /** Hands the backup's side to the carry-over analysis (undefined: not needed); set below. */
  let handOverToCarry: (inputs: CarryInputs | undefined) => void = () => undefined;
  /** Every dbdump the collation check read is kept in the temp folder for the load. */
  let dumpsKept = false;
  // Moodle's install.xml files are read while the API and the database answer.
  const definitionsRead = codeTreeDefinitions(ctx);
  definitionsRead.catch(() => undefined);
  // Which tables can be carried over is worked out over a connection of its own, while the API,
  // the download and the pre-checks run: the live catalog at once, the comparison with the
  // backup once its structure is read. It only reads; the switch checks those tables again.
  // VAULT_AGENT_CARRY_OVER=0 stages every table (the behaviour before carry-over).
  // A second connection refused (max_connections, a one-session user) is no reason to fail: the
  // analysis then runs on the main connection once the pre-checks have passed.
  const carryOverOn = process.env.VAULT_AGENT_CARRY_OVER !== '0';
  if (carryOverOn && !opts.dryRun && !prior?.db && !prior?.dbSwitched) {
    const inputs = new Promise<CarryInputs | undefined>((resolve) => {
      handOverToCarry = resolve;
    });
    carryAnalysis = analyseCarryOver(url, ctx.site.prefix, inputs).catch((err: unknown) => {
      ctx.logger.warn(`carry-over analysis on a second connection failed (${messageOf(err)}): it runs on the main connection after the pre-checks`);
      return undefined;
    });
  }
  try {
    if (prior && !opts.dryRun) {
      st = prior;
      restorekey = st.restorekey;
      await ctx.api.patchRestore(restorekey, 'resume', { backupkey });
      ctx.logger.info(`resuming restore ${restorekey}`);
    } else {
      const release = (await db.query<{ value: string }>(`SELECT value FROM ${db.prefix}config WHERE name = 'release'`).catch(() => []))[0]?.value ?? '';
      restorekey = await ctx.api.createRestore({ backupkey, ...(opts.dryRun ? { dryrun: true } : {}), vaultenv: vaultEnv(db.engine, release) });
      st = { backupkey, restorekey, applied: [] };
    }
    // The database switch is the commit point; a kill between it and saving the state is
    // recognised from the database: nothing of the plan left in staging, the old tables moved out.
    if (st.switch && !st.dbSwitched) {
      const staged = new Set(await area.stagedTables());
      const old = new Set(await area.oldTables());
      if (!st.switch.staged.some((t) => staged.has(t)) && (st.switch.moveOut.length === 0 || st.switch.moveOut.some((t) => old.has(t)))) st.dbSwitched = true;
    }
    const record: BackupRecord = await recordRead;
    if (record.status !== 'finished') throw new AgentError('ERR_BACKUP_STATUS', `backup ${backupkey} is ${record.status}, not finished`);
    const files = orderedFiles(record.files ?? []);
    if (!files.some((f) => f.name === 'dbstructure.zip')) throw new AgentError('ERR_BACKUP_FILES', 'the backup has no dbstructure.zip');
    const info = (record.info ?? {}) as Record<string, unknown>;
    const expectedBytes = files.filter((f) => !st.applied.includes(f.name)).reduce((n, f) => n + backupFileSize(f.file), 0);
    const fetcher = new ArchiveFetcher(ctx, restorekey, opts.key, parseHashInfo(info), expectedBytes);
    // Disk space first: it needs only the record, and it must pass before anything is downloaded
    // ahead (a full disk would hurt the live site).
    const dbDataDir = st.dbSwitched ? undefined : await localDataDirectory(db, url);
    const diskPlaces: RestoreDiskPlaces = { tmpDir: ctx.tmpDir, ...(st.dbSwitched ? {} : { dataroot }), ...(dbDataDir ? { dbDataDir } : {}) };
    const diskChecks = await checkRestoreDiskSpace(diskPlaces, files.map((f) => f.file));
    const dumpFiles = files.filter((x) => x.type === 'dbdump');
    const archiveCache = new ArchiveCache(fetcher, work, temp);
    cached = archiveCache;
    // The first dbdump and the first files archive download while the pre-checks run (the disk
    // check counts one of each in the temp folder): the collation check or the load reads the
    // one, the files staging the other. A failed check stops them and deletes them.
    const firstDump = dumpFiles.find((f) => !st.applied.includes(f.name));
    const firstFiles = files.find((f) => (f.type === 'dataroot' || f.type === 'filedir') && !st.applied.includes(f.name));
    const ahead = !opts.dryRun && !st.dbSwitched && !anyFailed(diskChecks);
    if (firstDump && ahead && !st.dbStaged) archiveCache.prefetch(firstDump.name);
    if (firstFiles && ahead) archiveCache.prefetch(firstFiles.name);

    const structPath = join(work, 'dbstructure.zip');
    await fetcher.fetch('dbstructure.zip', structPath);
    await temp.added(structPath);
    const zr = await ZipArchiveReader.open(structPath);
    const structure = await readDbStructure(zr).finally(() => zr.close());
    // dbdump hashes are also inside dbstructure's manifest (a second, independent record); a
    // dbdump downloaded ahead without one from the record is checked against it now.
    fetcher.addManifestHashes(structure.manifest?.archives ?? []);
    const meta = { ...info, ...structure.metadata };

    // The target's tool_vault settings (read before the switch replaces them).
    // On resume they come from the state: the database may hold the backup's rows by then.
    const settings = st.settings ?? await readVaultSettings(db, ctx.site);
    st.settings = settings;
    const preservePlugins = settings.restorepreserveplugins;
    const preservedComponents = new Set(['tool_vault', ...preservePlugins]);
    const checks: CheckResult[] = [];
    const definitions = await definitionsRead;
    /** The import's plan of tables and names (for the carry-over analysis and late staging). */
    const planOn = (on: DbAdapter): ReturnType<typeof planImport> => planImport(on, structure, { prefix: ctx.site.prefix, preserveComponents: preservePlugins, ...(definitions ? { definitions } : {}) });
    const importPlan = (): ReturnType<typeof planImport> => planOn(db);
    handOverToCarry(!st.db && !st.dbSwitched ? { structure, plan: planOn } : undefined);
    // Past the switch the target holds the backup: comparing it with the backup is meaningless,
    // and the checks passed before the interruption.
    if (!st.dbSwitched) {
      const siteVersions = await readSiteVersions(db);
      checks.push(checkVersion(siteVersions, meta));
      checks.push(checkPlugins(siteVersions, meta, { allowMissing: Boolean(opts.allowMissingPlugins) || settings.allowrestorewithmissing, preserve: preservePlugins }));
    }
    checks.push(...diskChecks);
    checks.push(checkEngine(db, meta));
    checks.push(checkEngineIndexes(db, structure, preservePlugins));
    if (!st.dbSwitched) {
      const live = new Set(await db.listTables());
      const extra = extraTables(ctx, structure.tables.map((t) => t.name), meta, preservePlugins, definitions, live);
      const moved = [...structure.tables.filter((t) => !preservedComponents.has(t.component) && live.has(t.name)).map((t) => t.name), ...extra.extra];
      checks.push(await checkForeignKeys(db, moved));
      checks.push(await checkStagingRights(db, moved));
    }
    if (!ctx.quiet) process.stderr.write(formatReport(`Restore pre-checks for ${backupkey}`, checks));
    if (anyFailed(checks)) throw new CheckFailedError(`restore pre-check failed: ${checks.filter((c) => c.status === 'fail').map((c) => `${c.title}: ${c.summary}`).join('; ')}`);
    // Collation: rows a unique index would reject under the target collation are found now,
    // before the first change; the dbdumps are downloaded (and verified) one at a time for it.
    // They are kept for the load (verified in this run, not fetched again) when the disks have
    // room for all of them at once; a backup with one dbdump always keeps it.
    if (db.family === 'mysql' && db.collation && !st.db) {
      const collation = db.collation;
      let keep = !opts.dryRun;
      if (keep && dumpFiles.length > 1) {
        const room = await roomForAllDumps(diskPlaces, files.map((f) => f.file));
        keep = room.room;
        if (!keep) ctx.logger.info(`collation pre-check: no room to keep the ${dumpFiles.length} database archives it reads (${room.summary}); they are downloaded again for the load`);
      }
      dumpsKept = keep && dumpFiles.length > 1;
      const cache = archiveCache;
      async function* dumpsForCheck(): AsyncGenerator<string> {
        for (const f of dumpFiles) {
          const path = await cache.take(f.name);
          let checked = false;
          try {
            yield path;
            checked = true;
          } finally {
            // Also when the check stops early (a conflict, an error): no archive is left behind.
            if (keep && checked) cache.keep(f.name, path);
            else {
              await temp.removed(path);
              // Downloaded again for the load: counted in the download's total.
              fetcher.expectAgain(backupFileSize(f.file));
            }
          }
        }
      }
      // A dry run may download only dbstructure.zip (spec §8.4): the rows are checked by the real
      // restore, still before its first change.
      const c: CheckResult = opts.dryRun
        ? { name: 'collation_restore', title: 'Collation', status: 'warn', summary: `not checked in a dry run (it needs the backup's rows); the restore checks every unique index under ${collation} before changing anything`, details: [] }
        : checkCollation(await findCollationConflicts(db, {
          tables: structure.tables.filter((t) => !preservedComponents.has(t.component)), archives: dumpsForCheck(), collation, ...(definitions ? { definitions } : {}),
        }), collation, Boolean(opts.collation));
      checks.push(c);
      if (!ctx.quiet) process.stderr.write(formatReport('Collation pre-check', [c]));
      if (c.status === 'fail') throw new CheckFailedError(`restore pre-check failed: ${c.title}: ${c.summary}\n${c.details.join('\n')}`);
    }
    if (opts.dryRun) {
      await archiveCache.discard();
      await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
      return { restorekey, checks, upgradeNeeded: false, notes: ['dry run: nothing was changed'], tempPeakBytes: 0 };
    }

    ctx.logger.info(`pre-checks passed at ${elapsed()}`);
    if (!prior) await clearLeftovers(site, found);
    changing = true;
    // The plugins this code tree holds (reported at the end), read while the site is staged.
    const pluginsInCode = ctx.site.moodleDir ? codeComponents(ctx.site.moodleDir) : undefined;
    pluginsInCode?.catch(() => undefined);
    await stateFile.save(st);
    const oldHashesFile = join(work, 'old-hashes.json');
    const warnings = { warn: (m: string) => ctx.logger.warn(m) };
    const filedir = join(dataroot, 'filedir');
    if (!st.dbSwitched) {
      // 1 and 2. The database and the files into staging, side by side, the site live. A
      // failure on one side stops the other at its next table or file; the rollback waits for
      // both (it must not race a table load or a blob write).
      const stop = new AbortController();
      const stageDatabase = async (): Promise<void> => {
        if (st.dbStaged) return;
        if (!st.db) {
          st.before = await snapshotVersions(db);
          await writeFile(oldHashesFile, JSON.stringify([...(await fileHashes(db))]));
          const carry = carryOverOn ? (await carryAnalysis) ?? await analyseCarryOverOn(db, structure, await importPlan()) : undefined;
          st.carried = carry?.carried ?? [];
          st.carryIfEmpty = carry?.carryIfEmpty ?? [];
          st.carryIfSame = carry?.carryIfSame ?? [];
          if (st.carried.length) ctx.logger.info(`database: ${st.carried.length} table(s) carried over (empty in the backup and here, defined exactly as the restore would create them): left in place`);
          if (st.carryIfEmpty.length) ctx.logger.info(`database: ${st.carryIfEmpty.length} table(s) empty here and defined exactly as the restore would create them: left in place if the backup holds no row for them`);
          if (st.carryIfSame.length) ctx.logger.info(`database: ${st.carryIfSame.length} table(s) holding rows here and defined exactly as the restore would create them: left in place if the backup holds the same rows`);
          st.db = { done: [] };
          await stateFile.save(st);
        }
        // The live tables are intact until the switch: preserved rows are read from them afresh.
        await rm(preservedDir, { recursive: true, force: true });
        // One dbdump at a time: downloaded (hash verified), loaded, deleted; one the collation
        // check kept is used as it is. importDatabase asks for the next archive only after the
        // previous one is fully loaded.
        async function* dumpArchives(): AsyncGenerator<string> {
          for (const f of dumpFiles) {
            if (st.applied.includes(f.name)) continue;
            stop.signal.throwIfAborted();
            const path = await archiveCache.take(f.name, stop.signal);
            yield path;
            await temp.removed(path);
            st.applied.push(f.name);
            await stateFile.save(st);
          }
        }
        const toStage = structure.tables.length - (st.carried?.length ?? 0);
        const mayCarry = [...(st.carryIfEmpty ?? []), ...(st.carryIfSame ?? [])].filter((c) => !st.carried?.some((x) => x.name === c.name)).length;
        ctx.logger.info(mayCarry ? `database: staging up to ${toStage} tables (${mayCarry} of them left in place instead if the backup holds the same rows, or none)` : `database: staging ${toStage} tables`);
        const keepRows = preservedRowsHooks({
          plugins: preservePlugins,
          passwordUsers: settings.restorepreservepasswords ?? [],
          filesUserId: Number(meta.userid ?? 2) || 2,
          stateDir: preservedDir,
          warn: (m) => ctx.logger.warn(m),
        });
        /** Checksums of the tables sameAsLive carried over with their rows, until onCarried records them. */
        const checksums = new Map<string, string>();
        await importDatabase({
          db, staging: area, prefix: ctx.site.prefix, source: work, structure, archives: dumpArchives(), resumeState: st.db, preserveComponents: preservePlugins,
          carriedOver: (st.carried ?? []).map((c) => c.name),
          carryIfEmpty: new Set((st.carryIfEmpty ?? []).map((c) => c.name)),
          carryIfSame: new Set((st.carryIfSame ?? []).map((c) => c.name)),
          // The chunk is saved before the decision counts: a table that changes before the switch
          // is staged from it (the dbdump archive is gone by then).
          sameAsLive: async (conn, liveTable, table, chunk) => {
            const same = await sameRowsAsLive(conn, liveTable, table, chunk);
            if (!same) return false;
            const file = carriedRowsFile(work, table.name);
            await mkdir(dirname(file), { recursive: true });
            // The chunk file's own bytes (the entry as read; a carried table is not loaded from it).
            await writeFile(file, chunk.raw?.data ?? JSON.stringify([chunk.columns, ...chunk.rows()]));
            checksums.set(table.name, same.checksum);
            return true;
          },
          // Saved with the next table's state (not once per table: 400 saves of a growing state
          // took 0.4 s). A decision lost to a kill is made again on resume: same archive, same answer.
          onCarried: async (name) => {
            const c = st.carryIfEmpty?.find((x) => x.name === name) ?? st.carryIfSame?.find((x) => x.name === name);
            const checksum = checksums.get(name);
            if (c) (st.carried ??= []).push(checksum === undefined ? c : { ...c, checksum });
          },
          ...(definitions ? { definitions } : {}),
          tableHooks: keepRows, warn: (m) => ctx.logger.warn(m),
          onTableDone: async (s) => {
            stop.signal.throwIfAborted();
            st.db = s;
            await stateFile.save(st);
            await failpoint('restore.load.table');
          },
          beforeEngineIndexes: () => failpoint('restore.load.engine-indexes'),
        });
        const lateCarried = (st.carried ?? []).filter((c) => st.carryIfEmpty?.some((x) => x.name === c.name)).length;
        if (lateCarried) ctx.logger.info(`database: ${lateCarried} table(s) empty in the backup and here carried over: left in place`);
        const sameCarried = (st.carried ?? []).filter((c) => c.checksum !== undefined).length;
        if (sameCarried) ctx.logger.info(`database: ${sameCarried} table(s) holding the backup's very rows here carried over: left in place`);
        const keptRows = [...keepRows.kept].filter(([, n]) => n > 0);
        if (keptRows.length) ctx.logger.info(`kept this site's preserved rows: ${keptRows.map(([t, n]) => `${t} ${n}`).join(', ')}`);
        // The database side of the post-restore actions on the staged tables: the switch
        // publishes a finished database.
        const staged = await area.connect();
        try {
          // Core config.php overrides recorded at backup time are re-applied, as the plugin does.
          const applied = await applyConfigOverrides(staged, structure.configOverride);
          if (applied) ctx.logger.info(`re-applied ${applied} config.php override(s) of the backed-up site`);
          await deleteSessions(staged);
          await bumpCacheRevisions(staged);
          const vh = st.before ? await recalcVersionHash(staged, st.before) : { upgradeNeeded: true, reason: 'unknown versions' };
          st.upgradeNeeded = vh.upgradeNeeded;
          st.notes = [vh.upgradeNeeded ? `Run admin/cli/upgrade.php: ${vh.reason}` : 'No upgrade needed: version hash kept'];
          if (opts.resetSiteIdentifier) st.notes.push(`site identifier reset to ${await resetSiteIdentifier(staged, ctx.site.wwwroot)}`);
        } finally {
          await staged.close();
        }
        st.dbStaged = true;
        await stateFile.save(st);
        await rm(preservedDir, { recursive: true, force: true });
      };
      // Files: dataroot archives into the staging folder, new blobs journaled and in place.
      const stageFiles = async (): Promise<void> => {
        await mkdir(join(dataroot, DATAROOT_STAGING), { recursive: true });
        for (const f of [...files.filter((x) => x.type === 'dataroot'), ...files.filter((x) => x.type === 'filedir')]) {
          if (st.applied.includes(f.name)) continue;
          stop.signal.throwIfAborted();
          const path = await archiveCache.take(f.name, stop.signal);
          const afterEntry = async (point: string): Promise<void> => {
            stop.signal.throwIfAborted();
            await failpoint(point);
          };
          if (f.type === 'dataroot') await extractDatarootArchive(path, join(dataroot, DATAROOT_STAGING), warnings, () => afterEntry('restore.files.dataroot'));
          else await extractFiledirArchive(path, filedir, warnings, { beforeWrite: (h) => journal.add(h), afterWrite: () => afterEntry('restore.files.filedir') });
          await temp.removed(path);
          st.applied.push(f.name);
          await stateFile.save(st);
          ctx.logger.info(`staged ${f.name}`);
        }
        // Flushed as soon as they are written, while the database may still be loading (on a
        // resume too: the run that wrote them may have been killed before its flush).
        await flushStagedFiles(ctx, [dataroot, ...(existsSync(filedir) ? [filedir] : [])]);
      };
      await settleTogether([stageDatabase, stageFiles], stop);
      ctx.logger.info(`database and files staged at ${elapsed()}`);
      // 3. The database switch, maintenance on.
      await enableMaintenance(dataroot);
      maintenance = true;
      // Carried-over tables written to on the live site since the analysis (also while a killed
      // restore waited for --resume) are staged now, empty as in the backup: their definition is
      // the restore's, so a fresh copy is exact. Staged before the state says so: a kill in
      // between stages them again.
      const changed = await changedCarried(db, st.carried ?? []);
      if (changed.length) {
        ctx.logger.info(`${changed.length} carried-over table(s) changed on this site since the restore began: staged as in the backup: ${changed.join(', ')}`);
        const rows = new Map<string, ChunkFile>();
        for (const c of (st.carried ?? []).filter((x) => changed.includes(x.name) && x.checksum !== undefined)) {
          const saved = await readFile(carriedRowsFile(work, c.name)).catch(() => undefined);
          const chunk = saved ? openChunk(saved) : undefined;
          if (!chunk) throw new AgentError('ERR_RESTORE_CHANGED', `carried-over table ${c.name} changed on this site and the backup's rows saved for it are gone (${carriedRowsFile(work, c.name)}): run the restore again`);
          rows.set(c.name, chunk);
        }
        await stageCarriedTables(area, structure, await importPlan(), changed, rows);
        st.carried = (st.carried ?? []).filter((c) => !changed.includes(c.name));
        if (st.switch) {
          const live = new Set(await db.listTables());
          st.switch = { staged: [...new Set([...st.switch.staged, ...changed])], moveOut: [...new Set([...st.switch.moveOut, ...changed.filter((t) => live.has(t))])] };
        }
        await stateFile.save(st);
      }
      if (!st.switch) {
        const live = new Set(await db.listTables());
        const staged = await area.stagedTables();
        const extra = extraTables(ctx, structure.tables.map((t) => t.name), meta, preservePlugins, definitions, live);
        if (extra.extra.length) ctx.logger.info(`moving out ${extra.extra.length} table(s) of plugins not in the backup (dropped after the switch; the upgrade re-creates them): ${extra.extra.join(', ')}`);
        if (extra.kept.length) ctx.logger.info(`left ${extra.kept.length} site table(s) absent from the backup: ${extra.kept.map((k) => `${k.table} (${k.reason})`).join(', ')}`);
        st.switch = { staged, moveOut: [...staged.filter((t) => live.has(t)), ...extra.extra] };
        await stateFile.save(st);
      }
      await failpoint('restore.switch.before');
      const carried = st.carried ?? [];
      // The carried-over tables once more, at the switch: PostgreSQL inside its transaction
      // with the tables locked against writes; MariaDB in the round trips before the RENAME.
      await area.switchTables(st.switch, async (live) => {
        const late = await lockAndCheckCarried(live, carried);
        if (late.length) throw new AgentError('ERR_RESTORE_CHANGED', `carried-over table(s) written to during the switch: ${late.join(', ')}`);
      });
      st.dbSwitched = true;
      await stateFile.save(st);
      ctx.logger.info(`database switched at ${elapsed()}: ${st.switch.staged.length} table(s) published, ${st.switch.moveOut.length} moved out, ${carried.length} carried over in place`);
      await failpoint('restore.switch.after-db');
    }
    maintenance = true;
    // 4. The dataroot switch: journaled renames, re-run where a kill stopped them.
    if (!st.datarootSwitched) {
      await enableMaintenance(dataroot);
      if (!st.datarootMoves) {
        st.datarootMoves = await planDatarootSwitch(dataroot, [...splitSettingList(opts.preserveDataroot), ...settings.restorepreservedataroot]);
        await stateFile.save(st);
      }
      await applyMoves(dataroot, st.datarootMoves, () => failpoint('restore.switch.dataroot'));
      st.datarootSwitched = true;
      await stateFile.save(st);
      ctx.logger.info(`dataroot switched: ${st.datarootMoves.filter((m) => m.to.startsWith(DATAROOT_OLD)).length} top-level entries of the old site replaced`);
    }

    // 5. Cleanup: from here on the old site is gone for good.
    st.cleanup = true;
    await stateFile.save(st);
    const notes = [...(st.notes ?? [])];
    // The old tables are dropped (database work) while the old dataroot, sessions and caches are
    // removed (file work).
    const dropOldTables = async (): Promise<void> => {
      // In batches: one statement per OLD_DROP_BATCH tables (485 single drops took 2.7 s on PostgreSQL).
      const oldTables = await area.oldTables();
      for (let i = 0; i < oldTables.length; i += OLD_DROP_BATCH) {
        const batch = oldTables.slice(i, i + OLD_DROP_BATCH);
        try {
          await area.dropOld(batch);
        } catch (err) {
          const left = await area.oldTables();
          ctx.logger.warn(`could not drop the old tables ${batch[0] ?? ''}…${batch.at(-1) ?? ''} (${(err as Error).message}); the site is restored; left to drop: ${left.join(', ')}`);
          notes.push(`old tables left to drop (${area.family === 'postgres' ? 'schema vault_agent_old' : 'prefix vault_old_'}): ${left.join(', ')}`);
          break;
        }
        await failpoint('restore.cleanup.old-tables');
      }
      await area.tidy().catch((err: unknown) => ctx.logger.warn(`staging schemas not removed: ${(err as Error).message}`));
    };
    const removeOldFiles = async (): Promise<void> => {
      await removeSwitchFolders(dataroot);
      await emptySessionFiles(dataroot);
      await purgeCacheFolders(dataroot);
    };
    await settleTogether([dropOldTables, removeOldFiles], new AbortController());
    await failpoint('restore.post.blobs');
    const oldHashes = JSON.parse(await readFile(oldHashesFile, 'utf8').catch(() => '[]')) as string[];
    const keep = await fileHashes(db);
    const removedBlobs = await removeBlobs(filedir, oldHashes.filter((h) => !keep.has(h)));
    notes.push(`removed ${removedBlobs} blob(s) only the old site used`);
    if (ctx.site.moodleDir) {
      const missing = await pluginsMissingFromCode(db, await (pluginsInCode ?? codeComponents(ctx.site.moodleDir)));
      if (missing.length) notes.push(`plugins in the restored database whose code is missing here: ${missing.join(', ')}`);
    }
    fetcher.finish();
    ctx.logger.info(`temp disk peak: ${temp.peak} bytes of archives in ${work} (dbstructure.zip plus ${dumpsKept ? 'the database archives the collation check read, kept for the load,' : 'at most one database archive'} and one files archive at a time)`);
    await failpoint('restore.post.finish');
    await journal.remove();
    await disableMaintenance(dataroot);
    maintenance = false;
    await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
    await stateFile.remove();
    await rm(work, { recursive: true, force: true });
    for (const n of notes) ctx.logger.info(n);
    ctx.logger.info(`restore finished in ${elapsed()}`);
    return { restorekey, checks, upgradeNeeded: st.upgradeNeeded ?? true, notes, tempPeakBytes: temp.peak };
  } catch (err) {
    handOverToCarry(undefined);
    await cached?.discard();
    await carryAnalysis;
    const message = messageOf(err);
    let thrown: unknown = err;
    if (opts.dryRun || !restorekey) {
      // Nothing to say beyond the error: a dry run and a refused start change nothing.
    } else if (st.cleanup) {
      thrown = new AgentError(codeOf(err), `${message}; the site is restored (the backup's database and dataroot are live) but its cleanup is not finished: old tables, the old dataroot entries in ${DATAROOT_OLD}, session files, caches or the old site's blobs may be left; run --resume to finish it`, { cause: err });
    } else if (changing) {
      try {
        await rollBack(site, st);
        maintenance = false;
        await stateFile.remove();
        thrown = new RestoreUnchangedError(err, true);
      } catch (rbErr) {
        thrown = new AgentError('ERR_ROLLBACK', `${message}; rolling the restore back failed too (${messageOf(rbErr)}): finish it with --resume or undo it with --abandon`, { cause: err });
      }
    } else if (st.dbSwitched) {
      thrown = new AgentError(codeOf(err), `${message}; the restore is past its database switch: finish it with --resume (or undo it with --abandon)`, { cause: err });
    } else if (prior) {
      thrown = new AgentError(codeOf(err), `${message}; the site is unchanged; the interrupted restore's staged work is kept: run --resume again, or --abandon`, { cause: err });
    } else {
      thrown = new RestoreUnchangedError(err, false);
    }
    if (restorekey) {
      const details = `${thrown instanceof Error ? thrown.message : String(thrown)}\n\nvault-agent / Node ${process.versions.node} / DB ${db.engine}`;
      await ctx.api.patchRestore(restorekey, 'failed', { faileddetails: details }).catch(() => undefined);
    }
    if (maintenance) ctx.logger.warn('the site stays in maintenance mode; re-run with --resume to finish the restore');
    else if (!(await stateFile.load().catch(() => null))) await rm(work, { recursive: true, force: true });
    throw thrown;
  } finally {
    await db.close();
  }
}

/**
 * `--abandon`: undoes an interrupted restore that has not begun its cleanup (see
 * {@link rollBack}), marks it failed and forgets it; refused once the old site is gone.
 */
export async function abandonRestore(ctx: AgentContext, backupkey: string): Promise<{ restorekey: string }> {
  const stateFile = StateFile.in<RestoreState>(ctx.site, 'restore.json');
  const st = await stateFile.load();
  if (!st || st.backupkey !== backupkey) throw new AgentError('ERR_NO_RESTORE', `no interrupted restore of backup ${backupkey} to abandon`);
  if (st.cleanup) throw new AgentError('ERR_RESTORE_PAST_SWITCH', `restore ${st.restorekey} is past its switch and has begun its cleanup: the old site cannot be brought back; run --resume to finish it`);
  const url = withCollation(databaseUrl(ctx.site), ctx.site.dbcollation);
  const db = await connectDatabase(url, ctx.site.prefix);
  try {
    await rollBack(restoreSite(ctx, db, await stagingArea(db, url)), st);
  } finally {
    await db.close();
  }
  await stateFile.remove();
  await rm(join(ctx.tmpDir, `restore-${backupkey}`), { recursive: true, force: true });
  await ctx.api.patchRestore(st.restorekey, 'failed', { faileddetails: 'abandoned by the administrator (vault-agent restore --abandon); the site is unchanged' }).catch(() => undefined);
  ctx.logger.info(`restore ${st.restorekey} abandoned: the site is as it was before it`);
  return { restorekey: st.restorekey };
}

/**
 * Table definitions of this site's code tree, for naming indexes in install order: `--moodle-dir`,
 * else the folder of config.php when it is a Moodle code tree (it always is on a real site).
 */
async function codeTreeDefinitions(ctx: AgentContext): Promise<XmldbTable[] | undefined> {
  const dir = ctx.site.moodleDir ?? (ctx.site.configPath ? dirname(ctx.site.configPath) : undefined);
  if (!dir || !existsSync(join(dir, 'lib', 'db', 'install.xml'))) return undefined;
  return loadInstallTree(dir, { cacheFile: installTreeCacheFile(ctx.site) });
}

/** §9.3 step 8 with a code tree; without one nothing is moved out (the components are unknown). */
function extraTables(ctx: AgentContext, backupTables: string[], meta: Record<string, unknown>, preserve: string[], definitions: XmldbTable[] | undefined, live: Iterable<string>): ExtraTablesResult {
  if (!ctx.site.moodleDir || !definitions) return { extra: [], kept: [] };
  const plugins = Object.keys((meta.plugins ?? {}) as Record<string, unknown>);
  return extraPluginTables({ backupTables, definitions, backupPlugins: plugins, preserve, live });
}

/**
 * Downloads and re-hashes every archive of a backup without restoring. Uses a real restore
 * record (counted against the plan's restores): a dry run may download only dbstructure.zip.
 */
export async function runVerify(ctx: AgentContext, backupkey: string, key: SseCKey | null): Promise<{ name: string; size: number; sha256: string; verified: boolean }[]> {
  await validateAndCheckPassphrase(ctx, backupkey, key);
  const db = await connectDatabase(databaseUrl(ctx.site), ctx.site.prefix).catch(() => null);
  const engine = db?.engine ?? 'unknown';
  await db?.close();
  const restorekey = await ctx.api.createRestore({ backupkey, vaultenv: vaultEnv(engine, '') });
  try {
    const record = await ctx.api.getBackup(backupkey);
    const fetcher = new ArchiveFetcher(ctx, restorekey, key, parseHashInfo((record.info ?? {}) as Record<string, unknown>));
    const out: { name: string; size: number; sha256: string; verified: boolean }[] = [];
    for (const f of orderedFiles(record.files ?? [])) {
      const r = await fetcher.fetch(f.name, null);
      out.push({ name: f.name, size: r.size, sha256: r.sha256 ?? '', verified: r.verified });
      ctx.logger.info(`${f.name}: ${r.size} bytes ${r.verified ? 'verified' : 'downloaded (no recorded hash)'}`);
    }
    await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
    return out;
  } catch (err) {
    await ctx.api.patchRestore(restorekey, 'failed', { faileddetails: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  }
}

