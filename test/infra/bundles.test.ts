/**
 * The deployed bundles (same esbuild settings as the stack): within the gzip budget, and each
 * loads as ESM in a fresh node process and exports `handler`. The account bundle also serves a
 * request against DynamoDB Local, which proves the bundled credential chain (environment only,
 * lambdas/store/lambda-credentials.ts) signs requests. Site and ops serve a first invocation that
 * needs their lazily loaded S3 client code (a file of its own next to index.mjs), so that import is exercised.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
function invoke(file: string, event: unknown, env: Record<string, string>): { statusCode: number; body: string } {
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
  return JSON.parse(out.slice(out.lastIndexOf('@@result ') + 9)) as { statusCode: number; body: string };
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
});
