/**
 * Site protocol, backups: precheck and create (`PUT backups`), list, get, PATCH, validate
 * (spec §5.2, 5.3, 5.6–5.9); and the account API's deletion of a backup (needs S3).
 */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { STRUCTURE_ARCHIVE } from '../domain/archive-names.js';
import { backupTransition } from '../domain/backup-state.js';
import { BackupNotFoundError, BackupStateError, BadRequestError, PlanRefusedError, QuotaExceededError, ScopeError, SizeLimitError } from '../domain/errors.js';
import { newBackupKey } from '../domain/ids.js';
import { checkEncryption, exceedsSizeLimit, expiryTime, presignLifetime, resolveExpireDays, resolveRegion } from '../domain/limits.js';
import { findRegion } from '../domain/regions.js';
import type { BackupRecord, InfoValue } from '../store/records.js';
import { requireApiKey } from './auth.js';
import { earlyOr, type EarlyRead } from './early-reads.js';
import { nowSeconds, type AppEnv, type SiteDeps } from './deps.js';
import { backupView, cap, deleteBackup, loadAccount, loadBackup, maxPresign, objectKey, purgeAfterFailure, purgeObjects, sweepUnrecorded } from './records-view.js';
import { infoObject, MAX_INFO_KEYS, param, parseJsonBody, parseWith, recordKey, storedNumber, vaultEnv, vaultVersion } from './validation.js';

const FAILED_DETAILS_MAX = 64 * 1024;

/** Body of `PUT /backups` (also read by the OpenAPI document, web/openapi.ts). */
export const putBackupBody = z.lazy(() => z.object({
  precheckonly: z.optional(z.union([storedNumber, z.boolean(), z.string().check(z.maxLength(40))])),
  description: z.optional(z.string().check(z.maxLength(1000))),
  encrypted: z.optional(z.boolean()),
  bucket: z.optional(z.string().check(z.maxLength(64))),
  expiredays: z.optional(storedNumber.check(z.gte(0), z.lte(36500))),
  vaultversion: vaultVersion,
  vaultenv: vaultEnv,
}));

/** Body of `PATCH /backups/{backupkey}`. */
export const patchBackupBody = z.lazy(() => z.object({
  status: z.optional(z.enum(['finished', 'failed'])),
  info: infoObject,
}));

/** Query of `GET /backups/{backupkey}/validate`. */
const validateQuery = z.lazy(() => z.object({ vaultversion: z.optional(z.string().check(z.maxLength(40))) }));

const RESERVED_INFO = new Set(['description', 'encrypted', 'timefinished', 'samesite']);

/**
 * PATCH `info` to merge into `current`: scalar values, long strings capped, our own fields
 * protected, and at most MAX_INFO_KEYS keys in the merged result (400 beyond).
 */
export function mergeableInfo(info: Record<string, string | number | boolean | null> | undefined, current: Record<string, InfoValue>): Record<string, InfoValue> {
  const out: Record<string, InfoValue> = {};
  for (const [k, v] of Object.entries(info ?? {})) {
    if (v === null || RESERVED_INFO.has(k)) continue;
    out[k] = typeof v === 'string' ? cap(v, k === 'faileddetails' ? FAILED_DETAILS_MAX : 4096) : v;
  }
  if (Object.keys({ ...current, ...out }).length > MAX_INFO_KEYS) throw new BadRequestError(`info may hold at most ${MAX_INFO_KEYS} keys`);
  return out;
}

/** The list of `GET /backups`, started with the key's admission (routes/early-reads.ts). */
export function backupEarlyReads(deps: SiteDeps): EarlyRead[] {
  return [{
    method: 'GET', path: /^\/backups$/,
    start: (accountId) => ({ what: 'backups', promise: deps.repo.listBackups(accountId, { now: nowSeconds(deps) }) }),
  }];
}

