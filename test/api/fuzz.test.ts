/**
 * Property-based fuzzing of every route in ROUTES with fast-check: path parameters, query strings,
 * site headers and JSON bodies drawn from valid values, near misses and garbage (numbers beyond
 * DynamoDB and 2^53, 3-byte characters, deep nesting, wrong types). Properties: no answer is a
 * 5xx; every non-200 body is exactly `{"message": string}`; every 200 body is a JSON object; a
 * refused request leaves the account's items in the table as they were. Bodies are mostly a valid
 * body with one field or map entry made hostile (else nearly every request fails validation on
 * some other field first). Bounded by run counts; fast-check prints the seed of a failure.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, WEB_PAGE_PATHS, type RouteSpec } from '../../lambdas/routes/route-table.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { service } from '../support/services.js';
import { PluginClient, VAULT_ENV, VAULT_VERSION } from './plugin-client.js';

/** Runs per route: 30 keeps the file under 40 s in CI; FUZZ_RUNS=1000 for a deeper local search. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);

let api: TestApi;
let ddb: DynamoDBDocumentClient;
let apikey = '';
let accountid = '';
let known: { running: string; finished: string; restore: string; keyid: string };

beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'], maxBodyBytes: 512 * 1024 });
  ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: service('ddb').endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }));
  ({ apikey, accountid } = await api.registerAccount(undefined, 'pro'));
  const site = new PluginClient(api.url, apikey);
  const body = { description: 'fuzz', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: VAULT_ENV };
  const finished = (await site.ok('PUT', 'backups', body)).backupkey as string;
  await site.uploadArchive(finished, 'dbstructure.zip', randomBytes(64));
  await site.ok('PATCH', `backups/${finished}`, { status: 'finished', info: { totalsize: 64 } });
  const running = (await site.ok('PUT', 'backups', body)).backupkey as string;
  const restore = (await site.ok('PUT', 'restores', { backupkey: finished })).restorekey as string;
  const keyid = ((await site.ok('GET', 'account/keys')).keys as { keyid: string }[])[0]?.keyid ?? '';
  known = { running, finished, restore, keyid };
});
afterAll(async () => {
  ddb?.destroy();
  await api?.close();
});

/** Every item of the account's partition, for "nothing stored on refusal". */
async function accountItems(): Promise<string> {
  const res = await ddb.send(new QueryCommand({ TableName: api.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `ACCT#${accountid}` }, ConsistentRead: true }));
  return JSON.stringify(res.Items ?? []);
}

// ---- arbitraries -------------------------------------------------------------------------

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, -(2 ** 53) - 2, Number.MAX_SAFE_INTEGER, 0.1, -0, 5.0, 1e-300),
);
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', 'dbstructure.zip', 'finished', 'failed', 'resume', 'inprogress', 'eu', 'uk', 'backup', 'restore', 'account', '€'.repeat(5000), 'x'.repeat(70_000), '../x', 'a@b.c'),
);
const scalar = fc.oneof(hostileNumber, hostileString, fc.boolean(), fc.constant(null));
/** Keys of maps such as `info` and `vaultenv`: empty and odd ones often (DynamoDB refuses empty names). */
const mapKey = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.constantFrom('totalsize', 'faileddetails', 'backupkey', 'n', '\u0000', 'k'.repeat(65)) },
  { weight: 2, arbitrary: hostileString },
);
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(mapKey, tie('value'), { maxKeys: 5 }),
})).value;

/** Bodies built from the fields the API knows, with hostile values, plus raw garbage. */
const FIELDS = ['precheckonly', 'description', 'encrypted', 'bucket', 'expiredays', 'vaultversion', 'vaultenv', 'status', 'info', 'contenttype', 'multipart', 'origsize', 'backupkey', 'dryrun', 'faileddetails', 'email', 'name', 'scopes', 'code', 'token'];
const fieldBody = fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(anyValue, fc.record({ parts: anyValue, uploadid: anyValue, UploadId: anyValue, ETags: anyValue }, { requiredKeys: [] }), fc.dictionary(mapKey, scalar, { maxKeys: 40 })), { maxKeys: 6 });
/** A valid body per route (by method and path), the base of single-point mutations. */
function templateOf(route: RouteSpec): Record<string, unknown> {
  const env = { PHP: '8.3.6', isvaultcli: false, max_allowed_packet: null };
  switch (`${route.method} ${route.path}`) {
    case 'PUT /backups': return { description: 'x', encrypted: false, bucket: '', expiredays: 0, vaultversion: VAULT_VERSION, vaultenv: env };
    case 'PATCH /backups/{backupkey}': return { info: { totalsize: 1 } };
    case 'POST /backups/{backupkey}/upload/{filename}': return { contenttype: 'application/zip' };
    case 'POST /backups/{backupkey}/uploadcompleted/{filename}': return { origsize: 1 };
    case 'PUT /restores': return { backupkey: known.finished, dryrun: true, vaultversion: VAULT_VERSION, vaultenv: env };
    case 'PATCH /restores/{restorekey}': return { info: { n: 1 } };
    case 'POST /reporterror': return { faileddetails: 'x' };
    case 'POST /account/keys': return { name: 'x', scopes: ['backup'] };
    default: return {};
  }
}

