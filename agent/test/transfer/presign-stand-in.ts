/**
 * What the API does on the storage side in transfer tests (presigning, completing multipart
 * uploads), over a real S3 client. Free of vitest imports so child processes can use it.
 */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { UploadApi } from '../../src/transfer/upload.js';
import type { UploadUrls } from '../../src/transfer/api-client.js';

const SSE_ALGO = 'x-amz-server-side-encryption-customer-algorithm';

/** Presigns like our API: SSE-C algorithm header signed (not hoisted), key headers added by the agent. */
export function presignApi(s3: S3Client, Bucket: string, encrypted: boolean): UploadApi & { presignGet(key: string): Promise<string>; presignHead(key: string): Promise<string> } {
  const sse = encrypted ? { SSECustomerAlgorithm: 'AES256' } : {};
  const signOpts = { expiresIn: 3600, unhoistableHeaders: new Set([SSE_ALGO]) };
  const extra = encrypted ? [`${SSE_ALGO}: AES256`] : [];
  return {
    async requestUpload(_backupkey: string, filename: string, multipart?: { parts: number; uploadid?: string }): Promise<UploadUrls> {
      if (!multipart) {
        return { uploadurl: await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: filename, ...sse }), signOpts), uploadheaders: extra };
      }
      if (!multipart.uploadid) {
        return { multiplarturl: await getSignedUrl(s3, new CreateMultipartUploadCommand({ Bucket, Key: filename, ContentType: 'application/zip', ...sse }), { ...signOpts, unhoistableHeaders: new Set([SSE_ALGO, 'content-type']) }), uploadheaders: [...extra, 'Content-Type: application/zip'] };
      }
      const urls: string[] = [];
      for (let n = 1; n <= multipart.parts; n++) {
        urls.push(await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: filename, UploadId: multipart.uploadid, PartNumber: n, ...sse }), signOpts));
      }
      return { uploadurls: urls, uploadheaders: extra };
    },
    async uploadCompleted(_backupkey: string, filename: string, body: { origsize: number; multipart?: { UploadId: string; ETags: string[] } }): Promise<void> {
      if (!body.multipart) return;
      await s3.send(new CompleteMultipartUploadCommand({
        Bucket, Key: filename, UploadId: body.multipart.UploadId,
        MultipartUpload: { Parts: body.multipart.ETags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }));
    },
    presignGet: (key: string) => getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: key, ...sse }), signOpts),
    presignHead: (key: string) => getSignedUrl(s3, new HeadObjectCommand({ Bucket, Key: key, ...sse }), signOpts),
  };
}
