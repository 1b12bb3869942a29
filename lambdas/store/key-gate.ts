/**
 * The account's gate item, `RATE#ACCT#<id>` / `GATE`: the ids of the account's API keys (`keys`,
 * a string set kept by the key transactions), a copy of its suspension (`suspendedReason`), its
 * current rate window (`win`, `wn`) and its requests per month (`requests#<yyyy-mm>`, the current
 * month and the 13 before: the item stays small, and each request's write costs one unit).
 *
 * Why one item: a request with a key this instance already knows (routes/key-cache.ts) is admitted
 * by one conditional UpdateItem on it, which counts the request (month and rate window) only if
 * the key is still one of the account's and the account is not suspended. That single write
 * replaces the consistent key read and the counter write every request made before, and keeps
 * their guarantees: revoking a key takes its id off the gate in the same transaction that deletes
 * it, and suspending writes the gate before it returns, so the very next request is refused; a
 * refused request is not counted (ReturnValuesOnConditionCheckFailure tells why it was refused).
 *
 * Keys created before the gate existed are not on it: the first time one is seen, it is put on
 * the gate in a transaction that checks its key item still exists (so a revocation meanwhile
 * wins), and the request is admitted again.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, type TransactWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { cancellationCodes, isConditionFailure, transactWithRetry } from './conditional-writes.js';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
type Item = Record<string, unknown>;

/** Primary key of the account's gate item. */
export function gateKey(accountId: string): { pk: string; sk: string } {
  return { pk: `RATE#ACCT#${accountId}`, sk: 'GATE' };
}

/** Gate attribute holding the account's requests of `month` (`yyyy-mm`). */
export function requestsAttribute(month: string): string {
  return `requests#${month}`;
}

/** Transaction item putting `keyId` on the account's gate (the gate is created if missing). */
export function gateAddKey(tableName: string, accountId: string, keyId: string): TransactItem {
  return {
    Update: {
      TableName: tableName, Key: gateKey(accountId),
      UpdateExpression: 'ADD #keys :kid', ExpressionAttributeNames: { '#keys': 'keys' }, ExpressionAttributeValues: { ':kid': new Set([keyId]) },
    },
  };
}

/** Transaction item taking `keyId` off the account's gate. */
export function gateRemoveKey(tableName: string, accountId: string, keyId: string): TransactItem {
  return {
    Update: {
      TableName: tableName, Key: gateKey(accountId),
      UpdateExpression: 'DELETE #keys :kid', ExpressionAttributeNames: { '#keys': 'keys' }, ExpressionAttributeValues: { ':kid': new Set([keyId]) },
    },
  };
}

/** Writes the account's suspension (`reason`) on its gate, or lifts it (undefined). */
export async function setGateSuspension(ddb: DynamoDBDocumentClient, tableName: string, accountId: string, reason: string | undefined): Promise<void> {
  await ddb.send(new UpdateCommand({
    TableName: tableName, Key: gateKey(accountId),
    ...(reason === undefined
      ? { UpdateExpression: 'REMOVE suspendedReason' }
      : { UpdateExpression: 'SET suspendedReason = :r', ExpressionAttributeValues: { ':r': reason } }),
  }));
}

/** The key a request carries, as the gate needs it. */
export interface GateKey {
  accountId: string;
  keyId: string;
  /** SHA-256 of the key: its key item, checked when an older key is put on the gate. */
  keyHash: string;
}

/** The gate's answer: counted (`count`: the window's count, this request included, or the month's without a window), or refused. */
export type Admission =
  | { admitted: true; count: number }
  /** The key is no longer the account's (revoked), or the account is suspended (`suspendedReason`). */
  | { admitted: false; suspendedReason?: string };

/** Outcome of one conditional write: its new values, or the item as it was when the condition failed. */
type Attempt = { written: Item } | { refused: Item | undefined };

/** The key may pass this gate item (as it was read). */
function admits(item: Item | undefined, keyId: string): boolean {
  return item !== undefined && item.keys instanceof Set && item.keys.has(keyId) && item.suspendedReason === undefined;
}

const countOf = (attrs: Item, name: string): number => (typeof attrs[name] === 'number' ? attrs[name] : 1);

/** Months of requests the gate keeps before the current one (the monthly items it replaced lived about 13 months). */
export const REQUEST_MONTHS_KEPT = 13;

/** `month` (`yyyy-mm`) moved by `delta` months. */
function addMonths(month: string, delta: number): string {
  const [year = 1970, m = 1] = month.split('-').map(Number);
  return new Date(Date.UTC(year, m - 1 + delta, 1)).toISOString().slice(0, 7);
}

/**
 * Counts one request of `key` on its account's gate if the key may pass it: the month's requests
 * and, with `windowStart`, the rate window starting then (a new window resets it; an item already
 * in a later window, an instance whose clock lags, counts in that one). One UpdateItem; two for
 * the first request of a window (with rate limits) or of a month (without), which also drops the
 * counters of months no longer kept; and a transaction more the first time a key older than the
 * gate is seen.
 */
