/**
 * Indexes XMLDB cannot express (issue 11): classification of live indexes on both engines,
 * the plan that re-creates them on a restore target (same engine from the definition, other
 * engine from the logical form, search_simpledb as its installer), and the pre-check warning.
 * Pure: the real-database side is in engine-indexes-db.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkEngineIndexes } from '../src/checks/restore-checks.js';
import type { EngineIndexExtension, PgIndexInfo } from '../src/schema/engine-indexes.js';
import {
  classifyMysqlIndex, classifyPostgresIndex, mysqlIndexClause, parseTsvectorPart, planEngineIndexes, planRestoreIndexes, sameEngineIndex,
  simpledbInstallerIndexes, withoutUncreatableIndexes,
} from '../src/schema/engine-indexes.js';
import type { EngineIndex, XmldbTable } from '../src/schema/model.js';
import { reconcileTable } from '../src/schema/reconcile.js';
import { structureXml } from '../src/schema/structure-xml.js';

/** search_simpledb_index as its install.xml defines it (fields only matter here). */
const simpledb: XmldbTable = {
  name: 'search_simpledb_index', component: 'search_simpledb',
  fields: ['id', 'docid', 'itemid', 'title', 'content', 'contextid', 'areaid', 'type', 'courseid', 'owneruserid', 'modified', 'userid', 'description1', 'description2']
    .map((name) => ({ name, type: ['title', 'content', 'description1', 'description2'].includes(name) ? 'text' as const : 'int' as const, notnull: false, sequence: name === 'id', length: '10' })),
  keys: [{ name: 'primary', type: 'primary', fields: ['id'] }, { name: 'docid', type: 'unique', fields: ['docid'] }],
  indexes: [{ name: 'contextid', unique: false, fields: ['contextid'] }],
};

const gin = (col: string): PgIndexInfo => ({
  table: 'search_simpledb_index', name: `mdl_search_simpledb_${col}`, unique: false, method: 'gin', columns: [null],
  parts: [`to_tsvector('simple'::regconfig, ${col})`], opclasses: [''], partial: false, included: 0,
  definition: `CREATE INDEX mdl_search_simpledb_${col} ON public.mdl_search_simpledb_index USING gin (to_tsvector('simple'::regconfig, ${col}))`,
});

/** The extension a PostgreSQL site with search_simpledb's installer indexes gets. */
const pgExtension = (): EngineIndexExtension => ({
  engine: 'postgres',
  prefix: 'mdl_',
  indexes: ['content', 'description1', 'description2', 'title'].map((c): EngineIndex => ({
    table: 'search_simpledb_index', name: `mdl_search_simpledb_${c}`, engine: 'postgres', reason: 'method:gin,expression', unique: false, columns: [],
    logical: { kind: 'fulltext', columns: [c], config: 'simple' }, definition: gin(c).definition,
  })),
});

/** The extension of a MariaDB site: one FULLTEXT key. */
const myExtension = (): EngineIndexExtension => ({
  engine: 'mariadb',
  prefix: 'mdl_',
  indexes: [{
    table: 'search_simpledb_index', name: 'mdl_search_simpledb_index_index', engine: 'mariadb', reason: 'fulltext', unique: false,
    columns: ['title', 'content', 'description1', 'description2'], logical: { kind: 'fulltext', columns: ['title', 'content', 'description1', 'description2'] },
    definition: 'FULLTEXT KEY `mdl_search_simpledb_index_index` (`title`,`content`,`description1`,`description2`)',
  }],
});

