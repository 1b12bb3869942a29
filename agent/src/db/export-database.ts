/**
 * Exports a Moodle database into tool_vault archives: `dbdump[-N].zip` with every table
 * streamed into ~2 MiB chunk files (split at 1 GiB after a whole table, spec §1.3), then
 * `dbstructure.zip`. Rows are read inside one snapshot, so the dump and the recorded sequences
 * are consistent: by default over several connections that share it (ordered-tables.ts;
 * DbAdapter.beginSharedSnapshot says how each engine shares it), the archive still written in
 * table order, byte for byte what one connection writes. Rows go from the database's bytes
 * straight into chunk JSON where the adapter can (DbAdapter.writeJsonRows).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { BINARY_ENCODING } from '../archive/binary-encoding.js';
import type { AgentManifest, BackupMetadata, ChunkRecord, ConfigOverride } from '../archive/dbstructure.js';
import { writeDbStructure } from '../archive/dbstructure.js';
import { archiveName } from '../archive/names.js';
import { CHUNK_BUFFER_SLACK, CHUNK_TARGET_BYTES, ChunkBufferPool } from '../archive/table-chunks.js';
import type { ArchiveInfo } from '../archive/zip-writer.js';
import { ZipArchiveWriter } from '../archive/zip-writer.js';
import type { TransferProgress } from '../log/progress.js';
import { pluginDisplayName, readCodeTreePlugins, subpluginParent, type CodeTreePlugins } from '../moodle/components.js';
import { loadInstallTree } from '../schema/install-tree.js';
import type { XmldbTable } from '../schema/model.js';
import { reconcileTable } from '../schema/reconcile.js';
import type { DbAdapter } from './adapter.js';
import { connectDatabase } from './connect.js';
import { keepRowsCondition } from './excluded-plugin-rows.js';
import { tuneHeapForStreaming } from './heap.js';
import { readInTableOrder, type TableRead } from './ordered-tables.js';

/** The plugin's UPLOAD_SIZE: a new archive starts once one holds more than 1 GiB. */
export const ARCHIVE_SPLIT_BYTES = 1024 * 1024 * 1024;

/** Agent version written into the manifest and `__metadata__.json` (`vaultagent_version`). */
export const AGENT_VERSION = '0.1.0';

/**
 * The same version as a plugin-style YYYYMMDDXX number (the agent's release date): written as
 * `tool_vault_version` so that field says truthfully which program wrote the backup, in the form
 * the plugin's is in (the plugin only stores and shows it; `vaultagent_version` names the agent).
 */
export const AGENT_VERSION_NUMBER = '2026120600';

/** Where archives go: a directory, or a function giving a sink per archive name. */
export type ArchiveDestination = string | ((archiveName: string) => Writable | Promise<Writable>);

/** Options of {@link exportDatabase}. */
export interface ExportOptions {
  /** Database URL or an already connected adapter (left open). */
  db: string | DbAdapter;
  prefix?: string;
  out: ArchiveDestination;
  /** A Moodle code tree: gives COMPONENTs and definition spelling (§2.1); without it tables get COMPONENT `?`. */
  schemaDir?: string;
  /** Definitions instead of `schemaDir`. */
  definitions?: XmldbTable[];
  /** Prefixed names or `*` patterns of tables not defined by any install.xml to leave out (backupexcludetables). */
  excludeTables?: string[];
  /** Components whose tables and rows in shared tables (spec §3.2) are left out; `tool_vault` always is. */
  excludeComponents?: string[];
  /** Called when an archive is complete (e.g. to upload it). */
  onArchive?: (info: ArchiveInfo) => void | Promise<void>;
  onProgress?: (p: TransferProgress) => void;
  metadata?: Partial<BackupMetadata>;
  configOverride?: ConfigOverride[];
  splitBytes?: number;
  chunkBytes?: number;
  compressionLevel?: number;
  /**
   * Connections reading tables at once, all in one snapshot (default
   * {@link DEFAULT_EXPORT_CONNECTIONS}); 1 reads everything over the one connection. Fewer are
   * used when the engine cannot share its snapshot (see DbAdapter.beginSharedSnapshot).
   */
  connections?: number;
}

