/**
 * Site protocol, archive uploads (spec §5.4, 5.5, 7.3): presigned single and multipart upload
 * URLs, and completion (the server completes multipart uploads and records each archive with
 * its size read from S3). Completion is idempotent.
 */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { ApiError, BackupStateError, isApiError, SizeLimitError } from '../domain/errors.js';
import { exceedsSizeLimit, PLUGIN_PART_SIZE, PLUGIN_SINGLE_UPLOAD_MAX, presignLifetime } from '../domain/limits.js';
import type { Plan } from '../domain/plans.js';
import type { BackupRecord } from '../store/records.js';
import { isArchiveName } from '../domain/archive-names.js';
import { RECORD_KEY_PATTERN } from '../domain/ids.js';
import { requireApiKey } from './auth.js';
import { earlyOr, type EarlyRead } from './early-reads.js';
import { nowSeconds, type AppEnv, type SiteDeps } from './deps.js';
import { maxPresign, objectKey, presentBackup, purgeAfterFailure, withPlan } from './records-view.js';
import { archiveName, param, parseJsonBody, recordKey, storedNumber } from './validation.js';

/** S3 allows 10 000 parts. */
const MAX_PARTS = 10_000;
const uploadId = z.string().check(z.minLength(1), z.maxLength(1024), z.regex(/^[\x21-\x7e]+$/, 'invalid upload id'));

/** Body of `POST /backups/{backupkey}/upload/{filename}` (also read by the OpenAPI document, web/openapi.ts). */
export const uploadBody = z.lazy(() => z.object({
  contenttype: z.optional(z.string().check(z.maxLength(100))),
  multipart: z.optional(z.object({
    // PHP sends ceil() as a float (`5.0`); JSON.parse turns it into 5.
    parts: storedNumber.check(z.gte(1), z.lte(MAX_PARTS)),
    uploadid: z.optional(uploadId),
  })),
}));

/** Body of `POST /backups/{backupkey}/uploadcompleted/{filename}`. */
export const completedBody = z.lazy(() => z.object({
  origsize: storedNumber.check(z.gte(0)),
  multipart: z.optional(z.object({
    UploadId: uploadId,
    ETags: z.array(z.string().check(z.maxLength(200))).check(z.minLength(1), z.maxLength(MAX_PARTS)),
  })),
}));

/** The backup, refusing one that no longer accepts uploads. */
function requireRunning(b: BackupRecord): BackupRecord {
  if (b.status !== 'inprogress') throw new BackupStateError(`The backup is ${b.status}; no more uploads are accepted`);
  return b;
}

/**
 * Fails a backup whose stored bytes exceed its plan's limit, deletes its objects and aborts its
 * uploads (an over-limit backup keeps no data), and answers the request with the size-limit error.
 */
async function failOverLimit(deps: SiteDeps, b: BackupRecord, plan: Plan, bytes: number, now: number): Promise<never> {
  if (b.status === 'inprogress') {
    await deps.repo.setBackupStatus(b, 'failed', { faileddetails: `Archived size ${bytes} bytes exceeds the plan limit of ${plan.sizeLimit} bytes` }, now).catch((err: unknown) => {
      // A concurrent completion or PATCH changed the status first: that one decided.
      if (!isApiError(err, 'ERR_BACKUP_STATE')) throw err;
    });
  }
  if (b.status !== 'finished') await purgeAfterFailure(deps, b);
  throw new SizeLimitError(plan.sizeLimit ?? 0);
}

/**
 * The backup, account and archive record of `POST backups/{key}/upload/{file}`, started with the
 * key's admission (routes/early-reads.ts) when the path's key and file name are ones the route accepts.
 */
export function uploadEarlyReads(deps: SiteDeps): EarlyRead[] {
  return [{
    method: 'POST', path: /^\/backups\/([A-Za-z0-9]+)\/upload\/([^/]+)$/,
    start(accountId, m) {
      const key = m[1] ?? '';
      const name = m[2] ?? '';
      if (!RECORD_KEY_PATTERN.test(key) || !isArchiveName(name)) return undefined;
      return { what: `upload ${key} ${name}`, promise: deps.repo.getBackupAccountFile(accountId, key, name) };
    },
  }];
}

