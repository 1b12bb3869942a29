/**
 * Post-restore actions and restore checks on a real PostgreSQL database with Moodle's `config`,
 * `config_plugins` and `sessions` tables, and a dataroot on disk.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { service } from '../../../test/support/services.js';
import { disableMaintenance, enableMaintenance } from '../../src/actions/maintenance.js';
import { applyConfigOverrides, bumpCacheRevisions, deleteSessions, emptySessionFiles, pluginsMissingFromCode, purgeCacheFolders, recalcVersionHash, snapshotVersions } from '../../src/actions/site-actions.js';
import { checkPlugins, checkVersion, readSiteVersions } from '../../src/checks/restore-checks.js';
import type { DbAdapter } from '../../src/db/adapter.js';
import { connectDatabase } from '../../src/db/connect.js';
import type { SiteConfig } from '../../src/moodle/site.js';
import { readVaultSettings } from '../../src/moodle/vault-settings.js';

async function site(): Promise<{ db: DbAdapter; dataroot: string }> {
  const db = await connectDatabase(service('pg').url, `a${Date.now() % 1_000_000}_`);
  const p = db.prefix;
  await db.execute(`CREATE TABLE ${p}config (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, value TEXT NOT NULL)`);
  await db.execute(`CREATE TABLE ${p}config_plugins (id BIGSERIAL PRIMARY KEY, plugin VARCHAR(100) NOT NULL, name VARCHAR(100) NOT NULL, value TEXT NOT NULL)`);
  await db.execute(`CREATE TABLE ${p}sessions (id BIGSERIAL PRIMARY KEY, sid VARCHAR(128) NOT NULL)`);
  await db.execute(`INSERT INTO ${p}config (name, value) VALUES ('version', '2024042212.01'), ('release', '4.4.12+'), ('allversionshash', 'codehash'), ('themerev', '100'), ('jsrev', '5000000000'), ('siteidentifier', 'x')`);
  await db.execute(`INSERT INTO ${p}config_plugins (plugin, name, value) VALUES ('mod_forum', 'version', '2024042200'), ('local_gone', 'version', '2023010100'), ('mod_forum', 'maxbytes', '0')`);
  await db.execute(`INSERT INTO ${p}sessions (sid) VALUES ('a'), ('b')`);
  const dataroot = await mkdtemp(join(tmpdir(), 'act-'));
  for (const d of ['cache/x', 'localcache/y', 'muc', 'sessions', 'lang']) await mkdir(join(dataroot, d), { recursive: true });
  await writeFile(join(dataroot, 'sessions', 'sess_1'), 's');
  await writeFile(join(dataroot, 'cache', 'x', 'c'), 'c');
  await writeFile(join(dataroot, 'lang', 'keep'), 'k');
  return { db, dataroot };
}

const value = async (db: DbAdapter, name: string) => (await db.query<{ value: string }>(`SELECT value FROM ${db.prefix}config WHERE name = $1`, [name]))[0]?.value;

describe('post-restore actions', () => {
  it('kills sessions, purges caches, bumps revisions forward only, toggles maintenance', async () => {
    const { db, dataroot } = await site();
    await enableMaintenance(dataroot);
    expect(existsSync(join(dataroot, 'climaintenance.html'))).toBe(true);
    await deleteSessions(db);
    await emptySessionFiles(dataroot);
    await purgeCacheFolders(dataroot);
    await bumpCacheRevisions(db);
    expect((await db.query(`SELECT * FROM ${db.prefix}sessions`)).length).toBe(0);
    expect(await readdir(join(dataroot, 'sessions'))).toEqual([]);
    expect(await readdir(join(dataroot, 'cache'))).toEqual([]);
    expect(await readdir(join(dataroot, 'lang'))).toEqual(['keep']);
    expect(Number(await value(db, 'themerev'))).toBeGreaterThan(1_700_000_000);
    expect(await value(db, 'jsrev')).toBe('5000000001'); // a future value still grows
    await disableMaintenance(dataroot);
    expect(existsSync(join(dataroot, 'climaintenance.html'))).toBe(false);
    await db.close();
  });

  it('keeps the version hash only when every restored version equals the code', async () => {
    const { db } = await site();
    const before = await snapshotVersions(db);
    await db.execute(`UPDATE ${db.prefix}config SET value = 'backuphash' WHERE name = 'allversionshash'`);
    expect(await recalcVersionHash(db, before)).toEqual({ upgradeNeeded: false, reason: 'all versions match the code' });
    expect(await value(db, 'allversionshash')).toBe('codehash');
    await db.execute(`UPDATE ${db.prefix}config_plugins SET value = '2023100900' WHERE plugin = 'mod_forum' AND name = 'version'`);
    const r = await recalcVersionHash(db, before);
    expect(r.upgradeNeeded).toBe(true);
    expect(r.reason).toContain('mod_forum');
    expect(await pluginsMissingFromCode(db, new Set(['mod_forum']))).toEqual(['local_gone']);
    await db.close();
  });

  it('re-applies core config overrides only', async () => {
    const { db } = await site();
    expect(await applyConfigOverrides(db, [{ name: 'noemailever', value: '1', plugin: null }, { name: 'release', value: 'R', plugin: null }, { name: 'apikey', value: 'k', plugin: 'tool_vault' }])).toBe(2);
    expect(await value(db, 'noemailever')).toBe('1');
    expect(await value(db, 'release')).toBe('R');
    await db.close();
  });

  it('reads tool_vault settings from config_plugins, overridden by forced_plugin_settings', async () => {
    const { db } = await site();
    const fresh = await readVaultSettings(db, { forcedPluginSettings: {} } as unknown as SiteConfig);
    expect(fresh.backupexcludedataroot).toEqual(['muc', 'antivirus_quarantine']);
    await db.execute(`INSERT INTO ${db.prefix}config_plugins (plugin, name, value) VALUES ('tool_vault', 'backupexcludedataroot', ''), ('tool_vault', 'backupexcludetables', 'MDL_Local_*, mdl_x  mdl_x'), ('tool_vault', 'allowrestorewithmissing', '1')`);
    const s = await readVaultSettings(db, { forcedPluginSettings: { tool_vault: { restorepreserveplugins: 'local_a,local_b' } } } as unknown as SiteConfig);
    expect(s).toMatchObject({ backupexcludedataroot: [], backupexcludetables: ['mdl_local_*', 'mdl_x'], allowrestorewithmissing: true, restorepreserveplugins: ['local_a', 'local_b'] });
    await db.close();
  });

  it('restore checks: older site fails, missing plugin fails unless allowed, newer plugins only warn', async () => {
    const { db } = await site();
    const v = await readSiteVersions(db);
    expect(checkVersion(v, { version: '2024100700.00', release: '4.5' }).status).toBe('fail');
    expect(checkVersion(v, { version: '2024042212.01' }).status).toBe('pass');
    expect(checkVersion(v, { version: '2023100900.00' }).status).toBe('warn');
    const plugins = { mod_forum: { version: '2024042200' }, mod_absent: { version: '1' }, tool_vault: { version: '9' } };
    expect(checkPlugins(v, { plugins }, { allowMissing: false, preserve: [] }).status).toBe('fail');
    expect(checkPlugins(v, { plugins }, { allowMissing: true, preserve: [] }).status).toBe('warn');
    expect(checkPlugins(v, { plugins: { mod_forum: { version: '2099010100' } } }, { allowMissing: true, preserve: [] }).status).toBe('fail');
    await db.close();
  });
});
