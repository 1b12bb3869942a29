/**
 * Restore pre-check for MySQL/MariaDB targets: rows of the backup that a unique index would
 * reject under the target's collation. A PostgreSQL source compares strings exactly, so two
 * usernames `admin` and `Admin`, or tags `cafe` and `café`, live side by side there but are
 * equal under `utf8mb4_unicode_ci` (and, with PAD SPACE collations, `a` and `a `). Moodle would
 * create the tables with that collation, so the restore does too; this check finds such rows
 * before anything is changed.
 *
 * Equality is decided by the target server itself, not by a re-implementation of its collation
 * rules: the values of each unique index with char/text columns are copied from the dbdump
 * chunks into a session-private TEMPORARY table whose columns carry the collation, and grouped
 * there (a candidate's table is created only once it has rows, and grouped only with two or
 * more). Nothing outside the session is written.
 */
import { parseChunkName } from '../archive/names.js';
import { openChunk } from '../archive/table-chunks.js';
import type { ReadBuffer } from '../archive/zip-reader.js';
import { ZipArchiveReader } from '../archive/zip-reader.js';
import { columnType, planTableNames, quoteIdent } from '../schema/ddl.js';
import type { XmldbField, XmldbTable } from '../schema/model.js';
import { orderColumn } from '../schema/model.js';
import { CheckFailedError } from '../transfer/errors.js';
import type { DbAdapter } from './adapter.js';

/** One group of backup rows equal under the collation in one unique index. */
export interface ConflictGroup {
  /** Values of the order column (`id`) of the rows, as in the backup. */
  ids: string[];
  /** The index columns' values of each row, in `ids` order. */
  values: (string | null)[][];
}

/** Rows of one table that its unique index would reject. */
export interface CollationConflict {
  table: string;
  /** The index name Moodle gives it (see planTableNames). */
  index: string;
  columns: string[];
  /** The column the ids are taken from. */
  idColumn: string;
  groups: ConflictGroup[];
}

/** Options of {@link findCollationConflicts}. */
export interface CollationCheckOptions {
  /** Tables being restored, as in the backup's structure. */
  tables: readonly XmldbTable[];
  /** dbdump archive paths (each read once, in order). */
  archives: Iterable<string> | AsyncIterable<string>;
  /** The collation the restore will create tables with. */
  collation: string;
  /** The code tree's definitions, for index names in install order. */
  definitions?: readonly XmldbTable[];
  /** At most this many groups per index are reported (default 20). */
  maxGroups?: number;
}

interface Candidate {
  table: XmldbTable;
  index: string;
  columns: string[];
  fields: XmldbField[];
  idColumn: string;
  temp: string;
}

const ROWS_PER_INSERT = 500;

/**
 * Unique indexes (from keys and indexes) with at least one char/text column: only those can
 * reject rows because of the collation.
 */
function candidates(db: DbAdapter, tables: readonly XmldbTable[], definitions: readonly XmldbTable[] | undefined): Candidate[] {
  const names = planTableNames(db.family, db.prefix, tables, definitions ? { definitions } : {});
  const out: Candidate[] = [];
  for (const t of tables) {
    const byName = new Map(t.fields.map((f) => [f.name, f]));
    for (const i of names.get(t.name)?.indexes ?? []) {
      if (!i.unique) continue;
      const fields = i.fields.map((c) => byName.get(c));
      if (fields.some((f) => !f || f.type === 'binary')) continue;
      const defined = fields as XmldbField[];
      if (!defined.some((f) => f.type === 'char' || f.type === 'text')) continue;
      out.push({ table: t, index: i.name, columns: i.fields, fields: defined, idColumn: orderColumn(t), temp: `vault_collcheck_${out.length}` });
    }
  }
  return out;
}

/**
 * Finds backup rows equal under `collation` in a unique index (MySQL/MariaDB targets; an empty
 * list on PostgreSQL, whose default collation is deterministic). Reads only the chunks of tables
 * with such an index; uses TEMPORARY tables, dropped before returning.
 */
