/**
 * Credentials used only for presigning. A presigned URL dies with the credentials that signed it,
 * and Lambda role sessions are short. Two options: `SIGNING_SECRET_ARN`, the access key of a
 * dedicated IAM user (URLs up to 7 days), or `SIGNING_ROLE_ARN`, a role assumed for its own
 * session and reused while at least `minRemainingSeconds` of it is left (role chaining from a
 * Lambda role caps that session at 1 h). The presign lifetime cap (`MAX_PRESIGN_SECONDS`) must
 * not exceed what remains.
 *
 * The STS and Secrets Manager SDK code (signing-sdk.ts) is imported dynamically on the first
 * signing: the site function's cold start does not evaluate it, nor does any start of a
 * deployment using neither mode.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

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
  let baseProvider: Provider | undefined;
  const base = async (): Promise<Identity> => {
    if (!baseProvider) {
      const sdk = await import('./signing-sdk.js');
      baseProvider = sdk.temporaryCredentials(opts.roleArn, opts.sessionSeconds);
    }
    return baseProvider();
  };
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

/** Options of `secretSigningCredentials`. */
export interface SecretSigningOptions {
  secretArn: string;
  /** Re-read the secret after this long, to follow rotation (default 1 h). */
  refreshSeconds?: number;
  now?: () => number;
  client?: SecretsManagerClient;
}

/**
 * Long-lived access key of a dedicated signing IAM user, read from Secrets Manager (JSON
 * `{"accessKeyId": ..., "secretAccessKey": ...}`): URLs may then live up to SigV4's 7 days.
 */
export function secretSigningCredentials(opts: SecretSigningOptions): Provider {
  let client = opts.client;
  const readSecret = async (): Promise<string | undefined> => {
    const sdk = await import('./signing-sdk.js');
    client ??= sdk.secretsManagerClient();
    return sdk.readSecretString(client, opts.secretArn);
  };
  const now = opts.now ?? Date.now;
  const refreshMs = (opts.refreshSeconds ?? 3600) * 1000;
  let cached: { id: Identity; at: number } | undefined;
  let pending: Promise<Identity> | undefined;
  return async () => {
    if (cached && now() - cached.at < refreshMs) return cached.id;
    pending ??= readSecret().then((secretString) => {
      const parsed: unknown = JSON.parse(secretString ?? '{}');
      const { accessKeyId, secretAccessKey } = (parsed ?? {}) as { accessKeyId?: unknown; secretAccessKey?: unknown };
      if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string') {
        throw new Error('The signing secret must be JSON {"accessKeyId","secretAccessKey"}');
      }
      const id: Identity = { accessKeyId, secretAccessKey };
      cached = { id, at: now() };
      return id;
    }).finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
