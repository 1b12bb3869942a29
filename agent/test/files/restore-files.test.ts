/**
 * The files side of an atomic restore: the journaled dataroot switch (files/dataroot-switch.ts)
 * finishes a killed run and reverses exactly; the new-blob journal (files/blob-journal.ts)
 * lets a rollback delete exactly the blobs a restore added, partial writes included, and
 * nothing the site had.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZipArchiveWriter } from '../../src/archive/zip-writer.js';
import { BlobJournal } from '../../src/files/blob-journal.js';
import { applyMoves, DATAROOT_OLD, DATAROOT_STAGING, planDatarootSwitch, removeSwitchFolders, reverseMoves } from '../../src/files/dataroot-switch.js';
import { extractFiledirArchive, partialPath } from '../../src/files/extract.js';
import { blobPath } from '../../src/files/sources.js';

async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(root.length + 1)] = (await readFile(join(e.parentPath, e.name))).toString();
  }
  return out;
}

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, d] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), d);
  }
}

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');
const warnings = { warn: () => undefined };

describe('dataroot switch', () => {
  async function site(): Promise<string> {
    const dr = await mkdtemp(join(tmpdir(), 'drswitch-'));
    await write(dr, {
      'lang/fr/x.php': 'old fr', 'oldstuff/a': 'old', 'models/m': 'old model', 'keepme/k': 'preserved',
      'filedir/aa/bb/aabb': 'blob', 'temp/t': 'temp', 'climaintenance.html': 'on', '.hidden': 'h',
      [`${DATAROOT_STAGING}/lang/de/x.php`]: 'new de', [`${DATAROOT_STAGING}/models/m`]: 'new model', [`${DATAROOT_STAGING}/keepme/k`]: 'backup copy',
    });
    return dr;
  }
  const switched = {
    'lang/de/x.php': 'new de', 'models/m': 'new model', 'keepme/k': 'preserved',
    'filedir/aa/bb/aabb': 'blob', 'temp/t': 'temp', 'climaintenance.html': 'on', '.hidden': 'h',
  };

  it('moves old entries out and staged ones in, never filedir, skipped or preserved names; a killed run is finished by running it again', async () => {
    const dr = await site();
    const moves = await planDatarootSwitch(dr, ['keepme']);
    expect(moves.map((m) => `${m.from}>${m.to}`)).toEqual([
      `lang>${DATAROOT_OLD}/lang`, `models>${DATAROOT_OLD}/models`, `oldstuff>${DATAROOT_OLD}/oldstuff`,
      `${DATAROOT_STAGING}/lang>lang`, `${DATAROOT_STAGING}/models>models`,
    ]);
    let n = 0;
    const crash = new Error('killed');
    await expect(applyMoves(dr, moves, async () => { if (++n === 4) throw crash; })).rejects.toBe(crash);
    expect(existsSync(join(dr, 'lang', 'de', 'x.php'))).toBe(true); // the 4th move was made
    expect(await applyMoves(dr, moves)).toBe(1);
    await removeSwitchFolders(dr);
    expect(await tree(dr)).toEqual(switched);
  });

  it('reverses the moves made, also of a switch stopped half-way: the dataroot is exactly as before', async () => {
    const dr = await site();
    const before = await tree(dr);
    const moves = await planDatarootSwitch(dr, ['keepme']);
    let n = 0;
    await expect(applyMoves(dr, moves, async () => { if (++n === 4) throw new Error('stop'); })).rejects.toThrow('stop');
    expect(await reverseMoves(dr, moves)).toBe(4);
    expect(await tree(dr)).toEqual(before);
    expect(await reverseMoves(dr, moves)).toBe(0);
  });
});

describe('new-blob journal', () => {
  it('a rollback deletes exactly the blobs the restore added (partial ones too), not the site\'s nor those it uses now', async () => {
    const root = await mkdtemp(join(tmpdir(), 'journal-'));
    const filedir = join(root, 'filedir');
    const had = 'the site had this';
    const contents = [had, 'new one', 'new two', 'new three, used by the live site meanwhile'];
    await mkdir(join(blobPath(filedir, sha1(had)), '..'), { recursive: true });
    await writeFile(blobPath(filedir, sha1(had)), had);
    const zipPath = join(root, 'filedir.zip');
    const zip = ZipArchiveWriter.toFile(zipPath, 'filedir.zip');
    for (const c of contents) { const h = sha1(c); await zip.add(`${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`, Buffer.from(c)); }
    await zip.close();
    const before = await tree(root);

    const journal = new BlobJournal(join(root, 'journal.txt'));
    const written: string[] = [];
    // Killed after the second new blob (entries are extracted several at a time, so the third
    // may be journaled, or written too): every blob written was journaled first.
    const kill = new Error('killed');
    await expect(extractFiledirArchive(zipPath, filedir, warnings, {
      beforeWrite: (h) => journal.add(h),
      afterWrite: async (h) => { written.push(h); if (written.length === 2) throw kill; },
    })).rejects.toBe(kill);
    const journaled = await journal.hashes();
    expect(written.filter((h) => !journaled.has(h))).toEqual([]);
    // A resumed run: the third blob is journaled, then killed half-written.
    const third = sha1(contents[3] as string);
    await journal.add(third);
    await mkdir(join(blobPath(filedir, third), '..'), { recursive: true });
    await rm(blobPath(filedir, third), { force: true });
    await writeFile(partialPath(blobPath(filedir, third)), 'half');

    expect(await journal.rollback(filedir)).toBeGreaterThanOrEqual(1);
    expect(await tree(root)).toEqual(before);
    expect(existsSync(journal.path)).toBe(false);

    // A blob the live site references by the time of the rollback stays.
    await extractFiledirArchive(zipPath, filedir, warnings, { beforeWrite: (h) => journal.add(h) });
    let asked = 0;
    expect(await journal.rollback(filedir, async () => { asked++; return new Set([third]); })).toBe(2);
    expect(asked).toBe(1);
    expect(existsSync(blobPath(filedir, third))).toBe(true);
    expect(existsSync(blobPath(filedir, sha1(had)))).toBe(true);
    // Nothing journaled: the live site's blobs (a query over every file) are not asked for.
    expect(await journal.rollback(filedir, async () => { asked++; return new Set(); })).toBe(0);
    expect(asked).toBe(1);
  });
});
