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
 * chunks into session-private TEMPORARY tables whose columns have the types the restore creates
 * (char/text ones in the collation), tagged with their index, and grouped there by index and key.
 * Nothing outside the session is written.
 *
 * Indexes whose key columns have the same types share one table: a site has ~100 such indexes,
 * dozens of them with rows, and a CREATE, INSERT, GROUP BY and DROP round trip per index took
 * ~0.4 s of a restore at size M.
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
  /** Rows held back by the pre-grouping at most (default {@link HELD_ROWS_MAX}). */
  maxHeldRows?: number;
}

interface Candidate {
  table: XmldbTable;
  index: string;
  columns: string[];
  fields: XmldbField[];
  idColumn: string;
}

/**
 * Collations under which two strings of printable ASCII (U+0020–U+007E) are equal only if they
 * are equal once lower-cased and stripped of trailing spaces (no printable ASCII character is
 * ignorable or tailored there). Only under these are rows pre-grouped in JavaScript.
 */
const ASCII_CASE_PAD_COLLATIONS = /^utf8mb4_(general|unicode|unicode_520|uca1400|0900)_(ci|ai_ci|as_ci|as_cs|ai_cs|cs|nopad_ci|nopad_ai_ci|nopad_as_ci|nopad_as_cs|nopad_ai_cs|bin|nopad_bin)$|^utf8mb4_(nopad_)?bin$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const INTEGER = /^-?\d+$/;

/**
 * A key equal for any two values of `fields` that the collation could find equal (it may also be
 * equal for values the collation tells apart); undefined when no such key is cheap to make.
 */
function coarseKey(fields: readonly XmldbField[], vals: readonly unknown[]): string | undefined {
  let key = '';
  for (let j = 0; j < fields.length; j++) {
    const text = String(vals[j]);
    const f = fields[j] as XmldbField;
    if (f.type === 'char' || f.type === 'text') {
      if (!PRINTABLE_ASCII.test(text)) return undefined;
      key += `${text.toLowerCase().replace(/ +$/, '')}\u0000`;
    } else if (f.type === 'int' && INTEGER.test(text)) {
      key += `${text.replace(/^(-?)0+(?=\d)/, '$1').replace(/^-0$/, '0')}\u0000`;
    } else return undefined;
  }
  return key;
}

/**
 * Rows held back at most, over all indexes (~200 bytes each): past it, the index that would
 * hold one more sends all its rows to the server, as without pre-grouping (a site with a
 * million users must not keep a million usernames in memory).
 */
const HELD_ROWS_MAX = 50_000;

/** Rows per multi-row INSERT into a check table, and its bound in characters. */
const ROWS_PER_INSERT = 500;
const CHARS_PER_INSERT = 1024 * 1024;

