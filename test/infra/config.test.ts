/** Configuration from CDK context, and the role-signing variant of the API stack. */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STORAGE_REGIONS } from '../../lambdas/domain/regions.js';
import { DEFAULTS, readConfig, type ContextSource } from '../../infra/config.js';
import { actionsOf, buildApp, logicalId, resources } from './template-helpers.js';

const ctx = (values: Record<string, unknown>): ContextSource => ({ tryGetContext: (k) => values[k] });

describe('readConfig', () => {
  it('has offline defaults: every storage region, user signing, no account', () => {
    const c = readConfig(ctx({}));
    expect(c.regions.map((r) => r.id)).toEqual(STORAGE_REGIONS.map((r) => r.id));
    expect(c).toMatchObject({ prefix: 'vault', apiRegion: DEFAULTS.apiRegion, account: undefined, signing: 'user', alarmEmail: undefined });
  });

  it('takes a subset of regions as a comma list, a JSON list or an array, in STORAGE_REGIONS order', () => {
    expect(readConfig(ctx({ regions: 'uk, eu' })).regions.map((r) => r.id)).toEqual(['eu', 'uk']);
    expect(readConfig(ctx({ regions: '["ca"]' })).regions.map((r) => r.id)).toEqual(['ca']);
    expect(readConfig(ctx({ regions: ['usw2'] })).regions.map((r) => r.awsRegion)).toEqual(['us-west-2']);
  });

  it('rejects unknown regions and malformed values with a clear message', () => {
    expect(() => readConfig(ctx({ regions: 'eu,mars' }))).toThrow(/unknown storage region id\(s\): mars/);
    expect(() => readConfig(ctx({ signing: 'magic' }))).toThrow(/signing must be user or role/);
    expect(() => readConfig(ctx({ account: '12' }))).toThrow(/12 digits/);
    expect(() => readConfig(ctx({ prefix: 'Vault_X' }))).toThrow(/prefix/);
    expect(() => readConfig(ctx({ throttleRate: '0' }))).toThrow(/throttleRate/);
  });
});

describe('explicit account and role signing', () => {
  it('uses literal bucket names and a signing role the site function alone may assume', () => {
    const { stacks } = buildApp({ regions: 'eu', signing: 'role', account: '123456789012', apiRegion: 'us-east-1', prefix: 'acme' }, false);
    expect(stacks.api.account).toBe('123456789012');
    expect(stacks.api.buckets).toEqual({ eu: 'acme-123456789012-eu' });
    Template.fromStack(stacks.storage[0]!).hasResourceProperties('AWS::S3::Bucket', { BucketName: 'acme-123456789012-eu' });

    const api = Template.fromStack(stacks.api);
    const signer = logicalId(api, 'AWS::IAM::Role', 'SignerRole');
    const siteRole = logicalId(api, 'AWS::IAM::Role', 'SiteRole');
    const signerProps = resources(api)[signer]?.Properties ?? {};
    expect(signerProps.MaxSessionDuration).toBe(12 * 3600);
    expect(JSON.stringify(signerProps.AssumeRolePolicyDocument)).toContain(`"${siteRole}","Arn"`);
    const assume = actionsOf(api, siteRole).filter((g) => g.action === 'sts:AssumeRole');
    expect(assume).toEqual([{ action: 'sts:AssumeRole', resource: { 'Fn::GetAtt': [signer, 'Arn'] } }]);
    api.resourceCountIs('AWS::IAM::User', 0);
    api.resourceCountIs('AWS::SecretsManager::Secret', 0);

    const site = logicalId(api, 'AWS::Lambda::Function', 'SiteFunction');
    const env = (resources(api)[site]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.SIGNING_ROLE_ARN).toEqual({ 'Fn::GetAtt': [signer, 'Arn'] });
    expect(env.PRESIGN_MAX_SECONDS).toBe('3600');
    expect(env.BUCKETS).toBe('{"eu":"acme-123456789012-eu"}');
  });
});
