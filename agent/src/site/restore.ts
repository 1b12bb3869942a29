/**
 * Whole-site restore through the API in the plugin's order (format §9.2): validate (and check
 * the passphrase with a HEAD), `PUT restores`, fetch the record, download and read
 * `dbstructure.zip`, pre-checks, then — after every archive has been streamed and verified
 * against its recorded SHA-256 without being kept, so a damaged backup changes nothing —
 * maintenance on, database (each dbdump downloaded again, verified, imported, deleted; the
 * site's preserved rows and passwords kept; tables of plugins extra on this site dropped), kill
 * sessions, purge caches, version hash, dataroot, filedir, orphan blobs, maintenance off,
 * `PATCH restores finished` (or `failed` with details). Only one archive is on disk at a time.
 *
 * Resume: `<state folder>/restore.json` records the restore key, tables done, archives
 * applied and the old site's blob hashes; `restore-preserved/` the site's saved rows until
 * re-inserted; a re-run with `resume` continues from there.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { disableMaintenance, enableMaintenance } from '../actions/maintenance.js';
import { applyConfigOverrides, fileHashes, killSessions, pluginsMissingFromCode, purgeCaches, recalcVersionHash, resetSiteIdentifier, snapshotVersions, type VersionSnapshot } from '../actions/site-actions.js';
import { readDbStructure } from '../archive/dbstructure.js';
import { ZipArchiveReader } from '../archive/zip-reader.js';
import { checkCollation, checkEngine, checkEngineIndexes, checkPlugins, checkRestoreDiskSpace, checkVersion, readSiteVersions } from '../checks/restore-checks.js';
import { anyFailed, formatReport, type CheckResult } from '../checks/report.js';
import type { DbAdapter } from '../db/adapter.js';
import { findCollationConflicts } from '../db/collation-conflicts.js';
import { connectDatabase, withCollation } from '../db/connect.js';
import { importDatabase, type ImportState } from '../db/import-database.js';
import { preservedRowsHooks } from '../db/preserved-rows.js';
import { loadInstallTree } from '../schema/install-tree.js';
import type { XmldbTable } from '../schema/model.js';
import { clearDataroot, extractDatarootArchive, extractFiledirArchive, removeBlobs } from '../files/extract.js';
import { splitSettingList } from '../files/names.js';
import { codePlugins, databaseUrl, stateDir } from '../moodle/site.js';
import { readVaultSettings, type VaultSettings } from '../moodle/vault-settings.js';
import type { BackupFile, BackupRecord } from '../transfer/api-client.js';
import { checkPassphrase, downloadArchive } from '../transfer/download.js';
import { AgentError, CheckFailedError, WrongPassphraseError } from '../transfer/errors.js';
import type { SseCKey } from '../transfer/sse-c.js';
import { parseHashInfo } from './backup.js';
import { createByteProgress, type ByteProgress } from './byte-progress.js';
import { StateFile, vaultEnv, type AgentContext } from './context.js';
import { dropExtraPluginTables } from './extra-tables.js';

/** Options of a restore. */
export interface RestoreOptions {
  key: SseCKey | null;
  dryRun?: boolean;
  resume?: boolean;
  allowMissingPlugins?: boolean;
  resetSiteIdentifier?: boolean;
  /** Extra top-level dataroot names kept (restorepreservedataroot). */
  preserveDataroot?: string;
  /** Skip the verification pass over all archives before changing anything (saves one download). */
  skipPreverify?: boolean;
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
  db?: ImportState;
  dbDone?: boolean;
  afterDbDone?: boolean;
  applied: string[];
  before?: VersionSnapshot;
  settings?: VaultSettings;
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
  constructor(private readonly ctx: AgentContext, private readonly restorekey: string, private readonly key: SseCKey | null, readonly hashes: Map<string, string>) {
    this.progress = createByteProgress('download', { quiet: ctx.quiet, logger: ctx.logger });
  }

  /** Prints the final transfer figures. */
  finish(): void {
    this.progress.finish();
  }

