/**
 * Reads that a route can start before the caller's key is admitted, so that a request of a key
 * this instance knows (routes/key-cache.ts) makes its one round trip of admission (the gate write
 * that checks the key and counts the request) and the route's own read at once instead of one
 * after the other.
 *
 * What keeps this safe: an early read only reads (never writes), under the account the key
 * belongs to (a key never moves to another account), and its result is used only by a request
 * that the gate has just admitted for that same account, for the same record (`what`). A revoked
 * or suspended key, or one over its rate limit, is refused exactly as before; its early read is
 * thrown away unread.
 */
import type { Context } from 'hono';
import type { AppEnv } from './deps.js';

/** A read-only query a route may start early. */
export interface EarlyRead {
  method: 'GET' | 'POST';
  /** Matches the raw request path; the groups go to `start`. */
  path: RegExp;
  /**
   * Starts the read for `accountId` and says what it reads (compared with what the route asks
   * for), or returns undefined when the path's parts are not what the route accepts.
   */
  start(accountId: string, match: RegExpExecArray): Omit<StartedRead, 'accountId'> | undefined;
}

/** An early read under way for this request. */
export interface StartedRead {
  accountId: string;
  what: string;
  promise: Promise<unknown>;
}

/** Starts the early read of the request's route (if it has one) for the account of its key. */
export function startEarlyRead(c: Context<AppEnv>, reads: readonly EarlyRead[], accountId: string): void {
  const method = c.req.method;
  const path = c.req.path;
  for (const r of reads) {
    if (r.method !== method) continue;
    const m = r.path.exec(path);
    if (!m) continue;
    const started = r.start(accountId, m);
    if (!started) return;
    // Awaited by the route if it is used; a failure of an unused read must not count as unhandled.
    started.promise.catch(() => undefined);
    c.set('early', { accountId, ...started });
    return;
  }
}

/**
 * The result of the early read of `what` for `accountId` (the authenticated caller's) if this
 * request has one, or `read()` now.
 */
export function earlyOr<T>(c: Context<AppEnv>, accountId: string, what: string, read: () => Promise<T>): Promise<T> {
  const e = c.get('early');
  if (e && e.accountId === accountId && e.what === what) {
    c.set('early', undefined);
    return e.promise as Promise<T>;
  }
  return read();
}
