/**
 * Backup status machine. Records are created `inprogress`; the site PATCHes `finished` or
 * `failed`; the server fails a backup itself when it exceeds the size limit or is abandoned.
 * Repeating the current terminal status is accepted and changes nothing (idempotent PATCH).
 */
export const BACKUP_STATUSES = ['inprogress', 'finished', 'failed'] as const;
/** Status of a backup record. */
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

/** Result of asking for a transition. */
export type Transition = 'apply' | 'noop' | 'refuse';

/** Whether `from` → `to` is applied, a harmless repeat, or refused. */
export function backupTransition(from: BackupStatus, to: BackupStatus): Transition {
  if (from === to) return from === 'inprogress' ? 'refuse' : 'noop';
  if (from === 'inprogress') return 'apply';
  return 'refuse';
}

/** Restore statuses; `resume` is a request verb that sets the status back to `inprogress`. */
export const RESTORE_STATUSES = ['inprogress', 'finished', 'failed'] as const;
/** Status of a restore record. */
export type RestoreStatus = (typeof RESTORE_STATUSES)[number];

/** New restore status for a PATCH, or `refuse`. Resume is allowed from any state but finished. */
export function restoreTransition(from: RestoreStatus, requested: 'resume' | 'finished' | 'failed'): RestoreStatus | 'refuse' {
  if (requested === 'resume') return from === 'finished' ? 'refuse' : 'inprogress';
  if (from === 'inprogress' || from === requested) return requested;
  return 'refuse';
}

/**
 * Hours without activity (creation, PATCH, download URL) after which the ops job fails an
 * `inprogress` restore with `faileddetails: "timed out"` (`OPS_STALE_RESTORE_HOURS`). The plugin
 * calls the API only between its long steps (download, database restore, files), so this covers
 * the longest step of a large site.
 */
export const RESTORE_STALE_HOURS = 48;

/**
 * Days after its creation within which a failed restore may still be resumed or updated; later
 * PATCHes are refused (409) and a new restore (which takes a quota slot) is needed. Below the
 * 30 days a restore-quota slot is held, so one slot cannot serve restores forever.
 */
export const RESTORE_RESUME_DAYS = 14;

/** True when `r` failed and is too old to be resumed or updated (see RESTORE_RESUME_DAYS). */
export function restoreClosed(r: { status: RestoreStatus; createdAt: number }, now: number): boolean {
  return r.status === 'failed' && now - r.createdAt > RESTORE_RESUME_DAYS * 86_400;
}