  /** Downloads `name` into `dest` (or only hashes it when null); throws IntegrityError on mismatch. */
  async fetch(name: string, dest: string | null): Promise<{ sha256: string; size: number; verified: boolean }> {
    const d = await this.ctx.api.downloadUrl(this.restorekey, name);
    const expected = this.hashes.get(name);
    this.progress.archive(name);
    const r = await downloadArchive(name, { url: d.downloadurl, encrypted: Boolean(d.encrypted), ...(d.downloadheaders ? { headerLines: d.downloadheaders } : {}) }, dest, {
      ...this.ctx.storage, key: this.key, ...(expected ? { expectedSha256: expected } : {}), onBytes: (n) => this.progress.bytes(n),
    });
    this.progress.done();
    return { ...r, verified: Boolean(expected) };
  }
}

/** Restores (or, with `dryRun`, only pre-checks) a backup onto this site. */
export async function runRestore(ctx: AgentContext, backupkey: string, opts: RestoreOptions): Promise<RestoreResult> {
  await validateAndCheckPassphrase(ctx, backupkey, opts.key);
  const stateFile = StateFile.in<RestoreState>(ctx.site, 'restore.json');
  const prior = opts.resume ? await stateFile.load() : null;
  if (opts.resume && (!prior || prior.backupkey !== backupkey)) ctx.logger.warn('no interrupted restore of this backup: starting a new one');
  // Tables are created with the collation Moodle would use on this site (detected at connect,
  // before anything changes), unless one is chosen explicitly.
  const db = await connectDatabase(withCollation(databaseUrl(ctx.site), opts.collation ?? ctx.site.dbcollation), ctx.site.prefix);
  const work = join(ctx.tmpDir, `restore-${backupkey}`);
  await mkdir(work, { recursive: true });
  let restorekey = '';
  let maintenance = false;
  const preservedDir = join(stateDir(ctx.site), 'restore-preserved');
  const temp = new TempUsage();
  try {
    let st: RestoreState;
    if (prior && prior.backupkey === backupkey && !opts.dryRun) {
      st = prior;
      restorekey = st.restorekey;
      await ctx.api.patchRestore(restorekey, 'resume', { backupkey });
      ctx.logger.info(`resuming restore ${restorekey}`);
    } else {
      const release = (await db.query<{ value: string }>(`SELECT value FROM ${db.prefix}config WHERE name = 'release'`).catch(() => []))[0]?.value ?? '';
      restorekey = await ctx.api.createRestore({ backupkey, ...(opts.dryRun ? { dryrun: true } : {}), vaultenv: vaultEnv(db.engine, release) });
      // Rows left in preservedDir by an abandoned restore are kept and used: they are this site's
      // preserved rows that were never re-inserted, and the table may no longer hold them.
      st = { backupkey, restorekey, applied: [] };
    }
    const record: BackupRecord = await ctx.api.getBackup(backupkey);
    if (record.status !== 'finished') throw new AgentError('ERR_BACKUP_STATUS', `backup ${backupkey} is ${record.status}, not finished`);
    const files = orderedFiles(record.files ?? []);
    if (!files.some((f) => f.name === 'dbstructure.zip')) throw new AgentError('ERR_BACKUP_FILES', 'the backup has no dbstructure.zip');
    const info = (record.info ?? {}) as Record<string, unknown>;
    const fetcher = new ArchiveFetcher(ctx, restorekey, opts.key, parseHashInfo(info));

    const structPath = join(work, 'dbstructure.zip');
    await fetcher.fetch('dbstructure.zip', structPath);
    await temp.added(structPath);
    const zr = await ZipArchiveReader.open(structPath);
    const structure = await readDbStructure(zr).finally(() => zr.close());
    // dbdump hashes are also inside dbstructure's manifest (a second, independent record).
    for (const a of structure.manifest?.archives ?? []) if (!fetcher.hashes.has(a.name)) fetcher.hashes.set(a.name, a.sha256);
    const meta = { ...info, ...structure.metadata };

    // The target's tool_vault settings (read before the database stage replaces them).
    // On resume they come from the state: the database then already holds the backup's rows.
    const settings = st.settings ?? await readVaultSettings(db, ctx.site);
    st.settings = settings;
    const preservePlugins = settings.restorepreserveplugins;
    const checks: CheckResult[] = [];
    // Once the database stage has started, the target holds part of the backup: comparing versions
    // with it would be meaningless, and the checks passed before the interruption.
    if (!st.db) {
      const siteVersions = await readSiteVersions(db);
      checks.push(checkVersion(siteVersions, meta));
      checks.push(checkPlugins(siteVersions, meta, { allowMissing: Boolean(opts.allowMissingPlugins) || settings.allowrestorewithmissing, preserve: preservePlugins }));
    }
    checks.push(await checkRestoreDiskSpace(ctx.tmpDir, files.map((f) => f.file)));
    checks.push(checkEngine(db, meta));
    checks.push(checkEngineIndexes(db, structure, preservePlugins));
    if (!ctx.quiet) process.stderr.write(formatReport(`Restore pre-checks for ${backupkey}`, checks));
    if (anyFailed(checks)) throw new CheckFailedError(`restore pre-check failed: ${checks.filter((c) => c.status === 'fail').map((c) => `${c.title}: ${c.summary}`).join('; ')}`);
    // Index and key names follow the code tree's install order when there is one (Moodle's
    // collision counters depend on it).
    const definitions = await codeTreeDefinitions(ctx);
    // Collation: rows a unique index would reject under the target collation are found now,
    // before the first change; the dbdumps are downloaded (and verified) one at a time for it.
    const prechecked = new Set<string>();
    if (db.family === 'mysql' && db.collation && !st.db) {
      const collation = db.collation;
      const preserved = new Set(['tool_vault', ...preservePlugins]);
      async function* dumpsForCheck(): AsyncGenerator<string> {
        for (const f of files.filter((x) => x.type === 'dbdump')) {
          const path = join(work, f.name);
          await fetcher.fetch(f.name, path);
          await temp.added(path);
          // Downloaded and verified: the pre-verify pass need not fetch it again.
          prechecked.add(f.name);
          try {
            yield path;
          } finally {
            // Also when the check stops early (a conflict, an error): no archive is left behind.
            await temp.removed(path);
          }
        }
      }
      // A dry run may download only dbstructure.zip (spec §8.4): the rows are checked by the real
      // restore, still before its first change.
      const c: CheckResult = opts.dryRun
        ? { name: 'collation_restore', title: 'Collation', status: 'warn', summary: `not checked in a dry run (it needs the backup's rows); the restore checks every unique index under ${collation} before changing anything`, details: [] }
        : checkCollation(await findCollationConflicts(db, {
          tables: structure.tables.filter((t) => !preserved.has(t.component)), archives: dumpsForCheck(), collation, ...(definitions ? { definitions } : {}),
        }), collation, Boolean(opts.collation));
      checks.push(c);
      if (!ctx.quiet) process.stderr.write(formatReport('Collation pre-check', [c]));
      if (c.status === 'fail') throw new CheckFailedError(`restore pre-check failed: ${c.title}: ${c.summary}\n${c.details.join('\n')}`);
    }
    if (opts.dryRun) {
      await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
      return { restorekey, checks, upgradeNeeded: false, notes: ['dry run: nothing was changed'], tempPeakBytes: 0 };
    }

    // Verify every remaining archive before the first change to the site.
    const pending = files.filter((f) => f.name !== 'dbstructure.zip' && !st.applied.includes(f.name) && !prechecked.has(f.name) && !(f.type === 'dbdump' && st.dbDone));
    if (!opts.skipPreverify) {
      for (const f of pending) {
        const r = await fetcher.fetch(f.name, null);
        if (!r.verified) ctx.logger.warn(`${f.name}: no recorded hash (backup made by the plugin?); downloaded but not verifiable`);
      }
      ctx.logger.info(`verified ${pending.length + 1} archive(s) before changing the site`);
    }

    await stateFile.save(st);
    await enableMaintenance(ctx.site.dataroot);
    maintenance = true;
    const oldHashesFile = join(work, 'old-hashes.json');
    if (!st.dbDone) {
      if (!st.db) {
        st.before = await snapshotVersions(db);
        await writeFile(oldHashesFile, JSON.stringify([...(await fileHashes(db))]));
        st.db = { done: [] };
        await stateFile.save(st);
      }
      const dumps = files.filter((f) => f.type === 'dbdump');
      // One dbdump at a time: downloaded (hash verified again), imported, deleted. importDatabase
      // asks for the next archive only after the previous one is fully imported.
      async function* dumpArchives(): AsyncGenerator<string> {
        for (const f of dumps) {
          if (st.applied.includes(f.name)) continue;
          const path = join(work, f.name);
          await fetcher.fetch(f.name, path);
          await temp.added(path);
          yield path;
          await temp.removed(path);
          st.applied.push(f.name);
          await stateFile.save(st);
        }
      }
      ctx.logger.info(`database: restoring ${structure.tables.length} tables`);
      const keepRows = preservedRowsHooks({
        plugins: preservePlugins,
        passwordUsers: settings.restorepreservepasswords ?? [],
        filesUserId: Number(meta.userid ?? 2) || 2,
        stateDir: preservedDir,
        warn: (m) => ctx.logger.warn(m),
      });
      await importDatabase({
        db, prefix: ctx.site.prefix, source: work, archives: dumpArchives(), resumeState: st.db, preserveComponents: preservePlugins, ...(definitions ? { definitions } : {}),
        tableHooks: keepRows, warn: (m) => ctx.logger.warn(m),
        onTableDone: async (s) => { st.db = s; await stateFile.save(st); },
      });
      const keptRows = [...keepRows.kept].filter(([, n]) => n > 0);
      if (keptRows.length) ctx.logger.info(`kept this site's preserved rows: ${keptRows.map(([t, n]) => `${t} ${n}`).join(', ')}`);
      // Core config.php overrides recorded at backup time are re-applied, as the plugin does.
      const applied = await applyConfigOverrides(db, structure.configOverride);
      if (applied) ctx.logger.info(`re-applied ${applied} config.php override(s) of the backed-up site`);
      await dropTablesOfExtraPlugins(ctx, db, structure.tables.map((t) => t.name), meta, preservePlugins);
      st.dbDone = true;
      await stateFile.save(st);
      await rm(preservedDir, { recursive: true, force: true });
    }
    let upgradeNeeded = true;
    const notes: string[] = [];
    if (!st.afterDbDone) {
      await killSessions(db, ctx.site.dataroot);
      await purgeCaches(db, ctx.site.dataroot);
      const vh = st.before ? await recalcVersionHash(db, st.before) : { upgradeNeeded: true, reason: 'unknown versions' };
      upgradeNeeded = vh.upgradeNeeded;
      notes.push(vh.upgradeNeeded ? `Run admin/cli/upgrade.php: ${vh.reason}` : 'No upgrade needed: version hash kept');
      st.afterDbDone = true;
      await stateFile.save(st);
    }

    const warnings = { warn: (m: string) => ctx.logger.warn(m) };
    const datarootFiles = files.filter((f) => f.type === 'dataroot');
    if (!datarootFiles.some((f) => st.applied.includes(f.name))) {
      const removed = await clearDataroot(ctx.site.dataroot, [...splitSettingList(opts.preserveDataroot), ...settings.restorepreservedataroot, 'climaintenance.html']);
      ctx.logger.info(`dataroot: removed ${removed.length} top-level entries of the old site`);
    }
    for (const f of [...datarootFiles, ...files.filter((x) => x.type === 'filedir')]) {
      if (st.applied.includes(f.name)) continue;
      const path = join(work, f.name);
      await fetcher.fetch(f.name, path);
      await temp.added(path);
      if (f.type === 'dataroot') await extractDatarootArchive(path, ctx.site.dataroot, warnings);
      else await extractFiledirArchive(path, join(ctx.site.dataroot, 'filedir'), warnings);
      await temp.removed(path);
      st.applied.push(f.name);
      await stateFile.save(st);
      ctx.logger.info(`applied ${f.name}`);
    }

    const oldHashes = JSON.parse(await readFile(oldHashesFile, 'utf8').catch(() => '[]')) as string[];
    const keep = await fileHashes(db);
    const removedBlobs = await removeBlobs(join(ctx.site.dataroot, 'filedir'), oldHashes.filter((h) => !keep.has(h)));
    notes.push(`removed ${removedBlobs} blob(s) only the old site used`);
    if (ctx.site.moodleDir) {
      const missing = await pluginsMissingFromCode(db, new Set((await codePlugins(ctx.site.moodleDir)).keys()));
      if (missing.length) notes.push(`plugins in the restored database whose code is missing here: ${missing.join(', ')}`);
    }
    if (opts.resetSiteIdentifier) notes.push(`site identifier reset to ${await resetSiteIdentifier(db, ctx.site.wwwroot)}`);
    fetcher.finish();
    ctx.logger.info(`temp disk peak: ${temp.peak} bytes of archives in ${work} (one archive at a time plus dbstructure.zip)`);
    await disableMaintenance(ctx.site.dataroot);
    maintenance = false;
    await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
    await stateFile.remove();
    await rm(work, { recursive: true, force: true });
    for (const n of notes) ctx.logger.info(n);
    return { restorekey, checks, upgradeNeeded, notes, tempPeakBytes: temp.peak };
  } catch (err) {
    if (restorekey) {
      const details = `${err instanceof Error ? err.message : String(err)}\n\nvault-agent / Node ${process.versions.node} / DB ${db.engine}`;
      await ctx.api.patchRestore(restorekey, 'failed', { faileddetails: details }).catch(() => undefined);
    }
    if (maintenance) ctx.logger.warn('the site stays in maintenance mode; re-run with --resume to finish the restore');
    else if (!(await stateFile.load().catch(() => null))) await rm(work, { recursive: true, force: true });
    throw err;
  } finally {
    await db.close();
  }
}

