/**
 * Reads that a route can start before the caller's key is checked, so that a request of a key
 * this instance knows (routes/key-accounts.ts) makes its one round trip of key read, request
 * count and the route's own read at once instead of one after the other.
 *
 * What keeps this safe: an early read only reads (never writes), under the account the key had
 * when this instance last authenticated it (a key never moves to another account), and its
 * result is used only by a request whose key has just been read and found valid for that same
 * account, for the same record (`what`). A revoked or suspended key, or one over its rate limit,
 * is refused exactly as before; its early read is thrown away unread.
 */
import type { Context } from 'hono';
import type { ApiKeyRecord } from '../store/records.js';
import type { AppEnv } from './deps.js';

/** A read-only query a route may start early. */
export interface EarlyRead {
  method: 'GET' | 'POST';
  /** Matches the raw request path; the groups go to `start`. */
  path: RegExp;
  /**
   * Starts the read for `accountId` and says what it reads (compared with what the route asks
   * for), or returns undefined when the path's parts are not what the route accepts. A read
   * that fetches the key item too (same consistent read, by `keyHash`) returns it as `key`:
   * that is then the request's key lookup.
   */
  start(accountId: string, match: RegExpExecArray, keyHash: string): Omit<StartedRead, 'accountId'> | undefined;
}

/** An early read under way for this request. */
export interface StartedRead {
  accountId: string;
  what: string;
  promise: Promise<unknown>;
  key?: Promise<ApiKeyRecord | undefined>;
}

/** Starts the early read of the request's route (if it has one) for the account hinted by its key. */
export function startEarlyRead(c: Context<AppEnv>, reads: readonly EarlyRead[], accountId: string, keyHash: string): StartedRead | undefined {
  const method = c.req.method;
  const path = c.req.path;
  for (const r of reads) {
    if (r.method !== method) continue;
    const m = r.path.exec(path);
    if (!m) continue;
    const started = r.start(accountId, m, keyHash);
    if (!started) return undefined;
    // Awaited by the route if it is used; a failure of an unused read must not count as unhandled.
    started.promise.catch(() => undefined);
    started.key?.catch(() => undefined);
    const read = { accountId, ...started };
    c.set('early', read);
    return read;
  }
  return undefined;
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
