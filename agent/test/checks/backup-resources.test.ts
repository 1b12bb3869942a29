import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkBackupDiskSpace, checkBackupMemory } from '../../src/checks/backup-checks.js';

const MiB = 1024 * 1024;

describe('backup pre-checks: memory for part buffers and disk for state', () => {
  it('needs (parallel + 1) × part size of memory', () => {
    expect(checkBackupMemory(8 * MiB, 4, 41 * MiB)).toMatchObject({ status: 'pass', details: [] });
    const low = checkBackupMemory(8 * MiB, 4, 39 * MiB);
    expect(low.status).toBe('fail');
    expect(low.summary).toContain('40.0 MiB');
    expect(low.details).toEqual(['lower --parallel or --part-size']);
  });

  it('reports free disk against the small fixed need of the state folder', async () => {
    const r = await checkBackupDiskSpace(tmpdir());
    expect(r.status).toBe('pass');
    expect(r.summary).toMatch(/free in .*16\.0 MiB needed/);
  });
});
