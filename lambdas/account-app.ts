/** The account function's app: `/account...` routes over the table only (no S3 code in its bundle). */
import type { Hono } from 'hono';
import { createApiApp } from './app-base.js';
import { accountRoutes } from './routes/account.js';
import type { AccountDeps, AppEnv } from './routes/deps.js';
import { keyRoutes } from './routes/keys.js';
import { signinRoutes } from './routes/signin.js';
import { lazyWebRoutes } from './web/lazy-pages.js';

/** Route modules of the account API, in mount order. */
export function accountRouteModules(deps: AccountDeps): Hono<AppEnv>[] {
  return [accountRoutes(deps), keyRoutes(deps), signinRoutes(deps), lazyWebRoutes(deps)];
}

/** The account API app over `deps`. */
export function createAccountApp(deps: AccountDeps): Hono<AppEnv> {
  return createApiApp(deps, accountRouteModules(deps));
}
