/** The environment contract with the CDK stack (see the header of from-env.ts). */
import { describe, expect, it } from 'vitest';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretSigningCredentials } from '../store/signing-credentials.js';
import { depsFromEnv } from './from-env.js';

const base = { TABLE_NAME: 't', BUCKETS: '{"eu":"b-eu","uk":"b-uk"}', AWS_REGION: 'eu-central-1' };

describe('depsFromEnv', () => {
  it('reads the table, the buckets and the presign cap for each signing mode', () => {
    const plain = depsFromEnv({ ...base });
    expect(plain.repo.tableName).toBe('t');
    expect([...plain.storage.regions]).toEqual(['eu', 'uk']);
    expect(plain.maxPresignSeconds).toBe(900);
    expect(depsFromEnv({ ...base, SIGNING_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:1:secret:x' }).maxPresignSeconds).toBe(7 * 86400);
    expect(depsFromEnv({ ...base, SIGNING_ROLE_ARN: 'arn:aws:iam::1:role/x', SIGNING_SESSION_SECONDS: '3600' }).maxPresignSeconds).toBe(1800);
    expect(depsFromEnv({ ...base, SIGNING_ROLE_ARN: 'arn:aws:iam::1:role/x', MAX_PRESIGN_SECONDS: '1200' }).maxPresignSeconds).toBe(1200);
  });

  it('refuses a broken configuration at start', () => {
    expect(() => depsFromEnv({ BUCKETS: '{}' })).toThrow(/TABLE_NAME/);
    expect(() => depsFromEnv({ ...base, BUCKETS: '["eu"]' })).toThrow(/BUCKETS/);
    expect(() => depsFromEnv({ ...base, BUCKETS: '{"eu":1}' })).toThrow(/BUCKETS/);
    expect(() => depsFromEnv({ ...base, VERIFY_SECRET: 'short' })).toThrow(/VERIFY_SECRET/);
    expect(() => depsFromEnv({ ...base, MAX_PRESIGN_SECONDS: 'abc' })).toThrow(/MAX_PRESIGN_SECONDS/);
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
