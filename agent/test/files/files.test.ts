/**
 * filedir and dataroot archives: built as streams from a real PostgreSQL `files` table and a
 * dataroot on disk, split by size, extracted back byte-identical; already-compressed types stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { describe, expect, it } from 'vitest';
import { service } from '../../../test/support/services.js';
import { connectDatabase } from '../../src/db/connect.js';
import { writeArchiveSeries } from '../../src/files/archive-series.js';
import { extractDatarootArchive, extractFiledirArchive, removeBlobs } from '../../src/files/extract.js';
import { DEFAULT_EXCLUDE_DATAROOT } from '../../src/files/names.js';
import { blobPath, datarootItems, filedirItems } from '../../src/files/sources.js';
import { SAMPLE_MIN_BYTES } from '../../src/files/zip-stream.js';

const warnings = { list: [] as string[], warn(m: string) { this.list.push(m); } };

async function toFiles(dir: string, name: string, bytes: Readable): Promise<string> {
  const p = join(dir, name);
  await pipeline(bytes, createWriteStream(p));
  return p;
}

async function entryMethods(zipPath: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await new Promise<void>((res, rej) => yauzl.open(zipPath, { lazyEntries: false }, (e, z) => {
    if (e) return rej(e);
    z.on('entry', (en: yauzl.Entry) => { out[en.fileName] = en.compressionMethod; });
    z.on('end', () => res());
  }));
  return out;
}

async function treeOf(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await treeOf(root, r));
    else out[r] = createHash('sha256').update(await readFile(join(root, r))).digest('hex');
  }
  return out;
}

describe('files archives', () => {
  it('filedir: distinct hashes from the files table, STORE for compressed types, split, extracted byte-identical', async () => {
    const db = await connectDatabase(service('pg').url, `f${Date.now() % 100000}_`);
    const t = `${db.prefix}files`;
    await db.execute(`CREATE TABLE ${t} (id BIGSERIAL PRIMARY KEY, contenthash VARCHAR(40) NOT NULL, filename VARCHAR(255) NOT NULL)`);
    const site = await mkdtemp(join(tmpdir(), 'fd-'));
    const filedir = join(site, 'filedir');
    const blobs: { data: Buffer; name: string }[] = [
      { data: Buffer.alloc(3 * 1024 * 1024, 'a'), name: 'big.txt' },
      { data: randomBytes(200_000), name: 'photo.JPG' },
      { data: Buffer.from('hello'), name: 'h.txt' },
      { data: Buffer.from(''), name: '.' },
    ];
    for (const b of blobs) {
      const h = createHash('sha1').update(b.data).digest('hex');
      await mkdir(join(filedir, h.slice(0, 2), h.slice(2, 4)), { recursive: true });
      await writeFile(blobPath(filedir, h), b.data);
      await db.query(`INSERT INTO ${t} (contenthash, filename) VALUES ($1, $2), ($1, $3)`, [h, b.name, `${b.name}.copy`]);
    }
    await db.query(`INSERT INTO ${t} (contenthash, filename) VALUES ($1, 'gone.txt')`, ['f'.repeat(40)]);

    const out = await mkdtemp(join(tmpdir(), 'fdz-'));
    const archives = await writeArchiveSeries(filedirItems(db, filedir, warnings), {
      type: 'filedir', startSeq: 0, splitSize: 1024 * 1024, compressionLevel: 6,
      upload: (name, bytes) => toFiles(out, name, bytes),
    });
    expect(warnings.list.some((w) => w.includes('f'.repeat(40)))).toBe(true);
    expect(archives.map((a) => a.entries).reduce((x, y) => x + y)).toBe(4);
    expect(archives.length).toBeGreaterThanOrEqual(2);
    const photo = createHash('sha1').update(blobs[1]!.data).digest('hex');
    const all = Object.assign({}, ...(await Promise.all(archives.map((a) => entryMethods(a.result)))));
    expect(all[`${photo.slice(0, 2)}/${photo.slice(2, 4)}/${photo}`]).toBe(0);

    const target = await mkdtemp(join(tmpdir(), 'fdt-'));
    const orphan = Buffer.from('old site blob');
    const orphanHash = createHash('sha1').update(orphan).digest('hex');
    await mkdir(join(target, orphanHash.slice(0, 2), orphanHash.slice(2, 4)), { recursive: true });
    await writeFile(blobPath(target, orphanHash), orphan);
    for (const a of archives) await extractFiledirArchive(a.result, target, warnings);
    expect(await removeBlobs(target, [orphanHash])).toBe(1);
    expect(await treeOf(target)).toEqual(await treeOf(filedir));
    await db.execute(`DROP TABLE ${t}`);
    await db.close();
  });

  it('dataroot: exclusions honoured, split between top-level entries, restore clears and extracts', async () => {
    const dr = await mkdtemp(join(tmpdir(), 'dr-'));
    const files: Record<string, Buffer> = {
      'lang/de/moodle.php': Buffer.from('<?php $string = [];'),
      'models/m1/a.bin': randomBytes(600_000),
      'something.json': Buffer.from('{}'),
      'repository/x.zip': randomBytes(10_000),
      'muc/config.php': Buffer.from('muc'),
      'cache/c': Buffer.from('c'),
      'temp/t': Buffer.from('t'),
      'filedir/aa/bb/x': Buffer.from('x'),
      'vault-agent/state.json': Buffer.from('{}'),
      '.hidden': Buffer.from('h'),
      'sessions/s': Buffer.from('s'),
      'climaintenance.html': Buffer.from('<h1>maintenance</h1>'),
    };
    for (const [p, d] of Object.entries(files)) { await mkdir(join(dr, p, '..'), { recursive: true }); await writeFile(join(dr, p), d); }
    const out = await mkdtemp(join(tmpdir(), 'drz-'));
    const archives = await writeArchiveSeries(datarootItems(dr, DEFAULT_EXCLUDE_DATAROOT, warnings), {
      type: 'dataroot', startSeq: 0, splitSize: 500_000, compressionLevel: 9,
      upload: (name, bytes) => toFiles(out, name, bytes),
    });
    expect(archives.map((a) => [a.name, a.lastKey])).toEqual([['dataroot.zip', 'models'], ['dataroot-1.zip', 'something.json']]);

    const target = await mkdtemp(join(tmpdir(), 'drt-'));
    await mkdir(join(target, 'temp'));
    await writeFile(join(target, 'temp', 'keep'), 'keep');
    for (const a of archives) await extractDatarootArchive(a.result, target, warnings);
    const tree = await treeOf(target);
    expect(Object.keys(tree).sort()).toEqual(['lang/de/moodle.php', 'models/m1/a.bin', 'repository/x.zip', 'something.json', 'temp/keep']);
    expect(tree['models/m1/a.bin']).toBe(createHash('sha256').update(files['models/m1/a.bin']!).digest('hex'));
  });
});

describe('incompressible files', () => {
  it('stores a large file whose bytes barely deflate whatever its name, deflates a large text and small files; extracted byte-identical', async () => {
    const dr = await mkdtemp(join(tmpdir(), 'drs-'));
    const text = Buffer.from(Array.from({ length: 40_000 }, (_x, i) => `line ${i} of a large log\n`).join(''));
    const files: Record<string, Buffer> = {
      'big/random.txt': randomBytes(SAMPLE_MIN_BYTES + 1000),
      'big/text.txt': text,
      'small/random.txt': randomBytes(1000),
      'small/text.txt': Buffer.from('abc'.repeat(300)),
    };
    for (const [p, d] of Object.entries(files)) { await mkdir(join(dr, p, '..'), { recursive: true }); await writeFile(join(dr, p), d); }
    const out = await mkdtemp(join(tmpdir(), 'drsz-'));
    const archives = await writeArchiveSeries(datarootItems(dr, DEFAULT_EXCLUDE_DATAROOT, warnings), {
      type: 'dataroot', startSeq: 0, splitSize: 1e9, compressionLevel: 1,
      upload: (name, bytes) => toFiles(out, name, bytes),
    });
    expect(archives).toHaveLength(1);
    const path = archives[0]?.result ?? '';
    // 0 = stored, 8 = deflated.
    expect(await entryMethods(path)).toEqual({ 'big/random.txt': 0, 'big/text.txt': 8, 'small/random.txt': 8, 'small/text.txt': 8 });
    const target = await mkdtemp(join(tmpdir(), 'drst-'));
    await extractDatarootArchive(path, target, warnings);
    const tree = await treeOf(target);
    for (const [p, d] of Object.entries(files)) expect(tree[p], p).toBe(createHash('sha256').update(d).digest('hex'));
  });
});

/** A dataroot archive of one file, `lang/<name>`, as a backup writes it; its path. */
async function datarootArchiveOf(name: string, content: Buffer | string): Promise<string> {
  const dr = await mkdtemp(join(tmpdir(), 'dr1-'));
  await mkdir(join(dr, 'lang'));
  await writeFile(join(dr, 'lang', name), content);
  const out = await mkdtemp(join(tmpdir(), 'dr1z-'));
  const [archive] = await writeArchiveSeries(datarootItems(dr, DEFAULT_EXCLUDE_DATAROOT, warnings), {
    type: 'dataroot', startSeq: 0, splitSize: 1e9, compressionLevel: 1,
    upload: (n, bytes) => toFiles(out, n, bytes),
  });
  return archive?.result ?? '';
}

