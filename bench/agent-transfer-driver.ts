/**
 * Child process for the transfer benchmark: runs the agent's own uploader/downloader
 * (agent/src/transfer) against presigned Ceph RGW URLs. Bundled by esbuild and run under plain
 * node. The presigning stand-in plays the API's part (what the API returns at
 * `backups/{key}/upload/{file}` and completes at `uploadcompleted`), in this process, as the
 * agent's own transfer tests do.
 *
 * Usage: node driver.mjs upload|download|download-nohash <file>; settings in env BENCH_TRANSFER (JSON).
 * download-nohash: the download without its SHA-256, to show what the hash costs.
 * Prints one JSON line: { ms, size, sha256, parts }.
 */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { open } from 'node:fs/promises';
import { createS3Client } from '../lambdas/store/s3-client.js';
import { uploadArchive, type UploadApi } from '../agent/src/transfer/upload.js';
import { downloadArchive } from '../agent/src/transfer/download.js';

export interface DriverSettings {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  key: string;
  partSize: number;
  concurrency: number;
}

/**
 * The file's bytes in 1 MiB chunks read into one reused buffer: uploadArchive copies each chunk
 * into its part buffers before it asks for the next, as curl reuses its read buffer.
 */
async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  const cfg = JSON.parse(process.env.BENCH_TRANSFER ?? '{}') as DriverSettings;
  const s3 = createS3Client({ endpoint: cfg.endpoint, region: 'us-east-1', credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } });
  const Bucket = cfg.bucket;
  const signOpts = { expiresIn: 3600 };
  const api: UploadApi = {
    async requestUpload(_backupkey, filename, multipart) {
      if (!multipart) return { uploadurl: await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: filename }), signOpts), uploadheaders: [] };
      if (!multipart.uploadid) {
        return {
          multiplarturl: await getSignedUrl(s3, new CreateMultipartUploadCommand({ Bucket, Key: filename, ContentType: 'application/zip' }), { ...signOpts, unhoistableHeaders: new Set(['content-type']) }),
          uploadheaders: ['Content-Type: application/zip'],
        };
      }
      const urls: string[] = [];
      for (let n = 1; n <= multipart.parts; n++) {
        urls.push(await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: filename, UploadId: multipart.uploadid, PartNumber: n }), signOpts));
      }
      return { uploadurls: urls, uploadheaders: [] };
    },
    async uploadCompleted(_backupkey, filename, body) {
      if (!body.multipart) return;
      await s3.send(new CompleteMultipartUploadCommand({
        Bucket, Key: filename, UploadId: body.multipart.UploadId,
        MultipartUpload: { Parts: body.multipart.ETags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }));
    },
  };
  const storage = { key: null, policy: { allowHosts: [] } };
  if (mode === 'upload' && file) {
    // The API stand-in lives in this process: its SDK's first presign and first request (lazy
    // set-up) happen before the clock starts, as the real API is a server already running.
    await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: cfg.key }), signOpts);
    await s3.send(new HeadBucketCommand({ Bucket }));
    const t0 = process.hrtime.bigint();
    const r = await uploadArchive(fileChunks(file), {
      ...storage, api, backupkey: 'bench', filename: cfg.key, partSize: cfg.partSize, concurrency: cfg.concurrency,
      origsize: () => 0,
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(`${JSON.stringify({ ms, size: r.size, sha256: r.sha256, parts: r.parts })}\n`);
  } else if ((mode === 'download' || mode === 'download-nohash') && file) {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: cfg.key }), signOpts);
    const t0 = process.hrtime.bigint();
    const r = await downloadArchive(cfg.key, { url, encrypted: false }, file, { ...storage, hash: mode === 'download' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(`${JSON.stringify({ ms, size: r.size, sha256: r.sha256, parts: 1 })}\n`);
  } else {
    throw new Error('usage: driver upload|download|download-nohash <file>');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
