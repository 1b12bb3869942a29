/** The built agent (one ESM file run by plain node) carries every command and runs without tsx. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgent } from '../scripts/build.js';
import { exportDatabase } from '../src/db/export-database.js';
import { freshDatabase } from './support/databases.js';
import { createMoodleDatabase } from './support/moodle-fixture.js';
import { SCHEMA_DIR } from './support/schema-dir.js';

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vault-agent-build-'));
  bundle = await buildAgent(join(dir, 'vault-agent.mjs'));
}, 60_000);

afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('npm run build -w agent', () => {
  it('bundles a vault-agent that lists every command under plain node', () => {
    const res = spawnSync(process.execPath, [bundle, '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(res.status, res.stderr).toBe(0);
    for (const cmd of ['register', 'check', 'backup', 'list', 'restore', 'verify', 'dump', 'load']) {
      expect(res.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
    const bad = spawnSync(process.execPath, [bundle, 'load', '--db', 'nosuchdb://x', '--in', '/nonexistent'], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
  });

  it('tunes the heap before any module of the agent is evaluated (db/heap.ts)', () => {
    // V8's new space at exit: 8 MiB or more when the semi-spaces may grow while the bundle loads.
    const probe = 'data:text/javascript,import{getHeapSpaceStatistics as g}from"node:v8";process.on("exit",()=>process.stderr.write("new_space="+g().find((s)=>s.space_name==="new_space").space_size+"\\n"))';
    const res = spawnSync(process.execPath, ['--import', probe, bundle, '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(res.status, res.stderr).toBe(0);
    const size = Number(/new_space=(\d+)/.exec(res.stderr)?.[1]);
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('the bundle (native CRC-32 in place of buffer-crc32) writes the same dbdump.zip bytes as the source', async () => {
    const text = readFileSync(bundle, 'utf8');
    expect(text).not.toContain('node_modules/buffer-crc32');
    expect(text).toContain('agent/src/archive/native-crc32.ts');
    const url = await freshDatabase('pg', 'agent_build_dump');
    await createMoodleDatabase(url, { schemaDir: SCHEMA_DIR, rows: 'small', largeTableRows: 3000, onlyTables: ['config', 'user', 'logstore_standard_log', 'files'] });
    const res = spawnSync(process.execPath, [bundle, 'dump', '--db', url, '--out', join(dir, 'bundled')], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(res.status, res.stderr).toBe(0);
    await exportDatabase({ db: url, out: join(dir, 'source') });
    expect(readFileSync(join(dir, 'bundled', 'dbdump.zip')).equals(readFileSync(join(dir, 'source', 'dbdump.zip')))).toBe(true);
  }, 120_000);

  it('the launcher bin/vault-agent runs the agent with its malloc settings; values in the environment win', () => {
    const launcher = fileURLToPath(new URL('../bin/vault-agent', import.meta.url));
    const probe = join(dir, 'malloc-probe.mjs');
    writeFileSync(probe, 'process.on("exit", () => process.stderr.write(`malloc=${process.env.MALLOC_MMAP_THRESHOLD_},${process.env.MALLOC_ARENA_MAX}\\n`));\n');
    const run = (extra: NodeJS.ProcessEnv) => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...extra, NODE_OPTIONS: `--import ${probe}` };
      for (const k of ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX']) if (!(k in extra)) delete env[k];
      return spawnSync(launcher, ['--version'], { encoding: 'utf8', env });
    };
    const plain = run({});
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(plain.stderr).toContain('malloc=131072,2');
    expect(run({ MALLOC_ARENA_MAX: '8' }).stderr).toContain('malloc=131072,8');
  }, 60_000);
});
