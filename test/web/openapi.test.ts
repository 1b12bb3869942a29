/**
 * `/openapi.json` is a valid OpenAPI 3.1 document (checked against the official schema by
 * @seriousme/openapi-schema-validator), names every route of the route table and nothing else,
 * and its request schemas are the zod schemas the routes parse with (a limit changed in a route
 * shows up here). `/api` renders it as a page without script.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../lambdas/app.js';
import { ROUTES } from '../../lambdas/routes/route-table.js';
import type { ObjectStorage } from '../../lambdas/store/object-storage.js';
import type { Repository } from '../../lambdas/store/repository.js';
import { OPERATIONS } from '../../lambdas/web/openapi.js';

// Neither route reads the table or the buckets.
const unreachable = new Proxy({}, { get: () => () => Promise.reject(new Error('store not available in this test')) });
const app = createApp({ repo: unreachable as Repository, storage: Object.assign(Object.create(unreachable) as ObjectStorage, { regions: new Set<string>() }), verifySecret: new Uint8Array(32) });

type Doc = { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, Record<string, unknown>>; required?: string[] } }> }; security: unknown[]; parameters?: { name: string; in: string }[] }>> };

async function document(): Promise<Doc> {
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('has exactly the routes of the route table', async () => {
    const doc = await document();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    expect(Object.keys(OPERATIONS).sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('takes request schemas from the routes\' zod schemas', async () => {
    const doc = await document();
    const put = doc.paths['/backups']?.put;
    const body = put?.requestBody?.content['application/json']?.schema;
    expect(body?.properties.expiredays).toMatchObject({ type: 'integer', minimum: 0, maximum: 36500 });
    expect(body?.properties.description).toMatchObject({ type: 'string', maxLength: 1000 });
    expect(put?.security).toEqual([{ apiKey: [] }]);
    const verify = doc.paths['/signin/verify']?.post?.requestBody?.content['application/json']?.schema;
    expect(verify?.required?.sort()).toEqual(['code', 'email']);
    expect(doc.paths['/dashboard/api/keys']?.post?.security).toEqual([{ session: [] }]);
    expect(doc.paths['/backups/{backupkey}']?.get?.parameters).toContainEqual(expect.objectContaining({ name: 'backupkey', in: 'path' }));
  });
});

describe('/api', () => {
  it('lists every route in a page without script, not frameable', async () => {
    const res = await app.request('/api');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await res.text();
    expect(html).not.toContain('<script');
    for (const r of ROUTES) expect(html).toContain(`${r.method} ${r.path}`);
    expect(html).toContain('href="/openapi.json"');
  });
});