describe('classifying PostgreSQL indexes', () => {
  it('takes search_simpledb GIN to_tsvector indexes out of XMLDB with a fulltext form', () => {
    expect(classifyPostgresIndex(gin('title'))).toEqual({ kind: 'engine', reasons: ['method:gin', 'expression'], logical: { kind: 'fulltext', columns: ['title'], config: 'simple' } });
    expect(parseTsvectorPart(`to_tsvector('english'::regconfig, "Odd name")`)).toEqual({ config: 'english', column: 'Odd name' });
    expect(parseTsvectorPart(`to_tsvector('simple'::regconfig, COALESCE(title, ''::text))`)).toBeUndefined();
  });

  it('keeps plain btree indexes and marks expression, partial, covering and other methods', () => {
    const base: PgIndexInfo = { table: 't', name: 'mdl_t_ab_ix', unique: true, method: 'btree', columns: ['a', 'b'], parts: ['a', 'b'], opclasses: ['', ''], partial: false, included: 0, definition: '' };
    expect(classifyPostgresIndex(base)).toEqual({ kind: 'xmldb', index: { name: 'mdl_t_ab_ix', unique: true, fields: ['a', 'b'] } });
    expect(classifyPostgresIndex({ ...base, columns: [null], parts: ['lower(a)'] })).toEqual({ kind: 'engine', reasons: ['expression'], logical: undefined });
    expect(classifyPostgresIndex({ ...base, partial: true })).toMatchObject({ kind: 'engine', reasons: ['partial'] });
    expect(classifyPostgresIndex({ ...base, included: 1 })).toMatchObject({ kind: 'engine', reasons: ['include'] });
    expect(classifyPostgresIndex({ ...base, method: 'hash' })).toMatchObject({ kind: 'engine', reasons: ['method:hash'] });
    expect(classifyPostgresIndex({ ...base, opclasses: ['text_ops_custom', ''] })).toEqual({ kind: 'engine', reasons: ['opclass'], logical: undefined });
  });

  it("takes Moodle's varchar_pattern_ops index out of XMLDB with a pattern form", () => {
    const i: PgIndexInfo = { table: 'context', name: 'mdl_cont_pat_ix_pattern', unique: false, method: 'btree', columns: ['path'], parts: ['path'], opclasses: ['varchar_pattern_ops'], partial: false, included: 0,
      definition: 'CREATE INDEX mdl_cont_pat_ix_pattern ON public.mdl_context USING btree (path varchar_pattern_ops)' };
    expect(classifyPostgresIndex(i)).toEqual({ kind: 'engine', reasons: ['opclass'], logical: { kind: 'pattern', columns: ['path'] } });
  });

  it("applies the plugin's own search_simpledb rule to btree indexes over description1", () => {
    const i: PgIndexInfo = { table: 'search_simpledb_index', name: 'x', unique: false, method: 'btree', columns: ['description1'], parts: ['description1'], opclasses: [''], partial: false, included: 0, definition: '' };
    expect(classifyPostgresIndex(i)).toMatchObject({ kind: 'engine', reasons: ['plugin-rule'] });
    expect(classifyPostgresIndex({ ...i, table: 'other' }).kind).toBe('xmldb');
  });
});

