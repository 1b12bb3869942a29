/**
 * Real Moodle 4.4 sites (shared/fixtures/moodle-4.4-S, made by Moodle's installer) backed up
 * and restored by vault-agent through the local API (DynamoDB Local + Ceph RGW) in all four
 * engine combinations. After each restore: every table equal to the source by the round-trip
 * hash rules except {@link EXPECTED_DIFFERENT}; filedir identical; the target's indexes those
 * Moodle has on the target engine (search_simpledb's full-text indexes included, in that
 * engine's form); on MariaDB every table and text column in config.php's `dbcollation`.
 *
 * Targets: a same-engine restore goes onto an empty database (the agent must create every table
 * and index itself, and restoring onto a copy of the source could pass without doing anything);
 * a cross-engine restore goes onto the target engine's installed fixture site (an installed
 * Moodle, as restores normally find). MariaDB collations: see {@link COMBOS}.
 *
 * One API server and one loaded source per engine are shared; the two backups and then the
 * four restores run concurrently in `beforeAll`, and each test awaits the outcome it checks.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api-server.js';
import { service } from '../../../test/support/services.js';
import { runBackup } from '../../src/site/backup.js';
import { createContext, type CommonOptions } from '../../src/site/context.js';
import { runRestore, type RestoreResult } from '../../src/site/restore.js';
import type { TestEngine } from '../support/databases.js';
import { FIXTURE_MARIADB_COLLATION, columnCollations, createTargetSite, indexSet, loadFixtureSite, tableCollations, type FixtureSource, type IndexInfo, type RealSite } from '../support/real-sites.js';
import { COMPARED_ROWS, EXPECTED_DIFFERENT, isVaultTable } from '../support/restore-differences.js';
import { differingRows, tableHashes, type TableHash } from '../support/table-hashes.js';
import { treeHashes } from './site-fixture.js';

/**
 * The four restores. MariaDB targets: `dbcollation` is what the target's config.php says, and
 * `databaseCollation` the default of its database. The installed target (pgsql→mariadb) is the
 * fixture as it was made (utf8mb4_unicode_ci in both). The empty one (mariadb→mariadb) names a
 * collation that neither the source's tables (utf8mb4_unicode_ci) nor its database default
 * have, so only config.php can give it.
 */
