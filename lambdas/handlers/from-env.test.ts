/** The environment contract with the CDK stack (see the header of from-env.ts). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretSigningCredentials } from '../store/signing-credentials.js';
import { accountDepsFromEnv } from './account-env.js';
import { opsDepsFromEnv, opsOptionsFromEnv } from './ops-env.js';
import { siteDepsFromEnv } from './site-env.js';

const base = { TABLE_NAME: 't', BUCKETS: '{"eu":"b-eu","uk":"b-uk"}', AWS_REGION: 'eu-central-1' };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('siteDepsFromEnv', () => {
  it('reads the table, the buckets and the presign cap for each signing mode', () => {
    const plain = siteDepsFromEnv({ ...base });
    expect(plain.repo.tableName).toBe('t');
    expect([...plain.storage.regions]).toEqual(['eu', 'uk']);
    expect(plain.maxPresignSeconds).toBe(900);
    expect(siteDepsFromEnv({ ...base, SIGNING_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:1:secret:x' }).maxPresignSeconds).toBe(7 * 86400);
    expect(siteDepsFromEnv({ ...base, SIGNING_ROLE_ARN: 'arn:aws:iam::1:role/x', SIGNING_SESSION_SECONDS: '3600' }).maxPresignSeconds).toBe(1800);
    expect(siteDepsFromEnv({ ...base, SIGNING_ROLE_ARN: 'arn:aws:iam::1:role/x', MAX_PRESIGN_SECONDS: '1200' }).maxPresignSeconds).toBe(1200);
  });

  it('refuses a broken configuration at start', () => {
    expect(() => siteDepsFromEnv({ BUCKETS: '{}' })).toThrow(/TABLE_NAME/);
    expect(() => siteDepsFromEnv({ ...base, BUCKETS: '["eu"]' })).toThrow(/BUCKETS/);
    expect(() => siteDepsFromEnv({ ...base, BUCKETS: '{"eu":1}' })).toThrow(/BUCKETS/);
    expect(() => siteDepsFromEnv({ ...base, MAX_PRESIGN_SECONDS: 'abc' })).toThrow(/MAX_PRESIGN_SECONDS/);
  });
});

describe('accountDepsFromEnv and opsDepsFromEnv', () => {
  it('only the account function reads VERIFY_SECRET (and warns without it)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(accountDepsFromEnv({ ...base, VERIFY_SECRET: 'x'.repeat(32) }).verifySecret).toHaveLength(32);
    expect(warn).not.toHaveBeenCalled();
    expect(() => accountDepsFromEnv({ ...base, VERIFY_SECRET: 'short' })).toThrow(/VERIFY_SECRET/);
    expect(() => accountDepsFromEnv({ BUCKETS: '{}' })).toThrow(/TABLE_NAME/);
    siteDepsFromEnv({ ...base });
    opsDepsFromEnv({ ...base });
    expect(warn).not.toHaveBeenCalled();
    expect(accountDepsFromEnv({ ...base }).verifySecret).toHaveLength(32);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('ops: buckets and thresholds', () => {
    expect([...opsDepsFromEnv({ ...base }).storage.regions]).toEqual(['eu', 'uk']);
    expect(opsOptionsFromEnv({})).toEqual({ staleBackupHours: 48, staleRestoreHours: 48, staleUploadDays: 7, sweepDelaySeconds: 7 * 86_400 + 3600 });
    expect(opsOptionsFromEnv({ OPS_STALE_BACKUP_HOURS: '12', OPS_STALE_RESTORE_HOURS: '6', OPS_STALE_UPLOAD_DAYS: '3', MAX_PRESIGN_SECONDS: '1800' }))
      .toEqual({ staleBackupHours: 12, staleRestoreHours: 6, staleUploadDays: 3, sweepDelaySeconds: 1800 + 3600 });
    expect(opsOptionsFromEnv({ MAX_PRESIGN_SECONDS: String(30 * 86_400) }).sweepDelaySeconds).toBe(7 * 86_400 + 3600);
    expect(opsOptionsFromEnv({ OPS_SWEEP_DELAY_SECONDS: '60', MAX_PRESIGN_SECONDS: '1800' }).sweepDelaySeconds).toBe(60);
    expect(() => opsOptionsFromEnv({ OPS_STALE_RESTORE_HOURS: '0' })).toThrow(/OPS_STALE_RESTORE_HOURS/);
    expect(() => opsOptionsFromEnv({ OPS_STALE_BACKUP_HOURS: 'x' })).toThrow(/OPS_STALE/);
    expect(() => opsDepsFromEnv({ ...base, BUCKETS: '[]' })).toThrow(/BUCKETS/);
  });
});

describe('secretSigningCredentials', () => {
  it('reads the access key once, caches it, re-reads after the refresh interval', async () => {
    let reads = 0;
    let now = 0;
    const client = { send: () => Promise.resolve({ SecretString: JSON.stringify({ accessKeyId: `AKID${++reads}`, secretAccessKey: 's' }) }) } as unknown as SecretsManagerClient;
    const provider = secretSigningCredentials({ secretArn: 'arn', client, refreshSeconds: 60, now: () => now });
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(a.accessKeyId).toBe('AKID1');
    expect(b.accessKeyId).toBe('AKID1');
    now = 61_000;
    expect((await provider()).accessKeyId).toBe('AKID2');
  });

  it('refuses a secret without the two fields', async () => {
    const client = { send: () => Promise.resolve({ SecretString: '{"user":"x"}' }) } as unknown as SecretsManagerClient;
    await expect(secretSigningCredentials({ secretArn: 'arn', client })()).rejects.toThrow(/accessKeyId/);
  });
});
