/** The client IP of a request served by @hono/node-server (npm start, tests), for per-IP limits. */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

/** The socket's remote address; undefined for in-process `app.request()` calls, which have no socket. */
export function nodeClientIp(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}
