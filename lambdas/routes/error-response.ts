/**
 * The one mapping of errors to answers: an `ApiError` answers its code's status with its message,
 * Hono's `HTTPException` its own status, anything else 500 with a fixed message (logged without
 * request headers or bodies). Every body is exactly `{"message": "..."}`. Used by the app shell
 * (app-base.ts) and by the lazily loaded web pages (web/lazy-pages.ts), which have their own copy
 * of this module in a Lambda bundle: hence `isApiError`, not `instanceof` (domain/errors.ts).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ERROR_STATUS, isApiError, type RateLimitedError } from '../domain/errors.js';

/** The answer to `err`, thrown while handling `c`. */
export function errorResponse(err: Error, c: Context): Response {
  if (isApiError(err)) {
    if (isApiError(err, 'ERR_RATE_LIMITED')) c.header('Retry-After', String((err as RateLimitedError).retryAfter));
    return c.json({ message: err.message }, ERROR_STATUS[err.code] as ContentfulStatusCode);
  }
  if (err instanceof HTTPException) return c.json({ message: err.message || 'Bad request' }, err.status as ContentfulStatusCode);
  // Unknown failure: log the error (never request headers or bodies) and say nothing specific.
  console.error(JSON.stringify({ level: 'error', path: c.req.path, method: c.req.method, error: err.name, detail: err.message }));
  return c.json({ message: 'Internal error' }, 500);
}

/** The answer of a path nobody serves. */
export function notFoundResponse(c: Context): Response {
  return c.json({ message: 'Not found' }, 404);
}