/**
 * Connections an export reads tables over: while the server produces one table, the agent encodes
 * another (485 tables at scale S, most of them a few rows: mostly round trips). Measured with
 * `vault-agent dump --connections 1…4` at scale S on a shared 2-core machine (median of 3
 * interleaved rounds): PostgreSQL 6.3 s → 4.8 s with 3, MariaDB 5.6 s → 4.7 s; 4 were no better,
 * and each one more holds another chunk buffer.
 */
export const DEFAULT_EXPORT_CONNECTIONS = 3;

/** Per-table outcome. */
export interface ExportedTable {
  name: string;
  rows: number;
  chunks: number;
  bytes: number;
}

/** Result of {@link exportDatabase}. */
export interface ExportResult {
  /** dbdump archives in order, then dbstructure.zip. */
  archives: ArchiveInfo[];
  structure: XmldbTable[];
  sequences: Record<string, number>;
  tables: ExportedTable[];
  metadata: BackupMetadata;
}

const wildcard = (pattern: string): RegExp => new RegExp(`^${pattern.toLowerCase().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

async function openSink(out: ArchiveDestination, name: string): Promise<Writable> {
  if (typeof out === 'string') return createWriteStream(join(out, name));
  return out(name);
}

/**
 * A table no install.xml of the code tree defines, named like an excluded plugin's tables
 * (`tool_vault_config` …): a code tree without that plugin (or none) must not let it travel.
 */
function ownedByExcluded(table: string, excluded: Set<string>): boolean {
  for (const c of excluded) {
    // Activity modules name their tables without the `mod_` prefix (`forum`, `forum_posts`).
    const stem = c.startsWith('mod_') ? c.slice(4) : c;
    if (table === stem || table.startsWith(`${stem}_`)) return true;
  }
  return false;
}

async function siteMetadata(db: DbAdapter, tables: Set<string>, dbtotalsize: number, given: Partial<BackupMetadata>, excluded: Set<string>, code: CodeTreePlugins | null): Promise<BackupMetadata> {
  const cfg = new Map<string, string>();
  const p = db.prefix;
  const qi = (s: string): string => (db.family === 'postgres' ? `"${s}"` : `\`${s}\``);
  if (tables.has('config')) {
    for (const r of await db.query<{ name: string; value: string }>(`SELECT name, value FROM ${qi(`${p}config`)} WHERE name IN ('version', 'release', 'branch')`)) cfg.set(r.name, r.value);
  }
  const installed = new Map<string, string>();
  if (tables.has('config_plugins')) {
    const rows = await db.query<{ plugin: string; value: string }>(`SELECT plugin, value FROM ${qi(`${p}config_plugins`)} WHERE name = 'version' ORDER BY plugin`);
    for (const r of rows) installed.set(r.plugin, r.value);
  }
  const plugins = given.plugins ?? await pluginList(installed, excluded, code);
  return {
    wwwroot: given.wwwroot ?? '',
    dbengine: db.family,
    version: given.version ?? cfg.get('version') ?? '',
    branch: given.branch ?? cfg.get('branch') ?? '',
    release: given.release ?? cfg.get('release') ?? '',
    tool_vault_version: given.tool_vault_version ?? AGENT_VERSION_NUMBER,
    vaultagent_version: given.vaultagent_version ?? AGENT_VERSION,
    email: given.email ?? '',
    name: given.name ?? '',
    // A string, as the plugin writes the id it read from the database.
    userid: given.userid ?? '2',
    dbtotalsize: given.dbtotalsize ?? dbtotalsize,
    plugins,
  };
}

