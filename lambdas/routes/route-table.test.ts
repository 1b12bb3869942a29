/**
 * Every route of ROUTES (which the CDK stack wires) is answered by the whole app and by the app of
 * the function the table names, the other function's app answers it 404, and nothing else is served.
 */
import { describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { createAccountApp } from '../account-app.js';
import { createApp } from '../app.js';
import { createSiteApp } from '../site-app.js';
import type { ObjectStorage } from '../store/object-storage.js';
import type { Repository } from '../store/repository.js';
import type { AppEnv } from './deps.js';
import { ROUTES, type FunctionName } from './route-table.js';

// Stores that fail loudly: requests here stop at validation or authentication, or hit a 500.
const unreachable = new Proxy({}, { get: () => () => Promise.reject(new Error('store not available in this test')) });
const repo = unreachable as Repository;
const storage = Object.assign(Object.create(unreachable) as ObjectStorage, { regions: new Set<string>() });
const app = createApp({ repo, storage, verifySecret: new Uint8Array(32) });
const byFunction: Record<FunctionName, Hono<AppEnv>> = {
  account: createAccountApp({ repo, verifySecret: new Uint8Array(32) }),
  site: createSiteApp({ repo, storage }),
};

async function answer(target: Hono<AppEnv>, method: string, path: string): Promise<{ status: number; message: string }> {
  const concrete = path.replace('{filename}', 'dbdump.zip').replace('{name}', 'style.css').replace(/\{[a-z]+\}/g, 'ABC123');
  const res = await target.request(concrete, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
  // Pages and their files answer HTML, JavaScript or nothing (favicon): served, so not "Not found".
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) return { status: res.status, message: `(${res.headers.get('content-type') ?? 'no body'})` };
  const body = (await res.json()) as { message?: string };
  return { status: res.status, message: body.message ?? '' };
}

describe('route table', () => {
  it.each(ROUTES.map((r) => [r.method, r.path, r.fn] as const))('%s %s (%s) is served by the app and by its function only', async (method, path, fn) => {
    expect((await answer(app, method, path)).message).not.toBe('Not found');
    expect((await answer(byFunction[fn], method, path)).message).not.toBe('Not found');
    const other = fn === 'account' ? byFunction.site : byFunction.account;
    expect(await answer(other, method, path)).toEqual({ status: 404, message: 'Not found' });
  });

  it('unknown paths and methods answer 404 {"message"}', async () => {
    for (const target of [app, byFunction.account, byFunction.site]) {
      const res = await target.request('/backups', { method: 'DELETE' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ message: 'Not found' });
    }
  });
});
