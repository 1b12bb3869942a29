/**
 * The API: three Lambda functions (account, site, ops), the signing identity for presigned URLs,
 * the HTTP API wired from the shared route table, the ops schedule and the alarms.
 */
import { CfnOutput, Duration, SecretValue, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { ROUTES, type FunctionName } from '../lambdas/routes/route-table.js';
import { OPS_TABLE_ACCESS } from '../lambdas/ops/table-access.js';
import { GSI1, OPS_INDEX } from '../lambdas/store/table-definition.js';
import { cdkBundling, entryOf, PROJECT_ROOT, type LambdaName } from './bundling.js';
import type { VaultConfig } from './config.js';
import { functionEnvironment, type SigningEnv } from './environment.js';
import { grantSignInMail } from './mail.js';
import { bucketArn, bucketName } from './names.js';

export interface ApiStackProps extends StackProps {
  config: VaultConfig;
  /** Name of the table in the data stack (same account and region). */
  tableName: string;
}

/**
 * Presigned URL lifetimes per signing mode (seconds). Role mode: the site function's AssumeRole
 * is role chaining, which STS caps at 1 hour; the API refreshes the session when less than
 * MAX_PRESIGN_SECONDS remain, so every URL is signed by a session that outlives it.
 */
export const SIGNING_LIMITS = {
  user: { maxPresignSeconds: 7 * 24 * 3600 }, // SigV4 query-string maximum
  role: { sessionSeconds: 3600, maxPresignSeconds: 1800 },
} as const;

/** S3 actions by who needs them (see docs/deploy.md, "Signing credentials"). */
export const S3_ACTIONS = {
  /** Signer: what presigned URLs do (PUT, multipart initiate and parts = PutObject; GET/HEAD = GetObject). */
  signerObject: ['s3:PutObject', 's3:GetObject'],
  /**
   * Site function's own calls: CompleteMultipartUpload (= PutObject), ListParts (sizes of parts
   * so far); DeleteObjects and AbortMultipartUpload for failed, over-limit and deleted backups.
   */
  siteObject: ['s3:PutObject', 's3:ListMultipartUploadParts', 's3:DeleteObject', 's3:AbortMultipartUpload'],
  /** Bucket-level: object sizes by listing (HEAD of an SSE-C object needs the key), HeadBucket; open uploads under a backup. */
  siteBucket: ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
  /** ops: deletes, aborts, and the sizes of in-progress backups (objects and parts of open uploads). */
  opsObject: ['s3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
  opsBucket: ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
} as const;

/** DynamoDB item actions the API functions use (transactions are authorised per contained action). */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];

export class ApiStack extends Stack {
  readonly functions: Record<LambdaName, NodejsFunction>;
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly alarmTopic: sns.Topic;
  /** Bucket name per storage region id, as the functions see it in `BUCKETS`. */
  readonly buckets: Record<string, string>;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;
    const table = dynamodb.Table.fromTableName(this, 'Table', props.tableName);
    const retention = retentionOf(config.logRetentionDays);

    this.buckets = Object.fromEntries(config.regions.map((r) => [r.id, bucketName(config.prefix, r.id, config.account)]));
    const bucketArns = Object.values(this.buckets).map(bucketArn);
    const objectArns = bucketArns.map((arn) => `${arn}/*`);

    // account and site: the table and its listing index. ops: only what a run issues (no Scan:
    // it queries the sparse ops index), so its cost and its rights follow the work due.
    const apiTableStatements = [new iam.PolicyStatement({
      actions: TABLE_ACTIONS,
      resources: [table.tableArn, `${table.tableArn}/index/${GSI1.name}`],
    })];
    const opsTableStatements = [
      new iam.PolicyStatement({ actions: [...OPS_TABLE_ACCESS.table], resources: [table.tableArn] }),
      new iam.PolicyStatement({ actions: [...OPS_TABLE_ACCESS.opsIndex], resources: [`${table.tableArn}/index/${OPS_INDEX.name}`] }),
    ];

    // One role per function, logs scoped to the function's own log group.
    const makeFunction = (name: LambdaName, opts: { memory: number; timeout: Duration; description: string }): { fn: NodejsFunction; role: iam.Role } => {
      const logGroup = new logs.LogGroup(this, `${cap(name)}Logs`, { retention });
      const role = new iam.Role(this, `${cap(name)}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Vault Cloud ${name} function`,
      });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
      for (const statement of name === 'ops' ? opsTableStatements : apiTableStatements) role.addToPolicy(statement);
      const fn = new NodejsFunction(this, `${cap(name)}Function`, {
        entry: entryOf(name),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: opts.memory,
        timeout: opts.timeout,
        description: opts.description,
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        bundling: cdkBundling(),
      });
      return { fn, role };
    };

    // API functions stop before API Gateway's 30 s integration timeout.
    const { fn: account } = makeFunction('account', { memory: 512, timeout: Duration.seconds(29), description: 'Vault Cloud account API' });
    const { fn: site, role: siteRole } = makeFunction('site', { memory: 512, timeout: Duration.seconds(29), description: 'Vault Cloud site protocol (tool_vault)' });
    const { fn: ops } = makeFunction('ops', { memory: 512, timeout: Duration.minutes(5), description: 'Vault Cloud scheduled maintenance' });
    this.functions = { account, site, ops };
    if (config.mailFrom) grantSignInMail(this, account, config.mailFrom, config.mailIdentity);

    // --- site: its own S3 calls, and the signing identity for presigned URLs.
    site.addToRolePolicy(new iam.PolicyStatement({ actions: [...S3_ACTIONS.siteBucket], resources: bucketArns }));
    site.addToRolePolicy(new iam.PolicyStatement({ actions: [...S3_ACTIONS.siteObject], resources: objectArns }));
    const signerPolicy = new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ actions: [...S3_ACTIONS.signerObject], resources: objectArns })],
    });
    let signing: SigningEnv;
    if (config.signing === 'user') {
      const user = new iam.User(this, 'SignerUser', { path: '/vault/' });
      new iam.Policy(this, 'SignerUserPolicy', { document: signerPolicy, users: [user] });
      const key = new iam.AccessKey(this, 'SignerKey', { user, serial: config.signingKeySerial });
      const secret = new secretsmanager.Secret(this, 'SignerSecret', {
        description: 'Access key of the Vault Cloud presigning user: {"accessKeyId","secretAccessKey"}',
        secretObjectValue: {
          accessKeyId: SecretValue.unsafePlainText(key.accessKeyId),
          secretAccessKey: key.secretAccessKey,
        },
      });
      secret.grantRead(site);
      // On rotation, update the function only once the secret holds the new key.
      site.node.addDependency(secret);
      signing = { mode: 'user', secretArn: secret.secretArn, keyId: key.accessKeyId, ...SIGNING_LIMITS.user };
      new CfnOutput(this, 'SigningSecretArn', { value: secret.secretArn, description: 'Secret holding the presigning access key' });
    } else {
      const signer = new iam.Role(this, 'SignerRole', {
        assumedBy: new iam.ArnPrincipal(siteRole.roleArn),
        // Assumed from a Lambda role = role chaining: STS grants at most 1 hour whatever this says.
        maxSessionDuration: Duration.seconds(SIGNING_LIMITS.role.sessionSeconds),
        description: 'Assumed by the site function only to presign S3 URLs',
        inlinePolicies: { presign: signerPolicy },
      });
      site.addToRolePolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [signer.roleArn] }));
      signing = { mode: 'role', roleArn: signer.roleArn, ...SIGNING_LIMITS.role };
      new CfnOutput(this, 'SigningRoleArn', { value: signer.roleArn, description: 'Role assumed to presign S3 URLs' });
    }

    // --- ops: expire objects with their backups, abort stale multipart uploads.
    ops.addToRolePolicy(new iam.PolicyStatement({ actions: [...S3_ACTIONS.opsBucket], resources: bucketArns }));
    ops.addToRolePolicy(new iam.PolicyStatement({ actions: [...S3_ACTIONS.opsObject], resources: objectArns }));
    new events.Rule(this, 'OpsSchedule', {
      description: 'Runs the Vault Cloud ops function',
      schedule: events.Schedule.rate(Duration.minutes(config.opsIntervalMinutes)),
      targets: [new targets.LambdaFunction(ops, { retryAttempts: 2 })],
    });

    // --- HTTP API, wired from the shared route table.
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${config.prefix}-api`,
      description: 'Vault Cloud API (tool_vault site protocol and account API)',
      createDefaultStage: false,
    });

    // --- environment, from one typed function shared with the tests.
    // Verification-token secret: generated at deploy, never in the template; CloudFormation
    // resolves it into the account function's configuration (readable by lambda:GetFunction*).
    const verifySecret = new secretsmanager.Secret(this, 'VerifySecret', {
      description: 'HS256 secret of Vault Cloud email-verification tokens',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const inputs = {
      tableName: table.tableName,
      buckets: Stack.of(this).toJsonString(this.buckets),
      signing,
      verifySecret: verifySecret.secretValue.unsafeUnwrap(),
      publicUrl: config.publicUrl ?? this.httpApi.apiEndpoint,
      runtimeSourceMaps: config.runtimeSourceMaps,
      logVerificationLinks: config.logVerificationLinks,
      mailFrom: config.mailFrom,
      directRegister: config.directRegister,
    };
    for (const name of ['account', 'site', 'ops'] as const) {
      for (const [k, v] of Object.entries(functionEnvironment(name, inputs))) this.functions[name].addEnvironment(k, v);
    }
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: config.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTime',
            route: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            bytes: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    const integrations: Record<FunctionName, HttpLambdaIntegration> = {
      account: new HttpLambdaIntegration('AccountIntegration', account, { scopePermissionToRoute: false }),
      site: new HttpLambdaIntegration('SiteIntegration', site, { scopePermissionToRoute: false }),
    };
    for (const route of ROUTES) {
      this.httpApi.addRoutes({ path: route.path, methods: [apigwv2.HttpMethod[route.method]], integration: integrations[route.fn] });
    }

    // --- alarms
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Vault Cloud alarms' });
    if (config.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    this.addAlarms(table);

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.apiEndpoint, description: 'apiurl for tool_vault and --api-url for vault-agent' });
    new CfnOutput(this, 'Buckets', { value: Stack.of(this).toJsonString(this.buckets), description: 'Bucket name per storage region id' });
    new CfnOutput(this, 'TableName', { value: table.tableName, description: 'DynamoDB table of the API' });
  }

  private addAlarms(table: dynamodb.ITable): void {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, props: cloudwatch.AlarmProps): void => {
      const a = new cloudwatch.Alarm(this, id, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props });
      a.addAlarmAction(action);
    };
    const period = Duration.minutes(5);

    // API 5xx rate: percentage of requests, only once there is traffic enough to mean something.
    alarm('Api5xxRate', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests >= 10, 100 * errors / requests, 0)',
        usingMetrics: {
          errors: this.httpApi.metricServerError({ period, statistic: 'Sum' }),
          requests: this.httpApi.metricCount({ period, statistic: 'Sum' }),
        },
        period,
        label: 'API 5xx %',
      }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      alarmDescription: 'More than 5% of API requests answered 5xx in 5 minutes',
    });

    for (const [name, fn] of Object.entries(this.functions)) {
      alarm(`${cap(name)}Errors`, {
        metric: fn.metricErrors({ period, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `${name} function errors`,
      });
      alarm(`${cap(name)}Throttles`, {
        metric: fn.metricThrottles({ period, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `${name} function throttles`,
      });
    }

    alarm('TableThrottledRequests', {
      // At most 10 metrics per alarm expression: the operations the API issues.
      metric: table.metricThrottledRequestsForOperations({
        period,
        operations: [
          dynamodb.Operation.GET_ITEM,
          dynamodb.Operation.BATCH_GET_ITEM,
          dynamodb.Operation.QUERY,
          dynamodb.Operation.PUT_ITEM,
          dynamodb.Operation.UPDATE_ITEM,
          dynamodb.Operation.DELETE_ITEM,
          dynamodb.Operation.BATCH_WRITE_ITEM,
          dynamodb.Operation.TRANSACT_WRITE_ITEMS,
          dynamodb.Operation.TRANSACT_GET_ITEMS,
        ],
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      alarmDescription: 'DynamoDB throttled requests (all operations)',
    });
    for (const metricName of ['ReadThrottleEvents', 'WriteThrottleEvents'] as const) {
      alarm(`Table${metricName}`, {
        metric: table.metric(metricName, { period, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `DynamoDB ${metricName}`,
      });
    }
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Maps a day count onto the closest CloudWatch retention at or above it. */
function retentionOf(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is logs.RetentionDays => typeof v === 'number' && v > 0);
  allowed.sort((a, b) => a - b);
  return allowed.find((d) => d >= days) ?? logs.RetentionDays.TEN_YEARS;
}