/** Routes for `/backups/{backupkey}/upload...`. */
export function uploadRoutes(deps: SiteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/backups/:backupkey/upload/:filename', requireApiKey(deps, 'backup'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    const name = param(c, 'filename', archiveName);
    const body = await parseJsonBody(c, uploadBody);
    const now = nowSeconds(deps);
    // Backup, account and archive record in one BatchGetItem (one round trip, all under the
    // caller's account), usually started together with the key's admission.
    const read = await earlyOr(c, auth.accountId, `upload ${key} ${name}`, () => deps.repo.getBackupAccountFile(auth.accountId, key, name));
    const b = requireRunning(presentBackup(read.backup, now));
    const { plan } = withPlan(deps, read.account);
    const uploaded = read.file;
    if (exceedsSizeLimit(plan, b.archivedBytes)) throw new SizeLimitError(plan.sizeLimit ?? 0);
    if (uploaded) throw new BackupStateError(`${name} was already uploaded`);
    const objKey = objectKey(b, name);
    const max = maxPresign(deps);
    if (!body.multipart) {
      const put = await deps.storage.presignPut(b.region, objKey, b.encrypted, presignLifetime(PLUGIN_SINGLE_UPLOAD_MAX, max));
      return c.json({ uploadurl: put.url, uploadheaders: put.headers });
    }
    const { parts, uploadid } = body.multipart;
    const lifetime = presignLifetime(parts * PLUGIN_PART_SIZE, max);
    if (uploadid === undefined) {
      const init = await deps.storage.presignCreateMultipart(b.region, objKey, b.encrypted, lifetime);
      return c.json({ multiplarturl: init.url, uploadheaders: init.headers });
    }
    // The upload id comes from the site: accept it only if S3 knows it for *our* object key.
    const partBytes = await deps.storage.uploadedPartBytes(b.region, objKey, uploadid);
    if (partBytes === undefined) throw new ApiError('ERR_UPLOAD_MISMATCH', 'Unknown multipart upload for this archive');
    // Clients that stream (vault-agent) ask for more part URLs as the archive grows: the parts
    // already in storage count, so an archive over the limit gets no more URLs.
    if (exceedsSizeLimit(plan, b.archivedBytes + partBytes)) await failOverLimit(deps, b, plan, b.archivedBytes + partBytes, now);
    await deps.repo.recordUpload(auth.accountId, b.backupKey, { name, uploadId: uploadid, parts, createdAt: now });
    const signed = await deps.storage.presignUploadParts(b.region, objKey, uploadid, parts, b.encrypted, lifetime);
    return c.json({ uploadurls: signed.urls, uploadheaders: signed.headers });
  });

  app.post('/backups/:backupkey/uploadcompleted/:filename', requireApiKey(deps, 'backup'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    const name = param(c, 'filename', archiveName);
    const body = await parseJsonBody(c, completedBody);
    const now = nowSeconds(deps);
    // Backup and archive record in one BatchGetItem (one round trip).
    const read = await deps.repo.getBackupAccountFile(auth.accountId, key, name);
    const b = presentBackup(read.backup, now);
    const existing = read.file;
    if (existing) {
      // Repeat of a completion (the plugin retries on timeouts): same upload → nothing to do.
      if (body.multipart && existing.uploadId !== undefined && existing.uploadId !== body.multipart.UploadId) {
        throw new ApiError('ERR_UPLOAD_MISMATCH', 'This archive was completed with a different upload');
      }
      return c.json({});
    }
    requireRunning(b);
    const objKey = objectKey(b, name);
    if (body.multipart) {
      const recorded = await deps.repo.getUpload(auth.accountId, b.backupKey, name);
      if (!recorded || recorded.uploadId !== body.multipart.UploadId) {
        throw new ApiError('ERR_UPLOAD_MISMATCH', 'Unknown multipart upload for this archive');
      }
      // false = S3 no longer knows the upload: a previous attempt may have completed it (checked below).
      await deps.storage.completeMultipart(b.region, objKey, recorded.uploadId, body.multipart.ETags);
    }
    const info = await deps.storage.objectInfo(b.region, objKey);
    if (!info) throw new ApiError('ERR_UPLOAD_MISSING', `${name} was not found in storage; upload it first`);
    const recordedNow = await deps.repo.recordFile(auth.accountId, b.backupKey, {
      name, size: info.size, origsize: body.origsize, etag: info.etag.slice(0, 40), createdAt: now,
      ...(body.multipart ? { uploadId: body.multipart.UploadId } : {}),
    }, now);
    if (!recordedNow) return c.json({});
    // Re-read, account and backup in one round trip: archives completed concurrently count too.
    const reread = await deps.repo.getBackupAccountFile(auth.accountId, key, name);
    const { plan } = withPlan(deps, reread.account);
    const fresh = presentBackup(reread.backup, now);
    if (exceedsSizeLimit(plan, fresh.archivedBytes)) await failOverLimit(deps, fresh, plan, fresh.archivedBytes, now);
    return c.json({});
  });

  return app;
}
