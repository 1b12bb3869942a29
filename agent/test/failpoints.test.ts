import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseFailpoints } from '../src/failpoints.js';

describe('parseFailpoints', () => {
  it('reads names, hit numbers and actions', () => {
    expect([...parseFailpoints('restore.switch.before=kill, restore.load.table@40=error,restore.files.dataroot=pause')]).toEqual([
      ['restore.switch.before', { action: 'kill', at: 1 }],
      ['restore.load.table', { action: 'error', at: 40 }],
      ['restore.files.dataroot', { action: 'pause', at: 1 }],
    ]);
    expect(parseFailpoints('').size).toBe(0);
  });

  it('refuses a rule it cannot read, so a crash test cannot silently test nothing', () => {
    expect(() => parseFailpoints('restore.switch.before=explode')).toThrow(/cannot read 'restore.switch.before=explode'/);
    expect(() => parseFailpoints('restore.switch.before')).toThrow(/expected name/);
  });
});

describe('failpoint', () => {
  const run = (spec: string, code: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, VAULT_AGENT_FAILPOINTS: spec }, encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname,
  });
  const body = "import { failpoint } from './src/failpoints.ts'; for (let i = 1; i <= 3; i++) { await failpoint('p'); console.log('after', i); }";

  it('kills the process at the configured hit', () => {
    const r = run('p@2=kill', body);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('after 1\n');
  });

  it('throws at the configured hit, and does nothing for other names', () => {
    expect(run('p=error', body).stderr).toContain('failpoint p: injected failure');
    expect(run('q=kill', body).stdout).toBe('after 1\nafter 2\nafter 3\n');
  });
});
