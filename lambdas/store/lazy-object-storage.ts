/**
 * `ObjectStorage` for the Lambda functions: presigned URLs at once (storage-presign.ts: SigV4
 * code the DynamoDB client loads anyway), the S3 client and its calls (object-storage.ts, about
 * a third of the site bundle) imported on the first server-side call instead of at module load.
 * Site requests that need S3 itself are few (multipart upload id check, completion, /health);
 * ops needs it in every run, after its table queries: there the cost moves from the module load
 * to the run. scripts/bundle-report.ts measures a first request/run that loads it.
 *
 * In the Lambda bundles this `import('./object-storage.js')` becomes `lazy/object-storage.mjs`,
 * a file of its own next to `index.mjs` (infra/bundling.ts), read and compiled on first use only;
 * under tsx and vitest it is the plain module.
 */
import type { ObjectStorage, ObjectStorageConfig, ServerStorage } from './object-storage.js';
import { createPresignStorage } from './storage-presign.js';

/** Same behaviour as `createObjectStorage(config)`; the S3 client code loads on the first server-side call. */
export function lazyObjectStorage(config: ObjectStorageConfig): ObjectStorage {
  return { ...createPresignStorage(config), ...lazyServerStorage(config) };
}

/** The regions and server-side calls only (the ops function presigns nothing); S3 code loads on the first call. */
export function lazyServerStorage(config: ObjectStorageConfig): ServerStorage & Pick<ObjectStorage, 'regions'> {
  let server: Promise<ServerStorage> | undefined;
  const load = (): Promise<ServerStorage> => {
    server ??= import('./object-storage.js').then((m) => m.createServerStorage(config));
    return server;
  };
  return {
    regions: new Set(Object.keys(config.buckets)),
    ping: async () => (await load()).ping(),
    uploadExists: async (...a) => (await load()).uploadExists(...a),
    completeMultipart: async (...a) => (await load()).completeMultipart(...a),
    objectInfo: async (...a) => (await load()).objectInfo(...a),
    deletePrefix: async (...a) => (await load()).deletePrefix(...a),
    abortStaleUploads: async (...a) => (await load()).abortStaleUploads(...a),
    uploadedPartBytes: async (...a) => (await load()).uploadedPartBytes(...a),
    prefixUsage: async (...a) => (await load()).prefixUsage(...a),
    sweepPrefix: async (...a) => (await load()).sweepPrefix(...a),
  };
}
