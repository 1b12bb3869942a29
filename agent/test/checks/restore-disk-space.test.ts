import { mkdtemp } from 'node:fs/promises';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRestoreDiskSpace, roomForAllDumps } from '../../src/checks/restore-checks.js';

describe('restore disk-space check', () => {
  it('needs room for dbstructure.zip plus the largest database and the largest files archive in the temp folder, not for all of them', async () => {
    const s = await statfs(tmpdir());
    const free = s.bavail * s.bsize;
    const third = Math.floor(free / 3);
    // four archives of a third of the free space each: all together would not fit, one of each side does
    const files = [
      { name: 'dbstructure.zip', size: 1000 },
      ...['dbdump.zip', 'dbdump-1.zip', 'dataroot.zip', 'filedir.zip'].map((name) => ({ name, size: third })),
    ];
    const [ok, db] = await checkRestoreDiskSpace({ tmpDir: tmpdir() }, files);
    expect(ok?.status).toBe('pass');
    expect(ok?.summary).toContain('dbstructure.zip + the largest database archive + the largest files archive');
    // No local database data directory: the staged copy's need is stated, not checked.
    expect(db?.status).toBe('warn');
    expect(db?.summary).toContain('staged copy');

    const [tooBig] = await checkRestoreDiskSpace({ tmpDir: tmpdir() }, [{ name: 'dbstructure.zip', size: 1000 }, { name: 'filedir.zip', size: free * 2 }]);
    expect(tooBig?.status).toBe('fail');
    // Each side alone fits, both at once do not: the database and the files are staged side by side.
    const [sideBySide] = await checkRestoreDiskSpace({ tmpDir: tmpdir() }, [{ name: 'dbstructure.zip', size: 1000 }, { name: 'dbdump.zip', size: Math.floor(free * 0.6) }, { name: 'filedir.zip', size: Math.floor(free * 0.6) }]);
    expect(sideBySide?.status).toBe('fail');
  });

  it('adds up the staged copies on one filesystem: dataroot + new blobs + the database, uncompressed', async () => {
    const s = await statfs(tmpdir());
    const free = s.bavail * s.bsize;
    const dataroot = await mkdtemp(join(tmpdir(), 'space-dr-'));
    const dbDir = await mkdtemp(join(tmpdir(), 'space-db-'));
    // Each alone fits; the archives are small, their contents (origsize) are not; together they do not fit.
    const half = Math.floor(free * 0.6);
    const files = [
      { name: 'dbstructure.zip', size: 1000 },
      { name: 'dbdump.zip', size: 1000, origsize: Math.floor(half / 1.5) },
      { name: 'dataroot.zip', size: 1000, origsize: half },
      { name: 'filedir.zip', size: 1000, origsize: 1000 },
    ];
    const apart = await checkRestoreDiskSpace({ tmpDir: tmpdir(), dataroot }, files.filter((f) => f.name !== 'dbdump.zip'));
    expect(apart.map((c) => c.status)).toEqual(['pass', 'warn']);
    const together = await checkRestoreDiskSpace({ tmpDir: tmpdir(), dataroot, dbDataDir: dbDir }, files);
    expect(together).toHaveLength(1);
    expect(together[0]?.status).toBe('fail');
    expect(together[0]?.summary).toContain('staged dataroot + new filedir blobs');
    expect(together[0]?.summary).toContain('staged database');
  });

  it('says whether every database archive fits at once (then the collation pre-check keeps what it read for the load)', async () => {
    const s = await statfs(tmpdir());
    const free = s.bavail * s.bsize;
    const dumps = (each: number) => [{ name: 'dbstructure.zip', size: 1000 }, ...['dbdump.zip', 'dbdump-1.zip', 'dbdump-2.zip'].map((name) => ({ name, size: each })), { name: 'filedir.zip', size: 1000 }];
    const small = await roomForAllDumps({ tmpDir: tmpdir() }, dumps(1000));
    expect(small.room).toBe(true);
    // One at a time fits (the pre-check passes), all three at once do not.
    const large = dumps(Math.floor(free * 0.4));
    expect((await checkRestoreDiskSpace({ tmpDir: tmpdir() }, large))[0]?.status).toBe('pass');
    const tooMany = await roomForAllDumps({ tmpDir: tmpdir() }, large);
    expect(tooMany.room).toBe(false);
    expect(tooMany.summary).toContain('every database archive');
  });
});
