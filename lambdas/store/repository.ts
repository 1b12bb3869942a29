/**
 * The DynamoDB single-table repository: the only code that reads or writes the table. Every
 * account-owned record lives under `pk = ACCT#<accountId>`, so loading by (account, id) is a key
 * lookup that cannot reach another tenant's data.
 *
 * Items (pk / sk):
 *   EMAIL#<email>     / EMAIL            → accountId (uniqueness of emails)
 *   APIKEY#<sha256>   / APIKEY           → key record (auth lookup by hash, consistent read)
 *   ACCT#<id>         / META             → account (gsi1: ACCOUNTS / <createdAt>#<id>, the operator's listing)
 *   ACCT#<id>         / KEY#<keyId>      → key listing entry (+ hash, for revocation)
 *   ACCT#<id>         / BACKUP#<key>     → backup (gsi1: ACCT#<id>#B / <createdAt>#<key>; ops: INPROGRESS /
 *                                          <createdAt>#<key>, SWEEP / <ended>#<key> or EXPIRES / <expiry>#<key>)
 *   ACCT#<id>         / FILE#<key>#<name>   → archive of a backup
 *   ACCT#<id>         / UPLOAD#<key>#<name> → multipart upload seen at step 2
 *   ACCT#<id>         / RESTORE#<key>    → restore (ops: RESTORING / <createdAt>#<key> while in progress)
 *   ACCT#<id>         / BSLOT#<n>        → stored-backup quota slot (free after `until`)
 *   ACCT#<id>         / RSLOT#<n>        → restore quota slot (30 days)
 *   ACCT#<id>         / USAGE#<yyyy-mm>  → monthly counters (backups, restores, dry runs, uploaded and deleted bytes)
 *   ERRORS#<acct|anon>#<yyyy-mm-dd> / <time>#<rand> → error report (TTL 90 days)
 *   RATE#IP#<address> / W#<window start> → request counter (TTL: window end + 1 h)
 *   RATE#ACCT#<id>    / GATE             → the account's key ids, suspension copy, rate window and requests
 *                                          per month, which admit each request with a key (key-gate.ts)
 *   RATE#ACCT#<id>    / M#<yyyy-mm>      → requests of a month counted before the gate (TTL: about 13 months)
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import * as z from 'zod/mini';
import {
  BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand,
  type DynamoDBDocumentClient, type QueryCommandInput, type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { AccountSuspendedError, ApiError, BackupNotFoundError, BackupStateError, LastKeyError, QuotaExceededError, RecordTooLargeError } from '../domain/errors.js';
import { itemBytes, MAX_ITEM_BYTES } from '../domain/item-size.js';
import type { BackupStatus, RestoreStatus } from '../domain/backup-state.js';
import type { PlanId } from '../domain/plans.js';
import { randomString } from '../domain/ids.js';
import { backoff, cancellationCodes, isConditionFailure, transactWithRetry } from './conditional-writes.js';
import { admitKeyRequest, gateAddKey, gateKey, gateRemoveKey, gateRequests, setGateSuspension, type Admission, type GateKey } from './key-gate.js';
import { GSI1, OPS_INDEX, TTL_ATTRIBUTE } from './table-definition.js';
import type { AccountRecord, ApiKeyRecord, BackupRecord, FileRecord, InfoValue, Page, RestoreRecord, UploadRecord, UsageRecord } from './records.js';

const DAY = 86_400;
/** Records of expired backups stay this long so the ops job can delete their objects first. */
const EXPIRED_RECORD_GRACE = 30 * DAY;
const ERROR_REPORT_TTL = 90 * DAY;
/** Slot `until` value for a backup that never expires. */
const NEVER = 9_999_999_999;

type Item = Record<string, unknown>;
type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const acct = (accountId: string) => `ACCT#${accountId}`;
const pad = (n: number) => String(n).padStart(12, '0');

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

/**
 * A listing cursor back into a start key. Cursors are our own LastEvaluatedKeys, base64url JSON;
 * only exactly that shape is accepted: the four key attributes of a backup item of the caller's
 * own listing, none missing or empty (DynamoDB answers anything else with a ValidationException).
 */