/**
 * Table definitions of this site's code tree, for naming indexes in install order: `--moodle-dir`,
 * else the folder of config.php when it is a Moodle code tree (it always is on a real site).
 */
async function codeTreeDefinitions(ctx: AgentContext): Promise<XmldbTable[] | undefined> {
  const dir = ctx.site.moodleDir ?? (ctx.site.configPath ? dirname(ctx.site.configPath) : undefined);
  if (!dir || !existsSync(join(dir, 'lib', 'db', 'install.xml'))) return undefined;
  return loadInstallTree(dir);
}

/** §9.3 step 8 with a code tree; without one nothing is dropped (the components are unknown). */
async function dropTablesOfExtraPlugins(ctx: AgentContext, db: DbAdapter, backupTables: string[], meta: Record<string, unknown>, preserve: string[]): Promise<void> {
  if (!ctx.site.moodleDir) {
    ctx.logger.info('site tables absent from the backup are left as they were (no --moodle-dir: their plugins are unknown)');
    return;
  }
  const plugins = Object.keys((meta.plugins ?? {}) as Record<string, unknown>);
  const r = await dropExtraPluginTables(db, { backupTables, definitions: await loadInstallTree(ctx.site.moodleDir), backupPlugins: plugins, preserve });
  if (r.dropped.length) ctx.logger.info(`dropped ${r.dropped.length} table(s) of plugins not in the backup (the upgrade re-creates them): ${r.dropped.join(', ')}`);
  if (r.kept.length) ctx.logger.info(`left ${r.kept.length} site table(s) absent from the backup: ${r.kept.map((k) => `${k.table} (${k.reason})`).join(', ')}`);
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
      out.push({ name: f.name, ...r });
      ctx.logger.info(`${f.name}: ${r.size} bytes ${r.verified ? 'verified' : 'downloaded (no recorded hash)'}`);
    }
    await ctx.api.patchRestore(restorekey, 'finished').catch(() => undefined);
    return out;
  } catch (err) {
    await ctx.api.patchRestore(restorekey, 'failed', { faileddetails: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  }
}

