/**
 * Post-restore actions on the database and the dataroot (format §10), done without Moodle's PHP:
 * kill sessions, purge caches, bump revision settings, keep the version hash when the code is
 * unchanged, and remove file-pool blobs only the old site used. Database and dataroot sides are
 * separate functions: a restore runs the database ones on its staged tables before the switch.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DbAdapter } from '../db/adapter.js';

/**
 * Kills sessions, database side: deletes every session row. A restore runs it on the staged
 * tables before the switch; {@link emptySessionFiles} is the dataroot side.
 */
export async function deleteSessions(db: DbAdapter): Promise<void> {
  await db.execute(`DELETE FROM ${db.prefix}sessions`).catch(() => undefined);
}

/** Kills sessions, dataroot side: deletes the session files. */
export async function emptySessionFiles(dataroot: string): Promise<void> {
  await emptyDir(join(dataroot, 'sessions'));
}

/** Purges caches, dataroot side: empties the cache folders. */
export async function purgeCacheFolders(dataroot: string): Promise<void> {
  for (const d of ['cache', 'localcache', 'muc']) await emptyDir(join(dataroot, d));
}

/**
 * Purges caches, database side: bumps the revision settings so browsers and Moodle refetch. A
 * restore runs it on the staged tables before the switch.
 */
export async function bumpCacheRevisions(db: DbAdapter): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const ph = db.family === 'postgres' ? ['$1', '$2'] : ['?', '?'];
  for (const name of ['themerev', 'jsrev', 'templaterev', 'langrev', 'allcachesrev']) {
    // A revision must only grow; MAX keeps a clock-skewed value from going backwards.
    const rows = await db.query<{ value: string }>(`SELECT value FROM ${db.prefix}config WHERE name = ${ph[0]}`, [name]).catch(() => null);
    if (!rows || rows.length === 0) continue;
    const next = Math.max(now, Number(rows[0]?.value ?? 0) + 1);
    await db.query(`UPDATE ${db.prefix}config SET value = ${ph[0]} WHERE name = ${ph[1]}`, [String(next), name]);
  }
}

async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => null);
  if (!names) return;
  for (const n of names) await rm(join(dir, n), { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** Versions and the `allversionshash` a site's database holds. */
export interface VersionSnapshot {
  version: string | null;
  plugins: Record<string, string>;
  allversionshash: string | null;
}

/** Reads the versions and the all-versions hash from a database. */
export async function snapshotVersions(db: DbAdapter): Promise<VersionSnapshot> {
  const cfg = await db.query<{ name: string; value: string }>(`SELECT name, value FROM ${db.prefix}config WHERE name IN ('version', 'allversionshash')`).catch(() => []);
  const pl = await db.query<{ plugin: string; value: string }>(`SELECT plugin, value FROM ${db.prefix}config_plugins WHERE name = 'version'`).catch(() => []);
  return {
    version: cfg.find((r) => r.name === 'version')?.value ?? null,
    allversionshash: cfg.find((r) => r.name === 'allversionshash')?.value ?? null,
    plugins: Object.fromEntries(pl.map((r) => [r.plugin, r.value])),
  };
}

/**
 * After the database stage: when every restored version equals what this site's code had
 * installed before (same code tree), the old site's `allversionshash` is still the code's hash,
 * so it is written back and Moodle does not ask for an upgrade. Otherwise the admin must run
 * `admin/cli/upgrade.php`. Returns true when no upgrade is needed.
 */
export async function recalcVersionHash(db: DbAdapter, before: VersionSnapshot): Promise<{ upgradeNeeded: boolean; reason: string }> {
  const after = await snapshotVersions(db);
  if (before.version === null || before.allversionshash === null) return { upgradeNeeded: true, reason: 'the site had no Moodle installation before the restore' };
  const diffs: string[] = [];
  if (after.version !== before.version) diffs.push(`core ${after.version} vs code ${before.version}`);
  const names = new Set([...Object.keys(before.plugins), ...Object.keys(after.plugins)]);
  for (const p of names) if (p !== 'tool_vault' && before.plugins[p] !== after.plugins[p]) diffs.push(`${p} ${after.plugins[p] ?? 'absent'} vs code ${before.plugins[p] ?? 'absent'}`);
  if (diffs.length) return { upgradeNeeded: true, reason: diffs.slice(0, 10).join('; ') };
  const ph = db.family === 'postgres' ? ['$1', '$2'] : ['?', '?'];
  const exists = await db.query(`SELECT 1 AS x FROM ${db.prefix}config WHERE name = ${ph[0]}`, ['allversionshash']);
  if (exists.length) await db.query(`UPDATE ${db.prefix}config SET value = ${ph[0]} WHERE name = ${ph[1]}`, [before.allversionshash, 'allversionshash']);
  else await db.query(`INSERT INTO ${db.prefix}config (name, value) VALUES (${ph[0]}, ${ph[1]})`, ['allversionshash', before.allversionshash]);
  return { upgradeNeeded: false, reason: 'all versions match the code' };
}

/** Distinct content hashes of non-reference `files` rows (optionally excluding components). */
export async function fileHashes(db: DbAdapter): Promise<Set<string>> {
  const rows = await db.query<{ contenthash: string }>(`SELECT DISTINCT contenthash FROM ${db.prefix}files WHERE referencefileid IS NULL`)
    .catch(() => db.query<{ contenthash: string }>(`SELECT DISTINCT contenthash FROM ${db.prefix}files`).catch(() => []));
  return new Set(rows.map((r) => r.contenthash));
}

/** Plugins recorded in the restored database whose code is absent from the code tree. */
export async function pluginsMissingFromCode(db: DbAdapter, knownComponents: ReadonlySet<string>): Promise<string[]> {
  const snap = await snapshotVersions(db);
  return Object.keys(snap.plugins).filter((p) => p !== 'core' && !knownComponents.has(p)).sort();
}

/** Sets core settings from the backup's `__configoverride__.json` (plugin entries are not applied, like the plugin). */
export async function applyConfigOverrides(db: DbAdapter, overrides: readonly { name: string; value: string; plugin: string | null }[]): Promise<number> {
  const ph = db.family === 'postgres' ? ['$1', '$2'] : ['?', '?'];
  let n = 0;
  for (const o of overrides) {
    if (o.plugin) continue;
    const exists = await db.query(`SELECT 1 AS x FROM ${db.prefix}config WHERE name = ${ph[0]}`, [o.name]);
    if (exists.length) await db.query(`UPDATE ${db.prefix}config SET value = ${ph[0]} WHERE name = ${ph[1]}`, [o.value, o.name]);
    else await db.query(`INSERT INTO ${db.prefix}config (name, value) VALUES (${ph[0]}, ${ph[1]})`, [o.name, o.value]);
    n++;
  }
  return n;
}

/** Resets the site identifier so the restored copy does not pose as the original site. */
export async function resetSiteIdentifier(db: DbAdapter, wwwroot: string): Promise<string> {
  const { createHash, randomBytes } = await import('node:crypto');
  const id = createHash('md5').update(randomBytes(16)).digest('hex') + new URL(wwwroot || 'http://localhost').hostname;
  const ph = db.family === 'postgres' ? ['$1', '$2'] : ['?', '?'];
  await db.query(`UPDATE ${db.prefix}config SET value = ${ph[0]} WHERE name = ${ph[1]}`, [id, 'siteidentifier']);
  return id;
}
