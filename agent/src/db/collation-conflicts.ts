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
 * chunks into one session-private TEMPORARY table whose key columns carry the collation, tagged
 * with their index, and grouped there by index and key in one query. Nothing outside the session
 * is written.
 *
 * One table for every index, not one each: a site has ~100 such indexes, dozens of them with
 * rows, and a CREATE, INSERT, GROUP BY and DROP round trip per index took ~0.4 s of a restore at
 * size M. Every key column is a VARCHAR in the collation: a char column compares as in its own
 * type (both VARCHAR, same collation and pad attribute); the values of other columns in such an
 * index (ids, numbers) are the canonical text the source database wrote, equal exactly when
 * their values are.
 */
import { parseChunkName } from '../archive/names.js';
import { openChunk } from '../archive/table-chunks.js';
import type { ReadBuffer } from '../archive/zip-reader.js';
import { ZipArchiveReader } from '../archive/zip-reader.js';
import { planTableNames, quoteIdent } from '../schema/ddl.js';
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
}

/** Rows per multi-row INSERT into the check's table, and its bound in characters. */
const ROWS_PER_INSERT = 500;
const CHARS_PER_INSERT = 1024 * 1024;
/** Moodle's longest char column (XMLDB). */
const KEY_CHARS = 1333;
/** The check's TEMPORARY table. */
const CHECK_TABLE = 'vault_collcheck';

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
      out.push({ table: t, index: i.name, columns: i.fields, fields: defined, idColumn: orderColumn(t) });
    }
  }
  return out;
}

/**
 * Finds backup rows equal under `collation` in a unique index (MySQL/MariaDB targets; an empty
 * list on PostgreSQL, whose default collation is deterministic). Reads only the chunks of tables
 * with such an index; uses one TEMPORARY table, dropped before returning.
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
  const byTable = new Map<string, number[]>();
  list.forEach((c, k) => byTable.set(c.table.name, [...(byTable.get(c.table.name) ?? []), k]));
  const width = Math.max(...list.map((c) => c.columns.length));
  const keys = Array.from({ length: width }, (_x, k) => `k${k}`);
  // Key column k is as long as the longest char column at k of any index (a longer value is
  // refused, as the restored table would); other columns' text (ids, numbers) fits in 255.
  const lengths = keys.map((_x, k) => Math.max(1, ...list.map((c) => {
    const f = c.fields[k];
    return f === undefined ? 1 : f.type === 'char' ? Math.min(KEY_CHARS, Number(f.length) || KEY_CHARS) : f.type === 'text' ? KEY_CHARS : 255;
  })));
  // Rows (with no NULL in the index) per candidate. The table is created with the first such row:
  // most of a site's tables are empty or hold one row.
  const seen = new Array<number>(list.length).fill(0);
  let created = false;
  let batch: (string | number | null)[][] = [];
  let batchChars = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    if (!created) {
      await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(CHECK_TABLE)}`);
      await db.execute(`CREATE TEMPORARY TABLE ${q(CHECK_TABLE)} (cand SMALLINT UNSIGNED NOT NULL, rid VARCHAR(255) NOT NULL, ${keys.map((k, j) => `${k} VARCHAR(${lengths[j] ?? KEY_CHARS}) COLLATE ${opts.collation} NULL`).join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${opts.collation}`);
      created = true;
    }
    await db.query(`INSERT INTO ${q(CHECK_TABLE)} VALUES ?`, [batch]);
    batch = [];
    batchChars = 0;
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
          const reads = wanted.map((k) => {
            const c = list[k] as Candidate;
            return { k, idPos: pos.get(c.idColumn), colPos: c.columns.map((col) => pos.get(col)) };
          });
          let n = 0;
          for (const raw of chunk.rows()) {
            n++;
            for (const { k, idPos, colPos } of reads) {
              const vals = colPos.map((p) => (p === undefined ? null : raw[p] ?? null));
              // NULLs never collide in a unique index.
              if (vals.some((v) => v === null)) continue;
              const row: (string | number | null)[] = [k, idPos === undefined ? `#${n}` : String(raw[idPos] ?? '')];
              for (let j = 0; j < width; j++) {
                const v = j < vals.length ? String(vals[j]) : null;
                row.push(v);
                batchChars += v?.length ?? 0;
              }
              batch.push(row);
              seen[k] = (seen[k] ?? 0) + 1;
              if (batch.length >= ROWS_PER_INSERT || batchChars >= CHARS_PER_INSERT) await flush();
            }
          }
        }
      } finally {
        zip.close();
      }
    }
    await flush();
    // Fewer than two rows of an index cannot collide.
    if (!seen.some((n) => n >= 2)) return [];
    const limit = opts.maxGroups ?? 20;
    const dupes = await db.query<Record<string, unknown>>(
      `SELECT cand, ${keys.map((k) => `MIN(${k}) AS ${k}`).join(', ')} FROM ${q(CHECK_TABLE)} GROUP BY cand, ${keys.join(', ')} HAVING COUNT(*) > 1 ORDER BY cand, ${keys.join(', ')}`);
    const out: CollationConflict[] = [];
    let current: CollationConflict | undefined;
    let currentCand = -1;
    for (const d of dupes) {
      const k = Number(d.cand);
      const c = list[k] as Candidate;
      if (k !== currentCand) {
        current = { table: c.table.name, index: c.index, columns: c.columns, idColumn: c.idColumn, groups: [] };
        currentCand = k;
        out.push(current);
      }
      if (!current || current.groups.length >= limit) continue;
      // The rows of the group: those of the index equal (under the collation) to the group's key.
      const own = keys.slice(0, c.columns.length);
      const rows = await db.query<Record<string, unknown>>(
        `SELECT rid, ${own.join(', ')} FROM ${q(CHECK_TABLE)} WHERE cand = ? AND ${own.map((x) => `${x} = ?`).join(' AND ')} ORDER BY rid`, [k, ...own.map((x) => d[x])]);
      current.groups.push({ ids: rows.map((r) => String(r.rid)), values: rows.map((r) => own.map((x) => (r[x] === null ? null : String(r[x])))) });
    }
    return out;
  } finally {
    if (created) await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(CHECK_TABLE)}`).catch(() => undefined);
  }
}
