/** The light presigner produces exactly the URLs of the SDK's getSignedUrl over our S3 clients. */
import {
  CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import { createPresigner, type PresignInput } from './presign.js';
import { createS3Client } from './s3-client.js';

const signingDate = new Date('2026-11-25T12:34:56Z');

/** What `getSignedUrl` gives for the same request as an SDK command. */
function sdkUrl(client: S3Client, i: PresignInput): Promise<string> {
  const sse = i.sseAlgorithm ? { SSECustomerAlgorithm: i.sseAlgorithm } : {};
  const opts = { expiresIn: 3600, signingDate };
  switch (i.op) {
    case 'PutObject': return getSignedUrl(client, new PutObjectCommand({ Bucket: i.bucket, Key: i.key, ContentType: i.contentType, ...sse }), opts);
    case 'CreateMultipartUpload': return getSignedUrl(client, new CreateMultipartUploadCommand({ Bucket: i.bucket, Key: i.key, ContentType: i.contentType, ...sse }), opts);
    case 'UploadPart': return getSignedUrl(client, new UploadPartCommand({ Bucket: i.bucket, Key: i.key, UploadId: i.uploadId, PartNumber: i.partNumber, ...sse }), opts);
    case 'GetObject': return getSignedUrl(client, new GetObjectCommand({ Bucket: i.bucket, Key: i.key, ...sse }), opts);
    case 'HeadObject': return getSignedUrl(client, new HeadObjectCommand({ Bucket: i.bucket, Key: i.key, ...sse }), opts);
  }
}

const targets = [
  // As storage-presign.ts builds its presigners: AWS global host per bucket region, or a custom endpoint.
  { name: 'AWS eu-central-1', region: 'eu-central-1', endpoint: undefined },
  { name: 'AWS ap-southeast-2', region: 'ap-southeast-2', endpoint: undefined },
  { name: 'RGW', region: 'us-east-1', endpoint: 'http://127.0.0.1:7480' },
  { name: 'custom https endpoint with a path', region: 'eu-west-2', endpoint: 'https://storage.example.org/s3' },
] as const;

const credentialSets = [
  { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoG/ZXIvYXdzE+token==' },
  { accessKeyId: 'AKIDSIGNER', secretAccessKey: 'signer-secret' },
];

const sse = ['AES256', undefined];
const keys = ['acct-1/AbC123xyz/dbdump-2.zip', 'a/b/file name(1)!*\'.zip'];
const buckets = ['vault-eu-123456789012', 'vault.with.dots'];

function inputs(bucket: string, key: string, sseAlgorithm: string | undefined): PresignInput[] {
  return [
    { op: 'PutObject', bucket, key, contentType: 'application/zip', sseAlgorithm },
    { op: 'CreateMultipartUpload', bucket, key, contentType: 'application/zip', sseAlgorithm },
    { op: 'UploadPart', bucket, key, uploadId: '2~Zm9vYmFy/+=!x', partNumber: 7, sseAlgorithm },
    { op: 'GetObject', bucket, key, sseAlgorithm },
    { op: 'HeadObject', bucket, key, sseAlgorithm },
  ];
}

describe('createPresigner', () => {
  it.each(targets)('matches getSignedUrl byte for byte: $name', async (t) => {
    let compared = 0;
    for (const credentials of credentialSets) {
      const presign = createPresigner({ region: t.region, endpoint: t.endpoint, credentials });
      const client = createS3Client({
        region: t.region, endpoint: t.endpoint ?? 'https://s3.amazonaws.com', forcePathStyle: Boolean(t.endpoint), credentials,
      });
      for (const bucket of buckets) {
        for (const key of keys) {
          for (const alg of sse) {
            for (const input of inputs(bucket, key, alg)) {
              const expected = await sdkUrl(client, input);
              expect(await presign(input, 3600, signingDate), `${input.op} ${bucket} ${key} ${alg ?? 'no SSE'}`).toBe(expected);
              compared++;
            }
          }
        }
      }
      client.destroy();
    }
    expect(compared).toBe(2 * 2 * 2 * 2 * 5);
  });

  it('uses the current time and the given lifetime when no date is given', async () => {
    const presign = createPresigner({ region: 'eu-central-1', credentials: credentialSets[1] });
    const url = new URL(await presign({ op: 'GetObject', bucket: 'vault-eu-1', key: 'a/b/c.zip' }, 900));
    expect(url.host).toBe('vault-eu-1.s3.amazonaws.com');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    const amzDate = url.searchParams.get('X-Amz-Date') ?? '';
    const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(Math.abs(signedAt - Date.now())).toBeLessThan(60_000);
  });
});
