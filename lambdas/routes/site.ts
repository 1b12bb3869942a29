/** Site protocol: `validateapikey`, `reporterror` (spec §5.1, 5.13) and `/health`. */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { UnauthenticatedError } from '../domain/errors.js';
import { authenticateRequest } from './auth.js';
import { nowSeconds, type AppEnv, type SiteDeps } from './deps.js';
import { cap } from './records-view.js';
import { parseJsonBody, siteHeadersOf } from './validation.js';

/** Longest error report stored (characters). */
export const ERROR_REPORT_MAX = 64 * 1024;

/** Body of `POST /reporterror` (also read by the OpenAPI document, web/openapi.ts). */
export const reportBody = z.lazy(() => z.object({ faileddetails: z.optional(z.union([z.string(), z.null()])) }));

/** Routes `validateapikey`, `reporterror`, `health`. */
export function siteRoutes(deps: SiteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/validateapikey', async (c) => {
    siteHeadersOf(c);
    const key = await authenticateRequest(deps, c);
    if (!key) throw new UnauthenticatedError();
    return c.json({ valid: true, scopes: key.scopes });
  });

  app.post('/reporterror', async (c) => {
    const site = siteHeadersOf(c);
    const body = await parseJsonBody(c, reportBody);
    // Accepted without a key (reports may come before registration); a valid key files it under the account.
    const key = await authenticateRequest(deps, c);
    await deps.repo.putErrorReport(key?.accountId, { ...site, details: cap(body.faileddetails ?? '', ERROR_REPORT_MAX) }, nowSeconds(deps));
    return c.json({});
  });

  app.get('/health', async (c) => {
    await Promise.all([deps.repo.ping(), deps.storage.ping()]);
    return c.json({ status: 'ok' });
  });

  return app;
}
