/**
 * Pure plan rules: which bucket, expiry and encryption a new backup gets, whether an archived
 * size is over the limit, and how long presigned URLs live.
 */
import { PlanRefusedError } from './errors.js';
import type { Plan } from './plans.js';
import { findRegion, type StorageRegion } from './regions.js';

const DAY = 86_400;

/** The region a backup goes to: `""` = the plan's default; refuses regions the plan lacks. */
export function resolveRegion(plan: Plan, requested: string, configured: ReadonlySet<string>): StorageRegion {
  const id = requested === '' ? plan.regions[0] : requested;
  const region = id === undefined ? undefined : findRegion(id);
  if (!region || !(plan.regions as readonly string[]).includes(region.id)) {
    throw new PlanRefusedError(`Storage "${requested}" is not available on the ${plan.label} plan`);
  }
  if (!configured.has(region.id)) throw new PlanRefusedError(`Storage "${region.label}" is not available on this server`);
  return region;
}

/** Expiry in days (0 = never): 0 means the plan default; a fixed-expiry plan ignores the request. */
export function resolveExpireDays(plan: Plan, requested: number): number {
  if (!plan.canChangeExpiration || requested === 0) return plan.defaultExpireDays;
  if (requested < plan.minExpireDays || requested > plan.maxExpireDays) {
    throw new PlanRefusedError(`Expiry must be between ${plan.minExpireDays} and ${plan.maxExpireDays} days on the ${plan.label} plan`);
  }
  return requested;
}

/** Refuses a passphrase where the plan or the storage cannot do SSE-C. */
export function checkEncryption(plan: Plan, region: StorageRegion, encrypted: boolean): void {
  if (!encrypted) return;
  if (!plan.passphrase) throw new PlanRefusedError(`Passphrase-protected backups are not available on the ${plan.label} plan`);
  if (!region.sseC) throw new PlanRefusedError(`Storage "${region.label}" does not support passphrase-protected backups`);
}

/** Epoch seconds when a backup created at `createdAt` expires, or 0 for never. */
export function expiryTime(createdAt: number, expireDays: number): number {
  return expireDays === 0 ? 0 : createdAt + expireDays * DAY;
}

/** True when a backup with this expiry (0 = never) has expired at `now` (epoch seconds). */
export function isExpired(expiresAt: number, now: number): boolean {
  return expiresAt !== 0 && expiresAt <= now;
}

/** True when `archivedBytes` breaks the plan's size limit. */
export function exceedsSizeLimit(plan: Plan, archivedBytes: number): boolean {
  return plan.sizeLimit !== null && archivedBytes > plan.sizeLimit;
}

/**
 * Presigned URL lifetime, in seconds. Sized for the slowest transfer we support (1 MiB/s) of
 * `bytes`, plus the plugin's retries (4 attempts, 60 s of pauses) and an hour of slack, capped at
 * `maxSeconds` (what the signing credentials outlive; SigV4 allows at most 7 days).
 */
export function presignLifetime(bytes: number, maxSeconds: number): number {
  const MIB_PER_S = 1024 * 1024;
  const transfer = Math.ceil(bytes / MIB_PER_S);
  return Math.min(maxSeconds, 7 * DAY, Math.max(900, 3600 + 60 + transfer * 2));
}

/**
 * Seconds after a backup stopped accepting uploads until no upload URL issued for it can still
 * write: the longest URL lifetime, plus an hour for an upload begun just before its URL expired
 * (S3 checks the expiry when a request starts, not when its body ends).
 */
export function sweepDelaySeconds(maxPresignSeconds: number): number {
  return Math.min(maxPresignSeconds, 7 * DAY) + 3600;
}

/** Part size the plugin uses for multipart uploads (1 GiB); parts before the last are this big. */
export const PLUGIN_PART_SIZE = 1024 ** 3;
/** Largest single upload the plugin makes (below its 4 GiB multipart threshold). */
export const PLUGIN_SINGLE_UPLOAD_MAX = 4 * 1024 ** 3;
