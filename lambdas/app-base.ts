/**
 * The shell every API app shares (security headers, rate limits, body limit, 404, the one
 * `onError` that turns every error into `{"message": "..."}`), kept apart from the route modules
 * so each Lambda bundles only its own.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ipBucket } from './domain/client-address.js';
import { ApiError, ERROR_STATUS, RateLimitedError } from './domain/errors.js';
import { rateWindow } from './domain/rate-limits.js';
import { authenticateRequest, requestKeyHash } from './routes/auth.js';
import { createKeyAccounts } from './routes/key-accounts.js';
import { startEarlyRead, type EarlyRead } from './routes/early-reads.js';
import { nowSeconds, type AppEnv, type CoreDeps, type RateLimiting } from './routes/deps.js';
import { FRAMEABLE_PATHS } from './web/security-headers.js';

/**
 * Meters and limits requests. A request with a valid key counts in its account's monthly counter
 * (usage metering), which also holds the account's rate window: one UpdateItem does both. Without
 * a valid key (none, malformed, unknown, or of a suspended account) it counts against the source
 * IP (IPv6: its /64, domain/client-address.ts). Beyond the limit: 429 `ERR_RATE_LIMITED` with
 * `Retry-After`. The key lookup is the one the routes use (no second read).
 *
 * One round trip before the route: once this instance has authenticated a key, it knows the key's
 * account (routes/key-accounts.ts), so the key's next requests send the account's count together
 * with the key read. The key read still decides (a revoked key is refused on its next request,
 * a suspended one with its reason); a refused key's early count is taken back and the key
 * forgotten. A key new to the instance is read first, then counted (two round trips, once per key
 * and instance). Without rate limits the count does not hold up the route. Routes with an early
 * read (routes/early-reads.ts: GET backups, the upload URL) start it in the same round trip, and
 * the upload URL's reads the key item with its records (one BatchGetItem).
 */
function meterAndLimit(deps: CoreDeps, limiting: RateLimiting | undefined, earlyReads: readonly EarlyRead[]): MiddlewareHandler<AppEnv> {
  const keyAccounts = createKeyAccounts();
  return async function meterMiddleware(c, next) {
    if (c.req.path === '/health') return next();
    const now = nowSeconds(deps);
    const countIp = async () => {
      if (!limiting) return;
      const { limit, windowSeconds } = limiting.limits.anonymousPerIp;
      const window = rateWindow(now, windowSeconds);
      const count = await deps.repo.countRequest(`IP#${ipBucket(limiting.clientIp(c))}`, window.start, window.start + windowSeconds + 3600);
      if (count > limit) throw new RateLimitedError(window.retryAfter);
    };
    const accountWindow = limiting ? rateWindow(now, limiting.limits.perAccount.windowSeconds) : undefined;
    const keyHash = requestKeyHash(c);
    const knownAccount = keyHash === undefined ? undefined : keyAccounts.get(keyHash);
    const early = knownAccount === undefined ? undefined : deps.repo.countAccountRequest(knownAccount, now, accountWindow?.start);
    // Awaited below, after the key read: a failure meanwhile must not count as unhandled.
    early?.catch(() => undefined);
    // The route's own read too, when it has one (routes/early-reads.ts): used only if the key
    // turns out valid for this account.
    const started = knownAccount !== undefined && keyHash !== undefined && earlyReads.length ? startEarlyRead(c, earlyReads, knownAccount, keyHash) : undefined;
    const refuse = async () => {
      if (keyHash !== undefined) keyAccounts.forget(keyHash);
      if (early && knownAccount !== undefined && (await early.then(() => true, () => false))) {
        await deps.repo.uncountAccountRequest(knownAccount, now, accountWindow?.start);
      }
      await countIp();
    };
    let key: Awaited<ReturnType<typeof authenticateRequest>>;
    try {
      key = await authenticateRequest(deps, c, keyHash, started?.key);
    } catch (err) {
      // A suspended account's key is refused; its calls count like anonymous ones.
      await refuse();
      throw err;
    }
    if (!key) {
      await refuse();
      return next();
    }
    if (keyHash !== undefined) keyAccounts.remember(keyHash, key.accountId);
    const counted = early ?? deps.repo.countAccountRequest(key.accountId, now, accountWindow?.start);
    if (!limiting || !accountWindow) {
      const logged = counted.catch((err: unknown) => {
        console.error(JSON.stringify({ level: 'error', event: 'request-count-failed', error: err instanceof Error ? err.name : 'unknown' }));
      });
      try {
        await next();
      } finally {
        await logged;
      }
      return;
    }
    if ((await counted) > limiting.limits.perAccount.limit) throw new RateLimitedError(accountWindow.retryAfter);
    await next();
  };
}

/**
 * An app serving `routes` (mounted at `/` in order) inside the shared shell; `earlyReads`: the
 * routes' reads that may start together with the key read (routes/early-reads.ts).
 */
export function createApiApp(deps: CoreDeps, routes: readonly Hono<AppEnv>[], earlyReads: readonly EarlyRead[] = []): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // First, so that every answer gets them, errors and 404s included: X-Content-Type-Options
  // nosniff, Referrer-Policy no-referrer and the other secure defaults.
  // Nothing may be framed (the issue asks DENY) but /getapikey, which the plugin frames from any
  // site; its own CSP says so (frame-ancestors *, web/security-headers.ts).
  const headers = secureHeaders({ xFrameOptions: 'DENY' });
  const frameableHeaders = secureHeaders({ xFrameOptions: false });
  app.use('*', (c, next) => (FRAMEABLE_PATHS.includes(c.req.path) ? frameableHeaders : headers)(c, next));
  app.use('*', async function noStore(c, next) {
    await next();
    // Every answer carries an API key or account data (or is a cheap error): never cached.
    c.header('Cache-Control', 'no-store');
  });
  app.use('*', meterAndLimit(deps, deps.rateLimits, earlyReads));
  app.use('*', bodyLimit({
    maxSize: deps.maxBodyBytes ?? 1024 * 1024,
    onError: () => {
      throw new ApiError('ERR_PAYLOAD_TOO_LARGE', 'The request body is too large');
    },
  }));
  for (const r of routes) app.route('/', r);

  app.notFound((c) => c.json({ message: 'Not found' }, 404));
  app.onError((err, c) => {
    if (err instanceof RateLimitedError) c.header('Retry-After', String(err.retryAfter));
    if (err instanceof ApiError) return c.json({ message: err.message }, ERROR_STATUS[err.code] as ContentfulStatusCode);
    if (err instanceof HTTPException) return c.json({ message: err.message || 'Bad request' }, err.status as ContentfulStatusCode);
    // Unknown failure: log the error (never request headers or bodies) and say nothing specific.
    console.error(JSON.stringify({ level: 'error', path: c.req.path, method: c.req.method, error: err.name, detail: err.message }));
    return c.json({ message: 'Internal error' }, 500);
  });
  return app;
}