describe('classifying MySQL/MariaDB indexes', () => {
  const part = (column: string | null, dataType = 'varchar', subPart: number | null = null) => ({ column, dataType, subPart });
  it('takes FULLTEXT, SPATIAL, functional and prefix-over-TEXT indexes out of XMLDB', () => {
    const cols = ['title', 'content', 'description1', 'description2'];
    expect(classifyMysqlIndex({ table: 'search_simpledb_index', name: 'mdl_search_simpledb_index_index', unique: false, type: 'FULLTEXT', parts: cols.map((c) => part(c, 'longtext')) }))
      .toEqual({ kind: 'engine', reasons: ['fulltext'], logical: { kind: 'fulltext', columns: cols } });
    expect(classifyMysqlIndex({ table: 't', name: 'g', unique: false, type: 'SPATIAL', parts: [part('geo', 'geometry')] })).toMatchObject({ kind: 'engine', reasons: ['spatial'], logical: undefined });
    expect(classifyMysqlIndex({ table: 't', name: 'f', unique: false, type: 'BTREE', parts: [part(null, '')] })).toMatchObject({ kind: 'engine', reasons: ['expression'] });
    expect(classifyMysqlIndex({ table: 't', name: 'p', unique: false, type: 'BTREE', parts: [part('body', 'longtext', 100)] })).toMatchObject({ kind: 'engine', reasons: ['prefix'] });
  });

  it('keeps btree indexes, prefix ones over VARCHAR included (XMLDB reads them as plain)', () => {
    expect(classifyMysqlIndex({ table: 't', name: 'n', unique: true, type: 'BTREE', parts: [part('name', 'varchar', 191), part('id', 'bigint')] }))
      .toEqual({ kind: 'xmldb', index: { name: 'n', unique: true, fields: ['name', 'id'] } });
  });

  it('finds the index clause in SHOW CREATE TABLE', () => {
    const ddl = 'CREATE TABLE `mdl_search_simpledb_index` (\n  `id` bigint(10) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`),\n  KEY `mdl_searsimpinde_con_ix` (`contextid`),\n'
      + '  FULLTEXT KEY `mdl_search_simpledb_index_index` (`title`,`content`,`description1`,`description2`)\n) ENGINE=InnoDB';
    expect(mysqlIndexClause(ddl, 'mdl_search_simpledb_index_index')).toBe(myExtension().indexes[0]?.definition);
    expect(mysqlIndexClause(ddl, 'mdl_searsimpinde_con_ix')).toBe('KEY `mdl_searsimpinde_con_ix` (`contextid`)');
    expect(mysqlIndexClause(ddl, 'nope')).toBeUndefined();
  });
});

describe('__structure__.xml', () => {
  it('describes no engine-specific index, as the plugin leaves them out', () => {
    const live: XmldbTable = { ...simpledb, engineIndexes: pgExtension().indexes };
    const xml = structureXml([reconcileTable('postgres', live, simpledb)]);
    expect(xml).not.toMatch(/to_tsvector|search_simpledb_title|FIELDS=""/);
    expect(xml).toContain('<INDEX NAME="contextid" UNIQUE="false" FIELDS="contextid"/>');
    expect(reconcileTable('postgres', live, simpledb).engineIndexes).toHaveLength(4);
  });
});