describe('damaged dataroot entries', () => {
  it('a dataroot file whose bytes do not match its CRC-32 fails the extraction and is not put in place', async () => {
    const content = Buffer.from('stored bytes of a dataroot file');
    const path = await datarootArchiveOf('x.mbz', content);
    expect(await entryMethods(path)).toEqual({ 'lang/x.mbz': 0 });
    // A stored entry: flip one byte of its data (its size stays right, so only the CRC tells).
    const zip = await readFile(path);
    const at = zip.indexOf(content);
    zip[at + 3] = (zip[at + 3] ?? 0) ^ 0xff;
    await writeFile(path, zip);
    const target = await mkdtemp(join(tmpdir(), 'drct-'));
    await expect(extractDatarootArchive(path, target, warnings)).rejects.toThrow(/lang\/x\.mbz is damaged.*CRC-32/);
    expect(await treeOf(target)).toEqual({});
  });

  it('a dataroot file of stored blocks then compressed ones is rewritten through the inflater with its CRC-32 started over', async () => {
    const content = Buffer.concat([randomBytes(900_000), Buffer.from('a string that deflates well\n'.repeat(40_000))]);
    const path = await datarootArchiveOf('mixed.bin', content);
    expect(await entryMethods(path)).toEqual({ 'lang/mixed.bin': 8 });
    const target = await mkdtemp(join(tmpdir(), 'drmx-'));
    expect(await extractDatarootArchive(path, target, warnings)).toBe(1);
    expect((await readFile(join(target, 'lang', 'mixed.bin'))).equals(content)).toBe(true);
  });

  it('a small deflated entry whose data do not inflate fails the extraction and leaves no partial file', async () => {
    const path = await datarootArchiveOf('strings.txt', 'a string that deflates well '.repeat(400));
    // The first block's header made BFINAL 1, BTYPE 11 (reserved): zlib refuses the data.
    const zip = await readFile(path);
    zip[30 + zip.readUInt16LE(26) + zip.readUInt16LE(28)] = 0x07;
    await writeFile(path, zip);
    const target = await mkdtemp(join(tmpdir(), 'drbad-'));
    await expect(extractDatarootArchive(path, target, warnings)).rejects.toThrow(/lang\/strings\.txt: invalid block type/);
    expect(await treeOf(target)).toEqual({});
  });

  it('a deflated entry that inflates to another size than the archive records fails the extraction and is not put in place', async () => {
    const path = await datarootArchiveOf('strings.txt', 'a string that deflates well '.repeat(400));
    expect(await entryMethods(path)).toEqual({ 'lang/strings.txt': 8 });
    // The central directory's uncompressed size (offset 24 of its header), one byte more.
    const zip = await readFile(path);
    const cd = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt32LE(zip.readUInt32LE(cd + 24) + 1, cd + 24);
    await writeFile(path, zip);
    const target = await mkdtemp(join(tmpdir(), 'drst-'));
    await expect(extractDatarootArchive(path, target, warnings)).rejects.toThrow(/lang\/strings\.txt: 11200 bytes, the archive says 11201/);
    expect(await treeOf(target)).toEqual({});
  });
});

