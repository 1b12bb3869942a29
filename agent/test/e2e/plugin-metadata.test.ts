/**
 * The agent's `dbstructure.zip` against the plugin's for the same site: the real Moodle 4.4
 * fixture sites (shared/fixtures/moodle-4.4-S, made with tool_vault 3.9.18) dumped by the agent,
 * compared with what the unmodified plugin wrote when it backed up these sites
 * (`agent/test/data/plugin-made/<engine>-S/`, see its README: the PostgreSQL one is the same site,
 * the MariaDB one the same code with the same data restored). `__metadata__.json` and
 * `__structure__.xml` must be equal except for the differences listed here, each with its reason
 * (docs/format.md, "Metadata written by the agent").
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readDbStructure } from '../../src/archive/dbstructure.js';
import { ZipArchiveReader } from '../../src/archive/zip-reader.js';
import { AGENT_VERSION, AGENT_VERSION_NUMBER, exportDatabase } from '../../src/db/export-database.js';
import type { XmldbTable } from '../../src/schema/model.js';
import { parseXmldb } from '../../src/schema/xmldb-parse.js';
import { loadFixtureSite, type FixtureSource, type RealSite } from '../support/real-sites.js';

const PLUGIN_MADE = fileURLToPath(new URL('../data/plugin-made/', import.meta.url));

/**
 * Metadata keys whose values may differ, and why. Their JSON types must still match the plugin's.
 * Every other key must be equal.
 */
const METADATA_DIFFERENCES: Record<string, string> = {
  tool_vault_version: 'the program that wrote the backup: the plugin its own version, the agent its version number',
  email: 'the plugin records the Moodle user running it; the agent has none (empty)',
  name: 'the same user\'s full name',
  userid: 'that user\'s id; the agent writes 2 (the main admin) unless given',
  dbtotalsize: 'the plugin takes it from its disk-space check, the agent sums the dumped tables itself',
  wwwroot: 'the site URL in the config.php each side read (the same site, possibly another URL)',
};
/** Keys only the agent writes. */
const AGENT_ONLY_KEYS = ['vaultagent_version'];

interface PluginMade { structure: XmldbTable[]; metadata: Record<string, unknown> }

/** The plugin's files for one site: `__structure__.xml.gz` (or plain) and `__metadata__.json`. */
async function readPluginMade(dir: string): Promise<PluginMade> {
  const gz = join(dir, '__structure__.xml.gz');
  const xml = existsSync(gz) ? gunzipSync(await readFile(gz)).toString('utf8') : await readFile(join(dir, '__structure__.xml'), 'utf8');
  const metadata = JSON.parse(await readFile(join(dir, '__metadata__.json'), 'utf8')) as Record<string, unknown>;
  return { structure: parseXmldb(xml), metadata };
}

const jsonType = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/** A table as both writers must agree on it (order of fields, keys and indexes included). */
function tableShape(t: XmldbTable): unknown {
  return { component: t.component, fields: t.fields, keys: t.keys, indexes: t.indexes };
}

const SITES: { source: FixtureSource; dir: string; wwwroot: string }[] = [
  { source: 'pgsql', dir: 'pgsql-S', wwwroot: 'http://localhost/moodle' },
  { source: 'mariadb', dir: 'mariadb-S', wwwroot: 'http://localhost/moodle2' },
];

describe.each(SITES)('agent dbstructure.zip vs the plugin\'s, real $source site', ({ source, dir, wwwroot }) => {
  let site: RealSite;
  let agent: PluginMade;
  let plugin: PluginMade;

  beforeAll(async () => {
    site = await loadFixtureSite(source, inject('services'), { dbName: `rs_plugin_meta_${source}` });
    const out = await mkdtemp(join(tmpdir(), 'plugin-meta-'));
    await exportDatabase({ db: site.dbUrl, prefix: 'mdl_', schemaDir: site.codeDir, out, metadata: { wwwroot } });
    const zr = await ZipArchiveReader.open(join(out, 'dbstructure.zip'));
    const s = await readDbStructure(zr).finally(() => zr.close());
    agent = { structure: s.tables, metadata: s.metadata };
    plugin = await readPluginMade(join(PLUGIN_MADE, dir));
  }, 240_000);

  afterAll(async () => { await site?.cleanup(); });

  it('__metadata__.json: same keys in the same order, equal values except the listed differences', () => {
    const agentKeys = Object.keys(agent.metadata).filter((k) => !AGENT_ONLY_KEYS.includes(k));
    expect(agentKeys).toEqual(Object.keys(plugin.metadata));
    for (const [k, v] of Object.entries(plugin.metadata)) {
      if (k in METADATA_DIFFERENCES) expect(jsonType(agent.metadata[k]), `type of ${k}`).toBe(jsonType(v));
      else expect(agent.metadata[k], k).toEqual(v);
    }
  });

  it('tool_vault_version says truthfully who wrote it, in the plugin\'s YYYYMMDDXX form', () => {
    expect(plugin.metadata.tool_vault_version).toMatch(/^\d{10}$/);
    expect(agent.metadata.tool_vault_version).toBe(AGENT_VERSION_NUMBER);
    expect(agent.metadata.tool_vault_version).toMatch(/^\d{10}$/);
    expect(agent.metadata.vaultagent_version).toBe(AGENT_VERSION);
  });

  it('plugins: same components, versions and subplugin parents (e.g. assignsubmission_file → mod_assign)', () => {
    const plugins = agent.metadata.plugins as Record<string, { parent?: string }>;
    expect(plugins.assignsubmission_file?.parent).toBe('mod_assign');
    expect(plugins.mnetservice_enrol).toBeDefined();
    expect(plugins.auth_db).toBeDefined();
    expect(plugins.tool_vault).toBeUndefined();
    expect(agent.metadata.plugins).toEqual(plugin.metadata.plugins);
  });

  it('__structure__.xml: the same tables with the same COMPONENT, fields, keys and indexes', () => {
    const mine = new Map(agent.structure.map((t) => [t.name, t]));
    const theirs = new Map(plugin.structure.map((t) => [t.name, t]));
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    expect(mine.get('mnetservice_enrol_courses')?.component).toBe('mnetservice_enrol');
    const differing = [...theirs].filter(([name, t]) => JSON.stringify(tableShape(t)) !== JSON.stringify(tableShape(mine.get(name) as XmldbTable))).map(([n]) => n);
    for (const name of differing.slice(0, 3)) expect(tableShape(mine.get(name) as XmldbTable), name).toEqual(tableShape(theirs.get(name) as XmldbTable));
    expect(differing).toEqual([]);
  });
});
