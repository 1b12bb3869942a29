/**
 * Credentials used only for presigning. A presigned URL dies with the session that signed it, and
 * Lambda role sessions are short, so with `SIGNING_ROLE_ARN` we assume a role for a long session
 * (12 h) and reuse it while at least `minRemainingSeconds` of it is left; the presign lifetime cap
 * (`MAX_PRESIGN_SECONDS`) must not exceed that remainder.
 */
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

type Provider = Extract<NonNullable<S3ClientConfig['credentials']>, (...args: never[]) => unknown>;
type Identity = Awaited<ReturnType<Provider>>;

/** Options of `assumedRoleSigningCredentials`. */
export interface SigningCredentialsOptions {
  roleArn: string;
  /** Session length asked from STS (the role's maximum session duration must allow it). */
  sessionSeconds: number;
  /** Refresh when less than this remains. */
  minRemainingSeconds: number;
  now?: () => number;
}

/** A cached assumed-role credential provider for the presigner. */
export function assumedRoleSigningCredentials(opts: SigningCredentialsOptions): Provider {
  const base = fromTemporaryCredentials({
    params: { RoleArn: opts.roleArn, RoleSessionName: 'vault-cloud-presign', DurationSeconds: opts.sessionSeconds },
  });
  const now = opts.now ?? Date.now;
  let cached: Identity | undefined;
  let pending: Promise<Identity> | undefined;
  return async () => {
    const expiresAt = cached?.expiration?.getTime() ?? 0;
    if (cached && expiresAt - now() > opts.minRemainingSeconds * 1000) return cached;
    pending ??= base().then((id) => {
      cached = id;
      return id;
    }).finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
