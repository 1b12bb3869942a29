/**
 * API-key middleware: checks the key's shape and checksum (no database read for garbage), then
 * loads it by SHA-256 with a consistent read, then the scope. Sets `c.var.auth`. The app shell
 * (app-base.ts) looks the key up once per request, through the account's gate for a key the
 * instance knows; routes get that lookup.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { hashApiKey, isWellFormedApiKey, type Scope } from '../domain/api-keys.js';
import { AccountSuspendedError, ScopeError, UnauthenticatedError } from '../domain/errors.js';
import type { AppEnv, AuthContext, CoreDeps } from './deps.js';
import { siteHeadersOf } from './validation.js';

/** SHA-256 of the request's `X-Api-Key` when it is well formed; undefined for none or garbage. */
export function requestKeyHash(c: Context<AppEnv>): string | undefined {
  const apiKey = c.req.header('x-api-key');
  return apiKey && isWellFormedApiKey(apiKey) ? hashApiKey(apiKey) : undefined;
}

/**
 * Reads the key of `keyHash` (consistent: a key revoked a moment ago is not found), or undefined
 * when there is no valid key. A key of a suspended account is refused here (403
 * `AccountSuspendedError`): the key item carries a copy of the suspension.
 */
export async function authenticate(deps: CoreDeps, keyHash: string | undefined): Promise<AuthContext['key'] | undefined> {
  if (keyHash === undefined) return undefined;
  const key = await deps.repo.findApiKey(keyHash);
  if (key?.suspendedReason !== undefined) throw new AccountSuspendedError(key.suspendedReason);
  return key;
}

/** The caller's key for this request, looked up once per request (rate limiting and routes share it). */
export function authenticateRequest(deps: CoreDeps, c: Context<AppEnv>): Promise<AuthContext['key'] | undefined> {
  const cached = c.get('keyLookup');
  if (cached) return cached;
  const lookup = authenticate(deps, requestKeyHash(c));
  c.set('keyLookup', lookup);
  return lookup;
}

/** Middleware requiring a valid key, and `scope` when given. */
export function requireApiKey(deps: CoreDeps, scope?: Scope): MiddlewareHandler<AppEnv> {
  return async function requireApiKeyMiddleware(c, next) {
    const key = await authenticateRequest(deps, c);
    if (!key) throw new UnauthenticatedError();
    if (scope && !key.scopes.includes(scope)) throw new ScopeError(scope);
    c.set('auth', { key, accountId: key.accountId, ...siteHeadersOf(c) });
    await next();
  };
}
