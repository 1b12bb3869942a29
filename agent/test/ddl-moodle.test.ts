/**
 * ddl.ts against Moodle's own generators: names (with the collision counter), defaults, types
 * and MySQL table options. The names are checked against the real sites Moodle's installer made
 * (the fixture dumps), not against a re-reading of the generator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { addPrimaryKeySql, columnSql, createIndexesSql, createTableSql, installOrder, MoodleNamer, planTableNames } from '../src/schema/ddl.js';
import { loadInstallTree } from '../src/schema/install-tree.js';
import type { XmldbTable } from '../src/schema/model.js';
import { FIXTURE_DIR } from './support/real-sites.js';
import { SCHEMA_DIR } from './support/schema-dir.js';

const dump = (name: string): string => gunzipSync(readFileSync(join(FIXTURE_DIR, name))).toString('utf8');

/**
 * Objects Moodle's installer did not make from install.xml, left out of the comparison:
 * tool_vault's tables (never restored), search_simpledb's full-text indexes (made by its
 * install.php; engine-indexes.ts re-creates them) and the PostgreSQL `varchar_pattern_ops`
 * companion index of a HINTS entry (hints are not part of the XMLDB structure).
 */
const notFromXmldb = (name: string, table: string): boolean =>
  table.startsWith('mdl_tool_vault_') || (table === 'mdl_search_simpledb_index' && !/_(u?ix|pk)$/.test(name)) || name.endsWith('_pattern');

/** `index table` lines of the PostgreSQL dump, and `pk table` of its primary keys. */
function pgNames(): { indexes: string[]; pks: string[] } {
  const sql = dump('pgsql.sql.gz');
  const indexes = [...sql.matchAll(/CREATE (?:UNIQUE )?INDEX (\w+) ON public\.(\w+)/g)].map((m) => `${m[1]} ${m[2]}`);
  const pks = [...sql.matchAll(/ALTER TABLE ONLY public\.(\w+)\n\s+ADD CONSTRAINT (\w+) PRIMARY KEY/g)].map((m) => `${m[2]} ${m[1]}`);
  return { indexes: indexes.filter((l) => !notFromXmldb(...(l.split(' ') as [string, string]))), pks: pks.filter((l) => !notFromXmldb(...(l.split(' ') as [string, string]))) };
}

/** `index table` lines of the MariaDB dump's KEY clauses. */
function mariadbNames(): string[] {
  const out: string[] = [];
  let table = '';
  for (const line of dump('mariadb.sql.gz').split('\n')) {
    const t = /^CREATE TABLE `(\w+)`/.exec(line);
    if (t) table = t[1] ?? '';
    const k = /^\s+(?:UNIQUE |FULLTEXT )?KEY `(\w+)`/.exec(line);
    if (k && !notFromXmldb(k[1] ?? '', table)) out.push(`${k[1]} ${table}`);
  }
  return out;
}

const planned = (plan: Map<string, { primaryKey?: string; indexes: { name: string }[] }>): { indexes: string[]; pks: string[] } => ({
  indexes: [...plan].flatMap(([t, n]) => n.indexes.map((i) => `${i.name} mdl_${t}`)),
  pks: [...plan].flatMap(([t, n]) => (n.primaryKey ? [`${n.primaryKey} mdl_${t}`] : [])),
});

describe('Moodle object names', () => {
  it('are the names of the PostgreSQL site Moodle installed: 1,103 indexes and 485 primary keys, counters included', async () => {
    const defs = await loadInstallTree(SCHEMA_DIR);
    // A backup lists tables alphabetically; the install order comes from the code tree.
    const alphabetical = [...defs].sort((a, b) => a.name.localeCompare(b.name));
    const mine = planned(planTableNames('postgres', 'mdl_', alphabetical, { definitions: defs }));
    const truth = pgNames();
    expect(truth.indexes).toHaveLength(1103);
    expect(mine.indexes.sort()).toEqual(truth.indexes.sort());
    expect(mine.pks.sort()).toEqual(truth.pks.sort());
    // The collision counter is really exercised: e.g. mdl_compuser_use…7_ix over five tables, and
    // primary keys counting two per table (Moodle names each one twice).
    expect(truth.indexes).toContain('mdl_compuser_use7_ix mdl_competency_userevidencecomp');
    expect(truth.pks).toContain('mdl_compuser_id9_pk mdl_competency_userevidencecomp');
  });

  it('are the names of the MariaDB site Moodle installed', async () => {
    const defs = await loadInstallTree(SCHEMA_DIR);
    const mine = planned(planTableNames('mysql', 'mdl_', [...defs].reverse(), { definitions: defs }));
    expect(mine.pks).toEqual([]);
    expect(mine.indexes.sort()).toEqual(mariadbNames().sort());
  });

  it('without the code tree, only cross-table counters inside a component can differ', async () => {
    const defs = await loadInstallTree(SCHEMA_DIR);
    const alphabetical = [...defs].sort((a, b) => a.name.localeCompare(b.name));
    const mine = new Set(planned(planTableNames('mysql', 'mdl_', alphabetical)).indexes);
    const differ = mariadbNames().filter((l) => !mine.has(l));
    // Known: core's install.xml order (groups before groupings, …) is not alphabetical.
    expect(differ.length).toBeGreaterThan(0);
    expect(differ.length).toBeLessThan(20);
  });

  it('follow getNameForObject: stems, 30-character cut, counter from the last one of the stem', () => {
    const n = new MoodleNamer('mdl_');
    expect(n.name('user', ['lastname'], 'ix')).toBe('mdl_user_las_ix');
    expect(n.name('user', ['lastaccess'], 'ix')).toBe('mdl_user_las2_ix');
    expect(n.name('user', ['lastnamephonetic'], 'uix')).toBe('mdl_user_las3_uix');
    expect(n.name('assignfeedback_editpdf_annot', ['gradeid', 'pageno'], 'ix')).toBe('mdl_assieditanno_grapag_ix');
    const long = n.name('enrol_lti_lti2_resource_link', ['consumerid', 'contextid', 'linkid'], 'uix');
    expect(long).toHaveLength(30);
    expect(n.name('enrol_lti_lti2_resource_link', ['consumerid', 'contextid', 'linkid'], 'uix')).toBe(`${long.slice(0, 25)}2_uix`);
    // A name the database already has is skipped (isNameInUse).
    const taken = new MoodleNamer('mdl_', (name) => name === 'mdl_user_del_ix');
    expect(taken.name('user', ['deleted'], 'ix')).toBe('mdl_user_del2_ix');
  });

  it('orders tables as the installer: core, then plugin types in core_component order, then unknown', () => {
    const t = (name: string, component: string): XmldbTable => ({ name, component, fields: [], keys: [], indexes: [] });
    const order = installOrder([t('x_extra', '?'), t('assign_plugin_config', 'mod_assign'), t('assignfeedback_file', 'assignfeedback_file'),
      t('assignsubmission_file', 'assignsubmission_file'), t('user', 'core'), t('question', 'core'), t('block_recent', 'block_recent'), t('qtype_match_options', 'qtype_match')]);
    expect(order.map((x) => x.name)).toEqual(['user', 'question', 'qtype_match_options', 'assign_plugin_config', 'block_recent', 'assignsubmission_file', 'assignfeedback_file', 'x_extra']);
  });
});