function decodeCursor(cursor: string | undefined, accountId: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor ?? '', 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const shape = z.strictObject({
    pk: z.literal(acct(accountId)),
    sk: z.string().check(z.regex(/^BACKUP#[A-Za-z0-9]{1,64}$/)),
    [GSI1.partition]: z.literal(`${acct(accountId)}#B`),
    [GSI1.sort]: z.string().check(z.regex(/^[0-9]{12}#[A-Za-z0-9]{1,64}$/)),
  });
  const res = shape.safeParse(parsed);
  // The index sort key ends with the backup key of the item's own sort key.
  if (res.success && res.data[GSI1.sort].endsWith(`#${res.data.sk.slice('BACKUP#'.length)}`)) return res.data;
  throw new ApiError('ERR_BAD_REQUEST', 'Invalid cursor');
}

/** Refuses (400) an item DynamoDB would refuse for its size, before it is written. */
function assertFits(item: Item, what: string): void {
  const bytes = itemBytes(item);
  if (bytes > MAX_ITEM_BYTES) throw new RecordTooLargeError(what, bytes, MAX_ITEM_BYTES);
}

function strip<T>(item: Item, ...drop: string[]): T {
  const out: Item = { ...item };
  for (const k of ['pk', 'sk', GSI1.partition, GSI1.sort, OPS_INDEX.partition, OPS_INDEX.sort, TTL_ATTRIBUTE, ...drop]) delete out[k];
  return out as T;
}

/** Partitions of the ops index (see OPS_INDEX). */
const OPS_INPROGRESS = 'INPROGRESS';
/** Finished, failed or deleted backups until their objects were swept once every upload URL issued for them has expired. */
const OPS_SWEEP = 'SWEEP';
const OPS_EXPIRES = 'EXPIRES';
const OPS_RESTORING = 'RESTORING';
/** gsi1 partition of the account items: the operator's listing. */
const ACCOUNTS = 'ACCOUNTS';

/**
 * The ops-index keys of a backup entering `status` at `now`: in progress → watched for staleness
 * and size; finished, failed or deleted → queued for the sweep that follows the expiry of every
 * upload URL issued for it (`sweepCandidates`, `finishSweep`), which then moves it on to the expiry
 * queue or off the index.
 */
function opsKeys(b: Pick<BackupRecord, 'backupKey' | 'createdAt'>, status: BackupStatus, now: number): { pk: string; sk: string } {
  if (status === 'inprogress') return { pk: OPS_INPROGRESS, sk: `${pad(b.createdAt)}#${b.backupKey}` };
  return { pk: OPS_SWEEP, sk: `${pad(now)}#${b.backupKey}` };
}

/** A backup queued for its sweep (`sweepCandidates`). */
export interface SweepCandidate {
  backup: BackupRecord;
  /** When it left `inprogress` (or was deleted): URLs issued before can upload until their lifetime has passed. */
  queuedAt: number;
  /** Its ops sort key as read: `finishSweep` acts only if the backup was not queued again meanwhile. */
  queueKey: string;
}

/** The UTC month (`yyyy-mm`) of `now` (epoch seconds). */
export function usageMonth(now: number): string {
  return new Date(now * 1000).toISOString().slice(0, 7);
}

/** Filters of `listAccounts`. */
export interface ListAccountsOptions {
  plan?: PlanId;
  /** true: only suspended accounts; false: only active ones; absent: all. */
  suspended?: boolean;
}

/** Options of `listBackups`. */
export interface ListBackupsOptions {
  now: number;
  limit?: number;
  cursor?: string;
  siteId?: string;
  status?: BackupStatus;
  /** Include expired records (ops only). */
  includeExpired?: boolean;
}

/** Repository over one DynamoDB table. */
export interface Repository {
  readonly tableName: string;
  ping(): Promise<void>;
  createAccount(account: AccountRecord, key: ApiKeyRecord, keyHash: string): Promise<void>;
  getAccount(accountId: string): Promise<AccountRecord | undefined>;
  setAccountPlan(accountId: string, plan: PlanId): Promise<void>;
  /** The account id registered for `email` (lower case), if any. */
  findAccountByEmail(email: string): Promise<string | undefined>;
  /** Every account (operator listing, gsi1), oldest first, filtered. */
  listAccounts(opts?: ListAccountsOptions): Promise<AccountRecord[]>;
  /**
   * Suspends an account: the account item first (no key can be added from then on), then a copy
   * of the reason on its gate, which refuses every request of its keys from then on, then on each
   * of its key items, which the first lookup of a key in an instance refuses. Idempotent: a repeat
   * finishes an interrupted run and updates the reason.
   */
  suspendAccount(accountId: string, reason: string, now: number): Promise<void>;
  /** Lifts a suspension (the key items first, then the gate, then the account). */
  resumeAccount(accountId: string): Promise<void>;
  /** Ends every dashboard session of the account ("sign out everywhere"): adds 1 to `sessionEpoch` and returns it. */
  bumpSessionEpoch(accountId: string): Promise<number>;
  /**
   * Admits one request of `key` at `now` through its account's gate (key-gate.ts): counts it in
   * the month and, with `windowStart`, in the rate window starting then, and answers that window's
   * count (this request included; the month's without a window), if the key is still the
   * account's and the account not suspended; refuses it uncounted otherwise. One UpdateItem; a
   * second for the first request of a window (of a month, without a window).
   */
  admitKeyRequest(key: GateKey, now: number, windowStart?: number): Promise<Admission>;
  /** The account's metered usage, one record per month that has any, oldest first. */
  usage(accountId: string): Promise<UsageRecord[]>;
  markVerified(accountId: string): Promise<void>;
  findApiKey(keyHash: string): Promise<ApiKeyRecord | undefined>;
  createApiKey(key: ApiKeyRecord, keyHash: string): Promise<void>;
  listApiKeys(accountId: string): Promise<ApiKeyRecord[]>;
  /** Revokes a key; false when there is none. Refuses the account's last key (LastKeyError) unless `allowLast`. */
  revokeApiKey(accountId: string, keyId: string, allowLast: boolean): Promise<boolean>;
  createBackup(backup: BackupRecord, maxStored: number | null, now: number): Promise<void>;
  getBackup(accountId: string, backupKey: string): Promise<BackupRecord | undefined>;
  /** The backup, the account and one archive record of the backup, in one consistent read. */
  getBackupAccountFile(accountId: string, backupKey: string, name: string): Promise<{ backup?: BackupRecord; account?: AccountRecord; file?: FileRecord }>;
  listBackups(accountId: string, opts: ListBackupsOptions): Promise<Page<BackupRecord>>;
  setBackupStatus(b: BackupRecord, to: BackupStatus, info: Record<string, InfoValue>, now: number): Promise<void>;
  recordUpload(accountId: string, backupKey: string, upload: UploadRecord): Promise<void>;
  getUpload(accountId: string, backupKey: string, name: string): Promise<UploadRecord | undefined>;
  getFile(accountId: string, backupKey: string, name: string): Promise<FileRecord | undefined>;
  listFiles(accountId: string, backupKey: string): Promise<FileRecord[]>;
  recordFile(accountId: string, backupKey: string, file: FileRecord, now: number): Promise<boolean>;
  activeRestoreSlots(accountId: string, now: number): Promise<number>;
  createRestore(restore: RestoreRecord, quota: number | null, now: number): Promise<void>;
  getRestore(accountId: string, restoreKey: string): Promise<RestoreRecord | undefined>;
  /** Every restore record of the account (the dashboard's history), newest first. */
  listRestores(accountId: string): Promise<RestoreRecord[]>;
  setRestoreStatus(r: RestoreRecord, to: RestoreStatus, info: Record<string, InfoValue>, now: number): Promise<void>;
  /** The restore, read by noting activity on it (`modifiedAt = now`) in the same request; undefined when there is none. */
  touchRestore(accountId: string, restoreKey: string, now: number): Promise<RestoreRecord | undefined>;
  /** In-progress restores last modified before `staleBefore` (ops index). */
  staleRestores(staleBefore: number): Promise<RestoreRecord[]>;
  restoresInMonth(accountId: string, now: number): Promise<number>;
  putErrorReport(accountId: string | undefined, report: { siteId: string; siteUrl: string; details: string }, now: number): Promise<void>;
  /** Finished or failed backups whose expiry is ≤ `now` and whose objects are not deleted yet (ops index). */
  expiredBackups(now: number): Promise<BackupRecord[]>;
  /** Every in-progress backup (ops index; the ops run checks what storage holds for each). */
  inProgressBackups(): Promise<BackupRecord[]>;
  /** Every backup queued for its sweep (ops index), re-read consistently. */
  sweepCandidates(): Promise<SweepCandidate[]>;
  /**
   * Takes a swept backup off the sweep queue: a finished one that has not expired goes on to the
   * expiry queue, anything else off the index. Does nothing if it was queued again meanwhile.
   */
  finishSweep(c: SweepCandidate, now: number): Promise<void>;
  /**
   * Deletes a backup for its owner: it expires now (gone for every endpoint and listing; the ops
   * job deletes its objects if the caller cannot), an in-progress one is failed, its slot is freed.
   */
  markBackupDeleted(b: BackupRecord, now: number): Promise<void>;
  /** Counts one request of `subject` in the window starting at `windowStart`; the count so far, this one included. */
  countRequest(subject: string, windowStart: number, expiresAt: number): Promise<number>;
  /**
   * Notes that a backup's objects are gone, which takes it off the ops index, and counts its
   * archived bytes as deleted in the month of `now` (once: a repeat changes nothing).
   */
  markObjectsDeleted(b: Pick<BackupRecord, 'accountId' | 'backupKey'>, now: number): Promise<void>;
}

/** Creates the repository over `tableName`. */
export function createRepository(ddb: DynamoDBDocumentClient, tableName: string): Repository {
  const TableName = tableName;
  const get = async (pk: string, sk: string, consistent = true): Promise<Item | undefined> =>
    (await ddb.send(new GetCommand({ TableName, Key: { pk, sk }, ConsistentRead: consistent }))).Item;

  /** Items by (pk, sk) from any partitions, consistent, in one BatchGetItem (retrying unprocessed keys); by `pk sk`. */
  const getItems = async (wanted: { pk: string; sk: string }[]): Promise<Map<string, Item>> => {
    const found = new Map<string, Item>();
    let keys: Record<string, unknown>[] = wanted;
    for (let attempt = 1; ; attempt++) {
      const res = await ddb.send(new BatchGetCommand({ RequestItems: { [TableName]: { Keys: keys, ConsistentRead: true } } }));
      for (const item of res.Responses?.[TableName] ?? []) if (typeof item.pk === 'string' && typeof item.sk === 'string') found.set(`${item.pk} ${item.sk}`, item);
      keys = res.UnprocessedKeys?.[TableName]?.Keys ?? [];
      if (!keys.length) return found;
      if (attempt >= 8) throw new Error('BatchGetItem: keys still unprocessed after 8 attempts');
      await backoff(attempt);
    }
  };

  /** The records `getBackupAccountFile` returns, from items read under the account (`at(sk)`). */
  const backupAccountFile = (at: (sk: string) => Item | undefined, backupKey: string, name: string): { backup?: BackupRecord; account?: AccountRecord; file?: FileRecord } => {
    const backup = at(`BACKUP#${backupKey}`);
    const account = at('META');
    const file = at(`FILE#${backupKey}#${name}`);
    return {
      ...(backup ? { backup: strip<BackupRecord>(backup) } : {}),
      ...(account ? { account: strip<AccountRecord>(account) } : {}),
      ...(file ? { file: strip<FileRecord>(file) } : {}),
    };
  };
  const backupAccountFileKeys = (a: string, backupKey: string, name: string): { pk: string; sk: string }[] =>
    [`BACKUP#${backupKey}`, 'META', `FILE#${backupKey}#${name}`].map((sk) => ({ pk: a, sk }));

  const queryAll = async (input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> => {
    const out: Item[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const res = await ddb.send(new QueryCommand({ TableName, ...input, ExclusiveStartKey }));
      out.push(...(res.Items ?? []));
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return out;
  };

  const backupItem = (b: BackupRecord): Item => {
    const ops = opsKeys(b, b.status, b.modifiedAt);
    return {
      pk: acct(b.accountId), sk: `BACKUP#${b.backupKey}`,
      [GSI1.partition]: `${acct(b.accountId)}#B`, [GSI1.sort]: `${pad(b.createdAt)}#${b.backupKey}`,
      [OPS_INDEX.partition]: ops.pk, [OPS_INDEX.sort]: ops.sk,
      ...(b.expiry ? { [TTL_ATTRIBUTE]: b.expiry + EXPIRED_RECORD_GRACE } : {}),
      ...b,
    };
  };

  const restoreItem = (r: RestoreRecord): Item => ({ pk: acct(r.accountId), sk: `RESTORE#${r.restoreKey}`, ...r });
  /** Ops-index keys of a restore in `status`: only while in progress (watched for time-outs). */
  const restoreOps = (r: Pick<RestoreRecord, 'createdAt' | 'restoreKey'>, status: RestoreStatus): Item =>
    status === 'inprogress' ? { [OPS_INDEX.partition]: OPS_RESTORING, [OPS_INDEX.sort]: `${pad(r.createdAt)}#${r.restoreKey}` } : {};

  /**
   * The backups an ops-index range points at, re-read with a consistent read (the index is
   * eventually consistent and keys-only) and kept only when `still` holds for the fresh item.
   */
  const opsCandidates = async <T = BackupRecord>(partition: string, before: string, still: (item: Item) => boolean): Promise<T[]> => {
    const keys = await queryAll({
      IndexName: OPS_INDEX.name,
      KeyConditionExpression: '#p = :p AND #s < :before',
      ExpressionAttributeNames: { '#p': OPS_INDEX.partition, '#s': OPS_INDEX.sort },
      ExpressionAttributeValues: { ':p': partition, ':before': before },
    });
    const out: T[] = [];
    for (const k of keys) {
      const item = await get(String(k.pk), String(k.sk));
      if (item && still(item)) out.push(strip<T>(item, 'objectsDeleted'));
    }
    return out;
  };

  /**
   * Writes `items` in one transaction together with the claim of a free quota slot
   * `<prefix><n>` (n < count): the slot is never held without the record that owns it, whatever
   * fails or dies in between. Slots that look free in a consistent read are tried in order; a
   * slot taken meanwhile (its condition fails) moves on to the next. Returns the slot, or
   * undefined when every slot is taken. `items(n)`: the writes that go with slot n.
   */
  const writeWithSlot = async (accountId: string, prefix: string, count: number, now: number, until: number, owner: string, items: (n: number) => TransactItem[]): Promise<number | undefined> => {
    for (let round = 1; round <= 3; round++) {
      const held = await queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': acct(accountId), ':p': prefix }, ConsistentRead: true });
      const busy = new Set(held.filter((i) => typeof i.until === 'number' && i.until > now).map((i) => String(i.sk)));
      let contended = false;
      for (let n = 0; n < count; n++) {
        if (busy.has(`${prefix}${n}`)) continue;
        try {
          await transactWithRetry(ddb, {
            TransactItems: [
              {
                Put: {
                  TableName, Item: { pk: acct(accountId), sk: `${prefix}${n}`, until, owner, claimedAt: now },
                  // Free when never used, released (until = 0) or its holder expired.
                  ConditionExpression: 'attribute_not_exists(pk) OR #until <= :now',
                  ExpressionAttributeNames: { '#until': 'until' }, ExpressionAttributeValues: { ':now': now },
                },
              },
              ...items(n),
            ],
          });
          return n;
        } catch (err) {
          const codes = cancellationCodes(err);
          if (codes[0] === 'ConditionalCheckFailed') continue;
          // Still conflicting after the retries: others are claiming too; look again.
          if (codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed')) {
            contended = true;
            continue;
          }
          throw err;
        }
      }
      if (!contended) return undefined;
      await backoff(round + 2);
    }
    return undefined;
  };

  /** Transaction item that frees a slot if `owner` still holds it (cancels the transaction otherwise). */
  const releaseItem = (accountId: string, sk: string, owner: string): TransactItem => ({
    Update: {
      TableName, Key: { pk: acct(accountId), sk },
      UpdateExpression: 'SET #until = :zero', ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' }, ExpressionAttributeValues: { ':zero': 0, ':owner': owner },
    },
  });

  /**
   * Applies `update` to a backup and frees its stored-backup slot in one transaction, so that no
   * failure between the two can leave a failed or deleted backup holding its slot. A slot that is
   * no longer the backup's (re-claimed after its expiry) is left alone. False when the update's
   * own condition failed (nothing was written).
   */
  const updateReleasingSlot = async (b: BackupRecord, update: NonNullable<TransactItem['Update']>, release: boolean): Promise<boolean> => {
    const slot = release && b.slot !== undefined ? [releaseItem(b.accountId, `BSLOT#${b.slot}`, b.backupKey)] : [];
    try {
      await transactWithRetry(ddb, { TransactItems: [{ Update: update }, ...slot] });
      return true;
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes[0] === 'ConditionalCheckFailed') return false;
      if (codes[1] !== 'ConditionalCheckFailed') throw err;
    }
    try {
      await ddb.send(new UpdateCommand(update));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  /**
   * Accounts created before keys were counted get their `keyCount` from a consistent count of
   * their key entries, once (a no-op for every newer account).
   */
  const ensureKeyCount = async (accountId: string): Promise<void> => {
    const meta = await get(acct(accountId), 'META');
    if (!meta || typeof meta.keyCount === 'number') return;
    const keys = await queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'KEY#' }, ConsistentRead: true });
    await ddb.send(new UpdateCommand({
      TableName, Key: { pk: acct(accountId), sk: 'META' },
      UpdateExpression: 'SET keyCount = :n', ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(keyCount)',
      ExpressionAttributeValues: { ':n': keys.length },
    })).catch((err: unknown) => {
      if (!isConditionFailure(err)) throw err;
    });
  };

  const month = usageMonth;
  const usageUpdate = (accountId: string, now: number, counter: keyof Omit<UsageRecord, 'month' | 'requests'>, amount: number) => ({
    Update: {
      TableName, Key: { pk: acct(accountId), sk: `USAGE#${month(now)}` },
      UpdateExpression: 'ADD #counter :amount', ExpressionAttributeNames: { '#counter': counter }, ExpressionAttributeValues: { ':amount': amount },
    },
  });

  /** Key items of an account: its listing entries hold each key's hash. */
  const keyEntries = async (accountId: string): Promise<Item[]> =>
    queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'KEY#' }, ConsistentRead: true });

  /** Sets (reason) or removes (undefined) the suspension copy on every key item of the account. */
  const markKeys = async (accountId: string, reason: string | undefined): Promise<void> => {
    for (const entry of await keyEntries(accountId)) {
      if (typeof entry.keyHash !== 'string') continue;
      await ddb.send(new UpdateCommand({
        TableName, Key: { pk: `APIKEY#${entry.keyHash}`, sk: 'APIKEY' },
        UpdateExpression: reason === undefined ? 'REMOVE suspendedReason' : 'SET suspendedReason = :r',
        // A key revoked meanwhile stays revoked (no half item is created).
        ConditionExpression: 'attribute_exists(pk)',
        ...(reason === undefined ? {} : { ExpressionAttributeValues: { ':r': reason } }),
      })).catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
    }
  };

  return {
    tableName,

    async ping() {
      await ddb.send(new DescribeTableCommand({ TableName }));
    },

    async createAccount(account, key, keyHash) {
      try {
        await transactWithRetry(ddb, {
          TransactItems: [
            // One account per email: the email item is the lock.
            { Put: { TableName, Item: { pk: `EMAIL#${account.email}`, sk: 'EMAIL', accountId: account.accountId }, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Put: {
                TableName,
                Item: { pk: acct(account.accountId), sk: 'META', [GSI1.partition]: ACCOUNTS, [GSI1.sort]: `${pad(account.createdAt)}#${account.accountId}`, ...account, keyCount: 1 },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Put: { TableName, Item: { pk: `APIKEY#${keyHash}`, sk: 'APIKEY', ...key } } },
            { Put: { TableName, Item: { pk: acct(account.accountId), sk: `KEY#${key.keyId}`, ...key, keyHash } } },
            gateAddKey(TableName, account.accountId, key.keyId),
          ],
        });
      } catch (err) {
        if (cancellationCodes(err)[0] === 'ConditionalCheckFailed') {
          throw new ApiError('ERR_EMAIL_TAKEN', 'An account with this email address already exists');
        }
        throw err;
      }
    },

    async getAccount(accountId) {
      const item = await get(acct(accountId), 'META');
      return item ? strip<AccountRecord>(item, 'keyCount') : undefined;
    },

    async setAccountPlan(accountId, plan) {
      await ddb.send(new UpdateCommand({
        TableName, Key: { pk: acct(accountId), sk: 'META' },
        UpdateExpression: 'SET #plan = :plan', ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#plan': 'plan' }, ExpressionAttributeValues: { ':plan': plan },
      }));
    },

    async findAccountByEmail(email) {
      const item = await get(`EMAIL#${email.toLowerCase()}`, 'EMAIL');
      return typeof item?.accountId === 'string' ? item.accountId : undefined;
    },

    async listAccounts(opts = {}) {
      const items = await queryAll({ IndexName: GSI1.name, KeyConditionExpression: `${GSI1.partition} = :p`, ExpressionAttributeValues: { ':p': ACCOUNTS } });
      return items.map((i) => strip<AccountRecord>(i, 'keyCount'))
        .filter((a) => (opts.plan === undefined || a.plan === opts.plan) && (opts.suspended === undefined || (a.suspendedAt !== undefined) === opts.suspended));
    },

    async suspendAccount(accountId, reason, now) {
      await ddb.send(new UpdateCommand({
        TableName, Key: { pk: acct(accountId), sk: 'META' },
        UpdateExpression: 'SET suspendedAt = if_not_exists(suspendedAt, :now), suspendedReason = :r',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': now, ':r': reason },
      }));
      // From here on the account's keys are refused (the gate); their items say why on a first lookup.
      await setGateSuspension(ddb, TableName, accountId, reason);
      await markKeys(accountId, reason);
    },

    async resumeAccount(accountId) {
      await markKeys(accountId, undefined);
      await setGateSuspension(ddb, TableName, accountId, undefined);
      await ddb.send(new UpdateCommand({
        TableName, Key: { pk: acct(accountId), sk: 'META' },
        UpdateExpression: 'REMOVE suspendedAt, suspendedReason', ConditionExpression: 'attribute_exists(pk)',
      }));
    },

    async bumpSessionEpoch(accountId) {
      const res = await ddb.send(new UpdateCommand({
        TableName, Key: { pk: acct(accountId), sk: 'META' },
        UpdateExpression: 'ADD sessionEpoch :one', ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1 }, ReturnValues: 'UPDATED_NEW',
      }));
      return Number(res.Attributes?.sessionEpoch ?? 0);
    },

    async admitKeyRequest(key, now, windowStart) {
      return admitKeyRequest(ddb, TableName, key, month(now), windowStart);
    },

    async usage(accountId) {
      const [counters, requests] = await Promise.all([
        queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'USAGE#' }, ConsistentRead: true }),
        // The gate and the monthly items from before it (the month of the change is in both).
        queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': gateKey(accountId).pk }, ConsistentRead: true }),
      ]);
      const months = new Map<string, UsageRecord>();
      const at = (m: string): UsageRecord => {
        let u = months.get(m);
        if (!u) months.set(m, (u = { month: m, requests: 0, backups: 0, restores: 0, dryruns: 0, uploadedBytes: 0, deletedBytes: 0 }));
        return u;
      };
      const num = (v: unknown) => (typeof v === 'number' ? v : 0);
      for (const i of counters) {
        const u = at(String(i.sk).slice('USAGE#'.length));
        Object.assign(u, { backups: num(i.backups), restores: num(i.restores), dryruns: num(i.dryruns), uploadedBytes: num(i.uploadedBytes), deletedBytes: num(i.deletedBytes) });
      }
      for (const i of requests) {
        if (typeof i.sk === 'string' && i.sk.startsWith('M#')) at(i.sk.slice('M#'.length)).requests += num(i.requests);
        if (i.sk === gateKey(accountId).sk) for (const [m, n] of gateRequests(i)) at(m).requests += n;
      }
      return [...months.values()].sort((a, b) => a.month.localeCompare(b.month));
    },

    async markVerified(accountId) {
      await ddb.send(new UpdateCommand({
        TableName, Key: { pk: acct(accountId), sk: 'META' },
        UpdateExpression: 'SET verified = :t', ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':t': true },
      }));
    },

    async findApiKey(keyHash) {
      // Consistent read: a key revoked a moment ago must fail on its very next request.
      const item = await get(`APIKEY#${keyHash}`, 'APIKEY', true);
      return item ? strip<ApiKeyRecord>(item) : undefined;
    },

    async createApiKey(key, keyHash) {
      await ensureKeyCount(key.accountId);
      try {
        await transactWithRetry(ddb, {
          TransactItems: [
            { Put: { TableName, Item: { pk: `APIKEY#${keyHash}`, sk: 'APIKEY', ...key }, ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName, Item: { pk: acct(key.accountId), sk: `KEY#${key.keyId}`, ...key, keyHash } } },
            {
              Update: {
                TableName, Key: { pk: acct(key.accountId), sk: 'META' }, UpdateExpression: 'ADD keyCount :one',
                // A suspended account gets no new keys (they would not carry the suspension).
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(suspendedAt)', ExpressionAttributeValues: { ':one': 1 },
              },
            },
            gateAddKey(TableName, key.accountId, key.keyId),
          ],
        });
      } catch (err) {
        if (cancellationCodes(err)[2] === 'ConditionalCheckFailed') {
          const meta = await get(acct(key.accountId), 'META');
          if (meta && meta.suspendedAt !== undefined) throw new AccountSuspendedError(typeof meta.suspendedReason === 'string' ? meta.suspendedReason : 'no reason given');
        }
        throw err;
      }
    },

    async listApiKeys(accountId) {
      const items = await queryAll({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'KEY#' } });
      return items.map((i) => strip<ApiKeyRecord>(i, 'keyHash')).sort((a, b) => a.createdAt - b.createdAt);
    },

    async revokeApiKey(accountId, keyId, allowLast) {
      const entry = await get(acct(accountId), `KEY#${keyId}`);
      if (!entry || typeof entry.keyHash !== 'string') return false;
      await ensureKeyCount(accountId);
      try {
        await transactWithRetry(ddb, {
          TransactItems: [
            { Delete: { TableName, Key: { pk: `APIKEY#${entry.keyHash}`, sk: 'APIKEY' }, ConditionExpression: 'attribute_exists(pk)' } },
            { Delete: { TableName, Key: { pk: acct(accountId), sk: `KEY#${keyId}` }, ConditionExpression: 'attribute_exists(pk)' } },
            {
              // The count on the account item serialises concurrent revocations: two requests
              // revoking the last two keys cannot both see "one more is left".
              Update: {
                TableName, Key: { pk: acct(accountId), sk: 'META' },
                UpdateExpression: 'ADD keyCount :minus',
                ConditionExpression: allowLast ? 'attribute_exists(pk)' : 'keyCount > :one',
                ExpressionAttributeValues: { ':minus': -1, ...(allowLast ? {} : { ':one': 1 }) },
              },
            },
            // Off the gate with its item: every instance refuses the key from its next request on.
            gateRemoveKey(TableName, accountId, keyId),
          ],
        });
      } catch (err) {
        const codes = cancellationCodes(err);
        if (codes[0] === 'ConditionalCheckFailed' || codes[1] === 'ConditionalCheckFailed') return false;
        if (codes[2] === 'ConditionalCheckFailed') throw new LastKeyError();
        throw err;
      }
      return true;
    },

    async createBackup(backup, maxStored, now) {
      assertFits(backupItem(backup), 'backup record');
      // The record and the month's backup counter in one request (with the slot claim where the plan counts).
      const write = (slot: number | undefined): TransactItem[] => [
        { Put: { TableName, Item: backupItem({ ...backup, ...(slot !== undefined ? { slot } : {}) }), ConditionExpression: 'attribute_not_exists(pk)' } },
        usageUpdate(backup.accountId, now, 'backups', 1),
      ];
      if (maxStored === null) {
        await transactWithRetry(ddb, { TransactItems: write(undefined) });
        return;
      }
      const slot = await writeWithSlot(backup.accountId, 'BSLOT#', maxStored, now, backup.expiry || NEVER, backup.backupKey, write);
      if (slot !== undefined) return;
      throw new QuotaExceededError(`Your plan allows ${maxStored} stored backups; delete or wait for one to expire`);
    },

    async getBackup(accountId, backupKey) {
      const item = await get(acct(accountId), `BACKUP#${backupKey}`);
      return item ? strip<BackupRecord>(item) : undefined;
    },

    async getBackupAccountFile(accountId, backupKey, name) {
      const a = acct(accountId);
      const items = await getItems(backupAccountFileKeys(a, backupKey, name));
      return backupAccountFile((sk) => items.get(`${a} ${sk}`), backupKey, name);
    },

    async listBackups(accountId, opts) {
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':pk': `${acct(accountId)}#B` };
      const filters: string[] = [];
      if (!opts.includeExpired) {
        filters.push('(expiry = :zero OR expiry > :now)');
        values[':zero'] = 0;
        values[':now'] = opts.now;
      }
      if (opts.siteId !== undefined) {
        filters.push('siteId = :site');
        values[':site'] = opts.siteId;
      }
      if (opts.status !== undefined) {
        filters.push('#status = :status');
        names['#status'] = 'status';
        values[':status'] = opts.status;
      }
      const input: Omit<QueryCommandInput, 'TableName'> = {
        IndexName: GSI1.name,
        KeyConditionExpression: `${GSI1.partition} = :pk`,
        ScanIndexForward: false,
        ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      };
      if (opts.limit === undefined) return { items: (await queryAll(input)).map((i) => strip<BackupRecord>(i)) };
      // A filtered page may come back short; keep reading until it is full or the index ends.
      const items: BackupRecord[] = [];
      let start = opts.cursor ? decodeCursor(opts.cursor, accountId) : undefined;
      do {
        const res = await ddb.send(new QueryCommand({ TableName, ...input, Limit: opts.limit - items.length, ExclusiveStartKey: start }));
        items.push(...(res.Items ?? []).map((i) => strip<BackupRecord>(i)));
        start = res.LastEvaluatedKey;
      } while (start && items.length < opts.limit);
      return { items, cursor: encodeCursor(start) };
    },

    async setBackupStatus(b, to, info, now) {
      const merged = { ...b.info, ...info };
      assertFits(backupItem({ ...b, status: to, info: merged, modifiedAt: now, finishedAt: now }), 'backup record');
      // The ops index follows the status: in progress → watched; else → queued for the sweep.
      const ops = opsKeys(b, to, now);
      const applied = await updateReleasingSlot(b, {
        TableName, Key: { pk: acct(b.accountId), sk: `BACKUP#${b.backupKey}` },
        UpdateExpression: `SET #status = :to, info = :info, modifiedAt = :now${to === 'finished' ? ', finishedAt = :now' : ''}, #opsPk = :opsPk, #opsSk = :opsSk`,
        // Only from the status we read: concurrent PATCHes cannot both apply.
        ConditionExpression: '#status = :from',
        ExpressionAttributeNames: { '#status': 'status', '#opsPk': OPS_INDEX.partition, '#opsSk': OPS_INDEX.sort },
        ExpressionAttributeValues: { ':to': to, ':from': b.status, ':info': merged, ':now': now, ':opsPk': ops.pk, ':opsSk': ops.sk },
      // A failed backup no longer counts against the stored-backup quota: its slot is freed in the same transaction.
      }, to === 'failed');
      if (!applied) throw new BackupStateError('The backup changed status meanwhile');
    },

    async recordUpload(accountId, backupKey, upload) {
      await ddb.send(new PutCommand({ TableName, Item: { pk: acct(accountId), sk: `UPLOAD#${backupKey}#${upload.name}`, ...upload } }));
    },

    async getUpload(accountId, backupKey, name) {
      const item = await get(acct(accountId), `UPLOAD#${backupKey}#${name}`);
      return item ? strip<UploadRecord>(item) : undefined;
    },

    async getFile(accountId, backupKey, name) {
      const item = await get(acct(accountId), `FILE#${backupKey}#${name}`);
      return item ? strip<FileRecord>(item) : undefined;
    },

    async listFiles(accountId, backupKey) {
      const items = await queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': acct(accountId), ':p': `FILE#${backupKey}#` },
        ConsistentRead: true,
      });
      return items.map((i) => strip<FileRecord>(i));
    },

    async recordFile(accountId, backupKey, file, now) {
      try {
        await transactWithRetry(ddb, {
          TransactItems: [
            // Recorded once: a repeated completion finds the item and changes nothing.
            { Put: { TableName, Item: { pk: acct(accountId), sk: `FILE#${backupKey}#${file.name}`, ...file }, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Update: {
                TableName, Key: { pk: acct(accountId), sk: `BACKUP#${backupKey}` },
                UpdateExpression: 'ADD archivedBytes :size SET modifiedAt = :now',
                ConditionExpression: '#status = :inprogress',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':size': file.size, ':now': now, ':inprogress': 'inprogress' },
              },
            },
            usageUpdate(accountId, now, 'uploadedBytes', file.size),
          ],
        });
        return true;
      } catch (err) {
        const codes = cancellationCodes(err);
        if (codes[0] === 'ConditionalCheckFailed') return false;
        if (codes[1] === 'ConditionalCheckFailed') throw new BackupStateError('The backup is not in progress');
        throw err;
      }
    },

    async activeRestoreSlots(accountId, now) {
      const items = await queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'RSLOT#' },
        ConsistentRead: true,
      });
      return items.filter((i) => typeof i.until === 'number' && i.until > now).length;
    },

    async createRestore(restore, quota, now) {
      const item = { ...restoreItem(restore), ...restoreOps(restore, restore.status) };
      assertFits(item, 'restore record');
      // The record and the monthly counter together: neither is written without the other.
      const write = (): TransactItem[] => [
        { Put: { TableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
        usageUpdate(restore.accountId, now, restore.dryrun ? 'dryruns' : 'restores', 1),
      ];
      // Dry runs only read dbstructure.zip (the download route enforces it) and hold no slot.
      if (quota === null || restore.dryrun) {
        await transactWithRetry(ddb, { TransactItems: write() });
        return;
      }
      // The slot claim in the same transaction: a restore that was not recorded holds no slot.
      const slot = await writeWithSlot(restore.accountId, 'RSLOT#', quota, now, now + 30 * DAY, restore.restoreKey, write);
      if (slot === undefined) throw new QuotaExceededError(`Your plan allows ${quota} restores per 30 days`);
    },

    async listRestores(accountId) {
      const items = await queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': acct(accountId), ':p': 'RESTORE#' },
      });
      return items.map((i) => strip<RestoreRecord>(i)).sort((x, y) => y.createdAt - x.createdAt);
    },

    async getRestore(accountId, restoreKey) {
      const item = await get(acct(accountId), `RESTORE#${restoreKey}`);
      return item ? strip<RestoreRecord>(item) : undefined;
    },

    async setRestoreStatus(r, to, info, now) {
      assertFits({ ...restoreItem(r), status: to, info: { ...r.info, ...info }, modifiedAt: now }, 'restore record');
      // On the ops index while in progress (watched for time-outs), off it otherwise.
      const ops = restoreOps(r, to);
      try {
        await ddb.send(new UpdateCommand({
          TableName, Key: { pk: acct(r.accountId), sk: `RESTORE#${r.restoreKey}` },
          UpdateExpression: `SET #status = :to, info = :info, modifiedAt = :now${ops[OPS_INDEX.partition] ? ', #opsPk = :opsPk, #opsSk = :opsSk' : ' REMOVE #opsPk, #opsSk'}`,
          ConditionExpression: '#status = :from',
          ExpressionAttributeNames: { '#status': 'status', '#opsPk': OPS_INDEX.partition, '#opsSk': OPS_INDEX.sort },
          ExpressionAttributeValues: {
            ':to': to, ':from': r.status, ':info': { ...r.info, ...info }, ':now': now,
            ...(ops[OPS_INDEX.partition] ? { ':opsPk': ops[OPS_INDEX.partition], ':opsSk': ops[OPS_INDEX.sort] } : {}),
          },
        }));
      } catch (err) {
        if (isConditionFailure(err)) throw new BackupStateError('The restore changed status meanwhile');
        throw err;
      }
    },

    async touchRestore(accountId, restoreKey, now) {
      try {
        const res = await ddb.send(new UpdateCommand({
          TableName, Key: { pk: acct(accountId), sk: `RESTORE#${restoreKey}` },
          UpdateExpression: 'SET modifiedAt = :now', ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':now': now }, ReturnValues: 'ALL_NEW',
        }));
        return res.Attributes ? strip<RestoreRecord>(res.Attributes) : undefined;
      } catch (err) {
        if (isConditionFailure(err)) return undefined;
        throw err;
      }
    },

    async staleRestores(staleBefore) {
      // modifiedAt ≥ createdAt, so only restores created before `staleBefore` can be stale.
      return opsCandidates<RestoreRecord>(OPS_RESTORING, pad(staleBefore), (i) =>
        i.status === 'inprogress' && typeof i.modifiedAt === 'number' && i.modifiedAt < staleBefore);
    },

    async restoresInMonth(accountId, now) {
      const item = await get(acct(accountId), `USAGE#${month(now)}`, false);
      return typeof item?.restores === 'number' ? item.restores : 0;
    },

    async putErrorReport(accountId, report, now) {
      const day = new Date(now * 1000).toISOString().slice(0, 10);
      await ddb.send(new PutCommand({
        TableName,
        Item: {
          pk: `ERRORS#${accountId ?? 'anon'}#${day}`, sk: `${pad(now)}#${randomString(8)}`,
          ...report, accountId, createdAt: now, [TTL_ATTRIBUTE]: now + ERROR_REPORT_TTL,
        },
      }));
    },

    async expiredBackups(now) {
      // Sort keys are `<expiry>#<key>`: everything below `<now + 1>` has expiry ≤ now.
      return opsCandidates(OPS_EXPIRES, pad(now + 1), (i) =>
        typeof i.expiry === 'number' && i.expiry > 0 && i.expiry <= now && i.objectsDeleted !== true && i.status !== 'inprogress');
    },

    async inProgressBackups() {
      return opsCandidates(OPS_INPROGRESS, '~', (i) => i.status === 'inprogress');
    },

    async sweepCandidates() {
      const keys = await queryAll({
        IndexName: OPS_INDEX.name, KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': OPS_INDEX.partition }, ExpressionAttributeValues: { ':p': OPS_SWEEP },
      });
      const out: SweepCandidate[] = [];
      for (const k of keys) {
        const item = await get(String(k.pk), String(k.sk));
        const queueKey = item?.[OPS_INDEX.sort];
        if (!item || item[OPS_INDEX.partition] !== OPS_SWEEP || typeof queueKey !== 'string') continue;
        out.push({ backup: strip<BackupRecord>(item), queuedAt: Number(queueKey.slice(0, 12)), queueKey });
      }
      return out;
    },

    async finishSweep(c, now) {
      const b = c.backup;
      // Only a finished backup that is still there keeps waiting for its expiry.
      const next = b.status === 'finished' && b.deletedAt === undefined && b.expiry > now && !b.objectsDeleted
        ? { pk: OPS_EXPIRES, sk: `${pad(b.expiry)}#${b.backupKey}` }
        : undefined;
      try {
        await ddb.send(new UpdateCommand({
          TableName, Key: { pk: acct(b.accountId), sk: `BACKUP#${b.backupKey}` },
          UpdateExpression: next ? 'SET #opsPk = :nextPk, #opsSk = :nextSk' : 'REMOVE #opsPk, #opsSk',
          // Not queued again (deleted, say) since it was read.
          ConditionExpression: '#opsPk = :sweep AND #opsSk = :queued',
          ExpressionAttributeNames: { '#opsPk': OPS_INDEX.partition, '#opsSk': OPS_INDEX.sort },
          ExpressionAttributeValues: { ':sweep': OPS_SWEEP, ':queued': c.queueKey, ...(next ? { ':nextPk': next.pk, ':nextSk': next.sk } : {}) },
        }));
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    },

    async markBackupDeleted(b, now) {
      const expiry = b.expiry === 0 || b.expiry > now ? now : b.expiry;
      const status: BackupStatus = b.status === 'inprogress' ? 'failed' : b.status;
      // Queued for the sweep: the ops job deletes its objects (if the caller could not) and sweeps
      // again once every upload URL issued for it has expired.
      const ops = opsKeys(b, status, now);
      const applied = await updateReleasingSlot(b, {
        TableName, Key: { pk: acct(b.accountId), sk: `BACKUP#${b.backupKey}` },
        UpdateExpression: 'SET #status = :status, expiry = :expiry, deletedAt = if_not_exists(deletedAt, :now), modifiedAt = :now, #ttl = :ttl, #opsPk = :opsPk, #opsSk = :opsSk',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#status': 'status', '#ttl': TTL_ATTRIBUTE, '#opsPk': OPS_INDEX.partition, '#opsSk': OPS_INDEX.sort },
        ExpressionAttributeValues: { ':status': status, ':expiry': expiry, ':now': now, ':ttl': expiry + EXPIRED_RECORD_GRACE, ':opsPk': ops.pk, ':opsSk': ops.sk },
      }, true);
      if (!applied) throw new BackupNotFoundError();
    },

    async countRequest(subject, windowStart, expiresAt) {
      const res = await ddb.send(new UpdateCommand({
        TableName, Key: { pk: `RATE#${subject}`, sk: `W#${pad(windowStart)}` },
        UpdateExpression: 'ADD n :one SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':one': 1, ':ttl': expiresAt },
        ReturnValues: 'UPDATED_NEW',
      }));
      const n = res.Attributes?.n;
      return typeof n === 'number' ? n : 1;
    },

    async markObjectsDeleted({ accountId, backupKey }, now) {
      // The deleted bytes must be the record's own: the condition pins the size read, and a
      // completion recorded in between (size changed) makes it read again.
      for (let attempt = 1; attempt <= 5; attempt++) {
        const item = await get(acct(accountId), `BACKUP#${backupKey}`);
        if (!item || item.objectsDeleted === true) return;
        const sized = typeof item.archivedBytes === 'number';
        const bytes = sized ? Number(item.archivedBytes) : 0;
        // A backup queued for its sweep stays queued (URLs issued before may still upload); one
        // deleted at expiry (its sweep long done) leaves the index.
        const queued = item[OPS_INDEX.partition] === OPS_SWEEP;
        try {
          await transactWithRetry(ddb, {
            TransactItems: [
              {
                Update: {
                  TableName, Key: { pk: acct(accountId), sk: `BACKUP#${backupKey}` },
                  UpdateExpression: queued ? 'SET objectsDeleted = :t' : 'SET objectsDeleted = :t REMOVE #opsPk, #opsSk',
                  ConditionExpression: `attribute_exists(pk) AND ${sized ? 'archivedBytes = :bytes' : 'attribute_not_exists(archivedBytes)'} AND (attribute_not_exists(objectsDeleted) OR objectsDeleted <> :t)`
                    + (queued ? ' AND #opsPk = :sweep' : ' AND (attribute_not_exists(#opsPk) OR #opsPk <> :sweep)'),
                  ExpressionAttributeNames: { '#opsPk': OPS_INDEX.partition, ...(queued ? {} : { '#opsSk': OPS_INDEX.sort }) },
                  ExpressionAttributeValues: { ':t': true, ':sweep': OPS_SWEEP, ...(sized ? { ':bytes': bytes } : {}) },
                },
              },
              usageUpdate(accountId, now, 'deletedBytes', bytes),
            ],
          });
          return;
        } catch (err) {
          if (cancellationCodes(err)[0] !== 'ConditionalCheckFailed') throw err;
        }
      }
      throw new Error(`markObjectsDeleted ${backupKey}: the record kept changing`);
    },
  };
}

