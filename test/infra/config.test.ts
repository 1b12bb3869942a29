/** Configuration from CDK context, and the role-signing variant of the API stack. */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STORAGE_REGIONS } from '../../lambdas/domain/regions.js';
import { DEFAULTS, readConfig, type ContextSource } from '../../infra/config.js';
import { S3_ACTIONS, SIGNING_LIMITS } from '../../infra/api-stack.js';
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
    expect(() => readConfig(ctx({ runtimeSourceMaps: 'yes' }))).toThrow(/runtimeSourceMaps/);
    expect(readConfig(ctx({ runtimeSourceMaps: false })).runtimeSourceMaps).toBe(false);
    expect(readConfig(ctx({ runtimeSourceMaps: 'false' })).runtimeSourceMaps).toBe(false);
  });
});

describe('explicit account and role signing', () => {
  it('uses literal bucket names and a 1-hour signing role that the site function alone may assume', () => {
    const { stacks } = buildApp({ regions: 'eu', signing: 'role', account: '123456789012', apiRegion: 'us-east-1', prefix: 'acme', publicUrl: 'https://vault.example.org/', runtimeSourceMaps: 'false', logVerificationLinks: true }, false);
    expect(stacks.api.account).toBe('123456789012');
    expect(stacks.api.buckets).toEqual({ eu: 'acme-123456789012-eu' });
    Template.fromStack(stacks.storage[0]!).hasResourceProperties('AWS::S3::Bucket', { BucketName: 'acme-123456789012-eu' });

    const api = Template.fromStack(stacks.api);
    const signer = logicalId(api, 'AWS::IAM::Role', 'SignerRole');
    const siteRole = logicalId(api, 'AWS::IAM::Role', 'SiteRole');
    const props = resources(api)[signer]?.Properties ?? {};
    expect(props.MaxSessionDuration).toBe(3600);
    expect(props.AssumeRolePolicyDocument).toEqual({
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: { 'Fn::GetAtt': [siteRole, 'Arn'] } } }],
      Version: '2012-10-17',
    });
    expect(new Set(actionsOf(api, signer).map((g) => g.action))).toEqual(new Set(S3_ACTIONS.signerObject));
    const assume = actionsOf(api, siteRole).filter((g) => g.action.startsWith('sts:'));
    expect(assume).toEqual([{ action: 'sts:AssumeRole', resource: { 'Fn::GetAtt': [signer, 'Arn'] } }]);
    for (const name of ['AccountRole', 'OpsRole']) {
      expect(actionsOf(api, logicalId(api, 'AWS::IAM::Role', name)).some((g) => g.action.startsWith('sts:'))).toBe(false);
    }
    api.resourceCountIs('AWS::IAM::User', 0);
    api.resourceCountIs('AWS::IAM::AccessKey', 0);

    const envOf = (prefix: string): Record<string, unknown> =>
      (resources(api)[logicalId(api, 'AWS::Lambda::Function', prefix)]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(envOf('SiteFunction')).toMatchObject({
      SIGNING_ROLE_ARN: { 'Fn::GetAtt': [signer, 'Arn'] },
      SIGNING_SESSION_SECONDS: String(SIGNING_LIMITS.role.sessionSeconds),
      MAX_PRESIGN_SECONDS: String(SIGNING_LIMITS.role.maxPresignSeconds),
    });
    expect(envOf('SiteFunction').SIGNING_SECRET_ARN).toBeUndefined();
    expect(envOf('SiteFunction').BUCKETS).toBe('{"eu":"acme-123456789012-eu"}');
    expect(envOf('AccountFunction').PUBLIC_URL).toBe('https://vault.example.org');
    expect(envOf('AccountFunction').NODE_OPTIONS).toBeUndefined();
    expect(envOf('AccountFunction').LOG_VERIFICATION_LINKS).toBe('true');
  });
});