describe('column and table DDL', () => {
  const char = { name: 'password', type: 'char' as const, length: '255', notnull: true, sequence: false };
  it("gives NOT NULL char columns without a default Moodle's DEFAULT ''", () => {
    expect(columnSql('postgres', char)).toBe(`"password" VARCHAR(255) DEFAULT '' NOT NULL`);
    expect(columnSql('mysql', char, 'utf8mb4_unicode_ci')).toBe("`password` VARCHAR(255) COLLATE utf8mb4_unicode_ci DEFAULT '' NOT NULL");
    expect(columnSql('postgres', { ...char, notnull: false })).toBe(`"password" VARCHAR(255) NULL`);
    expect(columnSql('postgres', { ...char, type: 'text', length: undefined })).toBe(`"password" TEXT NOT NULL`);
  });

  it('maps floats as Moodle: single precision below 6 decimals', () => {
    const f = { name: 'm', type: 'float' as const, length: '11', decimals: '4', notnull: true, default: '0.0000', sequence: false };
    expect(columnSql('postgres', f)).toBe('"m" REAL DEFAULT 0.0000 NOT NULL');
    expect(columnSql('mysql', f)).toBe('`m` FLOAT(11,4) DEFAULT 0.0000 NOT NULL');
    expect(columnSql('postgres', { ...f, length: undefined, decimals: undefined, default: '0' })).toBe('"m" DOUBLE PRECISION DEFAULT 0 NOT NULL');
    expect(columnSql('mysql', { ...f, length: '20', decimals: '8', default: '0' })).toBe('`m` DOUBLE DEFAULT 0 NOT NULL');
  });

  it('creates MySQL tables with the collation and row format, the primary key named on PostgreSQL', async () => {
    const defs = await loadInstallTree(SCHEMA_DIR);
    const user = defs.find((t) => t.name === 'user') as XmldbTable;
    const names = planTableNames('postgres', 'mdl_', defs, { definitions: defs }).get('user');
    const pg = createTableSql('postgres', 'mdl_', user, names ? { names } : {});
    expect(pg).toContain('"id" BIGSERIAL');
    expect(pg).toContain('CONSTRAINT "mdl_user_id_pk" PRIMARY KEY ("id")');
    // A large load's table gets the same key after its rows (pg_restore's order).
    const bare = createTableSql('postgres', 'mdl_', user, { ...(names ? { names } : {}), withoutPrimaryKey: true });
    expect(bare).not.toContain('PRIMARY KEY');
    expect(bare).toBe(pg.replace(',\n  CONSTRAINT "mdl_user_id_pk" PRIMARY KEY ("id")', ''));
    expect(addPrimaryKeySql('mdl_', user, names ? { names } : {})).toBe('ALTER TABLE "mdl_user" ADD CONSTRAINT "mdl_user_id_pk" PRIMARY KEY ("id")');
    expect(createIndexesSql('postgres', 'mdl_', user, names ? { names } : {})).toContain('CREATE UNIQUE INDEX "mdl_user_mneuse_uix" ON "mdl_user" ("mnethostid", "username")');
    const my = createTableSql('mysql', 'mdl_', user, { collation: 'utf8mb4_unicode_ci', rowFormat: 'Compressed', inlineIndexes: true });
    expect(my).toMatch(/\) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=Compressed$/);
    expect(my).toContain('`confirmed` TINYINT(1) DEFAULT 0 NOT NULL');
    expect(my).toContain('UNIQUE KEY `mdl_user_mneuse_uix` (`mnethostid`, `username`)');
    expect(my).toContain('KEY `mdl_user_las3_ix` (`lastnamephonetic`)');
  });
});
