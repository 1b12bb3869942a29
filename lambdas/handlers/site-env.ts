/** The site function's dependencies from the environment (variables: see the header of from-env.ts). */
import type { SiteDeps } from '../routes/deps.js';
import { lazyObjectStorage } from '../store/lazy-object-storage.js';
import { assumedRoleSigningCredentials, secretSigningCredentials } from '../store/signing-credentials.js';
import { bucketsFromEnv, rateLimitsFromEnv, repoFromEnv } from './from-env.js';

/** Table, buckets, presigning credentials and the presign cap; no verification secret. */
export function siteDepsFromEnv(env: NodeJS.ProcessEnv = process.env): SiteDeps {
  const repo = repoFromEnv(env);
  const buckets = bucketsFromEnv(env);
  const roleArn = env.SIGNING_ROLE_ARN;
  const secretArn = env.SIGNING_SECRET_ARN;
  const sessionSeconds = Number(env.SIGNING_SESSION_SECONDS ?? 3600);
  const defaultMax = secretArn ? 7 * 86_400 : roleArn ? Math.floor(sessionSeconds / 2) : 900;
  const maxPresignSeconds = Number(env.MAX_PRESIGN_SECONDS ?? defaultMax);
  if (!Number.isFinite(maxPresignSeconds) || maxPresignSeconds < 60) throw new Error('MAX_PRESIGN_SECONDS must be a number ≥ 60');
  const signingCredentials = secretArn
    ? secretSigningCredentials({ secretArn })
    : roleArn
      ? assumedRoleSigningCredentials({ roleArn, sessionSeconds, minRemainingSeconds: Math.min(maxPresignSeconds, sessionSeconds - 300) })
      : undefined;
  return {
    repo,
    storage: lazyObjectStorage({ buckets, endpoint: env.S3_ENDPOINT, endpointRegion: env.S3_REGION, signingCredentials }),
    maxPresignSeconds,
    rateLimits: rateLimitsFromEnv(env),
  };
}
