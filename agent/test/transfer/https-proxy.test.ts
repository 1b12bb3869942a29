/**
 * `--storage-proxy` with an https storage URL: every request goes through an HTTP CONNECT tunnel
 * to a TLS endpoint in front of Ceph RGW (self-signed certificate made with openssl), and the
 * presigned SSE-C upload and download still verify. The proxy sees only CONNECTs, never a
 * request in the clear.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { service } from '../../../test/support/services.js';
import { newBucket, rgwClient } from './s3-stand-in.js';

const CHILD = fileURLToPath(new URL('./https-proxy-child.ts', import.meta.url));

let dir: string;
let tls: https.Server;
let proxy: http.Server;
const tunnels: string[] = [];
let plainRequests = 0;
let tlsRequests = 0;
/** Tunnel sockets: detached from the proxy server, so they are closed by hand. */
const tunnelSockets = new Set<net.Socket>();

const listen = (s: net.Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vault-https-proxy-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl is needed to make the test certificate (apt-get install -y openssl): ${String(err)}`);
  }
  const rgw = new URL(service('rgw').endpoint);
  // TLS in front of RGW, Host header unchanged so the presigned signatures match.
  tls = https.createServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (req, res) => {
    tlsRequests++;
    const up = http.request({ host: rgw.hostname, port: rgw.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  // A forward proxy that only tunnels.
  proxy = http.createServer((_req, res) => { plainRequests++; res.writeHead(405).end(); });
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    tunnelSockets.add(client);
    const [host, port] = (req.url ?? '').split(':');
    // The storage host is "localhost" in the URL; connect to the TLS front on 127.0.0.1.
    const up = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : host ?? '', () => {
      tunnelSockets.add(up);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await Promise.all([listen(tls), listen(proxy)]);
});

afterAll(async () => {
  for (const s of tunnelSockets) s.destroy();
  for (const s of [tls, proxy]) {
    if (!s) continue;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** Runs the child with the test's certificate trusted; its JSON result. */
async function runChild(cfg: Record<string, unknown>): Promise<{ parts: number; uploaded: string; downloaded: string; expected: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'), HTTPS_PROXY_CHILD: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  expect(code, err).toBe(0);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { parts: number; uploaded: string; downloaded: string; expected: string };
}

describe('storage proxy with https storage URLs', () => {
  it('without a proxy: TLS straight to the endpoint (as to Amazon S3), the SSE-C archive verifies', async () => {
    const tlsPort = (tls.address() as AddressInfo).port;
    const bucket = await newBucket(rgwClient());
    const { accessKeyId, secretAccessKey } = service('rgw');
    const before = { tunnels: tunnels.length, tls: tlsRequests };
    const r = await runChild({ endpoint: `https://localhost:${tlsPort}`, bucket, accessKeyId, secretAccessKey, size: 12 * 1024 * 1024 + 99 });
    expect(r.parts).toBe(3);
    expect(r.uploaded).toBe(r.expected);
    expect(r.downloaded).toBe(r.expected);
    expect(tunnels.length).toBe(before.tunnels);
    expect(tlsRequests - before.tls).toBeGreaterThanOrEqual(5);
  }, 60_000);

  it('tunnels every storage request with CONNECT and the SSE-C archive verifies', async () => {
    const tlsPort = (tls.address() as AddressInfo).port;
    const endpoint = `https://localhost:${tlsPort}`;
    const bucket = await newBucket(rgwClient());
    const { accessKeyId, secretAccessKey } = service('rgw');
    const cfg = { endpoint, bucket, accessKeyId, secretAccessKey, proxy: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, size: 12 * 1024 * 1024 + 99 };
    const r = await runChild(cfg);
    expect(r.parts).toBe(3);
    expect(r.uploaded).toBe(r.expected);
    expect(r.downloaded).toBe(r.expected);
    // initiate + 3 parts + download, each through its own tunnel (the multipart completion is the
    // API's business and goes straight to storage).
    expect(tunnels.length).toBeGreaterThanOrEqual(5);
    expect(new Set(tunnels)).toEqual(new Set([`localhost:${tlsPort}`]));
    expect(plainRequests).toBe(0);
    expect(tlsRequests).toBeGreaterThanOrEqual(tunnels.length);
  }, 60_000);
});
