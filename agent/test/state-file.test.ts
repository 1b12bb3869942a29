/**
 * StateFile (site/context.ts): saves are serialised and coalesced. Saves called while a write
 * runs share the next write, of the value given last; each caller's promise settles once a write
 * that includes its call is on disk.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateFile } from '../src/site/context.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('StateFile', () => {
  it('coalesces saves made while a write runs, keeps the last value, and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'va-state-'));
    dirs.push(dir);
    const file = new StateFile<{ n: number }>(join(dir, 'state.json'));
    // Saves before the write begins share it; it writes the last value.
    const early = Array.from({ length: 20 }, (_x, i) => file.save({ n: i }));
    expect(new Set(early).size).toBe(1);
    // Once it has begun, the next saves share one more write.
    await new Promise((resolve) => setImmediate(resolve));
    const late = Array.from({ length: 5 }, (_x, i) => file.save({ n: 100 + i }));
    expect(new Set(late).size).toBe(1);
    expect(late[0]).not.toBe(early[0]);
    await early[0];
    expect((await file.load())?.n).toBeGreaterThanOrEqual(19);
    await Promise.all(late);
    expect(await file.load()).toEqual({ n: 104 });
    // A save after those writes finished writes again.
    await file.save({ n: 21 });
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'))).toEqual({ n: 21 });
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});
