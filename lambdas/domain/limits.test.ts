import { describe, expect, it } from 'vitest';
import { isArchiveName } from './archive-names.js';
import { backupTransition, restoreTransition } from './backup-state.js';
import { PlanRefusedError } from './errors.js';
import { checkEncryption, exceedsSizeLimit, expiryTime, isExpired, presignLifetime, resolveExpireDays, resolveRegion } from './limits.js';
import { PLANS } from './plans.js';
import { findRegion, STORAGE_REGIONS } from './regions.js';

const ALL = new Set(STORAGE_REGIONS.map((r) => r.id));
const GIB = 1024 ** 3;

describe('plans table', () => {
  it('matches the issue: free, light, pro', () => {
    expect(PLANS.free).toMatchObject({ defaultExpireDays: 7, canChangeExpiration: false, sizeLimit: 2 * GIB, regions: ['eu', 'usw', 'ap'], passphrase: false, restoresPer30Days: 2, maxStoredBackups: 3 });
    expect(PLANS.light).toMatchObject({ canChangeExpiration: true, minExpireDays: 1, maxExpireDays: 30, sizeLimit: 20 * GIB, regions: ['eu', 'usw', 'ap'], passphrase: false, restoresPer30Days: 10, maxStoredBackups: 10 });
    expect(PLANS.pro).toMatchObject({ defaultExpireDays: 0, maxExpireDays: 365, sizeLimit: null, passphrase: true, restoresPer30Days: null, maxStoredBackups: null });
    expect(PLANS.pro.regions.map((r) => findRegion(r)?.label)).toEqual(['Europe', 'Western North America', 'Asia-Pacific', 'US (Ohio)', 'US (Oregon)', 'Canada', 'Australia', 'UK']);
  });
});

describe('plan rules', () => {
  it('resolves "" to the default region and refuses regions outside the plan or server', () => {
    expect(resolveRegion(PLANS.free, '', ALL).id).toBe('eu');
    expect(resolveRegion(PLANS.free, 'ap', ALL).id).toBe('ap');
    expect(() => resolveRegion(PLANS.free, 'uk', ALL)).toThrow(PlanRefusedError);
    expect(() => resolveRegion(PLANS.pro, 'mars', ALL)).toThrow(PlanRefusedError);
    expect(() => resolveRegion(PLANS.pro, 'uk', new Set(['eu']))).toThrow(/not available on this server/);
  });

  it('expiry: 0 = default, fixed plans ignore the request, others refuse out-of-range values', () => {
    expect(resolveExpireDays(PLANS.free, 0)).toBe(7);
    expect(resolveExpireDays(PLANS.free, 30)).toBe(7);
    expect(resolveExpireDays(PLANS.light, 0)).toBe(7);
    expect(resolveExpireDays(PLANS.light, 1)).toBe(1);
    expect(resolveExpireDays(PLANS.light, 30)).toBe(30);
    expect(() => resolveExpireDays(PLANS.light, 31)).toThrow(PlanRefusedError);
    expect(resolveExpireDays(PLANS.pro, 0)).toBe(0);
    expect(resolveExpireDays(PLANS.pro, 365)).toBe(365);
    expect(() => resolveExpireDays(PLANS.pro, 366)).toThrow(PlanRefusedError);
    expect(expiryTime(1000, 0)).toBe(0);
    expect(expiryTime(1000, 1)).toBe(1000 + 86400);
    expect(isExpired(0, 9e9)).toBe(false);
    expect(isExpired(100, 99)).toBe(false);
    expect(isExpired(100, 100)).toBe(true);
  });

  it('encryption needs both the plan and an SSE-C capable region', () => {
    const eu = findRegion('eu');
    const au = findRegion('au');
    if (!eu || !au) throw new Error('regions missing');
    expect(() => checkEncryption(PLANS.free, eu, true)).toThrow(/Passphrase/);
    expect(() => checkEncryption(PLANS.pro, au, true)).toThrow(/does not support/);
    expect(() => checkEncryption(PLANS.pro, eu, true)).not.toThrow();
    expect(() => checkEncryption(PLANS.free, eu, false)).not.toThrow();
  });

  it('size limit', () => {
    expect(exceedsSizeLimit(PLANS.free, 2 * GIB)).toBe(false);
    expect(exceedsSizeLimit(PLANS.free, 2 * GIB + 1)).toBe(true);
    expect(exceedsSizeLimit(PLANS.pro, 1e15)).toBe(false);
  });

  it('presign lifetime: at least 15 min, grows with size, never beyond the cap or 7 days', () => {
    expect(presignLifetime(0, 43200)).toBe(3660);
    expect(presignLifetime(4 * GIB, 43200)).toBe(3660 + 2 * 4096);
    expect(presignLifetime(100 * GIB, 43200)).toBe(43200);
    expect(presignLifetime(0, 600)).toBe(600);
    expect(presignLifetime(1e15, 30 * 86400)).toBe(7 * 86400);
  });
});

describe('archive names', () => {
  it.each([
    ['dbstructure.zip', true], ['dbdump.zip', true], ['dbdump-1.zip', true], ['dataroot-12.zip', true], ['filedir-999999.zip', true],
    ['dbstructure-1.zip', false], ['dbdump-0.zip', false], ['dbdump-01.zip', false], ['filedir-1000000.zip', false], ['other.zip', false],
    ['dbdump.ZIP', false], ['../dbdump.zip', false], ['dbdump.zip ', false], ['__metadata__.json', false],
  ])('%s → %s', (name, ok) => {
    expect(isArchiveName(name)).toBe(ok);
  });
});

describe('status machines', () => {
  it('backups: inprogress → finished | failed; repeats are no-ops; terminal states are final', () => {
    expect(backupTransition('inprogress', 'finished')).toBe('apply');
    expect(backupTransition('inprogress', 'failed')).toBe('apply');
    expect(backupTransition('finished', 'finished')).toBe('noop');
    expect(backupTransition('failed', 'failed')).toBe('noop');
    expect(backupTransition('finished', 'failed')).toBe('refuse');
    expect(backupTransition('failed', 'finished')).toBe('refuse');
  });

  it('restores: resume goes back to inprogress except after finished', () => {
    expect(restoreTransition('failed', 'resume')).toBe('inprogress');
    expect(restoreTransition('inprogress', 'resume')).toBe('inprogress');
    expect(restoreTransition('finished', 'resume')).toBe('refuse');
    expect(restoreTransition('inprogress', 'finished')).toBe('finished');
    expect(restoreTransition('failed', 'finished')).toBe('refuse');
    expect(restoreTransition('finished', 'finished')).toBe('finished');
  });
});
