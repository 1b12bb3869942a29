/**
 * Rate limits (429 + Retry-After, `{"message"}`): per source IP for requests without a valid
 * key, per account for authenticated ones; fixed windows counted in DynamoDB, driven here by a
 * clock the test moves. A normal plugin run stays far below the defaults (checked on the numbers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lambdas/app.js';
import { DEFAULT_RATE_LIMITS } from '../../lambdas/domain/rate-limits.js';
import { startTestApi, type TestApi } from '../support/api-server.js';

let api: TestApi;
let clock = Date.UTC(2026, 0, 1, 12, 0, 0);
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'] });
});
afterAll(async () => {
  await api?.close();
});

function limitedApp() {
  return createApp({
    ...api.deps,
    now: () => new Date(clock),
    rateLimits: {
      limits: { anonymousPerIp: { limit: 3, windowSeconds: 60 }, perAccount: { limit: 5, windowSeconds: 60 } },
      // The test names the caller's address; the Lambda uses API Gateway's sourceIp.
      clientIp: (c) => c.req.header('x-test-ip') ?? 'none',
    },
  });
}

describe('rate limits', () => {
  it('anonymous requests: per source IP, 429 with Retry-After until the window ends', async () => {
    const app = limitedApp();
    const report = (ip: string) => app.request('/reporterror', { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-test-ip': ip }, body: '{"faileddetails":"x"}' });
    clock = Date.UTC(2026, 0, 1, 12, 0, 10);
    for (let i = 0; i < 3; i++) expect((await report('192.0.2.1')).status).toBe(200);
    const refused = await report('192.0.2.1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('50');
    expect(await refused.json()).toEqual({ message: expect.any(String) as string });
    // Another address is not affected; a wrong key counts as anonymous.
    expect((await report('192.0.2.2')).status).toBe(200);
    const badKey = await app.request('/validateapikey', { headers: { 'x-test-ip': '192.0.2.1', 'X-Api-Key': 'hellothereThisisaninvalidAPIkeythatlooksvalid' } });
    expect(badKey.status).toBe(429);
    // The next window.
    clock = Date.UTC(2026, 0, 1, 12, 1, 0);
    expect((await report('192.0.2.1')).status).toBe(200);
  });

  it('anonymous requests from IPv6 count per /64: rotating addresses inside it does not escape the limit', async () => {
    const app = limitedApp();
    const report = (ip: string) => app.request('/reporterror', { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-test-ip': ip }, body: '{"faileddetails":"x"}' });
    clock = Date.UTC(2026, 0, 1, 12, 30, 10);
    for (let i = 1; i <= 3; i++) expect((await report(`2001:db8:5:6::${i}`)).status).toBe(200);
    expect((await report('2001:db8:5:6:ffff:1:2:3')).status).toBe(429);
    expect((await report('2001:db8:5:7::1')).status).toBe(200);
  });

  it('authenticated requests: per account, across its keys, whatever the address', async () => {
    const app = limitedApp();
    const { apikey } = await api.registerAccount();
    const second = ((await (await app.request('/account/keys', { method: 'POST', headers: { 'X-Api-Key': apikey, 'Content-Type': 'application/json', 'x-test-ip': '198.51.100.1' }, body: '{}' })).json()) as { apikey: string }).apikey;
    const { apikey: other } = await api.registerAccount();
    clock = Date.UTC(2026, 0, 1, 13, 0, 0);
    const get = (key: string, ip: string) => app.request('/account', { headers: { 'X-Api-Key': key, 'x-test-ip': ip } });
    for (let i = 0; i < 5; i++) expect((await get(i % 2 ? apikey : second, `198.51.100.${i}`)).status).toBe(200);
    const refused = await get(apikey, '198.51.100.9');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(Object.keys((await refused.json()) as object)).toEqual(['message']);
    expect((await get(second, '198.51.100.10')).status).toBe(429);
    expect((await get(other, '198.51.100.9')).status).toBe(200);
    clock = Date.UTC(2026, 0, 1, 13, 1, 0);
    expect((await get(apikey, '198.51.100.9')).status).toBe(200);
  });

  it('the defaults leave room for a plugin run: a 1 TB backup of 2 GiB archives in an hour', () => {
    // 512 archives × (upload + uploadcompleted) + PUT + PATCH ≈ 1026 calls; spread over the run.
    const perWindow = DEFAULT_RATE_LIMITS.perAccount.limit * (3600 / DEFAULT_RATE_LIMITS.perAccount.windowSeconds);
    expect(perWindow).toBeGreaterThan(10 * 1026);
    expect(DEFAULT_RATE_LIMITS.anonymousPerIp.limit).toBeGreaterThanOrEqual(30);
  });
});
