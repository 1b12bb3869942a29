/** The API client's HTTP exchange (node:http) against a local server: bodies, statuses, time-outs, connection reuse. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, exchange } from '../../src/transfer/api-client.js';
import { ApiError, NetworkError } from '../../src/transfer/errors.js';

let server: http.Server;
let base = '';
let connections = 0;
const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/silent') return; // never answers
      if (req.url === '/moved') {
        res.writeHead(302, { Location: '/elsewhere' }).end();
        return;
      }
      if (req.url === '/refused') {
        res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: 'Key revoked' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ echo: body, ok: 'é' }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('API exchange', () => {
  it('sends the body with its length and returns status and text', async () => {
    const res = await exchange('POST', `${base}/x`, { 'Content-Type': 'application/json' }, '{"a":"ü"}', 5000);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ echo: '{"a":"ü"}', ok: 'é' });
    expect(seen.at(-1)?.headers['content-length']).toBe(String(Buffer.byteLength('{"a":"ü"}')));
  });

  it('does not follow redirects', async () => {
    expect((await exchange('GET', `${base}/moved`, {}, undefined, 5000)).status).toBe(302);
    expect(seen.some((s) => s.url === '/elsewhere')).toBe(false);
  });

  it('gives up on a server that does not answer within the time-out', async () => {
    await expect(exchange('GET', `${base}/silent`, {}, undefined, 100)).rejects.toThrow('no answer within 100 ms');
  });

  it('rejects at once a header value node refuses, and leaves no timer behind', async () => {
    await expect(exchange('GET', `${base}/x`, { 'X-Vault-Siteurl': 'https://site.example\n' }, undefined, 50)).rejects.toThrow(/Invalid character in header/);
    // A timer left armed would fire now, on a request that was never made (an unhandled error fails the run).
    await new Promise((r) => setTimeout(r, 120));
  });

  it('reuses one connection for a run of calls', async () => {
    const client = new ApiClient({ apiUrl: base, siteId: 's', siteUrl: 'https://site.example', apiKey: 'k' });
    const before = connections;
    for (let i = 0; i < 3; i++) await client.call('POST', 'x', { i });
    expect(connections - before).toBeLessThanOrEqual(1);
    expect(seen.at(-1)?.headers).toMatchObject({ 'x-api-key': 'k', 'x-vault-siteid': 's', 'x-vault-siteurl': 'https://site.example', 'user-agent': 'vault-agent' });
  });

  it('surfaces the API message of a refusal, and a network error after its retries', async () => {
    const client = new ApiClient({ apiUrl: base, siteId: 's', siteUrl: 'u', retryDelaysMs: [0] });
    await expect(client.call('GET', 'refused')).rejects.toSatisfy((e) => e instanceof ApiError && e.status === 403 && e.message.includes('Key revoked'));
    const closed = new ApiClient({ apiUrl: 'http://127.0.0.1:1', siteId: 's', siteUrl: 'u', retryDelaysMs: [0] });
    await expect(closed.call('GET', 'validateapikey')).rejects.toSatisfy((e) => e instanceof NetworkError && /Cannot reach the Vault API: GET http:\/\/127\.0\.0\.1:1\/validateapikey: connect ECONNREFUSED/.test(e.message));
  });
});