describe('filedir entries copied without an inflater', () => {
  /** A filedir archive (yazl, as the plugin's zips are laid out) of `blobs`, deflated unless `stored`. */
  async function filedirArchive(blobs: { data: Buffer; stored?: boolean }[]): Promise<{ path: string; hashes: string[] }> {
    const zip = new yazl.ZipFile();
    const hashes = blobs.map((b) => createHash('sha1').update(b.data).digest('hex'));
    blobs.forEach((b, i) => {
      const h = hashes[i] as string;
      zip.addBuffer(b.data, `${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`, { compress: !b.stored });
    });
    zip.end();
    const path = join(await mkdtemp(join(tmpdir(), 'fdcopy-')), 'filedir.zip');
    await pipeline(zip.outputStream, createWriteStream(path));
    return { path, hashes };
  }

  it('extracts stored, stored-block, compressed and mixed entries byte-identical', async () => {
    const noise = randomBytes(1_500_000);
    const text = Buffer.from('a forum post that deflates well\n'.repeat(40_000));
    const blobs = [
      { data: noise, stored: true },
      { data: noise.subarray(7) },
      { data: text },
      // Stored blocks first, then compressed ones: the copy gives up part-way and the entry is written again, inflated.
      { data: Buffer.concat([noise.subarray(0, 900_000), text]) },
      { data: Buffer.alloc(0) },
    ];
    const { path, hashes } = await filedirArchive(blobs);
    expect(Object.values(await entryMethods(path))).toEqual([0, 8, 8, 8, 8]);
    const target = await mkdtemp(join(tmpdir(), 'fdcopy-out-'));
    expect(await extractFiledirArchive(path, target, warnings)).toEqual({ added: 5, kept: 0 });
    for (const [i, h] of hashes.entries()) expect((await readFile(blobPath(target, h))).equals(blobs[i]?.data ?? Buffer.alloc(1)), `blob ${i}`).toBe(true);
    expect(Object.keys(await treeOf(target)).filter((f) => f.endsWith('.vaultpart'))).toEqual([]);
  });

  it('a damaged stored-block entry fails on its SHA-1 and is not put in place', async () => {
    const noise = randomBytes(300_000);
    const { path, hashes } = await filedirArchive([{ data: noise }]);
    const zip = await readFile(path);
    const at = zip.indexOf(noise.subarray(100_000, 100_064));
    expect(at).toBeGreaterThan(0);
    zip[at] = (zip[at] ?? 0) ^ 0xff;
    await writeFile(path, zip);
    const target = await mkdtemp(join(tmpdir(), 'fdcopy-bad-'));
    await expect(extractFiledirArchive(path, target, warnings)).rejects.toThrow(new RegExp(`blob ${hashes[0]} has content hash`));
    expect(await treeOf(target)).toEqual({});
  });
});