export async function admitKeyRequest(ddb: DynamoDBDocumentClient, tableName: string, key: GateKey, month: string, windowStart?: number): Promise<Admission> {
  const monthName = requestsAttribute(month);
  /** One write: `update` if `extra` (a condition on the counters) holds and the key may pass. */
  const attempt = async (update: string, extra: string | undefined, values: Item, names: Record<string, string> = {}): Promise<Attempt> => {
    try {
      const res = await ddb.send(new UpdateCommand({
        TableName: tableName, Key: gateKey(key.accountId), UpdateExpression: update,
        // The key is still the account's, the account not suspended.
        ConditionExpression: [...(extra ? [extra] : []), 'contains(#keys, :kid)', 'attribute_not_exists(suspendedReason)'].join(' AND '),
        ExpressionAttributeNames: { '#keys': 'keys', '#month': monthName, ...names },
        ExpressionAttributeValues: { ':one': 1, ':kid': key.keyId, ...values },
        ReturnValues: 'UPDATED_NEW', ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { written: res.Attributes ?? {} };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // The gate as it was (absent: no gate yet, an account older than the gate).
      const old = (err as { Item?: Record<string, AttributeValue> }).Item;
      return { refused: old ? unmarshall(old) : undefined };
    }
  };
  /** A REMOVE clause (and its names) of the month counters of `old` that are no longer kept. */
  const stale = (old: Item | undefined): { clause: string; names: Record<string, string> } => {
    const oldest = addMonths(month, -REQUEST_MONTHS_KEPT);
    const months = [...gateRequests(old).keys()].filter((m) => m < oldest);
    if (!months.length) return { clause: '', names: {} };
    return { clause: ` REMOVE ${months.map((_, i) => `#stale${i}`).join(', ')}`, names: Object.fromEntries(months.map((m, i) => [`#stale${i}`, requestsAttribute(m)])) };
  };
  const admit = async (): Promise<Attempt & { count?: number }> => {
    if (windowStart === undefined) {
      let r = await attempt('ADD #month :one', 'attribute_exists(#month)', {});
      if ('refused' in r && admits(r.refused, key.keyId)) {
        // The month's first request.
        const old = stale(r.refused);
        r = await attempt(`ADD #month :one${old.clause}`, undefined, {}, old.names);
      }
      return 'written' in r ? { ...r, count: countOf(r.written, monthName) } : r;
    }
    const w = { ':w': windowStart };
    let r = await attempt('ADD #month :one, wn :one', 'win = :w', w);
    if ('refused' in r && admits(r.refused, key.keyId)) {
      const win = r.refused?.win;
      if (typeof win !== 'number' || win < windowStart) {
        // Only the first request of a window resets it.
        const old = stale(r.refused);
        r = await attempt(`ADD #month :one SET win = :w, wn = :one${old.clause}`, '(attribute_not_exists(win) OR win < :w)', w, old.names);
      }
      if ('refused' in r && admits(r.refused, key.keyId)) r = await attempt('ADD #month :one, wn :one', undefined, {});
    }
    return 'written' in r ? { ...r, count: countOf(r.written, 'wn') } : r;
  };

  let r = await admit();
  // Not on the gate, and no suspension on it: maybe a key older than the gate.
  if ('refused' in r && r.refused?.suspendedReason === undefined && !(r.refused?.keys instanceof Set && r.refused.keys.has(key.keyId)) && (await addOlderKey(ddb, tableName, key))) {
    r = await admit();
  }
  if ('written' in r) return { admitted: true, count: r.count ?? 1 };
  const reason = r.refused?.suspendedReason;
  return typeof reason === 'string' ? { admitted: false, suspendedReason: reason } : { admitted: false };
}

/**
 * Puts a key created before the gate existed on it, if its key item is still there, of this
 * account and not suspended (checked in the same transaction: a revocation meanwhile wins).
 * False when the check failed.
 */
async function addOlderKey(ddb: DynamoDBDocumentClient, tableName: string, key: GateKey): Promise<boolean> {
  try {
    await transactWithRetry(ddb, {
      TransactItems: [
        {
          ConditionCheck: {
            TableName: tableName, Key: { pk: `APIKEY#${key.keyHash}`, sk: 'APIKEY' },
            ConditionExpression: 'attribute_exists(pk) AND accountId = :a AND keyId = :kid AND attribute_not_exists(suspendedReason)',
            ExpressionAttributeValues: { ':a': key.accountId, ':kid': key.keyId },
          },
        },
        gateAddKey(tableName, key.accountId, key.keyId),
      ],
    });
    return true;
  } catch (err) {
    if (cancellationCodes(err)[0] === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

/** The requests per month recorded on a gate item (`requests#<yyyy-mm>` attributes). */
export function gateRequests(item: Item | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const prefix = requestsAttribute('');
  for (const [name, value] of Object.entries(item ?? {})) {
    if (name.startsWith(prefix) && typeof value === 'number') out.set(name.slice(prefix.length), value);
  }
  return out;
}