export async function findCollationConflicts(db: DbAdapter, opts: CollationCheckOptions): Promise<CollationConflict[]> {
  if (db.family !== 'mysql') return [];
  // An old site's tables may be utf8 (utf8mb3): Moodle's detection then yields a collation the
  // utf8mb4 tables of a restore cannot take. Refused here, before the first drop.
  const known = await db.query("SELECT COLLATION_NAME AS c FROM information_schema.COLLATIONS WHERE CHARACTER_SET_NAME = 'utf8mb4' AND COLLATION_NAME = ?", [opts.collation]);
  if (!known.length) {
    throw new CheckFailedError(`restore pre-check failed: Collation: ${opts.collation} is not a utf8mb4 collation of this server; convert the site first (Moodle's admin/cli/mysql_collation.php --collation=utf8mb4_unicode_ci) or choose one with --collation`);
  }
  const list = candidates(db, opts.tables, opts.definitions);
  if (!list.length) return [];
  const q = (s: string): string => quoteIdent('mysql', s);
  const byTable = new Map<string, Candidate[]>();
  for (const c of list) byTable.set(c.table.name, [...(byTable.get(c.table.name) ?? []), c]);
  // Rows (with no NULL in the index) seen per candidate; its TEMPORARY table is created with its
  // first such rows. Most of a site's tables are empty or hold one row: their unique indexes
  // (most of Moodle's ~100 candidates) cost no CREATE, INSERT, GROUP BY or DROP round trip.
  const seen = new Map<Candidate, number>();
  const created = new Set<Candidate>();
  const create = async (c: Candidate): Promise<void> => {
    // Column types as the restore creates them; no index, so equal values can coexist and be counted.
    const cols = c.fields.map((f, k) => `c${k} ${columnType('mysql', f)}${f.type === 'char' || f.type === 'text' ? ` COLLATE ${opts.collation}` : ''} NULL`);
    await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(c.temp)}`);
    await db.execute(`CREATE TEMPORARY TABLE ${q(c.temp)} (rid VARCHAR(255) NOT NULL, ${cols.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${opts.collation}`);
    created.add(c);
  };
  try {
    const into: ReadBuffer = { buffer: Buffer.alloc(0) };
    for await (const path of opts.archives) {
      const zip = await ZipArchiveReader.open(path);
      try {
        for (const name of zip.names()) {
          const wanted = byTable.get(parseChunkName(name).table);
          if (!wanted) continue;
          const chunk = openChunk(await zip.read(name, into));
          if (!chunk) continue;
          const pos = new Map(chunk.columns.map((col, k) => [col, k]));
          for (const c of wanted) {
            const idPos = pos.get(c.idColumn);
            const colPos = c.columns.map((col) => pos.get(col));
            let batch: (string | null)[][] = [];
            const flush = async (): Promise<void> => {
              if (!batch.length) return;
              if (!created.has(c)) await create(c);
              await db.query(`INSERT INTO ${q(c.temp)} VALUES ?`, [batch]);
              seen.set(c, (seen.get(c) ?? 0) + batch.length);
              batch = [];
            };
            let n = 0;
            for (const raw of chunk.rows()) {
              n++;
              const vals = colPos.map((p) => (p === undefined ? null : raw[p] ?? null));
              // NULLs never collide in a unique index.
              if (vals.some((v) => v === null)) continue;
              const id = idPos === undefined ? `#${n}` : String(raw[idPos] ?? '');
              batch.push([id, ...vals.map((v) => String(v))]);
              if (batch.length >= ROWS_PER_INSERT) await flush();
            }
            await flush();
          }
        }
      } finally {
        zip.close();
      }
    }
    const out: CollationConflict[] = [];
    const limit = opts.maxGroups ?? 20;
    for (const c of list) {
      // Fewer than two rows cannot collide.
      if ((seen.get(c) ?? 0) < 2) continue;
      const keys = c.columns.map((_, k) => `c${k}`);
      const dupes = await db.query<Record<string, unknown>>(
        `SELECT ${keys.map((k) => `MIN(${k}) AS ${k}`).join(', ')}, COUNT(*) AS n FROM ${q(c.temp)} GROUP BY ${keys.join(', ')} HAVING COUNT(*) > 1 LIMIT ${limit}`);
      if (!dupes.length) continue;
      const groups: ConflictGroup[] = [];
      for (const d of dupes) {
        // The rows of the group: those equal (under the column collation) to the group's key.
        const rows = await db.query<Record<string, unknown>>(
          `SELECT rid, ${keys.join(', ')} FROM ${q(c.temp)} WHERE ${keys.map((k) => `${k} = ?`).join(' AND ')} ORDER BY rid`, keys.map((k) => d[k]));
        groups.push({ ids: rows.map((r) => String(r.rid)), values: rows.map((r) => keys.map((k) => (r[k] === null ? null : String(r[k])))) });
      }
      out.push({ table: c.table.name, index: c.index, columns: c.columns, idColumn: c.idColumn, groups });
    }
    return out;
  } finally {
    for (const c of created) await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(c.temp)}`).catch(() => undefined);
  }
}
