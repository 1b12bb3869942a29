/**
 * The shell every API app shares (body limit, 404, the one `onError` that turns every error into
 * `{"message": "..."}`), kept apart from the route modules so each Lambda bundles only its own.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError, ERROR_STATUS } from './domain/errors.js';
import type { AppEnv, CoreDeps } from './routes/deps.js';

/** An app serving `routes` (mounted at `/` in order) inside the shared shell. */
export function createApiApp(deps: Pick<CoreDeps, 'maxBodyBytes'>, routes: readonly Hono<AppEnv>[]): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', bodyLimit({
    maxSize: deps.maxBodyBytes ?? 1024 * 1024,
    onError: () => {
      throw new ApiError('ERR_PAYLOAD_TOO_LARGE', 'The request body is too large');
    },
  }));
  for (const r of routes) app.route('/', r);

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
