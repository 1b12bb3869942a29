/**
 * Account API, API keys: list, create (name and scopes, at most the creator's own; the key is
 * shown once), revoke (the last key only when confirmed).
 */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { apiKeyHint, generateApiKey, hashApiKey, SCOPES } from '../domain/api-keys.js';
import { ApiError, ScopeError } from '../domain/errors.js';
import { newKeyId } from '../domain/ids.js';
import type { ApiKeyRecord } from '../store/records.js';
import { requireApiKey } from './auth.js';
import { nowSeconds, type AccountDeps, type AppEnv } from './deps.js';
import { parseJsonBody, parseWith } from './validation.js';

/** Body of `POST /account/keys` (also read by the OpenAPI document, web/openapi.ts). */
export const createKeyBody = z.lazy(() => z.object({
  name: z.optional(z.string().check(z.maxLength(100))),
  scopes: z.optional(z.array(z.enum(SCOPES)).check(z.minLength(1), z.maxLength(SCOPES.length))),
}));

/** `?confirm=lastkey` allows revoking the account's last key (which locks the account). */
const revokeQuery = z.lazy(() => z.object({ confirm: z.optional(z.literal('lastkey')) }));
/** A key id in a path. */
export const keyIdParam = z.string().check(z.regex(/^k[a-z0-9]{15}$/, 'not a key id'));

/** A key as listed: never the key itself, nor its hash. */
export function keyView(k: ApiKeyRecord): Record<string, unknown> {
  return { keyid: k.keyId, name: k.name, scopes: k.scopes, hint: k.hint, timecreated: k.createdAt };
}

/** Routes under `/account/keys`. */
export function keyRoutes(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/account/keys', requireApiKey(deps, 'account'), async (c) => {
    const keys = await deps.repo.listApiKeys(c.var.auth.accountId);
    return c.json({ keys: keys.map(keyView) });
  });

  app.post('/account/keys', requireApiKey(deps, 'account'), async (c) => {
    const body = await parseJsonBody(c, createKeyBody);
    // A key hands on only what it has: default = the creator's own scopes.
    const own = c.var.auth.key.scopes;
    const scopes = [...new Set(body.scopes ?? own)];
    const missing = scopes.find((s) => !own.includes(s));
    if (missing) throw new ScopeError(missing);
    const apikey = generateApiKey();
    const key: ApiKeyRecord = {
      keyId: newKeyId(), accountId: c.var.auth.accountId, name: body.name ?? '', scopes,
      hint: apiKeyHint(apikey), createdAt: nowSeconds(deps),
    };
    await deps.repo.createApiKey(key, hashApiKey(apikey));
    return c.json({ ...keyView(key), apikey });
  });

  app.delete('/account/keys/:keyid', requireApiKey(deps, 'account'), async (c) => {
    const keyId = parseWith(keyIdParam, c.req.param('keyid'), 'path parameter keyid');
    const { confirm } = parseWith(revokeQuery, c.req.query(), 'query');
    if (!(await deps.repo.revokeApiKey(c.var.auth.accountId, keyId, confirm === 'lastkey'))) throw new ApiError('ERR_KEY_NOT_FOUND', 'API key not found');
    return c.json({});
  });

  return app;
}
