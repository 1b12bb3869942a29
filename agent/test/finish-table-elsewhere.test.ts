/**
 * A table created on one connection and finished on another (a table continued over dump
 * archives is finished by whichever loading connection takes its last chunks) gets what it would
 * have got on one: the deferred indexes, and on PostgreSQL the primary key, under the planned names.
 */
import { describe, expect, it } from 'vitest';
import { connectDatabase } from '../src/db/connect.js';
import { planTableNames } from '../src/schema/ddl.js';
import type { XmldbTable } from '../src/schema/model.js';
import { indexSet } from './support/real-sites.js';
import { freshDatabase, TEST_ENGINES } from './support/databases.js';

const table: XmldbTable = {
  name: 'elsewhere', component: '?',
  fields: [
    { name: 'id', type: 'int', length: '10', notnull: true, sequence: true },
    { name: 'userid', type: 'int', length: '10', notnull: true, sequence: false },
  ],
  keys: [{ name: 'primary', type: 'primary', fields: ['id'] }],
  indexes: [{ name: 'userid', unique: false, fields: ['userid'] }],
};

describe.each(TEST_ENGINES)('a large table finished on another connection (%s)', (engine) => {
  it('gets its primary key and deferred indexes with the planned names', async () => {
    const url = await freshDatabase(engine, 'va_finish_elsewhere');
    const names = planTableNames(engine === 'pg' ? 'postgres' : 'mysql', 'mdl_', [table]).get('elsewhere');
    const [a, b] = [await connectDatabase(url, 'mdl_'), await connectDatabase(url, 'mdl_')];
    try {
      await a.createTable(table, { exists: false, deferIndexes: true, ...(names ? { names } : {}) });
      await a.execute('INSERT INTO mdl_elsewhere (id, userid) VALUES (1, 5), (2, 6)');
      await b.finishTable(table, 3, { created: { deferIndexes: true, ...(names ? { names } : {}) } });
      const got = (await indexSet(url)).filter((i) => i.table === 'elsewhere').map((i) => [i.name, i.primary, i.columns.join(',')]);
      expect(got.sort()).toEqual([
        [engine === 'pg' ? 'mdl_else_id_pk' : 'PRIMARY', true, 'id'],
        ['mdl_else_use_ix', false, 'userid'],
      ].sort());
    } finally {
      await a.close();
      await b.close();
    }
  });
});
