/** The built agent (one ESM file run by plain node) carries every command and runs without tsx. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAgent } from '../scripts/build.js';

describe('npm run build -w agent', () => {
  it('bundles a vault-agent that lists every command under plain node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vault-agent-build-'));
    const out = await buildAgent(join(dir, 'vault-agent.mjs'));
    const res = spawnSync(process.execPath, [out, '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(res.status, res.stderr).toBe(0);
    for (const cmd of ['register', 'check', 'backup', 'list', 'restore', 'verify', 'dump', 'load']) {
      expect(res.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
    const bad = spawnSync(process.execPath, [out, 'load', '--db', 'nosuchdb://x', '--in', '/nonexistent'], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
