/** Every route of ROUTES (which the CDK stack wires) is answered by the app, and nothing else is. */
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import type { ObjectStorage } from '../store/object-storage.js';
import type { Repository } from '../store/repository.js';
import { ROUTES } from './route-table.js';

// Stores that fail loudly: requests here stop at validation or authentication, or hit a 500.
const unreachable = new Proxy({}, { get: () => () => Promise.reject(new Error('store not available in this test')) });
const app = createApp({ repo: unreachable as Repository, storage: Object.assign(Object.create(unreachable) as ObjectStorage, { regions: new Set<string>() }), verifySecret: new Uint8Array(32) });

describe('route table', () => {
  it.each(ROUTES.map((r) => [r.method, r.path, r.fn]))('%s %s (%s) is served by the app', async (method, path) => {
    const concrete = path.replace('{filename}', 'dbdump.zip').replace(/\{[a-z]+\}/g, 'ABC123');
    const res = await app.request(concrete, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
    const body = (await res.json()) as { message?: string };
    expect(body.message ?? '').not.toBe('Not found');
  });

  it('unknown paths and methods answer 404 {"message"}', async () => {
    const res = await app.request('/backups', { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: 'Not found' });
  });
});
