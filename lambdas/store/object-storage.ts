/**
 * Object storage: presigned URLs for the site and the few server-side S3 calls (complete a
 * multipart upload, read an object's size from a listing, delete a backup's objects, abort stale
 * uploads). Object keys are always built by the caller from our records.
 *
 * Presigning (storage-presign.ts) needs no S3 client: URLs are those `getSignedUrl` gives over a
 * client with `requestChecksumCalculation: 'WHEN_REQUIRED'` (no checksum parameters in URLs).
 * For SSE-C the algorithm header is signed and returned in the header list; the site adds the key
 * and key-MD5 headers itself. Against AWS, URLs use the global `<bucket>.s3.amazonaws.com` host
 * form that the plugin requires for encrypted transfers. The server-side calls use S3 clients
 * (`createServerStorage`), which the Lambda functions load on first use (lazy-object-storage.ts).
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, DeleteObjectsCommand,
  HeadBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  ListPartsCommand, type S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { awsRegionOf, bucketOf, createPresignStorage, type PresignStorage } from './storage-presign.js';
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
  /** Bytes of the parts uploaded so far to an open multipart upload of `key`; undefined when S3 does not know it. */
  uploadedPartBytes(region: string, key: string, uploadId: string): Promise<number | undefined>;
  /**
   * What storage holds under `prefix`: the bytes of its objects and of the parts of its open
   * multipart uploads (what a backup uses, whether or not its archives were completed).
   */
  prefixUsage(region: string, prefix: string): Promise<PrefixUsage>;
  /**
   * Deletes every object under `prefix` except those named in `keep` (full keys), and aborts every
   * open multipart upload under it. Returns how many objects and uploads.
   */
  sweepPrefix(region: string, prefix: string, keep?: ReadonlySet<string>): Promise<{ deletedObjects: number; abortedUploads: number }>;
}

/** Bytes under a prefix (see `prefixUsage`). */
export interface PrefixUsage {
  objectBytes: number;
  /** Parts of open multipart uploads, summed. */
  partBytes: number;
}

/** s3rver (npm start only) lacks some multipart listings: those calls are skipped there. */
function isUnsupported(err: unknown): boolean {
  return err instanceof Error && ['MethodNotAllowed', 'NotImplemented'].includes(err.name);
}

/** S3 says NoSuchUpload; Ceph RGW says NoSuchKey for an unknown upload id. */
function isMissingUpload(err: unknown): boolean {
  return err instanceof Error && ['NoSuchUpload', 'NoSuchKey', 'NotFound'].includes(err.name);
}

/** The calls of `ObjectStorage` that S3 serves (everything but presigning). */
export type ServerStorage = Omit<ObjectStorage, keyof PresignStorage>;

/** Creates the storage over one bucket per region. */
export function createObjectStorage(config: ObjectStorageConfig): ObjectStorage {
  return { ...createPresignStorage(config), ...createServerStorage(config) };
}

