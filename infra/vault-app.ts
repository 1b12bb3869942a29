/**
 * Builds the whole backend into a CDK App: the data stack and the API stack in the API region,
 * one storage stack per configured storage region.
 */
import type { App, Environment } from 'aws-cdk-lib';
import { ApiStack } from './api-stack.js';
import type { VaultConfig } from './config.js';
import { DataStack } from './data-stack.js';
import { STACK_IDS, tableName } from './names.js';
import { StorageStack } from './storage-stack.js';

export interface VaultStacks {
  data: DataStack;
  storage: StorageStack[];
  api: ApiStack;
}

export function buildVaultApp(app: App, config: VaultConfig): VaultStacks {
  const env = (region: string): Environment => (config.account ? { account: config.account, region } : { region });
  const tags = { project: 'vault-cloud' };

  const data = new DataStack(app, STACK_IDS.data(config.prefix), {
    env: env(config.apiRegion),
    tableName: tableName(config.prefix),
    description: 'Vault Cloud: DynamoDB table',
    tags,
  });
  const storage = config.regions.map(
    (r) =>
      new StorageStack(app, STACK_IDS.storage(config.prefix, r.id), {
        env: env(r.awsRegion),
        description: `Vault Cloud: archive bucket for storage region ${r.id} (${r.label})`,
        prefix: config.prefix,
        storageRegion: r,
        account: config.account,
        tags,
      }),
  );
  const api = new ApiStack(app, STACK_IDS.api(config.prefix), {
    env: env(config.apiRegion),
    description: 'Vault Cloud: Lambda functions, HTTP API, alarms',
    config,
    tableName: tableName(config.prefix),
    tags,
  });
  // Table and bucket names are computed, not exported: the ordering makes them exist first.
  api.addStackDependency(data);
  for (const s of storage) api.addStackDependency(s);
  return { data, storage, api };
}