/**
 * `plugins` as the plugin's `siteinfo::get_plugins_list_full()` builds it: with a real code tree,
 * every plugin of the code (core_component order) with only its truthy members — installed
 * `version`, `isaddon` when not in lib/plugins.json, `parent` for subplugins, `name` for add-ons;
 * without one, the installed plugins (config_plugins) with `version` and the standard `parent`.
 * `tool_vault` and the excluded plugins are left out.
 */
async function pluginList(installed: Map<string, string>, excluded: Set<string>, code: CodeTreePlugins | null): Promise<BackupMetadata['plugins']> {
  const out: BackupMetadata['plugins'] = {};
  if (!code) {
    for (const [plugin, version] of installed) {
      if (excluded.has(plugin)) continue;
      const parent = subpluginParent(plugin);
      out[plugin] = { ...(version ? { version } : {}), ...(parent ? { parent } : {}) };
    }
    return out;
  }
  for (const pc of code.plugins.values()) {
    if (excluded.has(pc.component)) continue;
    const version = installed.get(pc.component);
    const isaddon = code.standard !== null && !code.standard.has(pc.component);
    const name = isaddon ? await pluginDisplayName(code.root, pc) : '';
    out[pc.component] = { ...(version ? { version } : {}), ...(isaddon ? { isaddon: true } : {}), ...(pc.parent ? { parent: pc.parent } : {}), ...(name ? { name } : {}) };
  }
  return out;
}

