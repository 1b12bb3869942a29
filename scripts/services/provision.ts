/**
 * Makes sure the Debian packages behind the local services are installed. As root the missing
 * packages are installed with apt-get; otherwise the error names the exact command to run.
 * A missing service is never a reason to skip a test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A binary we need and the Debian package that ships it. */
export interface Requirement {
  binary: string;
  pkg: string;
}

export const REQUIREMENTS = {
  java: [{ binary: 'java', pkg: 'default-jre-headless' }],
  postgres: [
    { binary: '/usr/lib/postgresql/15/bin/postgres', pkg: 'postgresql-15' },
    { binary: '/usr/lib/postgresql/15/bin/pg_dump', pkg: 'postgresql-client-15' },
  ],
  mariadb: [
    { binary: 'mariadbd', pkg: 'mariadb-server' },
    { binary: 'mariadb', pkg: 'mariadb-client' },
  ],
  rgw: [
    { binary: 'radosgw', pkg: 'radosgw' },
    { binary: 'ceph-mon', pkg: 'ceph-mon' },
    { binary: 'ceph-osd', pkg: 'ceph-osd' },
  ],
} satisfies Record<string, Requirement[]>;

function hasBinary(binary: string): boolean {
  if (binary.startsWith('/')) return existsSync(binary);
  const res = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  if (res.status === 0) return true;
  // sbin folders are not always on PATH for non-login shells
  return ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => existsSync(`${d}/${binary}`));
}

let aptUpdated = false;

/** Install (as root) or demand (otherwise) the packages whose binaries are missing. */
export function ensurePackages(reqs: Requirement[]): void {
  const missing = [...new Set(reqs.filter((r) => !hasBinary(r.binary)).map((r) => r.pkg))];
  if (missing.length === 0) return;
  const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`Missing Debian packages for local services: ${missing.join(', ')}.\nInstall them with:\n  sudo apt-get update && sudo ${cmd}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    const upd = spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8', env });
    if (upd.status !== 0) throw new Error(`apt-get update failed:\n${upd.stderr}`);
    aptUpdated = true;
  }
  process.stderr.write(`[services] installing ${missing.join(' ')} ...\n`);
  const res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { encoding: 'utf8', env });
  if (res.status !== 0) throw new Error(`${cmd} failed:\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
  const still = reqs.filter((r) => !hasBinary(r.binary));
  if (still.length) throw new Error(`Installed ${missing.join(' ')} but still missing: ${still.map((r) => r.binary).join(', ')}`);
}

/** Absolute path of a binary from PATH or the sbin folders. */
export function binaryPath(binary: string): string {
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/usr/local/bin']) if (existsSync(`${d}/${binary}`)) return `${d}/${binary}`;
  return binary;
}
