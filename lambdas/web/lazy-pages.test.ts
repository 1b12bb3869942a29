/** The account app hands the pages' app every path it serves (WEB_PATHS), and only those. */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AccountDeps } from '../routes/deps.js';
import type { Repository } from '../store/repository.js';
import { WEB_PATHS } from './lazy-pages.js';
import { webRoutes } from './pages.js';

const deps: AccountDeps = { repo: {} as Repository, verifySecret: new Uint8Array(32) };
const withSignin: AccountDeps = { ...deps, signin: { store: {} as never, mailer: { send: () => Promise.resolve() } } };

describe('WEB_PATHS', () => {
  it.each([['without sign-in', deps], ['with sign-in', withSignin]] as const)('covers every route of the pages (%s)', async (_name, d) => {
    const covered = new Hono();
    for (const path of WEB_PATHS) covered.all(path, (c) => c.text('covered'));
    const routes = webRoutes(d).routes;
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) {
      const concrete = r.path.replace(/:[a-z]+/g, 'x').replace(/\*$/, 'x');
      const method = r.method === 'ALL' ? 'GET' : r.method;
      expect(await (await covered.request(concrete, { method })).text(), `${r.method} ${r.path}`).toBe('covered');
    }
  });
});
