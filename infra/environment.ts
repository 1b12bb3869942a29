/**
 * The environment each Lambda function gets — the contract with `lambdas/handlers/from-env.ts`.
 * One typed function so the stack and the tests agree on names and on who gets what.
 */
import type { LambdaName } from './bundling.js';

/** How the site function finds its presigning credentials. */
export type SigningEnv =
  | { mode: 'user'; secretArn: string; maxSeconds: number }
  | { mode: 'role'; roleArn: string; maxSeconds: number };

export interface EnvironmentInputs {
  tableName: string;
  /** JSON object: storage-region id → bucket name. */
  buckets: string;
  signing: SigningEnv;
}

/** Variables every function gets. */
export const COMMON_ENV_KEYS = ['TABLE_NAME', 'BUCKETS', 'NODE_OPTIONS'] as const;

export function functionEnvironment(fn: LambdaName, inputs: EnvironmentInputs): Record<string, string> {
  const env: Record<string, string> = {
    TABLE_NAME: inputs.tableName,
    BUCKETS: inputs.buckets,
    // Stack traces through the esbuild source maps.
    NODE_OPTIONS: '--enable-source-maps',
  };
  if (fn === 'site') {
    if (inputs.signing.mode === 'user') env.SIGNING_SECRET_ARN = inputs.signing.secretArn;
    else env.SIGNING_ROLE_ARN = inputs.signing.roleArn;
    // Upper bound for presigned URL lifetimes with these credentials (seconds).
    env.PRESIGN_MAX_SECONDS = String(inputs.signing.maxSeconds);
  }
  return env;
}
