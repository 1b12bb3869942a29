/** What every bench section gets: the flags, a scratch folder, a logger and shared services. */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startDynamoDbLocal, startMariaDb, startPostgres, startRgw,
  type DynamoDbLocal, type MariaDbServer, type PostgresServer, type RgwServer,
} from '../scripts/services/index.js';
import { ensurePackages } from '../scripts/services/provision.js';

export type Scale = 'S' | 'M' | 'L';
export const SECTIONS = ['db', 'transfer', 'api', 'bundles', 'site'] as const;
export type SectionId = (typeof SECTIONS)[number];

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchContext {
  full: boolean;
  scales: Scale[];
  only: Set<SectionId>;
  /** Database steps to run (ids as in bench/db.ts); empty = all. */
  dbSteps: Set<string>;
  /** Scratch folder for this run (removed at the end). */
  tmp: string;
  log(msg: string): void;
  postgres(): Promise<PostgresServer>;
  mariadb(): Promise<MariaDbServer>;
  rgw(): Promise<RgwServer>;
  dynamodb(): Promise<DynamoDbLocal>;
}

/** Lazily started, shared services. */
export function serviceCache(log: (m: string) => void): Pick<BenchContext, 'postgres' | 'mariadb' | 'rgw' | 'dynamodb'> & { stopAll(): Promise<void> } {
  let pg: Promise<PostgresServer> | undefined;
  let my: Promise<MariaDbServer> | undefined;
  let rgw: Promise<RgwServer> | undefined;
  let ddb: Promise<DynamoDbLocal> | undefined;
  const timed = <T>(name: string, start: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    log(`starting ${name} ...`);
    return start().then((v) => {
      log(`${name} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return v;
    });
  };
  return {
    postgres: () => (pg ??= timed('PostgreSQL', () => startPostgres())),
    mariadb: () => (my ??= timed('MariaDB', () => startMariaDb())),
    rgw: () => (rgw ??= timed('Ceph RGW', () => startRgw())),
    dynamodb: () => (ddb ??= timed('DynamoDB Local', () => startDynamoDbLocal())),
    async stopAll() {
      for (const p of [pg, my, rgw, ddb]) {
        if (!p) continue;
        try {
          await (await p).stop();
        } catch {
          /* already stopped or never started */
        }
      }
    },
  };
}

/** Binary → Debian package for the anchor tools; installed when root, else the exact command is printed. */
export const ANCHOR_TOOLS = {
  time: { binary: '/usr/bin/time', pkg: 'time' },
  pgloader: { binary: 'pgloader', pkg: 'pgloader' },
  aws: { binary: '/usr/bin/aws', pkg: 'awscli' },
  curl: { binary: 'curl', pkg: 'curl' },
  openssl: { binary: 'openssl', pkg: 'openssl' },
  mariadbDump: { binary: 'mariadb-dump', pkg: 'mariadb-client' },
  pgDump: { binary: '/usr/lib/postgresql/15/bin/pg_dump', pkg: 'postgresql-client-15' },
} as const;

export function ensureTools(keys: (keyof typeof ANCHOR_TOOLS)[]): void {
  ensurePackages(keys.map((k) => ANCHOR_TOOLS[k]));
}

/** `command -v` */
export function which(binary: string): string | undefined {
  if (binary.startsWith('/')) return existsSync(binary) ? binary : undefined;
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const AGENT_BIN = join(ROOT, 'agent', 'bin', 'vault-agent.js');
