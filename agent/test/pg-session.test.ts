/**
 * What a PostgreSQL connection of the agent sets up: a load's index builds on a server on this
 * machine use no more parallel workers than the CPUs its loading connections leave over.
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { connectDatabase, isLocalDatabase } from '../src/db/connect.js';
import { maintenanceWorkersCap } from '../src/db/postgres.js';
import { freshDatabase } from './support/databases.js';

describe('a PostgreSQL load session', () => {
  it('knows a server on this machine by its socket or loopback host', () => {
    expect(isLocalDatabase('postgres://u@127.0.0.1:5432/moodle')).toBe(true);
    expect(isLocalDatabase('postgres://u@localhost/moodle')).toBe(true);
    expect(isLocalDatabase('postgres://u@[::1]:5433/moodle')).toBe(true);
    expect(isLocalDatabase('postgres://u@db/moodle?host=%2Fvar%2Frun%2Fpostgresql')).toBe(true);
    expect(isLocalDatabase('mysql://u@db/moodle?socketPath=%2Frun%2Fmysqld%2Fmysqld.sock')).toBe(true);
    expect(isLocalDatabase('mysql://u@db.example.org/moodle')).toBe(false);
    expect(isLocalDatabase('postgres://u@10.0.0.5/moodle')).toBe(false);
    expect(isLocalDatabase('not a url')).toBe(false);
  });

  it('caps parallel index workers at the CPUs two loading connections leave over, on this machine only', () => {
    expect(maintenanceWorkersCap(true, 2, 2)).toBe(0);
    expect(maintenanceWorkersCap(true, 1, 2)).toBe(0);
    expect(maintenanceWorkersCap(true, 4, 2)).toBe(1);
    expect(maintenanceWorkersCap(true, 16, 2)).toBe(7);
    expect(maintenanceWorkersCap(false, 2, 2)).toBeUndefined();
  });

  it('lowers the server setting, never raises it', async () => {
    const url = await freshDatabase('pg', 'va_pg_session');
    const db = await connectDatabase(url, 'mdl_');
    try {
      const rows = await db.query<{ n: string }>("SELECT current_setting('max_parallel_maintenance_workers') AS n");
      // The test server keeps PostgreSQL's default, 2.
      expect(Number(rows[0]?.n)).toBe(Math.min(2, maintenanceWorkersCap(true, availableParallelism(), 2) ?? 2));
    } finally {
      await db.close();
    }
  });
});
