/** Opens the right engine adapter for a database URL. */
import type { DbAdapter } from './adapter.js';
import { DbUrlError } from './errors.js';
import { MysqlAdapter } from './mysql.js';
import { PostgresAdapter } from './postgres.js';

/**
 * Connects to `postgres://user:pass@host:port/db`, `mysql://…` or `mariadb://…`. Tables are
 * addressed without `prefix` afterwards.
 */
export async function connectDatabase(url: string, prefix = 'mdl_'): Promise<DbAdapter> {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return PostgresAdapter.connect(url, prefix);
  if (scheme === 'mysql' || scheme === 'mariadb') return MysqlAdapter.connect(url, prefix);
  throw new DbUrlError(`unsupported database URL scheme '${scheme ?? ''}': use postgres://, mysql:// or mariadb://`);
}
