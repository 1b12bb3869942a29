/** The dbstatus check (spec §6.1) for a live database against a Moodle code tree. */
import type { SchemaDiff } from '../schema/diff.js';
import { diffSchema } from '../schema/diff.js';
import { loadInstallTree } from '../schema/install-tree.js';
import type { XmldbTable } from '../schema/model.js';
import { connectDatabase } from './connect.js';

/**
 * Compares the tables with `prefix` in the database at `url` with the install.xml definitions
 * of `schemaDir` (a Moodle code tree), or with `definitions` when given.
 */
export async function diffDatabase(url: string, opts: { prefix?: string; schemaDir?: string; definitions?: XmldbTable[] }): Promise<SchemaDiff> {
  const definitions = opts.definitions ?? (opts.schemaDir ? await loadInstallTree(opts.schemaDir) : []);
  const db = await connectDatabase(url, opts.prefix ?? 'mdl_');
  try {
    return diffSchema(db.family, definitions, await db.introspect());
  } finally {
    await db.close();
  }
}
