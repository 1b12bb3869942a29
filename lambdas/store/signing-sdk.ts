/**
 * The STS and Secrets Manager SDK code of the two signing modes. Only `signing-credentials.ts`
 * imports this module, dynamically, so a bundle evaluates it on the first signing (and
 * esbuild still tree-shakes the packages down to the two calls used here).
 */
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** An STS AssumeRole credential provider (SDK caching and refresh). */
export function temporaryCredentials(roleArn: string, sessionSeconds: number): ReturnType<typeof fromTemporaryCredentials> {
  return fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: 'vault-cloud-presign', DurationSeconds: sessionSeconds } });
}

/** A Secrets Manager client with the SDK defaults (the function's role, its region). */
export function secretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient({});
}

/** The secret's string value. */
export async function readSecretString(client: SecretsManagerClient, secretArn: string): Promise<string | undefined> {
  return (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
}