describe('restore plan', () => {
  const tables = [simpledb];
  it('PostgreSQL → MySQL/MariaDB: one FULLTEXT index as search_simpledb installs it, target prefix', () => {
    const plan = planEngineIndexes({ tables, extension: pgExtension(), family: 'mysql', prefix: 'm2_' });
    expect(plan.skip).toEqual([]);
    expect(plan.create.map((c) => [c.name, c.sql, c.how])).toEqual([
      ['m2_search_simpledb_index_index', 'CREATE FULLTEXT INDEX `m2_search_simpledb_index_index` ON `m2_search_simpledb_index` (`title`, `content`, `description1`, `description2`)', 'installer'],
    ]);
    expect(plan.create[0]?.from).toHaveLength(4);
  });

  it('MySQL/MariaDB → PostgreSQL: four GIN to_tsvector indexes named as the installer names them', () => {
    const plan = planEngineIndexes({ tables, extension: myExtension(), family: 'postgres', prefix: 'mdl_' });
    expect(plan.create.map((c) => c.sql)).toEqual(['title', 'content', 'description1', 'description2'].map((c) =>
      `CREATE INDEX "mdl_search_simpledb_${c}" ON "mdl_search_simpledb_index" USING gin(to_tsvector('simple', "${c}"))`));
    expect(simpledbInstallerIndexes('postgres', 'mdl_').map((x) => x.name)).toEqual(plan.create.map((c) => c.name));
  });

  it('same engine: the source definition with the prefix substituted', () => {
    const pg = planEngineIndexes({ tables, extension: pgExtension(), family: 'postgres', prefix: 'x_' });
    expect(pg.create[0]).toMatchObject({ how: 'definition', name: 'x_search_simpledb_content',
      sql: `CREATE INDEX "x_search_simpledb_content" ON "x_search_simpledb_index" USING gin (to_tsvector('simple'::regconfig, content))` });
    const my = planEngineIndexes({ tables, extension: myExtension(), family: 'mysql', prefix: 'x_' });
    expect(my.create.map((c) => c.sql)).toEqual(['ALTER TABLE `x_search_simpledb_index` ADD FULLTEXT INDEX `x_search_simpledb_index_index` (`title`, `content`, `description1`, `description2`)']);
  });

  it('other tables: fulltext translated one to one, anything else reported with table and name', () => {
    const other: XmldbTable = { name: 'notes', component: 'local_x', fields: [{ name: 'id', type: 'int', notnull: true, sequence: true }, { name: 'body', type: 'text', notnull: false, sequence: false }, { name: 'n', type: 'int', notnull: false, sequence: false }], keys: [], indexes: [] };
    const extension: EngineIndexExtension = { engine: 'mysql', prefix: 'mdl_', indexes: [
      { table: 'notes', name: 'mdl_notes_body_ft', engine: 'mysql', reason: 'fulltext', unique: false, columns: ['body'], logical: { kind: 'fulltext', columns: ['body'] }, definition: 'FULLTEXT KEY `mdl_notes_body_ft` (`body`)' },
      { table: 'notes', name: 'mdl_notes_pre', engine: 'mysql', reason: 'prefix', unique: false, columns: ['body'], definition: 'KEY `mdl_notes_pre` (`body`(20))' },
      { table: 'gone', name: 'mdl_gone_ft', engine: 'mysql', reason: 'fulltext', unique: false, columns: ['a'], logical: { kind: 'fulltext', columns: ['a'] }, definition: 'FULLTEXT KEY `mdl_gone_ft` (`a`)' },
    ] };
    const plan = planEngineIndexes({ tables: [other], extension, family: 'postgres', prefix: 'mdl_' });
    expect(plan.create.map((c) => c.sql)).toEqual([`CREATE INDEX "mdl_notes_body_ft" ON "mdl_notes" USING gin(to_tsvector('simple', "body"))`]);
    expect(plan.skip).toEqual([{ table: 'notes', name: 'mdl_notes_pre', reason: expect.stringContaining('prefix') as string }]);
  });

  it("a backup without the extension (the plugin's) gets search_simpledb's installer indexes; an empty extension none", () => {
    expect(planEngineIndexes({ tables, extension: undefined, family: 'postgres', prefix: 'mdl_' }).create.map((c) => c.name))
      .toEqual(['mdl_search_simpledb_title', 'mdl_search_simpledb_content', 'mdl_search_simpledb_description1', 'mdl_search_simpledb_description2']);
    expect(planEngineIndexes({ tables, extension: undefined, family: 'mysql', prefix: 'mdl_' }).create.map((c) => c.name)).toEqual(['mdl_search_simpledb_index_index']);
    expect(planEngineIndexes({ tables, extension: { engine: 'postgres', prefix: 'mdl_', indexes: [] }, family: 'mysql', prefix: 'mdl_' }).create).toEqual([]);
    expect(planEngineIndexes({ tables: [], extension: undefined, family: 'mysql', prefix: 'mdl_' }).create).toEqual([]);
  });

  it('leaves out of CREATE TABLE what the target cannot index (FIELDS="", TEXT on MySQL) and says so', () => {
    const broken: XmldbTable = { ...simpledb, indexes: [...simpledb.indexes, { name: 'mdl_search_simpledb_content', unique: false, fields: [] }, { name: 'mdl_search_simpledb_index_index', unique: false, fields: ['title', 'content'] }] };
    const my = withoutUncreatableIndexes(broken, 'mysql');
    expect(my.table.indexes.map((i) => i.name)).toEqual(['contextid']);
    expect(my.dropped.map((d) => d.name)).toEqual(['mdl_search_simpledb_content', 'mdl_search_simpledb_index_index']);
    expect(withoutUncreatableIndexes(broken, 'postgres').table.indexes.map((i) => i.name)).toEqual(['contextid', 'mdl_search_simpledb_index_index']);
    expect(withoutUncreatableIndexes(simpledb, 'mysql').table).toBe(simpledb);
    expect(planRestoreIndexes([broken], undefined, 'mysql', 'mdl_').uncreatable).toHaveLength(2);
  });
});