/** Routes for `/backups...` except uploads. */
export function backupRoutes(deps: SiteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.put('/backups', requireApiKey(deps), async (c) => {
    const auth = c.var.auth;
    const body = await parseJsonBody(c, putBackupBody);
    if (!auth.key.scopes.includes('backup')) throw new ScopeError('backup');
    const { plan } = await loadAccount(deps, auth.accountId);
    const now = nowSeconds(deps);
    if (body.precheckonly !== undefined && body.precheckonly !== 0 && body.precheckonly !== false && body.precheckonly !== '') {
      return c.json({
        expiredays: plan.defaultExpireDays,
        canchangeexpiration: plan.canChangeExpiration,
        buckets: plan.regions.filter((r) => deps.storage.regions.has(r)).map((id, i) => {
          const region = findRegion(id);
          return { id, label: region?.label ?? id, isdefault: i === 0, encryption: plan.passphrase && Boolean(region?.sseC), type: 'aws' };
        }),
        limit: plan.sizeLimit ?? 0,
      });
    }
    const region = resolveRegion(plan, body.bucket ?? '', deps.storage.regions);
    const encrypted = body.encrypted ?? false;
    checkEncryption(plan, region, encrypted);
    const expireDays = resolveExpireDays(plan, body.expiredays ?? 0);
    const backup: BackupRecord = {
      accountId: auth.accountId, backupKey: newBackupKey(), status: 'inprogress',
      siteId: auth.siteId, siteUrl: auth.siteUrl, description: body.description ?? '', encrypted,
      region: region.id, expireDays, expiry: expiryTime(now, expireDays), createdAt: now, modifiedAt: now,
      archivedBytes: 0, info: {}, vaultVersion: String(body.vaultversion ?? ''), vaultEnv: body.vaultenv ?? undefined,
    };
    await deps.repo.createBackup(backup, plan.maxStoredBackups, now);
    return c.json({ backupkey: backup.backupKey });
  });

  app.get('/backups', requireApiKey(deps), async (c) => {
    const auth = c.var.auth;
    // Keys without the restore scope see an empty list (spec §9: "no restore permission").
    if (!auth.key.scopes.includes('restore')) return c.json({ backups: [] });
    const page = await earlyOr(c, auth.accountId, 'backups', () => deps.repo.listBackups(auth.accountId, { now: nowSeconds(deps) }));
    return c.json({ backups: page.items.map((b) => backupView(b, auth.siteId)) });
  });

  app.get('/backups/:backupkey', requireApiKey(deps), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    // Like the list (spec §9, §13): a key without the restore scope sees no backups at all.
    if (!auth.key.scopes.includes('restore')) throw new BackupNotFoundError();
    const b = await loadBackup(deps, auth.accountId, key, nowSeconds(deps));
    const files = await deps.repo.listFiles(auth.accountId, b.backupKey);
    return c.json(backupView(b, auth.siteId, files));
  });

  app.patch('/backups/:backupkey', requireApiKey(deps, 'backup'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    const body = await parseJsonBody(c, patchBackupBody);
    const now = nowSeconds(deps);
    const b = await loadBackup(deps, auth.accountId, key, now);
    const info = mergeableInfo(body.info, b.info);
    const to = body.status ?? b.status;
    if (to === 'inprogress') {
      // Info-only PATCH while running: merge and keep going; a failed write is reported, never answered 200.
      if (Object.keys(info).length) await deps.repo.setBackupStatus(b, 'inprogress', info, now);
      return c.json({});
    }
    const transition = backupTransition(b.status, to);
    if (transition === 'noop') {
      // A repeated `failed` retries the deletion of the objects if it did not happen the first time.
      if (to === 'failed') await purgeAfterFailure(deps, b);
      return c.json({});
    }
    if (transition === 'refuse') throw new BackupStateError(`The backup is already ${b.status}`);
    if (to === 'finished') {
      const { plan } = await loadAccount(deps, auth.accountId);
      if (exceedsSizeLimit(plan, b.archivedBytes)) {
        await deps.repo.setBackupStatus(b, 'failed', { faileddetails: `Archived size ${b.archivedBytes} bytes exceeds the plan limit of ${plan.sizeLimit} bytes` }, now);
        await purgeAfterFailure(deps, b);
        throw new SizeLimitError(plan.sizeLimit ?? 0);
      }
      const structure = await deps.repo.getFile(auth.accountId, b.backupKey, STRUCTURE_ARCHIVE);
      if (!structure) throw new BackupStateError(`The backup cannot finish without ${STRUCTURE_ARCHIVE}`);
    }
    await deps.repo.setBackupStatus(b, to, info, now);
    if (to === 'failed') await purgeAfterFailure(deps, b);
    else await sweepUnrecorded(deps, b);
    return c.json({});
  });

  // Account API route served by the site function (it deletes objects in S3, the account function has no S3 access).
  app.delete('/account/backups/:backupkey', requireApiKey(deps, 'account'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    await deleteBackup(deps, auth.accountId, key, nowSeconds(deps), (b) => purgeObjects(deps, b));
    return c.json({});
  });

  app.get('/backups/:backupkey/validate', requireApiKey(deps), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'backupkey', recordKey);
    parseWith(validateQuery, c.req.query(), 'query');
    if (!auth.key.scopes.includes('restore')) throw new ScopeError('restore');
    const now = nowSeconds(deps);
    const b = await loadBackup(deps, auth.accountId, key, now);
    if (b.status !== 'finished') throw new BackupStateError(b.status === 'failed' ? 'The backup failed and cannot be restored' : 'The backup is not yet completed');
    const { plan } = await loadAccount(deps, auth.accountId);
    if (plan.restoresPer30Days !== null && (await deps.repo.activeRestoreSlots(auth.accountId, now)) >= plan.restoresPer30Days) {
      throw new QuotaExceededError(`Your plan allows ${plan.restoresPer30Days} restores per 30 days`);
    }
    if (!b.encrypted) return c.json({ encrypted: false });
    const structure = await deps.repo.getFile(auth.accountId, b.backupKey, STRUCTURE_ARCHIVE);
    if (!structure) throw new PlanRefusedError('The backup has no structure archive');
    const head = await deps.storage.presignHead(b.region, objectKey(b, STRUCTURE_ARCHIVE), true, presignLifetime(0, maxPresign(deps)));
    return c.json({ encrypted: true, downloadurl: head.url, downloadheaders: head.headers });
  });

  return app;
}