const COMBOS: { from: FixtureSource; to: TestEngine; dbcollation?: string; databaseCollation?: string }[] = [
  { from: 'pgsql', to: 'pg' },
  { from: 'pgsql', to: 'mariadb', dbcollation: FIXTURE_MARIADB_COLLATION },
  { from: 'mariadb', to: 'pg' },
  { from: 'mariadb', to: 'mariadb', dbcollation: 'utf8mb4_bin', databaseCollation: 'utf8mb4_general_ci' },
];
const engineOf = (s: FixtureSource): TestEngine => (s === 'pgsql' ? 'pg' : 'mariadb');
const fixtureOf = (e: TestEngine): FixtureSource => (e === 'pg' ? 'pgsql' : 'mariadb');
const label = (c: { from: FixtureSource; to: TestEngine }): string => `${c.from}→${fixtureOf(c.to)}`;

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(p: Promise<T>): Promise<Outcome<T>> => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
const describeError = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}${'code' in e ? ` [${String(e.code)}]` : ''}` : String(e));

let api: TestApi;
let apikey = '';
const sources = new Map<FixtureSource, RealSite>();
const sourceHashes = new Map<FixtureSource, Promise<Map<string, TableHash>>>();
const sourceIndexes = new Map<FixtureSource, Promise<IndexInfo[]>>();
/** Whole-table row counts and MariaDB collations of the sources as loaded, for the loader checks. */
const sourceLoaded = new Map<FixtureSource, Promise<{ tables: number; rows: number; collations: Map<string, string> }>>();
const backups = new Map<FixtureSource, Promise<Outcome<string>>>();
const targets = new Map<string, RealSite>();
const restores = new Map<string, Promise<Outcome<RestoreResult>>>();
/** The archives each restore asked a download URL for, in order. */
const downloads = new Map<string, string[]>();
const sites: RealSite[] = [];

function opts(site: RealSite): CommonOptions {
  return { config: site.configPath, moodleDir: site.codeDir, apiUrl: api.url, apiKey: apikey, allowStorageHost: [new URL(service('rgw').endpoint).host], partSize: '5M', quiet: true, retry: { attempts: 4, baseDelayMs: 50 } };
}

async function backedUp(from: FixtureSource): Promise<string> {
  const b = await backups.get(from);
  if (!b) throw new Error(`no backup of ${from} was started`);
  if (!b.ok) throw new Error(`the backup of the ${from} site failed: ${describeError(b.error)}`);
  return b.value;
}

async function restored(c: { from: FixtureSource; to: TestEngine }): Promise<RealSite> {
  const r = await restores.get(label(c));
  const t = targets.get(label(c));
  if (!r || !t) throw new Error(`no restore ${label(c)} was started`);
  if (!r.ok) throw new Error(`the restore ${label(c)} failed: ${describeError(r.error)}`);
  return t;
}

/**
 * Engine-neutral key of an index, with or without its name. Primary keys go by their columns
 * only: MariaDB calls every one PRIMARY.
 */
const indexKey = (i: IndexInfo, named: boolean): string => (i.primary
  ? `${i.table} PRIMARY KEY (${i.columns.join(', ')})${named && i.name !== 'PRIMARY' ? ` ${i.name}` : ''}`
  : `${i.table} ${i.unique ? 'UNIQUE ' : ''}${i.kind.toUpperCase()}${named ? ` ${i.name}` : ''} (${i.columns.join(', ')})`);

beforeAll(async () => {
  const t0 = performance.now();
  const services = inject('services');
  const lap = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const times: string[] = [];
  api = await startTestApi({ regions: ['eu'] });
  ({ apikey } = await api.registerAccount(undefined, 'pro'));
  // Sources and targets load concurrently (the database servers do most of that work).
  const targetSites = Promise.all(COMBOS.map((c) => {
    const same = engineOf(c.from) === c.to;
    return createTargetSite(c.to, services, {
      dbName: `rs_rt_tgt_${c.from}_${c.to}`,
      installed: !same,
      ...(c.dbcollation ? { dbcollation: c.dbcollation } : {}),
      ...(c.databaseCollation ? { databaseCollation: c.databaseCollation } : {}),
    });
  }));
  targetSites.catch(() => undefined); // awaited below; this only keeps a failure while the sources load from being reported as unhandled
  const [pgSite, mySite] = await Promise.all([loadFixtureSite('pgsql', services, { dbName: 'rs_rt_src_pg' }), loadFixtureSite('mariadb', services, { dbName: 'rs_rt_src_my' })]);
  sources.set('pgsql', pgSite);
  sources.set('mariadb', mySite);
  sites.push(pgSite, mySite);
  times.push(`sources loaded ${lap()}`);
  for (const [from, site] of sources) {
    // Hashes and indexes are read before the backup runs, so nothing the agent does can change them.
    const h = tableHashes(site.dbUrl, 'mdl_', COMPARED_ROWS);
    const ix = indexSet(site.dbUrl);
    const loadedFacts = tableHashes(site.dbUrl).then(async (all) => ({
      tables: all.size, rows: [...all.values()].reduce((n, x) => n + x.rows, 0), collations: site.engine === 'mariadb' ? await tableCollations(site.dbUrl) : new Map<string, string>(),
    }));
    sourceHashes.set(from, h);
    sourceIndexes.set(from, ix);
    sourceLoaded.set(from, loadedFacts);
    backups.set(from, settle(Promise.all([h, ix, loadedFacts]).then(async () => {
      // 1 MiB archives: the database spans several dbdumps, as a large site's does.
      const ctx = await createContext({ ...opts(site), splitSize: '1M' });
      const key = (await runBackup(ctx, { key: null, description: `real site ${from}` })).backupkey;
      times.push(`backup ${from} done ${lap()}`);
      return key;
    })));
  }
  const loaded = await targetSites;
  sites.push(...loaded);
  times.push(`targets loaded ${lap()}`);
  COMBOS.forEach((c, i) => {
    const target = loaded[i] as RealSite;
    targets.set(label(c), target);
    restores.set(label(c), settle((async () => {
      const key = await backedUp(c.from);
      const ctx = await createContext(opts(target));
      const asked: string[] = [];
      const downloadUrl = ctx.api.downloadUrl.bind(ctx.api);
      ctx.api.downloadUrl = (restorekey, name) => { asked.push(name); return downloadUrl(restorekey, name); };
      downloads.set(label(c), asked);
      const r = await runRestore(ctx, key, { key: null });
      times.push(`restore ${label(c)} done ${lap()}`);
      return r;
    })()));
  });
  await Promise.all([...restores.values()]);
  console.log(`[measure] real-site round trips: ${times.join('; ')}`);
}, 300_000);

afterAll(async () => {
  await api?.close();
  await Promise.all(sites.map((s) => s.cleanup().catch(() => undefined)));
});

describe.each(['pgsql', 'mariadb'] as const)('the real %s site', (from) => {
  // The loader gives what the fixture README promises, so a round-trip failure is never a loading mistake.
  it('loads as the fixture README says: 490 mdl_ tables, 11,856 rows, 75 filedir files, MariaDB tables in utf8mb4_unicode_ci', async () => {
    const facts = await (sourceLoaded.get(from) as Promise<{ tables: number; rows: number; collations: Map<string, string> }>);
    expect({ tables: facts.tables, rows: facts.rows }).toEqual({ tables: 490, rows: 11_856 });
    expect(Object.keys(await treeHashes(join((sources.get(from) as RealSite).dataroot, 'filedir'))).length).toBe(75);
    expect([...facts.collations].filter(([, coll]) => coll !== FIXTURE_MARIADB_COLLATION)).toEqual([]);
    if (from === 'mariadb') expect(facts.collations.size).toBe(490);
  });

  it("has search_simpledb's full-text indexes in the engine's form", async () => {
    const ft = (await (sourceIndexes.get(from) as Promise<IndexInfo[]>)).filter((i) => i.kind === 'fulltext').map((i) => `${i.table} (${i.columns.join(', ')})`).sort();
    expect(ft).toEqual(from === 'pgsql'
      ? ['content', 'description1', 'description2', 'title'].map((col) => `search_simpledb_index (${col})`)
      : ['search_simpledb_index (title, content, description1, description2)']);
  });

  it('is backed up through the local API', async () => {
    expect(await backedUp(from)).toMatch(/^\w+$/);
  });
});

describe.each(COMBOS.map((c) => [label(c), c] as const))('vault-agent restore %s', (_name, c) => {
  it('finishes', async () => {
    await restored(c);
  });

  it('downloads each of its several archives once (a MariaDB target keeps those its collation pre-check read)', async () => {
    await restored(c);
    const asked = downloads.get(label(c)) ?? [];
    expect(asked.filter((n) => n.startsWith('dbdump')).length).toBeGreaterThan(1);
    expect(asked.filter((n, i) => asked.indexOf(n) !== i), 'archives downloaded twice').toEqual([]);
  });

  it('every table equals the source (rows differing on purpose left out: EXPECTED_DIFFERENT)', async () => {
    const target = await restored(c);
    const src = sources.get(c.from) as RealSite;
    const [a, b, all] = await Promise.all([sourceHashes.get(c.from) as Promise<Map<string, TableHash>>, tableHashes(target.dbUrl, 'mdl_', COMPARED_ROWS), tableHashes(target.dbUrl)]);
    const compared = [...a.keys()].filter((t) => !isVaultTable(t));
    expect(compared.length).toBe(485);
    const differing = compared.filter((t) => a.get(t)?.hash !== b.get(t)?.hash);
    // Name the rows and columns of the first few differing tables, so a failure says what changed.
    const details = await Promise.all(differing.slice(0, 5).map((t) => (b.has(t) ? differingRows(src.dbUrl, target.dbUrl, t, { ...(COMPARED_ROWS[t] ? { where: COMPARED_ROWS[t] } : {}), limit: 4 }) : Promise.resolve([]))));
    expect({
      tables: differing.map((t) => `${t} (rows ${a.get(t)?.rows} → ${b.get(t)?.rows ?? 'table missing'}${t in EXPECTED_DIFFERENT ? `, compared: ${EXPECTED_DIFFERENT[t]?.compare}` : ''})`),
      rows: details.flat(),
    }, 'tables whose content differs from the source (source → target)').toEqual({ tables: [], rows: [] });
    expect(all.get('sessions')?.rows, 'sessions left on the target').toBe(0);
    const extra = [...b.keys()].filter((t) => !a.has(t) && !isVaultTable(t));
    expect(extra, 'tables on the target that the source does not have').toEqual([]);
  }, 60_000);

  it('filedir is identical to the source', async () => {
    const target = await restored(c);
    const src = sources.get(c.from) as RealSite;
    const [a, b] = await Promise.all([treeHashes(join(src.dataroot, 'filedir')), treeHashes(join(target.dataroot, 'filedir'))]);
    expect(Object.keys(a).length).toBe(75);
    expect(b).toEqual(a);
  });

  // Both fixtures were installed from the same code: the target engine's fixture is what Moodle
  // makes there (for a same-engine restore that is the source itself).
  const expectedIndexes = async (): Promise<IndexInfo[]> => (await (sourceIndexes.get(fixtureOf(c.to)) as Promise<IndexInfo[]>)).filter((i) => !isVaultTable(i.table));

  it(`has the indexes Moodle has on ${c.to}: columns, uniqueness, full-text`, async () => {
    const target = await restored(c);
    const expected = new Set((await expectedIndexes()).map((i) => indexKey(i, false)));
    const actual = new Set((await indexSet(target.dbUrl)).filter((i) => !isVaultTable(i.table)).map((i) => indexKey(i, false)));
    expect([...expected].filter((k) => k.includes('FULLTEXT')).length).toBe(c.to === 'pg' ? 4 : 1);
    expect({ missing: [...expected].filter((k) => !actual.has(k)), unexpected: [...actual].filter((k) => !expected.has(k)) }, 'indexes (table, kind, columns)').toEqual({ missing: [], unexpected: [] });
  });

  it(`index names are those Moodle gave them on ${c.to}`, async () => {
    const target = await restored(c);
    const expected = new Set((await expectedIndexes()).map((i) => indexKey(i, true)));
    const actual = new Set((await indexSet(target.dbUrl)).filter((i) => !isVaultTable(i.table)).map((i) => indexKey(i, true)));
    expect({ missing: [...expected].filter((k) => !actual.has(k)), unexpected: [...actual].filter((k) => !expected.has(k)) }, 'indexes by name').toEqual({ missing: [], unexpected: [] });
  });

  if (c.to === 'mariadb') {
    it(`every table and text column has the target's config.php collation ${c.dbcollation ?? '?'}`, async () => {
      const target = await restored(c);
      expect(target.dbcollation).toBe(c.dbcollation);
      const tables = [...(await tableCollations(target.dbUrl))].filter(([t]) => !isVaultTable(t));
      expect(tables.length).toBeGreaterThan(470);
      expect(tables.filter(([, coll]) => coll !== target.dbcollation).map(([t, coll]) => `${t}: ${coll}`), 'tables not in the config.php collation').toEqual([]);
      const columns = [...(await columnCollations(target.dbUrl))].filter(([k]) => !isVaultTable(k));
      expect(columns.filter(([, coll]) => coll !== target.dbcollation).map(([k, coll]) => `${k}: ${coll}`), 'columns not in the config.php collation').toEqual([]);
    });
  }
});
