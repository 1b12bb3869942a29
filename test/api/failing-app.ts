/**
 * The app over the test API's table through a DynamoDB client that refuses the commands
 * `fails` picks (InternalServerError), as if DynamoDB failed or the Lambda died at that write.
 * Everything else reaches the real DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createApp } from '../../lambdas/app.js';
import { createRepository } from '../../lambdas/store/repository.js';
import type { TestApi } from '../support/api-server.js';
import { service } from '../support/services.js';
import { PluginClient } from './plugin-client.js';

/** A failing app: plugin clients calling it in-process, the count of refused commands, and its client's close. */
export interface FailingApp {
  site: (apikey: string) => PluginClient;
  injected: () => number;
  close: () => void;
}

/** See the module comment. */
export function appFailing(api: TestApi, fails: (cmd: unknown) => boolean): FailingApp {
  const raw = new DynamoDBClient({ endpoint: service('ddb').endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  let injected = 0;
  const failing = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (cmd: Parameters<typeof doc.send>[0]) => {
        if (!fails(cmd)) return target.send(cmd);
        injected++;
        return Promise.reject(Object.assign(new Error('injected failure'), { name: 'InternalServerError' }));
      };
    },
  });
  const app = createApp({ ...api.deps, repo: createRepository(failing, api.tableName) });
  return {
    site(apikey) {
      const client = new PluginClient(api.url, apikey);
      client.fetchApi = (url, init) => Promise.resolve(app.request(url, init));
      return client;
    },
    injected: () => injected,
    close: () => raw.destroy(),
  };
}
