/**
 * Assertion tests over the synthesized stacks. The app (with real esbuild bundling) is built once
 * in beforeAll; everything else reads its templates.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lambdas/routes/route-table.js';
import { OPS_TABLE_ACCESS } from '../../lambdas/ops/table-access.js';
import { GSI1, OPS_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../../lambdas/store/table-definition.js';
import { S3_ACTIONS, TABLE_ACTIONS } from '../../infra/api-stack.js';
import type { VaultStacks } from '../../infra/vault-app.js';
import { actionsOf, asList, buildApp, iamStatements, logicalId, resources } from './template-helpers.js';

let app: App;
let stacks: VaultStacks;
let api: Template;
let data: Template;
let storage: Template[];

beforeAll(() => {
  ({ app, stacks } = buildApp({ regions: 'eu,uk', alarmEmail: 'ops@example.org' }));
  api = Template.fromStack(stacks.api);
  data = Template.fromStack(stacks.data);
  storage = stacks.storage.map((s) => Template.fromStack(s));
});

describe('stacks', () => {
  it('deploys the table and API in the API region and one bucket stack per configured region', () => {
    expect(stacks.api.region).toBe('eu-central-1');
    expect(stacks.data.region).toBe('eu-central-1');
    expect(stacks.storage.map((s) => s.region)).toEqual(['eu-central-1', 'eu-west-2']);
    expect(stacks.storage.map((s) => s.stackName)).toEqual(['VaultStorage-eu', 'VaultStorage-uk']);
  });

  it("pass CDK's built-in CloudFormation template validation without findings", () => {
    const file = join(app.synth().directory, 'validation-report.json');
    expect(existsSync(file)).toBe(true);
    const report = JSON.parse(readFileSync(file, 'utf8')) as { pluginReports: { violations?: unknown[] }[] };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
  });

  it('needs no cross-stack exports (names are computed), only ordering', () => {
    for (const t of [api, data, ...storage]) expect(JSON.stringify(t.toJSON())).not.toContain('Fn::ImportValue');
    const deps = stacks.api.dependencies.map((s) => s.stackName).sort();
    expect(deps).toEqual(['VaultData', 'VaultStorage-eu', 'VaultStorage-uk']);
  });
});

describe('table', () => {
  it('is on-demand with pk/sk, the GSIs, TTL, PITR and deletion protection, and is retained', () => {
    data.resourceCountIs('AWS::DynamoDB::Table', 1);
    data.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: TABLE_KEYS.partition, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.sort, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GSI1.name,
            KeySchema: [
              { AttributeName: GSI1.partition, KeyType: 'HASH' },
              { AttributeName: GSI1.sort, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: OPS_INDEX.name,
            KeySchema: [
              { AttributeName: OPS_INDEX.partition, KeyType: 'HASH' },
              { AttributeName: OPS_INDEX.sort, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });
});

describe('buckets', () => {
  it('each bucket blocks public access, allows SSE-C, defaults to SSE-S3, enforces ownership and aborts stale uploads', () => {
    for (const t of storage) {
      t.resourceCountIs('AWS::S3::Bucket', 1);
      t.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        Properties: {
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BlockedEncryptionTypes: { EncryptionType: ['NONE'] } },
            ],
          },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
          LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } })]) },
          CorsConfiguration: Match.absent(),
        },
      });
    }
  });

  it('each bucket policy denies every request not made over TLS', () => {
    for (const t of storage) {
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('bucket names are <prefix>-<account>-<region id>, the same names the functions get', () => {
    const names = storage.map((t) => JSON.stringify(Object.values(resources(t, 'AWS::S3::Bucket'))[0]?.Properties?.BucketName));
    expect(names[0]).toBe(JSON.stringify({ 'Fn::Join': ['-', ['vault', { Ref: 'AWS::AccountId' }, 'eu']] }));
    expect(names[1]).toBe(JSON.stringify({ 'Fn::Join': ['-', ['vault', { Ref: 'AWS::AccountId' }, 'uk']] }));
    expect(Object.keys(stacks.api.buckets)).toEqual(['eu', 'uk']);
  });
});

describe('functions', () => {
  it('account, site and ops run nodejs22.x on arm64 from an ESM bundle', () => {
    api.resourceCountIs('AWS::Lambda::Function', 3);
    for (const name of ['Account', 'Site', 'Ops']) {
      const id = logicalId(api, 'AWS::Lambda::Function', `${name}Function`);
      expect(resources(api)[id]?.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
    }
  });

  it('get the environment the handlers read', () => {
    const env = (name: string): Record<string, unknown> => {
      const id = logicalId(api, 'AWS::Lambda::Function', `${name}Function`);
      return (resources(api)[id]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    };
    for (const name of ['Account', 'Site', 'Ops']) {
      expect(env(name).TABLE_NAME).toBe('vault-data');
      expect(env(name).NODE_OPTIONS).toBe('--enable-source-maps');
    }
    expect(env('Site').BUCKETS).toBeDefined();
    expect(env('Ops').BUCKETS).toEqual(env('Site').BUCKETS);
    expect(env('Account').BUCKETS).toBeUndefined(); // no S3 in the account function
    const signerSecret = logicalId(api, 'AWS::SecretsManager::Secret', 'SignerSecret');
    expect(env('Site')).toMatchObject({
      SIGNING_SECRET_ARN: { Ref: signerSecret },
      SIGNING_KEY_ID: { Ref: logicalId(api, 'AWS::IAM::AccessKey', 'SignerKey') },
      MAX_PRESIGN_SECONDS: String(7 * 24 * 3600),
    });
    // Rotation: the function is updated after the secret holds the new key.
    expect(asList(resources(api)[logicalId(api, 'AWS::Lambda::Function', 'SiteFunction')]?.DependsOn)).toContain(signerSecret);
    expect(env('Site').SIGNING_ROLE_ARN).toBeUndefined();
    for (const name of ['Account', 'Ops']) expect(Object.keys(env(name)).filter((k) => k.startsWith('SIGNING') || k.includes('PRESIGN'))).toEqual([]);
    // ops sweeps again once the longest URL the site function signs has expired, plus an hour.
    expect(env('Ops').OPS_SWEEP_DELAY_SECONDS).toBe(String(7 * 24 * 3600 + 3600));
    // Verification secret: a dynamic reference to a generated secret, only for account.
    const verify = logicalId(api, 'AWS::SecretsManager::Secret', 'VerifySecret');
    expect(JSON.stringify(env('Account').VERIFY_SECRET)).toContain('{{resolve:secretsmanager:');
    expect(JSON.stringify(env('Account').VERIFY_SECRET)).toContain(verify);
    expect(env('Account').PUBLIC_URL).toEqual({ 'Fn::GetAtt': [logicalId(api, 'AWS::ApiGatewayV2::Api', 'HttpApi'), 'ApiEndpoint'] });
    expect(env('Account').LOG_VERIFICATION_LINKS).toBeUndefined();
    expect(env('Site').VERIFY_SECRET).toBeUndefined();
    expect(env('Ops').VERIFY_SECRET).toBeUndefined();
  });

  it('keep logs for the configured retention', () => {
    api.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 4);
  });

  it('ops runs on an EventBridge schedule', () => {
    const ops = logicalId(api, 'AWS::Lambda::Function', 'OpsFunction');
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ops, 'Arn'] } })],
    });
    api.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': [ops, 'Arn'] } });
  });
});

describe('IAM least privilege', () => {
  it('no statement grants a wildcard action or a "*" resource', () => {
    const statements = iamStatements(api);
    expect(statements.length).toBeGreaterThan(5);
    for (const { holder, statement } of statements) {
      if (statement.Effect !== 'Allow') continue;
      for (const a of asList(statement.Action)) expect(a, `${holder} action ${a}`).not.toMatch(/^(\*|s3:\*|dynamodb:\*|[a-z0-9-]+:\*)$/);
      for (const r of asList(statement.Resource)) expect(r, `${holder} resource`).not.toBe('*');
    }
  });

  it('account reaches only the table (and its own logs)', () => {
    const grants = actionsOf(api, logicalId(api, 'AWS::IAM::Role', 'AccountRole'));
    const services = new Set(grants.map((g) => g.action.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'logs']);
    for (const g of grants.filter((x) => x.action.startsWith('dynamodb:'))) expect(JSON.stringify(g.resource)).toMatch(/table\/vault-data(\/index\/gsi1)?"/);
  });

  it('site reaches the table, its buckets, and the signing secret only', () => {
    const grants = actionsOf(api, logicalId(api, 'AWS::IAM::Role', 'SiteRole'));
    const s3 = grants.filter((g) => g.action.startsWith('s3:'));
    expect(new Set(s3.map((g) => g.action))).toEqual(new Set([...S3_ACTIONS.siteObject, ...S3_ACTIONS.siteBucket]));
    for (const g of s3) {
      const res = JSON.stringify(g.resource);
      expect(res).toMatch(/:s3:::/);
      if ((S3_ACTIONS.siteBucket as readonly string[]).includes(g.action)) expect(res).not.toContain('/*');
      else expect(res).toContain('/*');
    }
    const secret = logicalId(api, 'AWS::SecretsManager::Secret', 'SignerSecret');
    const secretGrants = grants.filter((g) => g.action.startsWith('secretsmanager:'));
    expect(secretGrants.map((g) => g.action)).toContain('secretsmanager:GetSecretValue');
    for (const g of secretGrants) expect(g.resource).toEqual({ Ref: secret });
    expect(grants.some((g) => g.action.startsWith('sts:'))).toBe(false);
    for (const name of ['AccountRole', 'OpsRole']) {
      expect(actionsOf(api, logicalId(api, 'AWS::IAM::Role', name)).some((g) => g.action.startsWith('secretsmanager:'))).toBe(false);
    }
  });

  it('the signing user holds exactly the presign rights on object ARNs; its key lives in the secret', () => {
    const user = logicalId(api, 'AWS::IAM::User', 'SignerUser');
    const grants = actionsOf(api, user);
    expect(new Set(grants.map((g) => g.action))).toEqual(new Set(S3_ACTIONS.signerObject));
    for (const g of grants) expect(JSON.stringify(g.resource)).toMatch(/:s3:::.*\/\*"/);
    const key = logicalId(api, 'AWS::IAM::AccessKey', 'SignerKey');
    api.hasResourceProperties('AWS::IAM::AccessKey', { UserName: { Ref: user }, Serial: 1 });
    const secret = resources(api)[logicalId(api, 'AWS::SecretsManager::Secret', 'SignerSecret')]?.Properties?.SecretString;
    expect(JSON.stringify(secret)).toContain(`"Fn::GetAtt":["${key}","SecretAccessKey"]`);
    api.resourceCountIs('AWS::IAM::Role', 3); // the functions' roles, no signing role
  });

  it('ops has exactly the DynamoDB actions a run issues: item reads/updates on the table, Query on the ops index, no Scan', () => {
    const grants = actionsOf(api, logicalId(api, 'AWS::IAM::Role', 'OpsRole')).filter((g) => g.action.startsWith('dynamodb:'));
    const onTable = grants.filter((g) => JSON.stringify(g.resource).endsWith(':table/vault-data"]]}'));
    const onOpsIndex = grants.filter((g) => JSON.stringify(g.resource).endsWith(`:table/vault-data/index/${OPS_INDEX.name}"]]}`));
    expect(onTable.length + onOpsIndex.length, JSON.stringify(grants)).toBe(grants.length);
    expect(onTable.map((g) => g.action).sort()).toEqual([...OPS_TABLE_ACCESS.table].sort());
    expect(onOpsIndex.map((g) => g.action).sort()).toEqual([...OPS_TABLE_ACCESS.opsIndex].sort());
    expect(grants.map((g) => g.action)).not.toContain('dynamodb:Scan');
  });

  it('account and site keep the API table actions on the table and gsi1, and no ops-index or Scan rights', () => {
    for (const name of ['AccountRole', 'SiteRole']) {
      const grants = actionsOf(api, logicalId(api, 'AWS::IAM::Role', name)).filter((g) => g.action.startsWith('dynamodb:'));
      expect(new Set(grants.map((g) => g.action))).toEqual(new Set(TABLE_ACTIONS));
      for (const g of grants) expect(JSON.stringify(g.resource)).toMatch(/table\/vault-data(\/index\/gsi1)?"/);
    }
  });

  it('ops deletes objects and aborts uploads, nothing else on S3', () => {
    const grants = actionsOf(api, logicalId(api, 'AWS::IAM::Role', 'OpsRole'));
    const s3 = new Set(grants.filter((g) => g.action.startsWith('s3:')).map((g) => g.action));
    expect(s3).toEqual(new Set([...S3_ACTIONS.opsObject, ...S3_ACTIONS.opsBucket]));
  });
});

describe('HTTP API', () => {
  const integrationFor = (routeKey: string): string => {
    const route = Object.values(resources(api, 'AWS::ApiGatewayV2::Route')).find((r) => r.Properties?.RouteKey === routeKey);
    expect(route, routeKey).toBeDefined();
    const target = route?.Properties?.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
    const integration = resources(api)[target['Fn::Join'][1][1].Ref];
    return (integration?.Properties?.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  };

  it('wires every route of the route table to the right function, and nothing else', () => {
    api.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
    const fnIds = { site: logicalId(api, 'AWS::Lambda::Function', 'SiteFunction'), account: logicalId(api, 'AWS::Lambda::Function', 'AccountFunction') };
    for (const r of ROUTES) expect(integrationFor(`${r.method} ${r.path}`), `${r.method} ${r.path}`).toBe(fnIds[r.fn]);
  });

  it('covers every endpoint of the site protocol (spec §4) on the site function', () => {
    const spec = [
      'GET /validateapikey', 'PUT /backups', 'POST /backups/{backupkey}/upload/{filename}',
      'POST /backups/{backupkey}/uploadcompleted/{filename}', 'PATCH /backups/{backupkey}', 'GET /backups',
      'GET /backups/{backupkey}', 'GET /backups/{backupkey}/validate', 'PUT /restores', 'PATCH /restores/{restorekey}',
      'GET /restores/{restorekey}/download/{filename}', 'POST /reporterror',
    ];
    const site = logicalId(api, 'AWS::Lambda::Function', 'SiteFunction');
    for (const key of spec) expect(integrationFor(key), key).toBe(site);
  });

  it('routes the web pages, their files, the dashboard API and /openapi.json to the account function', () => {
    const account = logicalId(api, 'AWS::Lambda::Function', 'AccountFunction');
    const pages = [
      'GET /', 'GET /plans', 'GET /faq', 'GET /getapikey', 'GET /dashboard', 'GET /web/{name}', 'GET /openapi.json', 'GET /api',
      'POST /signin/session', 'POST /signout', 'GET /dashboard/api/account', 'GET /dashboard/api/backups',
      'DELETE /dashboard/api/backups/{backupkey}', 'GET /dashboard/api/restores', 'POST /dashboard/api/keys',
    ];
    for (const key of pages) expect(integrationFor(key), key).toBe(account);
  });

  it('uses payload format 2.0 (hono/aws-lambda)', () => {
    api.resourcePropertiesCountIs('AWS::ApiGatewayV2::Integration', { IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' }, 2);
  });

  it('the $default stage throttles and writes access logs', () => {
    api.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [logicalId(api, 'AWS::Logs::LogGroup', 'AccessLogs'), 'Arn'] }, Format: Match.stringLikeRegexp('requestId') },
    });
  });
});

describe('alarms and outputs', () => {
  it('alarm on API 5xx rate, each function errors and throttles, DynamoDB throttles, into one SNS topic', () => {
    const alarms = Object.values(resources(api, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties ?? {});
    const metricNames = alarms.map((a) => (a.MetricName as string | undefined) ?? JSON.stringify(a.Metrics));
    expect(metricNames.filter((m) => m === 'Errors')).toHaveLength(3);
    expect(metricNames.filter((m) => m === 'Throttles')).toHaveLength(3);
    expect(metricNames).toEqual(expect.arrayContaining(['ReadThrottleEvents', 'WriteThrottleEvents']));
    expect(metricNames.some((m) => m.includes('ThrottledRequests'))).toBe(true);
    expect(metricNames.some((m) => m.includes('5xx') && m.includes('Count'))).toBe(true);
    const topic = logicalId(api, 'AWS::SNS::Topic', 'AlarmTopic');
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
    api.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.org', TopicArn: { Ref: topic } });
  });

  it('outputs the API URL, table name and bucket names', () => {
    api.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [logicalId(api, 'AWS::ApiGatewayV2::Api', 'HttpApi'), 'ApiEndpoint'] } });
    api.hasOutput('TableName', { Value: 'vault-data' });
    api.hasOutput('Buckets', {});
    data.hasOutput('TableName', {});
    for (const t of storage) t.hasOutput('BucketName', {});
  });
});
