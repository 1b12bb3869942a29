/** PostgreSQL 15 from Debian, in a temporary data folder on a free port (never 5432). */
import { chownSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { freePort, removeServiceDir, run, serviceDir, startProcess, waitUntil, type ManagedProcess } from './process.js';
import { ensurePackages, REQUIREMENTS } from './provision.js';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  url: string;
  host: string;
  port: number;
  user: string;
  bin: string;
  dataDir: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

function idOf(user: string): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** Run as the `postgres` OS user when we are root (PostgreSQL refuses to run as root). */
function asServiceUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** initdb + postgres in the foreground (owned by us), fsync off: a throw-away test server. */
export async function startPostgres(opts: { port?: number } = {}): Promise<PostgresServer> {
  ensurePackages(REQUIREMENTS.postgres);
  const base = serviceDir('pg');
  const dataDir = join(base, 'data');
  const runDir = join(base, 'run');
  mkdirSync(runDir, { recursive: true });
  if (process.getuid?.() === 0) {
    const { uid, gid } = idOf('postgres');
    chownSync(base, uid, gid);
    chownSync(runDir, uid, gid);
  }
  const [initCmd, initArgs] = asServiceUser(`${BIN}/initdb`, [
    '-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
  ]);
  run(initCmd, initArgs);
  const port = opts.port ?? (await freePort());
  const logFile = join(base, 'server.log');
  const [cmd, args] = asServiceUser(`${BIN}/postgres`, [
    '-D', dataDir, '-p', String(port), '-k', runDir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off', '-c', 'max_connections=200', '-c', 'shared_buffers=128MB',
  ]);
  const proc = startProcess('postgres', cmd, args, { logFile });
  if (process.getuid?.() === 0) chownSync(logFile, idOf('postgres').uid, idOf('postgres').gid);
  await waitUntil('PostgreSQL', async () => {
    if (!(await tcpOpen(port))) return false;
    return spawnSync(`${BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(port)]).status === 0;
  }, { timeoutMs: 30_000, proc, logFile });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    user: 'postgres',
    bin: BIN,
    dataDir,
    proc,
    stop: async () => {
      await proc.stop('SIGINT', 5000);
      removeServiceDir(base);
    },
  };
}
