/**
 * Deterministic physical names. Bucket names are computed (not exported) so the API stack and the
 * bucket stacks in other regions agree without cross-region references: both resolve the same
 * `AWS::AccountId` at deploy time.
 */
import { Aws, Fn, Token } from 'aws-cdk-lib';

/** `<prefix>-<account>-<regionId>`, e.g. `vault-123456789012-eu` (globally unique per account). */
export function bucketName(prefix: string, regionId: string, account?: string): string {
  const acct = account !== undefined && !Token.isUnresolved(account) ? account : Aws.ACCOUNT_ID;
  return Token.isUnresolved(acct) ? Fn.join('-', [prefix, acct, regionId]) : `${prefix}-${acct}-${regionId}`;
}

/** The table's name; fixed so the API stack needs no cross-stack export to find it. */
export function tableName(prefix: string): string {
  return `${prefix}-data`;
}

/** ARN of a bucket given its (possibly tokenised) name. */
export function bucketArn(name: string): string {
  return `arn:${Aws.PARTITION}:s3:::${name}`;
}

/** Stack ids; the bucket stack id carries the storage-region id. */
export const STACK_IDS = {
  data: (prefix: string) => `${capitalise(prefix)}Data`,
  api: (prefix: string) => `${capitalise(prefix)}Api`,
  storage: (prefix: string, regionId: string) => `${capitalise(prefix)}Storage-${regionId}`,
} as const;

function capitalise(s: string): string {
  return s
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}
