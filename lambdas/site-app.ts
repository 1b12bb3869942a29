/** The site function's app: the tool_vault site protocol (no account routes, no JWT code). */
import type { Hono } from 'hono';
import { createApiApp } from './app-base.js';
import { backupEarlyReads, backupRoutes } from './routes/backups.js';
import type { EarlyRead } from './routes/early-reads.js';
import type { AppEnv, SiteDeps } from './routes/deps.js';
import { restoreRoutes } from './routes/restores.js';
import { siteRoutes } from './routes/site.js';
import { uploadEarlyReads, uploadRoutes } from './routes/uploads.js';

/** Route modules of the site protocol, in mount order. */
export function siteRouteModules(deps: SiteDeps): Hono<AppEnv>[] {
  return [siteRoutes(deps), backupRoutes(deps), uploadRoutes(deps), restoreRoutes(deps)];
}

/** Reads of site routes that may start together with the key read (routes/early-reads.ts). */
export function siteEarlyReads(deps: SiteDeps): EarlyRead[] {
  return [...backupEarlyReads(deps), ...uploadEarlyReads(deps)];
}

/** The site protocol app over `deps`. */
export function createSiteApp(deps: SiteDeps): Hono<AppEnv> {
  return createApiApp(deps, siteRouteModules(deps), siteEarlyReads(deps));
}
