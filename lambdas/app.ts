/**
 * createApp(deps): the Hono app behind every Lambda and the local server. Routes are composed
 * here; every error becomes `{"message": "..."}` in the one `onError` below.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError, ERROR_STATUS } from './domain/errors.js';
import { accountRoutes } from './routes/account.js';
import { backupRoutes } from './routes/backups.js';
import { keyRoutes } from './routes/keys.js';
import type { AppDeps, AppEnv } from './routes/deps.js';
import { restoreRoutes } from './routes/restores.js';
import { siteRoutes } from './routes/site.js';
import { uploadRoutes } from './routes/uploads.js';

/** Dependencies of `createApp` (defined beside the routes that use them). */
export type { AppDeps } from './routes/deps.js';

/** The API app over `deps`. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', bodyLimit({
    maxSize: deps.maxBodyBytes ?? 1024 * 1024,
    onError: () => {
      throw new ApiError('ERR_PAYLOAD_TOO_LARGE', 'The request body is too large');
    },
  }));
  app.route('/', siteRoutes(deps));
  app.route('/', backupRoutes(deps));
  app.route('/', uploadRoutes(deps));
  app.route('/', restoreRoutes(deps));
  app.route('/', accountRoutes(deps));
  app.route('/', keyRoutes(deps));

  app.notFound((c) => c.json({ message: 'Not found' }, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ message: err.message }, ERROR_STATUS[err.code] as ContentfulStatusCode);
    if (err instanceof HTTPException) return c.json({ message: err.message || 'Bad request' }, err.status as ContentfulStatusCode);
    // Unknown failure: log the error (never request headers or bodies) and say nothing specific.
    console.error(JSON.stringify({ level: 'error', path: c.req.path, method: c.req.method, error: err.name, detail: err.message }));
    return c.json({ message: 'Internal error' }, 500);
  });
  return app;
}
