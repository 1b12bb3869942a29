/**
 * Plans are data: one table, read by the rules in `limits.ts`. Change a number here and the
 * precheck answer, the server-side enforcement and docs/api.md's table follow (the docs table is
 * checked against this one by a test).
 */
import type { StorageRegionId } from './regions.js';

const GIB = 1024 ** 3;

/** One plan's limits. `null` means unlimited. */
export interface Plan {
  id: PlanId;
  label: string;
  /** Expiry used when the site sends 0 or nothing; 0 = never expires. */
  defaultExpireDays: number;
  /** Whether the site may choose the expiry (otherwise the default is forced). */
  canChangeExpiration: boolean;
  /** Smallest and largest choosable expiry in days; `allowNever` admits 0 (never expires). */
  minExpireDays: number;
  maxExpireDays: number;
  allowNever: boolean;
  /** Archived size limit per backup in bytes; `null` = no limit. */
  sizeLimit: number | null;
  /** Regions offered, the first is the default. */
  regions: readonly StorageRegionId[];
  /** Passphrase (SSE-C) allowed. */
  passphrase: boolean;
  /** Restores (not dry runs) per rolling 30 days; `null` = unlimited. */
  restoresPer30Days: number | null;
  /** Backups stored at once (in progress or finished, not expired); `null` = unlimited. */
  maxStoredBackups: number | null;
}

/** Ids of the plans. */
export type PlanId = 'free' | 'light' | 'pro';

const BASIC_REGIONS = ['eu', 'usw', 'ap'] as const satisfies readonly StorageRegionId[];

/** The plan table. */
export const PLANS: Readonly<Record<PlanId, Plan>> = {
  free: {
    id: 'free', label: 'Free',
    defaultExpireDays: 7, canChangeExpiration: false, minExpireDays: 7, maxExpireDays: 7, allowNever: false,
    sizeLimit: 2 * GIB, regions: BASIC_REGIONS, passphrase: false, restoresPer30Days: 2, maxStoredBackups: 3,
  },
  light: {
    id: 'light', label: 'Light',
    defaultExpireDays: 7, canChangeExpiration: true, minExpireDays: 1, maxExpireDays: 30, allowNever: false,
    sizeLimit: 20 * GIB, regions: BASIC_REGIONS, passphrase: false, restoresPer30Days: 10, maxStoredBackups: 10,
  },
  pro: {
    id: 'pro', label: 'Pro',
    defaultExpireDays: 0, canChangeExpiration: true, minExpireDays: 1, maxExpireDays: 365, allowNever: true,
    sizeLimit: null, regions: ['eu', 'usw', 'ap', 'use2', 'usw2', 'ca', 'au', 'uk'], passphrase: true,
    restoresPer30Days: null, maxStoredBackups: null,
  },
};

/** Plan id a new account gets. */
export const DEFAULT_PLAN: PlanId = 'free';

/** True when `id` names a plan. */
export function isPlanId(id: string): id is PlanId {
  return Object.hasOwn(PLANS, id);
}
