/**
 * tuneHeapForStreaming keeps V8's young generation at its initial size: without it the
 * semi-spaces grow to 16 MiB each while much survives scavenges (as it does while rows stream),
 * 32 MiB that stay resident. Measured in a child process: the flags are process-wide.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HEAP = fileURLToPath(new URL('../src/db/heap.ts', import.meta.url));

/** Size of V8's new space before and after allocation churn with survivors, in MiB. */
function newSpaceAroundChurn(tuned: boolean): { before: number; after: number } {
  const code = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { tuneHeapForStreaming } = await import(${JSON.stringify(HEAP)});
    if (${tuned}) tuneHeapForStreaming();
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    const before = newSpace();
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 20000) keep = []; }
    process.stdout.write(JSON.stringify({ before, after: newSpace() }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { before: number; after: number };
}

describe('tuneHeapForStreaming', () => {
  it('stops the young generation from growing', () => {
    const untuned = newSpaceAroundChurn(false);
    expect(untuned.after).toBeGreaterThanOrEqual(Math.max(16, 4 * untuned.before));
    // (The tsx loader has already made it grow a little before the call; the built agent tunes
    // the heap before anything else runs.)
    // V8 may also shrink the new space (its memory reducer runs on a timer), so only growth fails.
    const tuned = newSpaceAroundChurn(true);
    expect(tuned.after).toBeLessThanOrEqual(Math.max(tuned.before, 4));
  }, 60_000);
});
