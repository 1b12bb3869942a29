/**
 * The deployed bundles (same esbuild settings as the stack): within the gzip budget, and each
 * loads as ESM in a fresh node process and exports `handler`. The account bundle also serves a
 * request against DynamoDB Local, which proves the bundled credential chain (environment only,
 * lambdas/store/lambda-credentials.ts) signs requests. Site and ops serve a first invocation that
 * needs their lazily loaded S3 client code (a file of its own next to index.mjs), so that import is exercised.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES } from '../../infra/bundling.js';
import { ensureTable } from '../../lambdas/store/ensure-stores.js';
import { bundle, GZIP_BUDGET_BYTES, loadAndInvokeOnce, loadOnce, sizesOf, stubAws } from '../../scripts/bundle-report.js';
import { service } from '../support/services.js';

const outDir = mkdtempSync(join(tmpdir(), 'vault-bundles-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Invokes a bundle's handler once in a fresh node process with `env` only; returns its result. */
function invoke(file: string, event: unknown, env: Record<string, string>): { statusCode: number; body: string; headers?: Record<string, string> } {
  const script = [
    `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    `const res = await handler(${JSON.stringify(event)}, {});`,
    // After the function's own log lines.
    "process.stdout.write('\\n@@result ' + JSON.stringify(res));",
  ].join(' ');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', HOME: outDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.slice(out.lastIndexOf('@@result ') + 9)) as { statusCode: number; body: string; headers?: Record<string, string> };
}

describe('Lambda bundles', () => {
  it.each(FUNCTION_NAMES)('%s is within 300 KB gzip and loads with a handler export', async (fn) => {
    const file = await bundle(fn, outDir);
    const { gzipBytes } = sizesOf(file);
    expect(gzipBytes).toBeLessThanOrEqual(GZIP_BUDGET_BYTES);
    expect(loadOnce(file).wallMs).toBeGreaterThan(0);
  });

  it.each(['site', 'ops'] as const)('%s serves a first invocation that loads its lazily imported S3 code (lazy/object-storage.mjs)', async (fn) => {
    const file = await bundle(fn, outDir);
    const stub = await stubAws();
    try {
      // Throws unless the handler answers 200 (site: an upload completion, which lists the object in S3; ops: a run).
      const { load, first } = await loadAndInvokeOnce(file, fn, stub.endpoint);
      expect(load.wallMs).toBeGreaterThan(0);
      expect(first.wallMs).toBeGreaterThan(0);
    } finally {
      await stub.close();
    }
  });

  it('the account bundle registers an account on DynamoDB Local with credentials from the environment', async () => {
    const file = await bundle('account', outDir);
    const endpoint = service('ddb').endpoint;
    const tableName = `bundle_${Date.now().toString(36)}`;
    const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await ensureTable(raw, tableName);
    raw.destroy();
    const event = {
      version: '2.0', routeKey: 'POST /account/register', rawPath: '/account/register', rawQueryString: '',
      headers: { 'content-type': 'application/json', host: 'api.example.org' },
      requestContext: {
        accountId: '1', apiId: 'a', domainName: 'api.example.org', domainPrefix: 'api', requestId: 'r', routeKey: 'POST /account/register',
        stage: '$default', time: '', timeEpoch: 0, http: { method: 'POST', path: '/account/register', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      },
      body: JSON.stringify({ email: 'bundle@example.org' }), isBase64Encoded: false,
    };
    const env = { AWS_REGION: 'us-east-1', TABLE_NAME: tableName, DDB_ENDPOINT: endpoint, VERIFY_SECRET: 'bundle-test-verify-secret-0123456789abcdef' };
    const ok = invoke(file, event, { ...env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ accountid: expect.any(String) as string });
    // No credentials in the environment: no other source is tried (no IMDS wait), the request fails at once.
    const t0 = Date.now();
    expect(invoke(file, event, env).statusCode).toBe(500);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('the account bundle serves the web pages and their static files from the bundle alone (no lambdas/web/static next to it)', async () => {
    const file = await bundle('account', outDir);
    const get = (path: string, query = '') => ({
      version: '2.0', routeKey: `GET ${path}`, rawPath: path, rawQueryString: query, headers: { host: 'api.example.org' },
      requestContext: {
        accountId: '1', apiId: 'a', domainName: 'api.example.org', domainPrefix: 'api', requestId: 'r', routeKey: `GET ${path}`,
        stage: '$default', time: '', timeEpoch: 0, http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      },
      isBase64Encoded: false,
    });
    // A real table: every request counts against the rate limit there.
    const endpoint = service('ddb').endpoint;
    const tableName = `pages_${Date.now().toString(36)}`;
    const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await ensureTable(raw, tableName);
    raw.destroy();
    const env = {
      AWS_REGION: 'us-east-1', TABLE_NAME: tableName, DDB_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
      VERIFY_SECRET: 'bundle-test-verify-secret-0123456789abcdef',
    };
    for (const name of ['getapikey.js', 'dashboard.js', 'style.css']) {
      const res = invoke(file, get(`/web/${name}`), env);
      expect(res.statusCode, name).toBe(200);
      expect(res.body, name).toBe(readFileSync(new URL(`../../lambdas/web/static/${name}`, import.meta.url), 'utf8'));
    }
    expect(invoke(file, get('/web/nothere.js'), env).statusCode).toBe(404);
    const page = invoke(file, get('/getapikey', 'siteurl=https%3A%2F%2Fmoodle.example.org'), env);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<script src="/web/getapikey.js" defer></script>');
    expect(page.headers?.['content-security-policy']).toContain('frame-ancestors *');
    const dash = invoke(file, get('/dashboard'), env);
    expect(dash.statusCode).toBe(200);
    expect(dash.headers?.['x-frame-options']).toBe('DENY');
    const api = invoke(file, get('/openapi.json'), env);
    expect(JSON.parse(api.body)).toMatchObject({ openapi: '3.1.0' });
  });
});
