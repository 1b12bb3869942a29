/** Site protocol, restores (spec §5.10–5.12): create, PATCH (resume/finished/failed), download URLs. */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { STRUCTURE_ARCHIVE } from '../domain/archive-names.js';
import { BackupStateError, ApiError, DryRunError, RestoreNotFoundError } from '../domain/errors.js';
import { RESTORE_RESUME_DAYS, restoreClosed, restoreTransition } from '../domain/backup-state.js';
import { newRestoreKey } from '../domain/ids.js';
import { presignLifetime } from '../domain/limits.js';
import type { RestoreRecord } from '../store/records.js';
import { requireApiKey } from './auth.js';
import { nowSeconds, type AppEnv, type SiteDeps } from './deps.js';
import { mergeableInfo } from './backups.js';
import { loadAccount, loadBackup, maxPresign, objectKey } from './records-view.js';
import { archiveName, infoObject, param, parseJsonBody, recordKey, storedNumber, vaultEnv, vaultVersion } from './validation.js';

/** Body of `PUT /restores` (also read by the OpenAPI document, web/openapi.ts). */
export const putRestoreBody = z.lazy(() => z.object({
  backupkey: recordKey,
  dryrun: z.optional(z.union([z.boolean(), storedNumber])),
  vaultversion: vaultVersion,
  vaultenv: vaultEnv,
}));

/** Body of `PATCH /restores/{restorekey}`. */
export const patchRestoreBody = z.lazy(() => z.object({
  status: z.optional(z.enum(['resume', 'finished', 'failed'])),
  info: infoObject,
}));

/** Routes for `/restores...`. */
export function restoreRoutes(deps: SiteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  const loadRestore = async (accountId: string, restoreKey: string): Promise<RestoreRecord> => {
    const r = await deps.repo.getRestore(accountId, restoreKey);
    if (!r) throw new RestoreNotFoundError();
    return r;
  };

  app.put('/restores', requireApiKey(deps, 'restore'), async (c) => {
    const auth = c.var.auth;
    const body = await parseJsonBody(c, putRestoreBody);
    const now = nowSeconds(deps);
    const b = await loadBackup(deps, auth.accountId, body.backupkey, now);
    if (b.status !== 'finished') throw new BackupStateError('The backup is not finished and cannot be restored');
    const { plan } = await loadAccount(deps, auth.accountId);
    const restore: RestoreRecord = {
      accountId: auth.accountId, restoreKey: newRestoreKey(), backupKey: b.backupKey, dryrun: Boolean(body.dryrun),
      status: 'inprogress', siteId: auth.siteId, siteUrl: auth.siteUrl, createdAt: now, modifiedAt: now, info: {},
      vaultVersion: String(body.vaultversion ?? ''), vaultEnv: body.vaultenv ?? undefined,
    };
    await deps.repo.createRestore(restore, plan.restoresPer30Days, now);
    return c.json({ restorekey: restore.restoreKey });
  });

  app.patch('/restores/:restorekey', requireApiKey(deps, 'restore'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'restorekey', recordKey);
    const body = await parseJsonBody(c, patchRestoreBody);
    const now = nowSeconds(deps);
    const r = await loadRestore(auth.accountId, key);
    if (restoreClosed(r, now)) {
      throw new BackupStateError(`The restore failed and was started more than ${RESTORE_RESUME_DAYS} days ago; it can no longer be resumed or updated. Start a new restore`);
    }
    const info = mergeableInfo(body.info, r.info);
    if (!body.status) {
      await deps.repo.setRestoreStatus(r, r.status, info, now);
      return c.json({});
    }
    if (body.status === 'resume') {
      if (typeof info.backupkey === 'string' && info.backupkey !== r.backupKey) throw new ApiError('ERR_BAD_REQUEST', 'The restore belongs to another backup');
      // Resuming needs the backup still available.
      await loadBackup(deps, auth.accountId, r.backupKey, now);
    }
    const to = restoreTransition(r.status, body.status);
    if (to === 'refuse') throw new BackupStateError(`The restore is already ${r.status}`);
    await deps.repo.setRestoreStatus(r, to, info, now);
    return c.json({});
  });

  app.get('/restores/:restorekey/download/:filename', requireApiKey(deps, 'restore'), async (c) => {
    const auth = c.var.auth;
    const key = param(c, 'restorekey', recordKey);
    const name = param(c, 'filename', archiveName);
    const now = nowSeconds(deps);
    // Read by noting the activity (the ops job times out restores without any): same one request.
    const r = await deps.repo.touchRestore(auth.accountId, key, now);
    if (!r) throw new RestoreNotFoundError();
    if (r.status !== 'inprogress') throw new BackupStateError(`The restore is ${r.status}`);
    // A dry run (spec §5.12, §8.4) reads only the structure archive: it holds no restore slot.
    if (r.dryrun && name !== STRUCTURE_ARCHIVE) throw new DryRunError(STRUCTURE_ARCHIVE);
    const b = await loadBackup(deps, auth.accountId, r.backupKey, now);
    const file = await deps.repo.getFile(auth.accountId, b.backupKey, name);
    if (!file) throw new ApiError('ERR_FILE_NOT_FOUND', `${name} is not part of this backup`);
    const get = await deps.storage.presignGet(b.region, objectKey(b, name), b.encrypted, presignLifetime(file.size, maxPresign(deps)));
    return c.json({ downloadurl: get.url, encrypted: b.encrypted, downloadheaders: get.headers });
  });

  return app;
}