describe("Moodle's varchar_pattern_ops index (context.path)", () => {
  const context: XmldbTable = { name: 'context', component: 'core', fields: [{ name: 'id', type: 'int', notnull: true, sequence: true }, { name: 'path', type: 'char', length: '255', notnull: false, sequence: false }],
    keys: [{ name: 'primary', type: 'primary', fields: ['id'] }], indexes: [{ name: 'path', unique: false, fields: ['path'] }] };
  const pattern: EngineIndex = { table: 'context', name: 'mdl_cont_pat_ix_pattern', engine: 'postgres', reason: 'opclass', unique: false, columns: ['path'], logical: { kind: 'pattern', columns: ['path'] },
    definition: 'CREATE INDEX mdl_cont_pat_ix_pattern ON public.mdl_context USING btree (path varchar_pattern_ops)' };
  const sql = (prefix: string): string => `CREATE INDEX "${prefix}cont_pat_ix_pattern" ON "${prefix}context" USING btree ("path" varchar_pattern_ops)`;
  it('is created on PostgreSQL as Moodle does when the backup cannot carry it (plugin backup, MySQL source)', () => {
    expect(planEngineIndexes({ tables: [context], extension: undefined, family: 'postgres', prefix: 'mdl_' }).create).toEqual([{ table: 'context', name: 'mdl_cont_pat_ix_pattern', sql: sql('mdl_'), how: 'hint', from: [] }]);
    expect(planEngineIndexes({ tables: [context], extension: { ...myExtension(), indexes: [] }, family: 'postgres', prefix: 'x_' }).create.map((c) => c.sql)).toEqual([sql('x_')]);
  });
  it('comes from the definition PostgreSQL → PostgreSQL, and is not needed (nor reported) on MySQL', () => {
    const extension: EngineIndexExtension = { engine: 'postgres', prefix: 'mdl_', indexes: [pattern] };
    expect(planEngineIndexes({ tables: [context], extension, family: 'postgres', prefix: 'mdl_' }).create.map((c) => [c.how, c.name])).toEqual([['definition', 'mdl_cont_pat_ix_pattern']]);
    expect(planEngineIndexes({ tables: [context], extension: { ...extension, indexes: [] }, family: 'postgres', prefix: 'mdl_' }).create).toEqual([]);
    expect(planEngineIndexes({ tables: [context], extension, family: 'mysql', prefix: 'mdl_' })).toEqual({ create: [], skip: [] });
    expect(planEngineIndexes({ tables: [context], extension: undefined, family: 'mysql', prefix: 'mdl_' })).toEqual({ create: [], skip: [] });
  });
});

describe('restore pre-check', () => {
  it('warns naming table and index for what cannot be re-created, passes otherwise', () => {
    const extension = pgExtension();
    extension.indexes.push({ table: 'search_simpledb_index', name: 'mdl_simpledb_recent', engine: 'postgres', reason: 'partial', unique: false, columns: ['modified'],
      definition: 'CREATE INDEX mdl_simpledb_recent ON public.mdl_search_simpledb_index USING btree (modified) WHERE (modified > 0)' });
    const structure = { tables: [simpledb], manifest: { engineIndexes: extension } as never };
    const warn = checkEngineIndexes({ family: 'mysql', prefix: 'mdl_' }, structure);
    expect(warn.status).toBe('warn');
    expect(warn.details).toContainEqual(expect.stringMatching(/^not re-created: search_simpledb_index index mdl_simpledb_recent: postgres index \(partial\)/));
    expect(checkEngineIndexes({ family: 'postgres', prefix: 'mdl_' }, structure)).toMatchObject({ status: 'pass', summary: expect.stringMatching(/^5 to create/) as string });
    // A preserved search_simpledb keeps its table as it is: nothing to create or warn about.
    expect(checkEngineIndexes({ family: 'mysql', prefix: 'mdl_' }, structure, ['search_simpledb'])).toMatchObject({ status: 'pass', details: [] });
  });
});

