/**
 * Presigned S3 URLs without an S3 client: the request `getSignedUrl(s3Client, command)` would
 * presign (method, host, path, `x-id` and operation query, headers) is built here for the five
 * operations we presign, and signed by the SDK's own `S3RequestPresigner` (the class
 * `getSignedUrl` uses: unsigned content type, signed SSE-C headers, UNSIGNED-PAYLOAD, SigV4 query
 * parameters) and formatted by the SDK's `formatUrl`. presign.test.ts checks that every URL is
 * byte-identical to `getSignedUrl`'s for the same inputs and signing date.
 *
 * Why: per URL, `getSignedUrl` runs the S3 client's middleware stack and its endpoint rule set
 * (most of the CPU of an upload-URL request), and the S3 client is about half of the site
 * bundle. The signer here needs only SigV4 code the DynamoDB client already loads, so the site
 * function loads the S3 client only for its few server-side calls (lazy-object-storage.ts).
 *
 * Host forms are those of the stack's S3 clients (object-storage.ts): on AWS the global
 * virtual-hosted `<bucket>.s3.amazonaws.com`, signed for the bucket's region (path style
 * `s3.amazonaws.com/<bucket>` for names that cannot be a host label); with a custom endpoint
 * (Ceph RGW, s3rver) path style under that endpoint.
 */
import { formatUrl } from '@aws-sdk/core/util';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { Sha256 } from '@smithy/core/checksum';
import { extendedEncodeURIComponent } from '@smithy/core/protocols';

type PresignerOptions = ConstructorParameters<typeof S3RequestPresigner>[0];
type RequestToSign = Parameters<S3RequestPresigner['presign']>[0];

/**
 * Credentials (static or a provider) of the presigner; default: the SDK's default chain (in a
 * Lambda bundle the environment only: lambdas/store/lambda-credentials.ts).
 */
export type PresignCredentials = PresignerOptions['credentials'];

/** The operations the API presigns, with their request parameters. */
export type PresignInput =
  | { op: 'PutObject' | 'CreateMultipartUpload'; bucket: string; key: string; contentType?: string; sseAlgorithm?: string }
  | { op: 'UploadPart'; bucket: string; key: string; uploadId: string; partNumber: number; sseAlgorithm?: string }
  | { op: 'GetObject' | 'HeadObject'; bucket: string; key: string; sseAlgorithm?: string };

/** Options of `createPresigner`. */
export interface PresignerConfig {
  /** Signing region (the bucket's AWS region; with a custom endpoint, that endpoint's region). */
  region: string;
  /** Custom endpoint (RGW, s3rver): path-style URLs under it. Omit for AWS. */
  endpoint?: string;
  credentials?: PresignCredentials;
}

/** Presigns one request; `signingDate` only for tests. */
export type Presign = (input: PresignInput, expiresIn: number, signingDate?: Date) => Promise<string>;

/** S3's rule for a bucket usable as a host label (no dots: the wildcard certificate covers one level). */
function isVirtualHostable(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
}

/** `/`-separated key, each segment escaped as the SDK escapes a greedy path label. */
function keyPath(key: string): string {
  return key.split('/').map(extendedEncodeURIComponent).join('/');
}

/** A presigner for one signing region and host form. */
export function createPresigner(config: PresignerConfig): Presign {
  const signer = new S3RequestPresigner({
    credentials: config.credentials ?? defaultProvider(),
    region: config.region,
    sha256: Sha256,
    service: 's3',
    // As the S3 client's signer: S3 paths are signed as sent, not escaped twice.
    uriEscapePath: false,
    applyChecksum: false,
  });
  const custom = config.endpoint ? new URL(config.endpoint) : undefined;
  const basePath = custom ? custom.pathname.replace(/\/+$/, '') : '';

  return async (input, expiresIn, signingDate) => {
    const headers: Record<string, string> = {};
    const query: Record<string, string> = {};
    let method: string;
    switch (input.op) {
      case 'PutObject':
        method = 'PUT';
        query['x-id'] = 'PutObject';
        break;
      case 'CreateMultipartUpload':
        method = 'POST';
        query.uploads = '';
        break;
      case 'UploadPart':
        method = 'PUT';
        query.partNumber = String(input.partNumber);
        query.uploadId = input.uploadId;
        query['x-id'] = 'UploadPart';
        break;
      case 'GetObject':
        method = 'GET';
        query['x-id'] = 'GetObject';
        break;
      case 'HeadObject':
        method = 'HEAD';
        break;
    }
    if ('contentType' in input && input.contentType !== undefined) headers['content-type'] = input.contentType;
    if (input.sseAlgorithm !== undefined) headers['x-amz-server-side-encryption-customer-algorithm'] = input.sseAlgorithm;

    let request: RequestToSign;
    if (custom) {
      request = {
        method, protocol: custom.protocol, hostname: custom.hostname, port: custom.port ? Number(custom.port) : undefined,
        path: `${basePath}/${input.bucket}/${keyPath(input.key)}`, query, headers,
      };
    } else if (isVirtualHostable(input.bucket)) {
      request = { method, protocol: 'https:', hostname: `${input.bucket}.s3.amazonaws.com`, path: `/${keyPath(input.key)}`, query, headers };
    } else {
      request = { method, protocol: 'https:', hostname: 's3.amazonaws.com', path: `/${input.bucket}/${keyPath(input.key)}`, query, headers };
    }
    const signed = await signer.presign(request, { expiresIn, ...(signingDate ? { signingDate } : {}) });
    return formatUrl(signed);
  };
}
