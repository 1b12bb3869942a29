/**
 * The web pages (pages.ts and what it mounts: the info pages, the dashboard and its API, the
 * OpenAPI document) loaded on their first request instead of at module load: they are a fifth
 * of the account function's code, and most of its cold starts serve the JSON API. In a Lambda
 * bundle `import('./pages.js')` is a file of its own (infra/bundling.ts) with its own copy of the
 * shared modules, so the pages' app answers its own errors and 404s (routes/error-response.ts).
 */
import { Hono } from 'hono';
import type { AccountDeps, AppEnv } from '../routes/deps.js';

/**
 * Paths the pages' app serves (Hono patterns), for any method; route-table.test.ts checks through
 * the route table that each of its routes is reached, and lazy-pages.test.ts that none is missing.
 */
export const WEB_PATHS: readonly string[] = [
  '/', '/plans', '/faq', '/getapikey', '/favicon.ico', '/web/:name', '/openapi.json', '/api',
  '/dashboard', '/dashboard/api/*', '/signin/session', '/signout', '/signout/everywhere',
];

/** Routes of WEB_PATHS, each handing the request to the pages' app (built on the first one). */
export function lazyWebRoutes(deps: AccountDeps): Hono<AppEnv> {
  let web: Promise<Hono<AppEnv>> | undefined;
  const load = (): Promise<Hono<AppEnv>> => {
    web ??= import('./pages.js').then((m) => m.webApp(deps)).catch((err: unknown) => {
      web = undefined;
      throw err;
    });
    return web;
  };
  const app = new Hono<AppEnv>();
  for (const path of WEB_PATHS) app.all(path, async (c) => (await load()).fetch(c.req.raw, c.env));
  return app;
}
