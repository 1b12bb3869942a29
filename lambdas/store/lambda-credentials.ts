/**
 * Stand-in for `@aws-sdk/credential-provider-node` in the Lambda bundles only (esbuild `alias`
 * in infra/bundling.ts); never imported directly. Lambda always hands a function its role's
 * credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the first source
 * the SDK's default chain tries, so the rest of that chain (SSO, INI files, login, process,
 * web identity, IMDS with their nested STS/SSO clients: about 110 KB and 10 ms of module load per
 * bundle) is dead weight there. Tests and `npm start` keep the SDK's own chain. The provider
 * package is imported as such (not through `@aws-sdk/credential-providers`, whose `fromEnv`
 * imports it dynamically: see infra/bundling.ts on dynamic imports in a bundle).
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

type EnvProvider = ReturnType<typeof fromEnv>;

/** The SDK clients' default credential provider: the environment only. */
export function defaultProvider(init?: Parameters<typeof fromEnv>[0]): EnvProvider {
  return fromEnv(init);
}
