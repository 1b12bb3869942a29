/**
 * A document client on the test DynamoDB Local that reports every command as it is sent and as
 * its answer arrives, to count what a request sends and how many round trips it waits for.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { service } from './services.js';

export type DdbCommand = Parameters<DynamoDBDocumentClient['send']>[0];

/** `send` before the command goes out, `answer` once it has settled (answer or error). */
export function recordingClient(send: (cmd: DdbCommand) => void, answer?: (cmd: DdbCommand) => void): DynamoDBDocumentClient {
  const raw = new DynamoDBClient({ endpoint: service('ddb').endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (cmd: DdbCommand) => {
        send(cmd);
        const settled = () => answer?.(cmd);
        return target.send(cmd).then((res) => {
          settled();
          return res;
        }, (err: unknown) => {
          settled();
          throw err;
        });
      };
    },
  });
}

/** What a recording saw, in order: `send X` / `answer X` (X = the command's class name). */
export interface DdbTrace {
  events: string[];
  client: DynamoDBDocumentClient;
}

export function tracingClient(): DdbTrace {
  const events: string[] = [];
  const client = recordingClient((cmd) => events.push(`send ${cmd.constructor.name}`), (cmd) => events.push(`answer ${cmd.constructor.name}`));
  return { events, client };
}

/**
 * The commands of `events` grouped by round trip: a command sent before any answer arrived joins
 * the round trip in flight; one sent after an answer starts the next (it waited on that answer).
 */
export function roundTrips(events: readonly string[]): string[][] {
  const rounds: string[][] = [];
  let answered = true;
  for (const e of events) {
    if (e.startsWith('answer ')) {
      answered = true;
      continue;
    }
    const name = e.slice('send '.length);
    if (answered) rounds.push([name]);
    else rounds[rounds.length - 1]?.push(name);
    answered = false;
  }
  return rounds;
}