describe('archive series', () => {
  it('starts a new archive every splitFiles files, between keys only, and every file extracts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-series-count-'));
    const keys = ['a', 'a', 'b', 'c', 'c', 'c', 'd', 'e', 'f', 'g'];
    const items = async function* (): AsyncGenerator<{ entry: string; path: string; size: number; compress: boolean; key: string }> {
      for (const [i, key] of keys.entries()) {
        const path = join(dir, `f${i}`);
        await writeFile(path, `file ${i}`);
        yield { entry: `${key}/f${i}`, path, size: `file ${i}`.length, compress: true, key };
      }
    };
    const out = await mkdtemp(join(tmpdir(), 'vault-series-count-out-'));
    const archives = await writeArchiveSeries(items(), {
      type: 'dataroot', startSeq: 0, splitSize: Number.MAX_SAFE_INTEGER, splitFiles: 3, compressionLevel: 1,
      upload: (name, bytes) => toFiles(out, name, bytes),
    });
    // A key's files stay together: a, a, b | c, c, c | d, e, f | g.
    expect(archives.map((a) => [a.name, a.entries, a.lastKey])).toEqual([
      ['dataroot.zip', 3, 'b'], ['dataroot-1.zip', 3, 'c'], ['dataroot-2.zip', 3, 'f'], ['dataroot-3.zip', 1, 'g'],
    ]);
    const target = await mkdtemp(join(tmpdir(), 'vault-series-count-x-'));
    for (const a of archives) await extractDatarootArchive(a.result, target, { warn: () => undefined });
    expect(Object.keys(await treeOf(target)).sort()).toEqual(keys.map((k, i) => `${k}/f${i}`).sort());
  });

  it('stops feeding entries and fails with the upload error when the upload fails mid-archive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-series-fail-'));
    const items = async function* (): AsyncGenerator<{ entry: string; path: string; size: number; compress: boolean; key: string }> {
      for (let i = 0; i < 200; i++) {
        const path = join(dir, `f${i}`);
        // Incompressible, so the stalled output stream fills up and adding waits on it.
        await writeFile(path, randomBytes(64 * 1024));
        yield { entry: `f${i}`, path, size: 64 * 1024, compress: false, key: `f${i}` };
      }
    };
    let consumedBytes = 0;
    const run = writeArchiveSeries(items(), {
      type: 'filedir', startSeq: 0, splitSize: Number.MAX_SAFE_INTEGER, compressionLevel: 0,
      upload: async (_name, bytes) => {
        // Reads a little, then fails without consuming the rest: the stream stalls.
        for await (const c of bytes) {
          consumedBytes += (c as Buffer).length;
          if (consumedBytes > 256 * 1024) break;
        }
        throw new Error('storage went away');
      },
    });
    await expect(run).rejects.toThrow('storage went away');
    expect(consumedBytes).toBeGreaterThan(256 * 1024);
  }, 30_000);
});
