/**
 * Response headers of the web pages. Every page has a strict Content-Security-Policy (scripts and
 * styles only from this origin, no inline script, fetch only to this origin, no form posts
 * elsewhere) and may not be framed, except `/getapikey`, which the Moodle plugin frames from any
 * site (`frame-ancestors *`).
 */
import type { MiddlewareHandler } from 'hono';

/** Paths other sites may frame (app-base.ts leaves X-Frame-Options off for them). */
export const FRAMEABLE_PATHS: readonly string[] = ['/getapikey'];

const BASE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "form-action 'none'", "base-uri 'none'",
].join('; ');

/** Security headers of a page; `frameable` only for /getapikey. */
export function pageHeaders(frameable: boolean): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header('Content-Security-Policy', `${BASE_CSP}; frame-ancestors ${frameable ? '*' : "'none'"}`);
    if (!frameable) c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
    // The page's URL carries the site's id and address: no need to hand them to anyone else.
    c.header('Referrer-Policy', 'no-referrer');
  };
}

/** Headers of a static asset (script, style sheet). */
export function assetHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  };
}
