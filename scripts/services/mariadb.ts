/** MariaDB 10.11 from Debian, `--no-defaults`, in a temporary data folder on a free port. */
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { freePort, removeServiceDir, run, serviceDir, startProcess, waitUntil, type ManagedProcess } from './process.js';
import { binaryPath, ensurePackages, REQUIREMENTS } from './provision.js';
import { tcpOpen } from './postgres.js';

export interface MariaDbServer {
  /** `mariadb://vault:vault@127.0.0.1:<port>/` — a user with all privileges over TCP. */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  socket: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

export async function startMariaDb(opts: { port?: number } = {}): Promise<MariaDbServer> {
  ensurePackages(REQUIREMENTS.mariadb);
  const base = serviceDir('mariadb');
  const dataDir = join(base, 'data');
  const runDir = join(base, 'run');
  // Its own temporary folder: in the shared /tmp, other processes' clean-ups removed MariaDB's
  // on-disk temporary tables mid-query ("Error on delete of '/tmp/#sql-temptable-…'", and once
  // a crash in the Aria engine).
  const tmpDir = join(base, 'tmp');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  mkdirSync(tmpDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' }).stdout.trim());
    for (const d of [base, dataDir, runDir, tmpDir]) chownSync(d, uid, gid);
  }
  const userArgs = asRoot ? ['--user=mysql'] : [];
  run(binaryPath('mariadb-install-db'), [
    '--no-defaults', ...userArgs, `--datadir=${dataDir}`, '--auth-root-authentication-method=socket', '--skip-test-db',
  ]);
  const port = opts.port ?? (await freePort());
  const socket = join(runDir, 'mysqld.sock');
  const logFile = join(base, 'error.log');
  const proc = startProcess('mariadb', binaryPath('mariadbd'), [
    '--no-defaults', ...userArgs, `--datadir=${dataDir}`, `--tmpdir=${tmpDir}`, `--socket=${socket}`, `--port=${port}`,
    '--bind-address=127.0.0.1', `--pid-file=${join(runDir, 'mysqld.pid')}`, `--log-error=${logFile}`,
    '--innodb-buffer-pool-size=256M', '--innodb-flush-log-at-trx-commit=0', '--skip-log-bin',
    '--max-allowed-packet=64M', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci',
    '--local-infile=1', '--max-connections=300',
  ], { logFile: join(base, 'stdout.log') });
  const admin = binaryPath('mariadb-admin');
  await waitUntil('MariaDB', async () => {
    if (!(await tcpOpen(port))) return false;
    return spawnSync(admin, ['--no-defaults', '-S', socket, '-uroot', 'ping']).status === 0;
  }, { timeoutMs: 30_000, proc, logFile });
  run(binaryPath('mariadb'), ['--no-defaults', '-S', socket, '-uroot', '-e',
    "CREATE USER 'vault'@'127.0.0.1' IDENTIFIED BY 'vault'; GRANT ALL ON *.* TO 'vault'@'127.0.0.1' WITH GRANT OPTION;"]);
  return {
    url: `mariadb://vault:vault@127.0.0.1:${port}/`,
    host: '127.0.0.1',
    port,
    user: 'vault',
    password: 'vault',
    socket,
    proc,
    stop: async () => {
      await proc.stop('SIGTERM', 10_000);
      removeServiceDir(base);
    },
  };
}
