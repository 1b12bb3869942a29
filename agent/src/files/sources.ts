/**
 * What goes into `filedir` and `dataroot` archives (format §4, §5), as deterministic item
 * streams: the same site state always yields the same items in the same order, which lets an
 * interrupted backup re-create a partly uploaded archive byte for byte.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DbAdapter } from '../db/adapter.js';
import { isCompressedName, isSkippedDatarootName } from './names.js';

/** One file to place in an archive. */
export interface ArchiveItem {
  /** Entry name inside the ZIP. */
  entry: string;
  /** Source path on disk. */
  path: string;
  size: number;
  compress: boolean;
  /** Resume cursor and split boundary: archives only split between different keys. */
  key: string;
}

/** Problems met while listing (unreadable or missing sources); reported, never fatal. */
export interface SourceWarnings {
  warn(message: string): void;
}

const FILES_BATCH = 5000;

/** Path of a blob in a Moodle filedir. */
export function blobPath(filedir: string, hash: string): string {
  return join(filedir, hash.slice(0, 2), hash.slice(2, 4), hash);
}

/** Distinct content hashes of the `files` table with their representative (lowest id) file name, ascending. */
export async function* contentHashes(db: DbAdapter, after = ''): AsyncGenerator<{ hash: string; filename: string }> {
  const t = `${db.prefix}files`;
  const ph = db.family === 'postgres' ? '$1' : '?';
  let last = after;
  for (;;) {
    const rows = await db.query<{ contenthash: string; filename: string }>(
      `SELECT f.contenthash, f.filename FROM ${t} f JOIN (SELECT contenthash, MIN(id) AS id FROM ${t} WHERE contenthash > ${ph} GROUP BY contenthash ORDER BY contenthash LIMIT ${FILES_BATCH}) m ON f.id = m.id ORDER BY f.contenthash`,
      [last],
    );
    for (const r of rows) yield { hash: r.contenthash, filename: r.filename };
    if (rows.length < FILES_BATCH) return;
    last = (rows[rows.length - 1] as { contenthash: string }).contenthash;
  }
}

/** Filedir archive items: one blob per distinct content hash, entry `<h0-2>/<h2-4>/<h>`. */
export async function* filedirItems(db: DbAdapter, filedir: string, warnings: SourceWarnings, after = ''): AsyncGenerator<ArchiveItem> {
  for await (const { hash, filename } of contentHashes(db, after)) {
    if (!/^[0-9a-f]{40}$/.test(hash)) { warnings.warn(`files: skipping invalid content hash '${hash}'`); continue; }
    const path = blobPath(filedir, hash);
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile()) { warnings.warn(`filedir: blob ${hash} (${filename}) is missing; skipped`); continue; }
    yield { entry: `${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`, path, size: st.size, compress: !isCompressedName(filename), key: hash };
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Top-level dataroot names that the backup includes, in byte-wise order. */
export async function datarootTopLevel(dataroot: string, excluded: readonly string[]): Promise<string[]> {
  const names = await readdir(dataroot);
  return names.filter((n) => !isSkippedDatarootName(n, excluded)).sort(byteOrder);
}

/** Dataroot archive items: top-level entries minus exclusions, directories walked recursively (sorted). */
export async function* datarootItems(dataroot: string, excluded: readonly string[], warnings: SourceWarnings, after?: string): AsyncGenerator<ArchiveItem> {
  for (const top of await datarootTopLevel(dataroot, excluded)) {
    if (after !== undefined && byteOrder(top, after) <= 0) continue;
    yield* walk(join(dataroot, top), top, top, warnings);
  }
}

async function* walk(path: string, entry: string, key: string, warnings: SourceWarnings): AsyncGenerator<ArchiveItem> {
  const st = await lstat(path).catch((e: unknown) => { warnings.warn(`dataroot: cannot read ${entry}: ${String(e)}`); return null; });
  if (!st) return;
  if (st.isFile()) {
    yield { entry, path, size: st.size, compress: !isCompressedName(entry), key };
    return;
  }
  if (!st.isDirectory()) return; // symlinks, sockets: not part of a portable backup
  let children: string[];
  try {
    children = (await readdir(path)).sort(byteOrder);
  } catch (e) {
    warnings.warn(`dataroot: cannot list ${entry}: ${String(e)}`);
    return;
  }
  for (const c of children) yield* walk(join(path, c), `${entry}/${c}`, key, warnings);
}
