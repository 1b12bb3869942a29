/**
 * Object storage: presigned URLs for the site and the few server-side S3 calls (complete a
 * multipart upload, read an object's size from a listing, delete a backup's objects, abort stale
 * uploads). Object keys are always built by the caller from our records.
 *
 * Presigning uses clients built with `requestChecksumCalculation: 'WHEN_REQUIRED'` (no checksum
 * parameters in URLs). For SSE-C the algorithm header is signed and returned in the header list;
 * the site adds the key and key-MD5 headers itself. Against AWS, URLs use the global
 * `<bucket>.s3.amazonaws.com` host form that the plugin requires for encrypted transfers.
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectsCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  ListPartsCommand, PutObjectCommand, UploadPartCommand, type S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { STORAGE_REGIONS } from '../domain/regions.js';
import { createS3Client } from './s3-client.js';

/** A presigned URL and the header lines the site must send with it. */
export interface SignedRequest {
  url: string;
  headers: string[];
}

/** What storage knows of an object. */
export interface ObjectInfo {
  size: number;
  etag: string;
}

/** Configuration of `createObjectStorage`. */
export interface ObjectStorageConfig {
  /** Bucket name per storage region id (only these regions are offered). */
  buckets: Record<string, string>;
  /** Custom S3 endpoint (RGW, s3rver): path-style URLs. Omit for AWS. */
  endpoint?: string;
  /** Credentials for server-side calls; default: the SDK chain (Lambda role). */
  credentials?: S3ClientConfig['credentials'];
  /** Credentials used only for presigning (e.g. a long assumed-role session); default `credentials`. */
  signingCredentials?: S3ClientConfig['credentials'];
  /** Region used for every bucket with a custom endpoint (default us-east-1). */
  endpointRegion?: string;
}

/** Storage operations used by the routes and the ops job. */
export interface ObjectStorage {
  /** Region ids that have a bucket configured. */
  readonly regions: ReadonlySet<string>;
  ping(): Promise<void>;
  presignPut(region: string, key: string, encrypted: boolean, expiresIn: number): Promise<SignedRequest>;
  presignCreateMultipart(region: string, key: string, encrypted: boolean, expiresIn: number): Promise<SignedRequest>;
  presignUploadParts(region: string, key: string, uploadId: string, parts: number, encrypted: boolean, expiresIn: number): Promise<SignedRequest & { urls: string[] }>;
  presignGet(region: string, key: string, encrypted: boolean, expiresIn: number): Promise<SignedRequest>;
  presignHead(region: string, key: string, encrypted: boolean, expiresIn: number): Promise<SignedRequest>;
  /** True when `uploadId` is an open multipart upload of `key`. */
  uploadExists(region: string, key: string, uploadId: string): Promise<boolean>;
  /** Completes a multipart upload; `Unknown` ETags are looked up with ListParts. Returns false if the upload no longer exists. */
  completeMultipart(region: string, key: string, uploadId: string, etags: string[]): Promise<boolean>;
  /** Size and ETag from a listing (works for SSE-C objects without their key). */
  objectInfo(region: string, key: string): Promise<ObjectInfo | undefined>;
  /** Deletes every object under `prefix`; returns how many. */
  deletePrefix(region: string, prefix: string): Promise<number>;
  /** Aborts multipart uploads initiated before `before`; returns how many. */
  abortStaleUploads(region: string, before: Date): Promise<number>;
}

const SSE_C_ALGORITHM = 'AES256';

/** S3 says NoSuchUpload; Ceph RGW says NoSuchKey for an unknown upload id. */
function isMissingUpload(err: unknown): boolean {
  return err instanceof Error && ['NoSuchUpload', 'NoSuchKey', 'NotFound'].includes(err.name);
}
const CONTENT_TYPE = 'application/zip';

