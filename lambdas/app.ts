/**
 * createApp(deps): every route in one Hono app, for the local server and the tests. The Lambda
 * functions each serve their half (`createAccountApp`, `createSiteApp`), as the route table
 * assigns them, inside the same shell (app-base.ts).
 */
import type { Hono } from 'hono';
import { accountRouteModules } from './account-app.js';
import { createApiApp } from './app-base.js';
import type { AppDeps, AppEnv } from './routes/deps.js';
import { siteEarlyReads, siteRouteModules } from './site-app.js';

/** Dependencies of `createApp` (defined beside the routes that use them). */
export type { AccountDeps, AppDeps, CoreDeps, SiteDeps } from './routes/deps.js';

/** The whole API app over `deps`. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  return createApiApp(deps, [...siteRouteModules(deps), ...accountRouteModules(deps)], siteEarlyReads(deps));
}
