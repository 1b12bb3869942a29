/**
 * The environment each Lambda function gets — the contract with `lambdas/handlers/from-env.ts`
 * (read that file's header for the meaning of each variable). One typed function so the stack
 * and the tests agree on names and on who gets what.
 */
import { sweepDelaySeconds } from '../lambdas/domain/limits.js';
import type { LambdaName } from './bundling.js';

/** How the site function gets its presigning credentials. */
export type SigningEnv =
  /** Access key of the signing IAM user, JSON `{accessKeyId, secretAccessKey}` in Secrets Manager. */
  | { mode: 'user'; secretArn: string; keyId: string; maxPresignSeconds: number }
  /** Role assumed from the Lambda role: a chained session, at most `sessionSeconds` = 3600. */
  | { mode: 'role'; roleArn: string; sessionSeconds: number; maxPresignSeconds: number };

export interface EnvironmentInputs {
  tableName: string;
  /** JSON object: storage-region id → bucket name. */
  buckets: string;
  signing: SigningEnv;
  /** HS256 secret (≥ 32 chars) of email-verification tokens; a CloudFormation dynamic reference. */
  verifySecret: string;
  /** Public base URL of the API, for verification links. */
  publicUrl: string;
  /** Set NODE_OPTIONS=--enable-source-maps. */
  runtimeSourceMaps: boolean;
  /** account: LOG_VERIFICATION_LINKS=true. */
  logVerificationLinks: boolean;
  /** account: MAIL_FROM (sign-in codes through SES), if configured. */
  mailFrom?: string;
  /** account: false sets DIRECT_REGISTER=false. */
  directRegister?: boolean;
}

export function functionEnvironment(fn: LambdaName, inputs: EnvironmentInputs): Record<string, string> {
  const env: Record<string, string> = { TABLE_NAME: inputs.tableName };
  // The account function never touches S3 (lambdas/account-app.ts).
  if (fn !== 'account') env.BUCKETS = inputs.buckets;
  // Stack traces through the esbuild source maps.
  if (inputs.runtimeSourceMaps) env.NODE_OPTIONS = '--enable-source-maps';
  if (fn === 'account') {
    env.VERIFY_SECRET = inputs.verifySecret;
    env.PUBLIC_URL = inputs.publicUrl;
    if (inputs.logVerificationLinks) env.LOG_VERIFICATION_LINKS = 'true';
    if (inputs.mailFrom) env.MAIL_FROM = inputs.mailFrom;
    if (inputs.directRegister === false) env.DIRECT_REGISTER = 'false';
  }
  if (fn === 'site') {
    const s = inputs.signing;
    if (s.mode === 'user') {
      env.SIGNING_SECRET_ARN = s.secretArn;
      // Not read by the API: the access key id (public) changes when the key is rotated, which
      // updates the function and so retires warm instances still caching the old key.
      env.SIGNING_KEY_ID = s.keyId;
    } else {
      env.SIGNING_ROLE_ARN = s.roleArn;
      env.SIGNING_SESSION_SECONDS = String(s.sessionSeconds);
    }
    // Cap of presigned URL lifetimes; always below what the signing credentials outlive.
    env.MAX_PRESIGN_SECONDS = String(s.maxPresignSeconds);
  }
  // ops sweeps failed, deleted and finished backups again once every URL issued for them has expired (ops-env.ts).
  if (fn === 'ops') env.OPS_SWEEP_DELAY_SECONDS = String(sweepDelaySeconds(inputs.signing.maxPresignSeconds));
  return env;
}
