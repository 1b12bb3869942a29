/** Addresses of the local services started by the global setup, for use inside tests. */
import { inject } from 'vitest';

export type ServiceName = 'ddb' | 'rgw' | 'pg' | 'mariadb';

export interface TestServices {
  started: ServiceName[];
  timings: Partial<Record<ServiceName, number>>;
  ddb?: { endpoint: string };
  rgw?: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** Superuser URL with trust auth; `bin` holds pg_dump/pg_restore of the same version. */
  pg?: { url: string; port: number; bin: string };
  /** URL of a user with all privileges over TCP; `socket` for the root CLI. */
  mariadb?: { url: string; port: number; socket: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: TestServices;
  }
}

/** The named service's address; throws (failing the test) when the run did not start it. */
export function service<K extends ServiceName>(name: K): NonNullable<TestServices[K]> {
  const all = inject('services');
  const s = all[name];
  if (!s) {
    throw new Error(`Service '${name}' was not started in this run (VAULT_TEST_SERVICES=${all.started.join(',')}). Unset VAULT_TEST_SERVICES or add '${name}'.`);
  }
  return s as NonNullable<TestServices[K]>;
}