/** The route's valid body with one field replaced by a hostile value, or one hostile entry added to a map. */
function mutatedBody(route: RouteSpec): fc.Arbitrary<string> {
  const template = templateOf(route);
  // The stored maps twice as often as the other fields: that is where DynamoDB's limits bite.
  const fields = [...Object.keys(template), 'info', 'vaultenv', 'info', 'vaultenv'];
  return fc.record({ field: fc.constantFrom(...fields), value: anyValue, key: mapKey, entry: scalar, addEntry: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) })
    .map(({ field, value, key, entry, addEntry }) => {
      const current = template[field];
      const map = typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {};
      return JSON.stringify({ ...template, [field]: addEntry ? { ...map, [key]: entry } : value });
    });
}

const body = fc.oneof(
  fieldBody.map((o) => JSON.stringify(o)),
  anyValue.map((v) => JSON.stringify(v) ?? 'null'),
  fc.string(),
  fc.constantFrom('', '{', '[]', 'null', '{"info":{"n":1e308}}', '{"vaultenv":{"n":9007199254740994}}', `{"x":${'['.repeat(400)}${']'.repeat(400)}}`),
);

const pathParam = (name: string): fc.Arbitrary<string> => {
  const valid: Record<string, string[]> = {
    backupkey: [known.running, known.finished, 'NOSUCHBACKUP'],
    restorekey: [known.restore, 'NOSUCHRESTORE'],
    filename: ['dbstructure.zip', 'dbdump.zip', 'dbdump-2.zip', 'filedir-1.zip', 'evil.txt'],
    keyid: [known.keyid, 'kaaaaaaaaaaaaaaa'],
  };
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(valid[name] ?? ['x'])) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }) })
    .map((v) => encodeURIComponent(v));
};

const QUERY_FIELDS = ['limit', 'cursor', 'status', 'site', 'vaultversion', 'token'];
const query = fc.dictionary(fc.constantFrom(...QUERY_FIELDS), fc.oneof(hostileString, fc.integer().map(String), fc.base64String({ maxLength: 200 })), { maxKeys: 3 });
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 120 });
const siteHeaders = fc.record({
  siteid: fc.oneof({ weight: 4, arbitrary: fc.constant('S1TE0001') }, { weight: 1, arbitrary: printable }),
  siteurl: fc.oneof({ weight: 4, arbitrary: fc.constant('https://moodle.example.com') }, { weight: 1, arbitrary: printable }),
});

/** One concrete request of `route`. */
function requestOf(route: RouteSpec) {
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
  return fc.record({
    params: fc.tuple(...names.map(pathParam)),
    query,
    body: fc.oneof({ weight: 3, arbitrary: mutatedBody(route) }, { weight: 2, arbitrary: body }),
    headers: siteHeaders,
    withKey: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  }).map(({ params, query: q, body: b, headers, withKey }) => {
    let path = route.path;
    names.forEach((n, i) => {
      path = path.replace(`{${n}}`, params[i] ?? '');
    });
    const qs = new URLSearchParams(q).toString();
    return { path: `${path}${qs ? `?${qs}` : ''}`, body: route.method === 'GET' ? undefined : b, headers, withKey };
  });
}


describe('fuzzing every route', () => {
  // The revocation of the last key must stay refused; `confirm` is never generated.
  const routes = ROUTES.filter((r) => r.path !== '/health');

  it.each(routes.map((r) => [r.method, r.path, r] as const))('%s %s: never 5xx, non-200 is exactly {"message"}, refusals store nothing', async (method, _path, route) => {
    await fc.assert(
      fc.asyncProperty(requestOf(route), async (req) => {
        const mutating = method !== 'GET';
        const before = mutating ? await accountItems() : '';
        const res = await api.app.request(req.path, {
          method,
          body: req.body,
          headers: {
            'Content-Type': 'application/json',
            'X-Vault-Siteid': req.headers.siteid,
            'X-Vault-Siteurl': req.headers.siteurl,
            ...(req.withKey ? { 'X-Api-Key': apikey } : {}),
          },
        });
        const text = await res.text();
        expect(res.status, `${method} ${req.path.slice(0, 200)} → ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
        // Web pages and their files answer in their own types (an HTML page also for a refusal);
        // every answer of an API route is a JSON object.
        if (WEB_PAGE_PATHS.has(route.path)) return;
        const parsed = JSON.parse(text) as unknown;
        expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
        if (res.status !== 200) {
          expect(Object.keys(parsed as object)).toEqual(['message']);
          expect(typeof (parsed as { message: unknown }).message).toBe('string');
          if (mutating) expect(await accountItems(), `${method} ${req.path.slice(0, 200)} ${res.status} changed the account`).toBe(before);
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  });
});
