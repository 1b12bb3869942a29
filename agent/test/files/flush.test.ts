/**
 * flushFileSystems: `sync -f` for the file systems of the given paths, plain `sync` where that is
 * refused, an error when neither runs.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { flushFileSystems } from '../../src/files/flush.js';

const PATH = process.env.PATH;
afterEach(() => {
  process.env.PATH = PATH;
});

describe('flushFileSystems', () => {
  it('syncs the file systems holding the paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-flush-'));
    await writeFile(join(dir, 'blob'), Buffer.alloc(1024 * 1024, 7));
    const r = await flushFileSystems([dir, join(dir, 'blob')]);
    expect(r.how).toBe('sync -f');
    expect(r.seconds).toBeGreaterThanOrEqual(0);
  });

  it('falls back to a plain sync when sync -f refuses (a path that does not exist)', async () => {
    expect((await flushFileSystems([join(tmpdir(), 'vault-flush-missing', 'x')])).how).toBe('sync');
  });

  it('throws when no sync command can run', async () => {
    process.env.PATH = '/nonexistent';
    await expect(flushFileSystems([tmpdir()])).rejects.toThrow(/ENOENT/);
  });
});
