/**
 * Child process of https-proxy.test.ts: uploads and downloads one SSE-C archive through
 * `--storage-proxy` to an https storage endpoint. Runs in its own process because the test's
 * self-signed certificate is trusted through NODE_EXTRA_CA_CERTS, which Node reads at start-up.
 */
import { createHash, randomBytes } from 'node:crypto';
import { downloadArchive } from '../../src/transfer/download.js';
import { deriveSseCKey } from '../../src/transfer/sse-c.js';
import { uploadArchive } from '../../src/transfer/upload.js';
import { createS3Client } from '../../../lambdas/store/aws-clients.js';
import { presignApi } from './presign-stand-in.js';

interface ChildConfig { endpoint: string; bucket: string; proxy?: string; size: number; accessKeyId: string; secretAccessKey: string }

const cfg = JSON.parse(process.env.HTTPS_PROXY_CHILD ?? '{}') as ChildConfig;
const s3 = createS3Client({ endpoint: cfg.endpoint, region: 'us-east-1', credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } });
const api = presignApi(s3, cfg.bucket, true);
const key = deriveSseCKey('through the tunnel');
// Without `proxy`: straight to the https endpoint, as the agent reaches Amazon S3.
const storage = { key, policy: { allowHosts: [new URL(cfg.endpoint).host] }, ...(cfg.proxy ? { proxy: cfg.proxy } : {}), retry: { attempts: 2, baseDelayMs: 50 } };
const data = randomBytes(cfg.size);
const up = await uploadArchive((async function* () { for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20)); })(), {
  ...storage, api, backupkey: 'B', filename: 'dataroot.zip', partSize: 5 * 1024 * 1024, concurrency: 2, origsize: () => cfg.size,
});
const down = await downloadArchive('dataroot.zip', { url: await api.presignGet('dataroot.zip'), encrypted: true }, null, { ...storage, expectedSha256: up.sha256 });
process.stdout.write(`${JSON.stringify({ parts: up.parts, uploaded: up.sha256, downloaded: down.sha256, expected: createHash('sha256').update(data).digest('hex') })}\n`);