/** Creates the storage over one bucket per region. */
export function createObjectStorage(config: ObjectStorageConfig): ObjectStorage {
  const regions = new Set(Object.keys(config.buckets));
  const clients = new Map<string, { server: S3Client; signer: S3Client }>();

  const clientsFor = (region: string) => {
    let c = clients.get(region);
    if (!c) {
      const awsRegion = config.endpoint
        ? config.endpointRegion ?? 'us-east-1'
        : STORAGE_REGIONS.find((r) => r.id === region)?.awsRegion ?? 'us-east-1';
      const server = createS3Client({ region: awsRegion, endpoint: config.endpoint, credentials: config.credentials });
      // AWS: the global virtual-hosted host `<bucket>.s3.amazonaws.com`, signed for the bucket's region.
      const signer = createS3Client({
        region: awsRegion,
        endpoint: config.endpoint ?? 'https://s3.amazonaws.com',
        forcePathStyle: Boolean(config.endpoint),
        credentials: config.signingCredentials ?? config.credentials,
      });
      c = { server, signer };
      clients.set(region, c);
    }
    return c;
  };

  const bucketOf = (region: string): string => {
    const b = config.buckets[region];
    if (!b) throw new Error(`No bucket configured for region ${region}`);
    return b;
  };

  const sse = (encrypted: boolean) => (encrypted ? { SSECustomerAlgorithm: SSE_C_ALGORITHM } : {});
  const sseHeaders = (encrypted: boolean) => (encrypted ? [`x-amz-server-side-encryption-customer-algorithm: ${SSE_C_ALGORITHM}`] : []);

  const listSize = async (region: string, key: string): Promise<ObjectInfo | undefined> => {
    const res = await clientsFor(region).server.send(new ListObjectsV2Command({ Bucket: bucketOf(region), Prefix: key, MaxKeys: 1 }));
    const obj = res.Contents?.find((o) => o.Key === key);
    return obj ? { size: obj.Size ?? 0, etag: (obj.ETag ?? '').replaceAll('"', '') } : undefined;
  };

  return {
    regions,

    async ping() {
      const first = [...regions][0];
      if (first) await clientsFor(first).server.send(new HeadBucketCommand({ Bucket: bucketOf(first) }));
    },

    async presignPut(region, key, encrypted, expiresIn) {
      const url = await getSignedUrl(clientsFor(region).signer, new PutObjectCommand({ Bucket: bucketOf(region), Key: key, ContentType: CONTENT_TYPE, ...sse(encrypted) }), { expiresIn });
      return { url, headers: [`Content-Type: ${CONTENT_TYPE}`, ...sseHeaders(encrypted)] };
    },

    async presignCreateMultipart(region, key, encrypted, expiresIn) {
      const url = await getSignedUrl(clientsFor(region).signer, new CreateMultipartUploadCommand({ Bucket: bucketOf(region), Key: key, ContentType: CONTENT_TYPE, ...sse(encrypted) }), { expiresIn });
      // curl's empty POST would otherwise set the object's type to x-www-form-urlencoded.
      return { url, headers: [`Content-Type: ${CONTENT_TYPE}`, ...sseHeaders(encrypted)] };
    },

    async presignUploadParts(region, key, uploadId, parts, encrypted, expiresIn) {
      const { signer } = clientsFor(region);
      const urls = await Promise.all(Array.from({ length: parts }, (_, i) =>
        getSignedUrl(signer, new UploadPartCommand({ Bucket: bucketOf(region), Key: key, UploadId: uploadId, PartNumber: i + 1, ...sse(encrypted) }), { expiresIn })));
      return { url: urls[0] ?? '', urls, headers: sseHeaders(encrypted) };
    },

    async presignGet(region, key, encrypted, expiresIn) {
      const url = await getSignedUrl(clientsFor(region).signer, new GetObjectCommand({ Bucket: bucketOf(region), Key: key, ...sse(encrypted) }), { expiresIn });
      return { url, headers: sseHeaders(encrypted) };
    },

    async presignHead(region, key, encrypted, expiresIn) {
      const url = await getSignedUrl(clientsFor(region).signer, new HeadObjectCommand({ Bucket: bucketOf(region), Key: key, ...sse(encrypted) }), { expiresIn });
      return { url, headers: sseHeaders(encrypted) };
    },

    async uploadExists(region, key, uploadId) {
      try {
        await clientsFor(region).server.send(new ListPartsCommand({ Bucket: bucketOf(region), Key: key, UploadId: uploadId, MaxParts: 1 }));
        return true;
      } catch (err) {
        if (isMissingUpload(err)) return false;
        // s3rver (npm start only) has no ListParts: the upload cannot be checked there.
        if (err instanceof Error && ['MethodNotAllowed', 'NotImplemented'].includes(err.name)) return true;
        throw err;
      }
    },

    async completeMultipart(region, key, uploadId, etags) {
      const { server } = clientsFor(region);
      const Bucket = bucketOf(region);
      try {
        let tags = etags;
        if (tags.some((t) => t === 'Unknown')) {
          // The plugin sends `Unknown` when it missed a part's ETag header: ask S3 instead.
          const listed = new Map<number, string>();
          let PartNumberMarker: string | undefined;
          do {
            const res = await server.send(new ListPartsCommand({ Bucket, Key: key, UploadId: uploadId, PartNumberMarker }));
            for (const p of res.Parts ?? []) if (p.PartNumber && p.ETag) listed.set(p.PartNumber, p.ETag);
            PartNumberMarker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
          } while (PartNumberMarker);
          tags = tags.map((t, i) => (t === 'Unknown' ? listed.get(i + 1) ?? t : t));
        }
        await server.send(new CompleteMultipartUploadCommand({
          Bucket, Key: key, UploadId: uploadId,
          MultipartUpload: { Parts: tags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }));
        return true;
      } catch (err) {
        if (isMissingUpload(err)) return false;
        throw err;
      }
    },

    objectInfo: listSize,

    async deletePrefix(region, prefix) {
      const { server } = clientsFor(region);
      const Bucket = bucketOf(region);
      let deleted = 0;
      let ContinuationToken: string | undefined;
      do {
        const res = await server.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken }));
        const keys = (res.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (keys.length) {
          await server.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys, Quiet: true } }));
          deleted += keys.length;
        }
        ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return deleted;
    },

    async abortStaleUploads(region, before) {
      const { server } = clientsFor(region);
      const Bucket = bucketOf(region);
      let aborted = 0;
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      do {
        const res = await server.send(new ListMultipartUploadsCommand({ Bucket, KeyMarker, UploadIdMarker }));
        for (const u of res.Uploads ?? []) {
          if (u.Key && u.UploadId && u.Initiated && u.Initiated < before) {
            await server.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
            aborted++;
          }
        }
        KeyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
        UploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
      } while (KeyMarker);
      return aborted;
    },
  };
}
