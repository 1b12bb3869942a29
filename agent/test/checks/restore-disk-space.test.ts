import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkRestoreDiskSpace } from '../../src/checks/restore-checks.js';

describe('restore disk-space check', () => {
  it('needs room for dbstructure.zip plus the largest single archive, not for all of them', async () => {
    const s = await statfs(tmpdir());
    const free = s.bavail * s.bsize;
    const third = Math.floor(free / 3);
    // five archives of a third of the free space each: all together would not fit, one at a time does
    const files = [
      { name: 'dbstructure.zip', size: 1000 },
      ...['dbdump.zip', 'dbdump-1.zip', 'dataroot.zip', 'filedir.zip'].map((name) => ({ name, size: third })),
    ];
    const ok = await checkRestoreDiskSpace(tmpdir(), files);
    expect(ok.status).toBe('pass');
    expect(ok.summary).toContain('dbstructure.zip + the largest archive');

    const tooBig = await checkRestoreDiskSpace(tmpdir(), [{ name: 'dbstructure.zip', size: 1000 }, { name: 'filedir.zip', size: free * 2 }]);
    expect(tooBig.status).toBe('fail');
  });
});
