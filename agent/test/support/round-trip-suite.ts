/**
 * The round-trip matrix, kysely style: one suite per source engine, restoring into every
 * engine of TEST_ENGINES. A test file calls `roundTripSuite('pg')` so sources run in parallel.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../src/db/connect.js';
import type { ExportResult } from '../../src/db/export-database.js';
import { exportDatabase } from '../../src/db/export-database.js';
import { importDatabase } from '../../src/db/import-database.js';
import { diffDatabase } from '../../src/db/diff-database.js';
import type { TestEngine } from './databases.js';
import { TEST_ENGINES, freshDatabase } from './databases.js';
import type { FixtureInfo } from './moodle-fixture.js';
import { createMoodleDatabase, extraTablePayloads } from './moodle-fixture.js';
import type { TableHash } from './table-hashes.js';
import { tableHashes } from './table-hashes.js';

export { SCHEMA_DIR } from './schema-dir.js';
import { SCHEMA_DIR } from './schema-dir.js';
/** Rows of the large table; VAULT_TEST_LARGE_ROWS overrides (CI default ≥ 200k). */
export const LARGE_ROWS = Number(process.env.VAULT_TEST_LARGE_ROWS ?? 200_000);

async function plantedDiff(url: string, fixture: FixtureInfo): Promise<void> {
  {
    const diff = await diffDatabase(url, { definitions: fixture.definitions });
    expect(diff.extratables).toEqual([fixture.extraTable.name]);
    expect(diff.missingtables).toEqual([]);
    expect(diff.changedtables).toEqual({
      course: { extracolumns: [], missingcolumns: [], changedcolumns: [], extraindexes: ['shortname,category'], missingindexes: [] },
    });
    expect(diff.status).toBe(3);
  }
}

/** Registers the suite for one source engine. */
export function roundTripSuite(source: TestEngine): void {
  describe(`round trip from ${source}`, () => {
    let srcUrl = '';
    let fixture: FixtureInfo;
    let srcHashes: Map<string, TableHash>;
    let dump: ExportResult;
    let dir = '';

    beforeAll(async () => {
      srcUrl = await freshDatabase(source, `va_rt_src_${source}`);
      const t0 = Date.now();
      fixture = await createMoodleDatabase(srcUrl, { schemaDir: SCHEMA_DIR, rows: 'small', largeTableRows: LARGE_ROWS, seed: 7 });
      const t1 = Date.now();
      srcHashes = await tableHashes(srcUrl);
      dir = await mkdtemp(join(tmpdir(), `va-rt-${source}-`));
      const t2 = Date.now();
      dump = await exportDatabase({ db: srcUrl, out: dir, schemaDir: SCHEMA_DIR });
      process.stderr.write(`[round trip ${source}] fixture ${t1 - t0} ms, hashes ${t2 - t1} ms, dump ${Date.now() - t2} ms\n`);
    }, 300_000);

    it('the source fixture holds the planted values, read back with plain SQL', async () => {
      const db = await connectDatabase(srcUrl, 'mdl_');
      try {
        const rows = await db.query<{ id: unknown; payload: Buffer | null; group: string | null; order: string | null }>(
          db.family === 'postgres' ? 'SELECT id, payload, "group", "order" FROM mdl_local_vaultfx_site ORDER BY id' : 'SELECT id, payload, `group`, `order` FROM mdl_local_vaultfx_site ORDER BY id');
        expect(rows.map((r) => r.payload)).toEqual(extraTablePayloads());
        expect(rows[0]?.order).toBe('');
        expect(rows[1]?.order).toBeNull();
        expect(rows[3]?.order).toBe('ordér 4 🦄');
        expect(Array.from(rows[0]?.group ?? '').length).toBeGreaterThan(1333);
      } finally {
        await db.close();
      }
      expect(srcHashes.get(fixture.largeTable)?.rows).toBe(LARGE_ROWS);
      expect(srcHashes.size).toBe(486);
    });

    it('reports exactly the planted modifications against install.xml', async () => {
      await plantedDiff(srcUrl, fixture);
    });

    it('writes spec-shaped archives', async () => {
      const files = (await readdir(dir)).sort();
      expect(files).toEqual(['dbdump.zip', 'dbstructure.zip']);
      expect(dump.archives.map((a) => a.name)).toEqual(['dbdump.zip', 'dbstructure.zip']);
      const site = dump.structure.find((t) => t.name === fixture.extraTable.name);
      expect(site?.component).toBe('?');
      expect(dump.structure.find((t) => t.name === 'forum_posts')?.component).toBe('mod_forum');
      const large = dump.tables.find((t) => t.name === fixture.largeTable);
      expect(large?.rows).toBe(LARGE_ROWS);
      // ~300 bytes a row: 200k rows make ~30 chunks of 2 MiB; a few thousand fit in one.
      if (LARGE_ROWS >= 20_000) expect(large?.chunks).toBeGreaterThan(1);
      expect(dump.sequences[fixture.extraTable.name]).toBe(fixture.extraTableNextId);
    });

    it.each(TEST_ENGINES)(`restores into %s with identical content and working sequences`, async (target) => {
      const dstUrl = await freshDatabase(target, `va_rt_${source}_to_${target}`);
      const t0 = Date.now();
      const res = await importDatabase({ db: dstUrl, source: dir });
      process.stderr.write(`[round trip ${source}→${target}] load ${Date.now() - t0} ms\n`);
      expect(res.tables).toHaveLength(486);
      const dstHashes = await tableHashes(dstUrl);
      expect([...dstHashes.keys()].sort()).toEqual([...srcHashes.keys()].sort());
      const mismatched = [...srcHashes].filter(([name, h]) => JSON.stringify(dstHashes.get(name)) !== JSON.stringify(h)).map(([n]) => n);
      expect(mismatched).toEqual([]);
      await plantedDiff(dstUrl, fixture);
      const db = await connectDatabase(dstUrl, 'mdl_');
      try {
        const ins = db.family === 'postgres'
          ? await db.query<{ id: string }>('INSERT INTO mdl_local_vaultfx_site ("count") VALUES (1) RETURNING id')
          : (await db.execute('INSERT INTO mdl_local_vaultfx_site (`count`) VALUES (1)'), await db.query<{ id: string }>('SELECT LAST_INSERT_ID() AS id'));
        expect(Number(ins[0]?.id)).toBe(fixture.extraTableNextId);
        const all = await db.introspect();
        // Introspecting some tables describes them exactly as introspecting all of them does.
        const some = [fixture.largeTable, 'user', 'no_such_table'];
        expect(await db.introspect(some)).toEqual(all.filter((t) => some.includes(t.name)));
        expect(await db.introspect([])).toEqual([]);
        const seqs = await db.sequences(all);
        const large = Number(srcHashes.get(fixture.largeTable)?.rows);
        expect(seqs.get(fixture.largeTable)).toBe(large + 1);
      } finally {
        await db.close();
      }
    }, 300_000);
  });
}