describe('a definition from the backup is never executed as given', () => {
  const ix = (engine: EngineIndex['engine'], definition: string): EngineIndex => ({ table: 'user', name: 'mdl_user_x', engine, reason: 'expression', unique: false, columns: [], definition });

  it('PostgreSQL: keeps a real definition, renamed onto the target table', () => {
    expect(sameEngineIndex('postgres', ix('postgres', "CREATE INDEX mdl_user_x ON public.mdl_user USING gin (to_tsvector('simple'::regconfig, firstname)) WHERE (deleted = 0)"), 'm_user_x', 'm_')?.sql)
      .toBe(`CREATE INDEX "m_user_x" ON "m_user" USING gin (to_tsvector('simple'::regconfig, firstname)) WHERE (deleted = 0)`);
  });

  it.each([
    'CREATE INDEX x ON mdl_user USING btree (id); DROP TABLE mdl_config; --',
    'CREATE INDEX x ON mdl_user USING btree (id) -- comment',
    'CREATE INDEX x ON mdl_user USING btree (id) /* c */',
    'CREATE INDEX x ON mdl_user USING btree (id)) ; SELECT 1 (',
    'CREATE INDEX x ON mdl_user USING btree (id) TABLESPACE elsewhere',
    'CREATE INDEX x ON mdl_user USING evilam (id)',
    "CREATE INDEX x ON mdl_user USING btree ((id || 'a;')); DROP TABLE mdl_user",
  ])('PostgreSQL: refuses %s', (definition) => {
    expect(sameEngineIndex('postgres', ix('postgres', definition), 'mdl_user_x', 'mdl_')).toBeUndefined();
  });

  it('MySQL/MariaDB: rebuilds the index from its columns and prefix lengths', () => {
    expect(sameEngineIndex('mysql', ix('mariadb', 'FULLTEXT KEY `mdl_user_x` (`firstname`,`lastname`)'), 'm_user_x', 'm_')?.sql)
      .toBe('ALTER TABLE `m_user` ADD FULLTEXT INDEX `m_user_x` (`firstname`, `lastname`)');
    expect(sameEngineIndex('mysql', ix('mysql', 'KEY `mdl_user_x` (`description`(191) DESC)'), 'mdl_user_x', 'mdl_')?.sql)
      .toBe('ALTER TABLE `mdl_user` ADD INDEX `mdl_user_x` (`description`(191) DESC)');
  });

  it('MySQL/MariaDB: names the columns of a FULLTEXT index over whole columns, and of no other', () => {
    expect(sameEngineIndex('mysql', ix('mariadb', 'FULLTEXT KEY `mdl_user_x` (`firstname`,`last``name`)'), 'm_user_x', 'm_')?.fulltext).toEqual(['firstname', 'last`name']);
    expect(sameEngineIndex('mysql', ix('mariadb', 'KEY `mdl_user_x` (`firstname`,`lastname`)'), 'm_user_x', 'm_')?.fulltext).toBeUndefined();
    expect(sameEngineIndex('mysql', ix('mariadb', 'FULLTEXT KEY `mdl_user_x` (`firstname`(10))'), 'm_user_x', 'm_')?.fulltext).toBeUndefined();
    expect(simpledbInstallerIndexes('mysql', 'mdl_').map((x) => x.fulltext)).toEqual([['title', 'content', 'description1', 'description2']]);
    expect(simpledbInstallerIndexes('postgres', 'mdl_').every((x) => x.fulltext === undefined)).toBe(true);
  });

  it.each([
    'KEY `x` (`id`), RENAME TO otherdb.stolen',
    'KEY `x` (`id`); DROP TABLE mdl_config',
    'KEY `x` ((lower(`firstname`)))',
    'KEY `x` (`id`) COMMENT \'a\'',
  ])('MySQL/MariaDB: refuses %s', (definition) => {
    expect(sameEngineIndex('mysql', ix('mariadb', definition), 'mdl_user_x', 'mdl_')).toBeUndefined();
  });
});
