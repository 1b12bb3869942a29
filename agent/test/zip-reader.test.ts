/**
 * ZipArchiveReader reads entries itself (local header and data in one read, one inflate) and
 * serves yauzl's central-directory reads from a window of the file: entries as other writers lay
 * them out — local extra fields longer or shorter than the central directory's, stored entries,
 * a central directory larger than the window — come back byte for byte; a damaged entry fails.
 */
import { closeSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Entry } from 'yauzl';
import { ArchiveReadError, copyEntryData, openZipFile, ZipArchiveReader } from '../src/archive/zip-reader.js';
import { prng } from './support/prng.js';

interface Item { name: string; data: Buffer; stored?: boolean; localExtra?: Buffer; centralExtra?: Buffer; sizeInCentral?: number; crc?: number }

/** A ZIP file laid out by hand (APPNOTE 4.3): local headers with their own extra fields, then the central directory. */
function zipOf(items: Item[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let at = 0;
  for (const it of items) {
    const name = Buffer.from(it.name);
    const body = it.stored ? it.data : deflateRawSync(it.data);
    const local = Buffer.alloc(30);
    const localExtra = it.localExtra ?? Buffer.alloc(0);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(it.stored ? 0 : 8, 8);
    local.writeUInt32LE(crc32(it.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(it.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    parts.push(local, name, localExtra, body);
    const centralExtra = it.centralExtra ?? Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(it.stored ? 0 : 8, 10);
    c.writeUInt32LE(it.crc ?? crc32(it.data), 16);
    c.writeUInt32LE(body.length, 20);
    c.writeUInt32LE(it.sizeInCentral ?? it.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(centralExtra.length, 30);
    c.writeUInt32LE(at, 42);
    central.push(c, name, centralExtra);
    at += 30 + name.length + localExtra.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(at, 16);
  return Buffer.concat([...parts, cd, end]);
}

async function written(items: Item[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'va-zipread-')), 'a.zip');
  await writeFile(path, zipOf(items));
  return path;
}

/** An extra field of `n` data bytes (an unknown header id, which readers skip). */
const extra = (n: number): Buffer => Buffer.concat([Buffer.from([0xfe, 0xca, n & 0xff, n >> 8]), Buffer.alloc(n, 7)]);

describe('ZipArchiveReader', () => {
  it('reads deflated and stored entries whose local extra fields differ from the central directory\'s', async () => {
    const rnd = prng(5);
    const big = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(rnd() * 256)));
    const items: Item[] = [
      { name: 'plain.json', data: Buffer.from('[\n["id"],\n["1"]\n]') },
      { name: 'longer-local-extra.json', data: Buffer.from('x'.repeat(5000)), localExtra: extra(100), centralExtra: extra(4) },
      { name: 'shorter-local-extra.json', data: Buffer.from('y'.repeat(10)), localExtra: Buffer.alloc(0), centralExtra: extra(40) },
      { name: 'stored.json', data: Buffer.from('stored bytes'), stored: true, localExtra: extra(9) },
      { name: 'big.bin', data: big },
      { name: 'empty.json', data: Buffer.alloc(0) },
    ];
    const zip = await ZipArchiveReader.open(await written(items));
    try {
      expect(zip.names()).toEqual(items.map((i) => i.name));
      const into = { buffer: Buffer.alloc(0) };
      for (const it of [...items, ...items].reverse()) expect((await zip.read(it.name, into)).equals(it.data), it.name).toBe(true);
      for (const it of items) expect((await zip.read(it.name)).equals(it.data), it.name).toBe(true);
    } finally {
      zip.close();
    }
  });

  it('reads a central directory larger than its read window, and many entries', async () => {
    const items = Array.from({ length: 3000 }, (_x, i): Item => ({ name: `${'t'.repeat(60)}_${i}.${i}.json`, data: Buffer.from(`row ${i}`), centralExtra: extra(20) }));
    const zip = await ZipArchiveReader.open(await written(items));
    try {
      expect(zip.names()).toEqual(items.map((i) => i.name));
      for (const i of [0, 1499, 2999]) expect((await zip.read(items[i]?.name ?? '')).toString()).toBe(`row ${i}`);
    } finally {
      zip.close();
    }
  });

  it('fails, as an archive read error, an entry whose data do not inflate to its recorded size, and a missing entry', async () => {
    const zip = await ZipArchiveReader.open(await written([{ name: 'a.json', data: Buffer.from('abc'), sizeInCentral: 4 }]));
    try {
      await expect(zip.read('a.json')).rejects.toThrow(ArchiveReadError);
      await expect(zip.read('a.json')).rejects.toThrow(/3 bytes instead of 4/);
      await expect(zip.read('b.json')).rejects.toThrow(/no entry b\.json/);
    } finally {
      zip.close();
    }
    await expect(ZipArchiveReader.open(join(tmpdir(), 'va-no-such.zip'))).rejects.toThrow(ArchiveReadError);
  });

  it('fails an entry whose CRC-32 does not match, stored or deflated', async () => {
    const data = Buffer.from('["1","a"]');
    const zip = await ZipArchiveReader.open(await written([{ name: 'd.json', data, crc: crc32(data) ^ 1 }, { name: 's.json', data, stored: true, crc: crc32(data) ^ 1 }, { name: 'ok.json', data }]));
    try {
      await expect(zip.read('d.json')).rejects.toThrow(/CRC-32 mismatch/);
      await expect(zip.read('s.json')).rejects.toThrow(ArchiveReadError);
      expect((await zip.read('ok.json')).equals(data)).toBe(true);
    } finally {
      zip.close();
    }
  });

  it('stops inflating an entry that would give far more than its recorded size', async () => {
    // 64 MiB of zeros deflate to ~64 KiB; recorded as 10 bytes, the inflation stops at 11.
    const zip = await ZipArchiveReader.open(await written([{ name: 'bomb.json', data: Buffer.alloc(64 * 1024 * 1024), sizeInCentral: 10 }]));
    try {
      const err = await zip.read('bomb.json').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ArchiveReadError);
      expect(String(err)).toMatch(/larger than 11 bytes/);
    } finally {
      zip.close();
    }
  });

  it('copies entries held as they are (stored, or deflated into stored blocks), inflates small compressed ones in one piece, declines large ones', async () => {
    const rnd = prng(9);
    const noise = Buffer.from(Array.from({ length: 200_000 }, () => Math.floor(rnd() * 256)));
    const text = Buffer.from('a compressible forum post\n'.repeat(5000));
    const items: Item[] = [
      { name: 'stored.bin', data: noise, stored: true, localExtra: extra(30) },
      { name: 'noise.bin', data: noise, localExtra: extra(3), centralExtra: extra(50) },
      { name: 'text.txt', data: text },
      { name: 'noise-then-text.bin', data: Buffer.concat([noise, text]) },
      { name: 'empty-stored.bin', data: Buffer.alloc(0), stored: true },
      { name: 'wrong-size.bin', data: noise, sizeInCentral: noise.length - 1 },
      { name: 'text-wrong-size.txt', data: text, sizeInCentral: text.length + 1 },
      { name: 'short.bin', data: noise, sizeInCentral: noise.length + 1 },
      { name: 'big-text.txt', data: Buffer.from('x y z\n'.repeat(350_000)) },
    ];
    const path = await written(items);
    const { zip, fd } = await openZipFile(path);
    try {
      const entries = new Map<string, Entry>();
      await new Promise<void>((resolve, reject) => {
        zip.on('entry', (e: Entry) => { entries.set(e.fileName, e); zip.readEntry(); });
        zip.once('end', resolve);
        zip.once('error', reject);
        zip.readEntry();
      });
      /** The entry through a read buffer of `size` bytes (smaller than the noise: several reads). */
      const copied = async (name: string, size = 65_536): Promise<{ ok: boolean; data: Buffer }> => {
        const pieces: Buffer[] = [];
        const ok = await copyEntryData(fd, zip.fileSize, entries.get(name) as Entry, Buffer.alloc(size), (p) => { pieces.push(Buffer.from(p)); });
        return { ok, data: Buffer.concat(pieces) };
      };
      const dataOf = (name: string): Buffer => items.find((i) => i.name === name)?.data ?? Buffer.alloc(1);
      // Copied as stored, inflated in one piece (compressed, fitting the buffer).
      for (const [name, size] of [['stored.bin'], ['noise.bin'], ['empty-stored.bin'], ['text.txt'], ['noise-then-text.bin', 1 << 20]] as [string, number?][]) {
        const r = await copied(name, size);
        expect(r.ok, name).toBe(true);
        expect(r.data.equals(dataOf(name)), name).toBe(true);
      }
      // Compressed and larger than the buffer or than 1 MiB inflated, or not the recorded size
      // (longer or shorter): left to the inflater stream.
      for (const name of ['noise-then-text.bin', 'big-text.txt', 'wrong-size.bin', 'short.bin', 'text-wrong-size.txt']) expect((await copied(name)).ok, name).toBe(false);
    } finally {
      zip.close();
      closeSync(fd);
    }
  });
});
