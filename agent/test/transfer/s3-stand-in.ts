/**
 * Test stand-ins for what the API does on the storage side (presigning and completing multipart
 * uploads) until the real API server is available in tests, plus a fault-injecting HTTP proxy
 * between the agent and Ceph RGW. Storage itself is the real RGW.
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createS3Client } from '../../../lambdas/store/aws-clients.js';
import { service } from '../../../test/support/services.js';

export { presignApi } from './presign-stand-in.js';

/** An S3 client for RGW, optionally through another endpoint (the fault proxy). */
export function rgwClient(endpoint?: string): S3Client {
  const rgw = service('rgw');
  return createS3Client({ endpoint: endpoint ?? rgw.endpoint, region: 'us-east-1', credentials: rgw });
}

/** Creates a fresh bucket and returns its name. */
export async function newBucket(s3: S3Client): Promise<string> {
  const Bucket = `agent-${Date.now()}-${randomBytes(3).toString('hex')}`;
  await s3.send(new CreateBucketCommand({ Bucket }));
  return Bucket;
}

/** Fault kinds the proxy can inject. */
export type Fault = 'drop' | '503' | 'cut';

/**
 * HTTP proxy on 127.0.0.1 with the Host header unchanged: as a reverse proxy it forwards to RGW
 * (URLs presigned for the proxy's address); as a forward proxy (`--storage-proxy`) it forwards
 * absolute-URL requests to their host. `plan(n, method)` decides the fault for the n-th request.
 */
export async function startFaultProxy(plan: (n: number, method: string) => Fault | null): Promise<{ endpoint: string; host: string; faults: Record<Fault, number>; requests: () => number; ranged: () => number; close(): Promise<void> }> {
  const target = new URL(service('rgw').endpoint);
  let count = 0;
  let ranged = 0;
  const faults: Record<Fault, number> = { drop: 0, '503': 0, cut: 0 };
  const server = http.createServer((req, res) => {
    const n = ++count;
    if (req.headers.range) ranged++;
    const fault = plan(n, req.method ?? 'GET');
    if (fault) faults[fault]++;
    if (fault === 'drop') {
      // Read a little of the request, then kill the connection without any response.
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (fault === '503') {
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>');
      });
      return;
    }
    // Reverse-proxy requests go to RGW; forward-proxy requests (absolute URL) to the named host.
    const abs = req.url?.startsWith('http') ? new URL(req.url) : null;
    const dest = abs ? { host: abs.hostname, port: abs.port, path: `${abs.pathname}${abs.search}` } : { host: target.hostname, port: target.port, path: req.url };
    const up = http.request({ ...dest, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (fault === 'cut') {
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          sent += c.length;
          res.write(c);
          if (sent > 100_000) { ur.destroy(); res.socket?.destroy(); }
        });
        ur.on('end', () => res.end());
      } else {
        ur.pipe(res);
      }
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    faults,
    requests: () => count,
    ranged: () => ranged,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
