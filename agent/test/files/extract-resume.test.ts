import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { extractDatarootArchive, extractFiledirArchive, partialPath } from '../../src/files/extract.js';
import { blobPath } from '../../src/files/sources.js';

async function zipOf(entries: Record<string, Buffer>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xr-zip-'));
  const file = join(dir, 'a.zip');
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(data, name);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
  return file;
}

async function allFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(root.length + 1));
  return out.sort();
}

const warnings = { warn: (): void => {} };

describe('extraction resumed after a kill mid-write', () => {
  it('filedir: the partial file of a killed write is overwritten and renamed, never left behind', async () => {
    const data = Buffer.from('blob contents '.repeat(1000));
    const hash = createHash('sha1').update(data).digest('hex');
    const zip = await zipOf({ [`${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`]: data });
    const filedir = await mkdtemp(join(tmpdir(), 'xr-fd-'));
    const dest = blobPath(filedir, hash);
    // What a SIGKILL during the write leaves: half a blob under the partial name.
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(partialPath(dest), data.subarray(0, 100));
    expect(await extractFiledirArchive(zip, filedir, warnings)).toEqual({ added: 1, kept: 0 });
    expect(await allFiles(filedir)).toEqual([`${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`]);
    expect(await readFile(dest)).toEqual(data);
  });

  it('dataroot: the partial file of a killed write is overwritten and renamed, never left behind', async () => {
    const zip = await zipOf({ 'lang/de/moodle.php': Buffer.from('<?php $string = [];') });
    const dataroot = await mkdtemp(join(tmpdir(), 'xr-dr-'));
    await mkdir(join(dataroot, 'lang', 'de'), { recursive: true });
    await writeFile(partialPath(join(dataroot, 'lang', 'de', 'moodle.php')), '<?php $str');
    expect(await extractDatarootArchive(zip, dataroot, warnings)).toBe(1);
    expect(await allFiles(dataroot)).toEqual(['lang/de/moodle.php']);
  });
});