/** The server-side calls, with one S3 client per region (created on first use). */
export function createServerStorage(config: ObjectStorageConfig): ServerStorage {
  const regions = new Set(Object.keys(config.buckets));
  const clients = new Map<string, S3Client>();

  const clientFor = (region: string): S3Client => {
    let c = clients.get(region);
    if (!c) {
      c = createS3Client({ region: awsRegionOf(config, region), endpoint: config.endpoint, credentials: config.credentials });
      clients.set(region, c);
    }
    return c;
  };
  const bucket = (region: string): string => bucketOf(config, region);

  /** Objects under `prefix` (every page). */
  const listObjects = async (region: string, prefix: string): Promise<{ key: string; size: number }[]> => {
    const out: { key: string; size: number }[] = [];
    let ContinuationToken: string | undefined;
    do {
      const res = await clientFor(region).send(new ListObjectsV2Command({ Bucket: bucket(region), Prefix: prefix, ContinuationToken }));
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  };

  /** Open multipart uploads under `prefix` (every page; none where the store cannot list them). */
  const listUploads = async (region: string, prefix: string): Promise<{ key: string; uploadId: string }[]> => {
    const out: { key: string; uploadId: string }[] = [];
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    try {
      do {
        const res = await clientFor(region).send(new ListMultipartUploadsCommand({ Bucket: bucket(region), Prefix: prefix, KeyMarker, UploadIdMarker }));
        for (const u of res.Uploads ?? []) if (u.Key && u.UploadId) out.push({ key: u.Key, uploadId: u.UploadId });
        KeyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
        UploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
      } while (KeyMarker);
    } catch (err) {
      if (!isUnsupported(err)) throw err;
    }
    return out;
  };

  /** Sum of the part sizes of an upload; undefined when the upload is unknown. */
  const partBytes = async (region: string, key: string, uploadId: string): Promise<number | undefined> => {
    let total = 0;
    let PartNumberMarker: string | undefined;
    try {
      do {
        const res = await clientFor(region).send(new ListPartsCommand({ Bucket: bucket(region), Key: key, UploadId: uploadId, PartNumberMarker }));
        for (const p of res.Parts ?? []) total += p.Size ?? 0;
        PartNumberMarker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
      } while (PartNumberMarker);
    } catch (err) {
      if (isMissingUpload(err)) return undefined;
      if (isUnsupported(err)) return 0;
      throw err;
    }
    return total;
  };

  const listSize = async (region: string, key: string): Promise<ObjectInfo | undefined> => {
    const res = await clientFor(region).send(new ListObjectsV2Command({ Bucket: bucket(region), Prefix: key, MaxKeys: 1 }));
    const obj = res.Contents?.find((o) => o.Key === key);
    return obj ? { size: obj.Size ?? 0, etag: (obj.ETag ?? '').replaceAll('"', '') } : undefined;
  };

  return {
    async ping() {
      const first = [...regions][0];
      if (first) await clientFor(first).send(new HeadBucketCommand({ Bucket: bucket(first) }));
    },

    async uploadExists(region, key, uploadId) {
      try {
        await clientFor(region).send(new ListPartsCommand({ Bucket: bucket(region), Key: key, UploadId: uploadId, MaxParts: 1 }));
        return true;
      } catch (err) {
        if (isMissingUpload(err)) return false;
        // s3rver (npm start only) has no ListParts: the upload cannot be checked there.
        if (isUnsupported(err)) return true;
        throw err;
      }
    },

    async completeMultipart(region, key, uploadId, etags) {
      const server = clientFor(region);
      const Bucket = bucket(region);
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
      const server = clientFor(region);
      const Bucket = bucket(region);
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

    uploadedPartBytes: partBytes,

    async prefixUsage(region, prefix) {
      const [objects, uploads] = await Promise.all([listObjects(region, prefix), listUploads(region, prefix)]);
      let parts = 0;
      for (const u of uploads) parts += (await partBytes(region, u.key, u.uploadId)) ?? 0;
      return { objectBytes: objects.reduce((n, o) => n + o.size, 0), partBytes: parts };
    },

    async sweepPrefix(region, prefix, keep) {
      const server = clientFor(region);
      const Bucket = bucket(region);
      let abortedUploads = 0;
      for (const u of await listUploads(region, prefix)) {
        try {
          await server.send(new AbortMultipartUploadCommand({ Bucket, Key: u.key, UploadId: u.uploadId }));
          abortedUploads++;
        } catch (err) {
          if (!isMissingUpload(err)) throw err;
        }
      }
      const doomed = (await listObjects(region, prefix)).filter((o) => !keep?.has(o.key)).map((o) => ({ Key: o.key }));
      // DeleteObjects takes at most 1000 keys.
      for (let i = 0; i < doomed.length; i += 1000) {
        await server.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: doomed.slice(i, i + 1000), Quiet: true } }));
      }
      return { deletedObjects: doomed.length, abortedUploads };
    },

    async abortStaleUploads(region, before) {
      const server = clientFor(region);
      const Bucket = bucket(region);
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
