/**
 * Vitest global setup: starts the real local services once per run and hands their addresses
 * to the tests through `inject`. Every service is stopped at teardown, on interrupt and on
 * failure. `VAULT_TEST_SERVICES=ddb,rgw,pg,mariadb` limits which start (default: all); a test
 * that needs a service that was not started fails — it is never skipped.
 */
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { killServicesOnSignals, reapOrphans, serviceDir, startDynamoDbLocal, startMariaDb, startPostgres, startRgw, systemTmpDir } from '../../scripts/services/index.js';
import type { ServiceName, TestServices } from './services.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ALL: ServiceName[] = ['ddb', 'rgw', 'pg', 'mariadb'];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  reapOrphans();
  killServicesOnSignals();
  const wanted = (process.env.VAULT_TEST_SERVICES?.split(',').map((s) => s.trim()).filter(Boolean) ?? ALL) as ServiceName[];
  const stops: (() => Promise<void>)[] = [];
  const services: TestServices = { started: wanted, timings: {} };
  const timed = async <T>(name: ServiceName, start: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const s = await start();
    services.timings[name] = Date.now() - t0;
    return s;
  };
  try {
    const [ddb, pg, mariadb, rgw] = await Promise.all([
      wanted.includes('ddb') ? timed('ddb', () => startDynamoDbLocal()) : undefined,
      wanted.includes('pg') ? timed('pg', () => startPostgres()) : undefined,
      wanted.includes('mariadb') ? timed('mariadb', () => startMariaDb()) : undefined,
      wanted.includes('rgw') ? timed('rgw', () => startRgw()) : undefined,
    ]);
    if (ddb) {
      stops.push(ddb.stop);
      services.ddb = { endpoint: ddb.endpoint };
    }
    if (pg) {
      stops.push(pg.stop);
      services.pg = { url: pg.url, port: pg.port, bin: pg.bin };
    }
    if (mariadb) {
      stops.push(mariadb.stop);
      services.mariadb = { url: mariadb.url, port: mariadb.port, socket: mariadb.socket };
    }
    if (rgw) {
      stops.push(rgw.stop);
      services.rgw = { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
    }
  } catch (err) {
    await Promise.allSettled(stops.map((s) => s()));
    throw err;
  }
  process.stderr.write(`[services] ready: ${Object.entries(services.timings).map(([k, v]) => `${k} ${v} ms`).join(', ')}\n`);
  project.provide('services', services);
  // Everything the tests put in os.tmpdir() (sites, dumps, certificates...) goes to one folder of
  // this run, deleted at teardown; named like a service folder, so the reaper deletes it when a
  // hard-killed run could not.
  const systemTmp = systemTmpDir();
  const runTmp = serviceDir('tests');
  process.env.VAULT_SYSTEM_TMPDIR = systemTmp;
  process.env.TMPDIR = runTmp;
  return async () => {
    await Promise.allSettled(stops.map((s) => s()));
    // services started by test workers that were killed before their own cleanup ran
    reapOrphans();
    process.env.TMPDIR = systemTmp;
    rmSync(runTmp, { recursive: true, force: true });
  };
}