/** Dumps the database into archives; see {@link ExportOptions}. */
export async function exportDatabase(opts: ExportOptions): Promise<ExportResult> {
  tuneHeapForStreaming();
  const prefix = opts.prefix ?? 'mdl_';
  const db = typeof opts.db === 'string' ? await connectDatabase(opts.db, prefix) : opts.db;
  if (typeof opts.out === 'string') await mkdir(opts.out, { recursive: true });
  const split = opts.splitBytes ?? ARCHIVE_SPLIT_BYTES;
  let inSnapshot = false;
  // More connections reading the same snapshot (closed once the rows are read).
  let readers: DbAdapter[] = [];
  try {
    const definitions = opts.definitions ?? (opts.schemaDir ? await loadInstallTree(opts.schemaDir) : undefined);
    const defs = new Map((definitions ?? []).map((t) => [t.name, t]));
    const excludedComponents = new Set(['tool_vault', ...(opts.excludeComponents ?? [])]);
    const excludePatterns = (opts.excludeTables ?? []).map(wildcard);
    const wanted = Math.max(0, (opts.connections ?? DEFAULT_EXPORT_CONNECTIONS) - 1);
    if (wanted > 0 && db.beginSharedSnapshot) readers = await db.beginSharedSnapshot(wanted);
    else await db.beginSnapshot();
    inSnapshot = true;
    // Engine statistics (metadata only) over another connection while this one introspects.
    const [live, stats] = await Promise.all([db.introspect(), (readers[0] ?? db).tableStats()]);
    const structure = live
      .map((t) => (definitions ? reconcileTable(db.family, t, defs.get(t.name)) : { ...t, component: '?' }))
      .filter((t) => !excludedComponents.has(t.component) && !(t.component === '?' && ownedByExcluded(t.name, excludedComponents)))
      .filter((t) => defs.has(t.name) || !excludePatterns.some((re) => re.test(prefix + t.name)));
    const liveNames = new Set(live.map((t) => t.name));
    const progress: TransferProgress = { tablesDone: 0, tablesTotal: structure.length, rows: 0, bytes: 0 };
    const archives: ArchiveInfo[] = [];
    const chunks: Record<string, ChunkRecord> = {};
    const tables: ExportedTable[] = [];
    let seq = 0;
    const chunkBytes = opts.chunkBytes ?? CHUNK_TARGET_BYTES;
    // Chunk buffers for every table: the chunk being written, those queued in the archive writer
    // and the one being compressed.
    const chunkBuffers = new ChunkBufferPool(chunkBytes + CHUNK_BUFFER_SLACK);
    let writer: ZipArchiveWriter | undefined;
    const closeWriter = async (): Promise<void> => {
      if (!writer) return;
      const info = await writer.close();
      archives.push(info);
      writer = undefined;
      await opts.onArchive?.(info);
    };

    const reads: TableRead[] = structure.map((table) => ({
      table, columns: table.fields.map((f) => f.name), where: keepRowsCondition(db.family, prefix, table, [...excludedComponents], liveNames),
    }));
    let bytes = 0;
    await readInTableOrder(reads, [db, ...readers], { pool: chunkBuffers, chunkBytes }, async (i, c) => {
      if (!writer) writer = new ZipArchiveWriter(archiveName('dbdump', seq++), await openSink(opts.out, archiveName('dbdump', seq - 1)), { compressionLevel: opts.compressionLevel });
      progress.table = structure[i]?.name;
      chunks[c.name] = { archive: writer.name, rows: c.rows, bytes: c.data.length, sha256: createHash('sha256').update(c.data).digest('hex') };
      bytes += c.data.length;
      progress.bytes += c.data.length;
      progress.rows += c.rows;
      opts.onProgress?.(progress);
      await writer.add(c.name, c.data, c.release);
    }, async (i, rows, count) => {
      tables.push({ name: structure[i]?.name ?? '', rows, chunks: count, bytes });
      bytes = 0;
      progress.tablesDone++;
      opts.onProgress?.(progress);
      // A table never spans two archives: the size check happens after the whole table.
      if (writer && writer.origsize > split) await closeWriter();
    });
    await Promise.all(readers.splice(0).map((r) => r.close()));
    await closeWriter();
    const seqMap = await db.sequences(structure);
    const names = new Set(live.map((t) => t.name));
    const dbtotalsize = structure.reduce((s, t) => s + (stats.get(t.name)?.bytes ?? 0), 0);
    const code = opts.schemaDir ? await readCodeTreePlugins(opts.schemaDir) : null;
    const metadata = await siteMetadata(db, names, dbtotalsize, opts.metadata ?? {}, excludedComponents, code);
    await db.endSnapshot();
    inSnapshot = false;

    const sequences: Record<string, number> = Object.fromEntries(seqMap);
    // The plugin writes PostgreSQL values as strings and MySQL ones as integers (spec §2.3).
    const seqJson: Record<string, number | string> = Object.fromEntries([...seqMap].map(([k, v]) => [k, db.family === 'postgres' ? String(v) : v]));
    const manifest: AgentManifest = {
      format: 1,
      agent: AGENT_VERSION,
      binaryEncoding: BINARY_ENCODING,
      floatFormat: 'js-shortest',
      sourceEngine: db.engine,
      archives: [...archives],
      tables: Object.fromEntries(tables.map((t) => [t.name, { rows: t.rows, chunks: t.chunks }])),
      chunks,
      engineIndexes: { engine: db.engine, prefix, indexes: structure.flatMap((t) => t.engineIndexes ?? []) },
    };
    const xsdPath = opts.schemaDir ? join(opts.schemaDir, 'lib', 'xmldb', 'xmldb.xsd') : undefined;
    const xsd = xsdPath && existsSync(xsdPath) ? await readFile(xsdPath) : undefined;
    const structWriter = new ZipArchiveWriter('dbstructure.zip', await openSink(opts.out, 'dbstructure.zip'), { compressionLevel: opts.compressionLevel });
    await writeDbStructure(structWriter, { tables: structure, metadata, sequences: seqJson, configOverride: opts.configOverride ?? [], manifest, xsd });
    const structInfo = await structWriter.close();
    archives.push(structInfo);
    await opts.onArchive?.(structInfo);
    progress.table = undefined;
    opts.onProgress?.(progress);
    return { archives, structure, sequences, tables, metadata };
  } finally {
    // A caller's connection must not be left inside the (possibly aborted) snapshot transaction.
    await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
    if (inSnapshot) await db.endSnapshot().catch(() => undefined);
    if (typeof opts.db === 'string') await db.close();
  }
}