/** A TEMPORARY table of the check: the key column types it holds, its rows waiting to be inserted. */
interface CheckTable {
  name: string;
  types: string[];
  created: boolean;
  batch: (string | number)[][];
  chars: number;
  /** Rows inserted or waiting, per candidate in it. */
  rows: Map<number, number>;
}

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
  const byTable = new Map<string, number[]>();
  list.forEach((c, k) => byTable.set(c.table.name, [...(byTable.get(c.table.name) ?? []), k]));
  // One table per list of key column types (as the restore creates them), shared by the indexes with that list.
  const tables = new Map<string, CheckTable>();
  const tableOf = list.map((c) => {
    const types = c.fields.map((f) => `${columnType('mysql', f)}${f.type === 'char' || f.type === 'text' ? ` COLLATE ${opts.collation}` : ''}`);
    const key = types.join('|');
    let t = tables.get(key);
    if (!t) {
      t = { name: `vault_collcheck_${tables.size}`, types, created: false, batch: [], chars: 0, rows: new Map() };
      tables.set(key, t);
    }
    return t;
  });
  const keysOf = (t: CheckTable): string[] => t.types.map((_x, j) => `k${j}`);
  // Rows whose coarse key no other row of their index shares cannot collide: they stay here.
  // A key's first row is held back until a second one has it; then both go to the server. A
  // value without a coarse key (not printable ASCII: 'café' equals 'cafe' under an accent-
  // insensitive collation) sends every row of its index, held ones included, from then on.
  const prefilter = ASCII_CASE_PAD_COLLATIONS.test(opts.collation);
  const firstOfKey: (Map<string, (string | number)[] | null> | undefined)[] = list.map(() => (prefilter ? new Map() : undefined));
  let heldRows = 0;
  const maxHeld = opts.maxHeldRows ?? HELD_ROWS_MAX;
  /** The rows of candidate `k` to send to the server now that `row` (values `vals`) is read: none while its key is unique so far. */
  const release = (k: number, row: (string | number)[], vals: readonly unknown[]): (string | number)[][] => {
    const held = firstOfKey[k];
    if (!held) return [row];
    const key = coarseKey((list[k] as Candidate).fields, vals);
    const first = key === undefined ? undefined : held.get(key);
    if (key === undefined || (first === undefined && heldRows >= maxHeld)) {
      const all = [...held.values()].filter((r): r is (string | number)[] => r !== null);
      heldRows -= all.length;
      firstOfKey[k] = undefined;
      return [...all, row];
    }
    if (first === undefined) {
      held.set(key, row);
      heldRows++;
      return [];
    }
    held.set(key, null);
    if (first === null) return [row];
    heldRows--;
    return [first, row];
  };
  const flush = async (t: CheckTable): Promise<void> => {
    if (!t.batch.length) return;
    if (!t.created) {
      // Created with the first row: most of a site's tables are empty or hold one row.
      await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(t.name)}`);
      await db.execute(`CREATE TEMPORARY TABLE ${q(t.name)} (cand SMALLINT UNSIGNED NOT NULL, rid VARCHAR(255) NOT NULL, ${t.types.map((type, j) => `k${j} ${type} NULL`).join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${opts.collation}`);
      t.created = true;
    }
    await db.query(`INSERT INTO ${q(t.name)} VALUES ?`, [t.batch]);
    t.batch = [];
    t.chars = 0;
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
              const t = tableOf[k] as CheckTable;
              // Allocated at its final length: a row built by push() kept room for 19 elements
              // (168 bytes), and up to HELD_ROWS_MAX of them are held (6–8 MB of the heap at
              // bench scale M, whose 30 000 config_plugins rows are all held).
              const row = new Array<string | number>(2 + vals.length);
              row[0] = k;
              row[1] = idPos === undefined ? `#${n}` : String(raw[idPos] ?? '');
              for (let j = 0; j < vals.length; j++) row[2 + j] = String(vals[j]);
              for (const r of release(k, row, vals)) {
                for (let j = 2; j < r.length; j++) t.chars += String(r[j]).length;
                t.batch.push(r);
                t.rows.set(k, (t.rows.get(k) ?? 0) + 1);
              }
              if (t.batch.length >= ROWS_PER_INSERT || t.chars >= CHARS_PER_INSERT) await flush(t);
            }
          }
        }
      } finally {
        zip.close();
      }
    }
    const limit = opts.maxGroups ?? 20;
    const found = new Map<number, CollationConflict>();
    for (const t of tables.values()) {
      await flush(t);
      // Fewer than two rows of an index cannot collide.
      if (![...t.rows.values()].some((n) => n >= 2)) continue;
      const keys = keysOf(t);
      const dupes = await db.query<Record<string, unknown>>(
        `SELECT cand, ${keys.map((k) => `MIN(${k}) AS ${k}`).join(', ')} FROM ${q(t.name)} GROUP BY cand, ${keys.join(', ')} HAVING COUNT(*) > 1 ORDER BY cand, ${keys.join(', ')}`);
      for (const d of dupes) {
        const k = Number(d.cand);
        const c = list[k] as Candidate;
        let conflict = found.get(k);
        if (!conflict) {
          conflict = { table: c.table.name, index: c.index, columns: c.columns, idColumn: c.idColumn, groups: [] };
          found.set(k, conflict);
        }
        if (conflict.groups.length >= limit) continue;
        // The rows of the group: those of the index equal (under the collation) to the group's key.
        const rows = await db.query<Record<string, unknown>>(
          `SELECT rid, ${keys.join(', ')} FROM ${q(t.name)} WHERE cand = ? AND ${keys.map((x) => `${x} = ?`).join(' AND ')} ORDER BY rid`, [k, ...keys.map((x) => d[x])]);
        conflict.groups.push({ ids: rows.map((r) => String(r.rid)), values: rows.map((r) => keys.map((x) => (r[x] === null ? null : String(r[x])))) });
      }
    }
    // In the order of the indexes.
    return [...found].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  } finally {
    for (const t of tables.values()) if (t.created) await db.execute(`DROP TEMPORARY TABLE IF EXISTS ${q(t.name)}`).catch(() => undefined);
  }
}
