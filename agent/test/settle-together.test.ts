/** settleTogether (site/restore.ts): the database and the files are staged side by side. */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { settleTogether } from '../src/site/restore.js';

describe('settleTogether', () => {
  it('runs the tasks at once and resolves when all have finished', async () => {
    const order: string[] = [];
    const task = (name: string, ms: number) => async () => { order.push(`${name} start`); await sleep(ms); order.push(`${name} end`); };
    await settleTogether([task('db', 40), task('files', 10)], new AbortController());
    expect(order).toEqual(['db start', 'files start', 'files end', 'db end']);
  });

  it('a failure stops the other task at its next check and is thrown only once both have settled', async () => {
    const stop = new AbortController();
    const failure = new Error('dbdump.zip: hash mismatch');
    let steps = 0;
    let otherEnded = false;
    const other = async (): Promise<void> => {
      try {
        for (;;) {
          stop.signal.throwIfAborted();
          steps++;
          await sleep(5);
        }
      } finally {
        await sleep(30); // e.g. a blob write finishing
        otherEnded = true;
      }
    };
    const failing = async (): Promise<void> => {
      await sleep(20);
      throw failure;
    };
    await expect(settleTogether([other, failing], stop)).rejects.toBe(failure);
    expect(otherEnded).toBe(true);
    expect(stop.signal.reason).toBe(failure);
    expect(steps).toBeGreaterThan(0);
    expect(steps).toBeLessThan(20);
  });

  it('the first failure is the one thrown when both fail', async () => {
    const first = new Error('first');
    await expect(settleTogether([
      async () => { await sleep(30); throw new Error('second'); },
      async () => { await sleep(5); throw first; },
    ], new AbortController())).rejects.toBe(first);
  });
});
