/**
 * The shell every API app shares (security headers, rate limits, body limit, 404, the one
 * `onError` that turns every error into `{"message": "..."}`), kept apart from the route modules
 * so each Lambda bundles only its own.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { ipBucket } from './domain/client-address.js';
import { AccountSuspendedError, ApiError, RateLimitedError } from './domain/errors.js';
import { rateWindow } from './domain/rate-limits.js';
import { authenticate, requestKeyHash } from './routes/auth.js';
import { errorResponse, notFoundResponse } from './routes/error-response.js';
import { createKeyCache } from './routes/key-cache.js';
import { startEarlyRead, type EarlyRead } from './routes/early-reads.js';
import { nowSeconds, type AppEnv, type CoreDeps, type RateLimiting } from './routes/deps.js';
import { FRAMEABLE_PATHS } from './web/security-headers.js';

/**
 * Admits, meters and limits requests. A request with a valid key is admitted by its account's
 * gate (store/key-gate.ts): one conditional UpdateItem that counts it in the account's month
 * (usage metering) and rate window if the key is still the account's and the account not
 * suspended, and refuses it uncounted otherwise. Without a valid key (none, malformed, unknown,
 * revoked, or of a suspended account) it counts against the source IP (IPv6: its /64,
 * domain/client-address.ts). Beyond a limit: 429 `ERR_RATE_LIMITED` with `Retry-After`. The
 * routes use the key found here (no second read).
 *
 * One round trip before the route: once this instance has admitted a key it keeps its record
 * (routes/key-cache.ts), so the key's next requests go straight to the gate, which decides (a
 * revoked key is refused on its next request, a suspended one with its reason, and forgotten).
 * A key new to the instance is read first (consistent), then admitted: two round trips, once per
 * key and instance. Routes with an early read (routes/early-reads.ts: GET backups, the upload
 * URL) start it together with the admission of a known key.
 */
function meterAndLimit(deps: CoreDeps, limiting: RateLimiting | undefined, earlyReads: readonly EarlyRead[]): MiddlewareHandler<AppEnv> {
  const keys = createKeyCache();
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
    /** Goes on without a valid key (the route refuses or serves the caller as anonymous). */
    const anonymous = async () => {
      c.set('keyLookup', Promise.resolve(undefined));
      await countIp();
      return next();
    };
    /** The key of `keyHash` read (consistent), refusing a suspended account's key (403; its calls count like anonymous ones). */
    const readKey = async (hash: string) => {
      try {
        return await authenticate(deps, hash);
      } catch (err) {
        await countIp();
        throw err;
      }
    };
    const keyHash = requestKeyHash(c);
    if (keyHash === undefined) return anonymous();
    let key = keys.get(keyHash);
    const known = key !== undefined;
    if (!key) {
      key = await readKey(keyHash);
      if (!key) return anonymous();
    }
    const accountWindow = limiting ? rateWindow(now, limiting.limits.perAccount.windowSeconds) : undefined;
    const admitting = deps.repo.admitKeyRequest({ accountId: key.accountId, keyId: key.keyId, keyHash }, now, accountWindow?.start);
    // The route's own read in the same round trip, for a key the instance knows.
    if (known && earlyReads.length) startEarlyRead(c, earlyReads, key.accountId);
    const admission = await admitting;
    if (!admission.admitted) {
      keys.forget(keyHash);
      if (admission.suspendedReason !== undefined) {
        await countIp();
        throw new AccountSuspendedError(admission.suspendedReason);
      }
      // Not on the gate (revoked, or suspended before the gate knew): the key item says which.
      await readKey(keyHash);
      return anonymous();
    }
    keys.remember(keyHash, key);
    c.set('keyLookup', Promise.resolve(key));
    if (limiting && accountWindow && admission.count > limiting.limits.perAccount.limit) throw new RateLimitedError(accountWindow.retryAfter);
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

  app.notFound(notFoundResponse);
  app.onError(errorResponse);
  return app;
}
