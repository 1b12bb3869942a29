/**
 * Table access of e-mail sign-in (lambdas/routes/signin.ts): one-time-code challenges, fixed-window
 * rate-limit counters and the email → account lookup. Kept beside the main repository (same table,
 * same TTL attribute) so that sign-in adds no method to the shared `Repository` interface.
 *
 * Items (pk / sk):
 *   OTP#<email>                    / OTP       → { codeHash, nonce, attempts, expiresAt }  (one live code per address)
 *   RATE#<bucket>#<subject>        / <window>  → { count, expiresAt }               (fixed-window counter)
 *   RATE#<bucket>#<subject>        / <window>  → { members, n_<member hash>…, expiresAt } (counter per distinct member)
 *   EMAIL#<email>                  / EMAIL     → accountId (written by Repository.createAccount; read here)
 *
 * Expired items are removed by DynamoDB TTL, which may lag by days: every read checks `expiresAt`
 * itself.
 */
import { createHash } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TTL_ATTRIBUTE } from './table-definition.js';

/** What `consumeCode` found. */
export type ConsumeResult = 'ok' | 'wrong' | 'expired';

/** A code as stored: its hash, the nonce it is derived from (with the server's secret), its expiry. */
export interface StoredCode {
  codeHash: string;
  nonce: string;
  expiresAt: number;
}

/** Table operations of the sign-in flow. */
export interface SigninStore {
  /**
   * The live code of `email`: unexpired, with attempts left and at least `minRemaining` seconds
   * to live; undefined otherwise.
   */
  liveCode(email: string, now: number, minRemaining: number, maxAttempts: number): Promise<StoredCode | undefined>;
  /**
   * Stores `candidate` as the code of `email` unless a live code (as `liveCode` defines it) is
   * there, and returns the code now stored: the candidate or the live one. Two concurrent
   * requests thus mail the same code, and a request never kills a code already mailed.
   */
  putCodeUnlessLive(email: string, candidate: StoredCode, now: number, minRemaining: number, maxAttempts: number): Promise<StoredCode>;
  /**
   * Spends one of the code's `maxAttempts` attempts and, when `codeHash` matches, deletes the code
   * so that it cannot be used twice (also not by a concurrent request). `expired` covers a missing,
   * expired or exhausted code.
   */
  consumeCode(email: string, codeHash: string, now: number, maxAttempts: number): Promise<ConsumeResult>;
  /**
   * Counts one event against `limit` per `windowSeconds` for `bucket`/`subject`; false when the
   * window's budget is already spent (the event is then not counted).
   */
  hit(bucket: string, subject: string, limit: number, windowSeconds: number, now: number): Promise<boolean>;
  /** Gives back one event counted by `hit` in the current window (never below zero). */
  unhit(bucket: string, subject: string, windowSeconds: number, now: number): Promise<void>;
  /**
   * Counts one event of `member` for `bucket`/`subject`: at most `perMember` per member and at most
   * `maxMembers` distinct members per `windowSeconds`; false (not counted) when either is spent.
   */
  hitDistinct(bucket: string, subject: string, member: string, perMember: number, maxMembers: number, windowSeconds: number, now: number): Promise<boolean>;
  /** The account id registered for `email`, if any. */
  accountIdForEmail(email: string): Promise<string | undefined>;
}

function isConditionFailure(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/** The sign-in store over `tableName` (the API's single table). */
export function createSigninStore(ddb: DynamoDBDocumentClient, tableName: string): SigninStore {
  const TableName = tableName;
  const otpKey = (email: string) => ({ pk: `OTP#${email}`, sk: 'OTP' });
  const rateKey = (bucket: string, subject: string, window: number) => ({ pk: `RATE#${bucket}#${subject}`, sk: String(window) });
  const asCode = (item: Record<string, unknown> | undefined): StoredCode | undefined =>
    item && typeof item.codeHash === 'string' && typeof item.nonce === 'string' && typeof item[TTL_ATTRIBUTE] === 'number'
      ? { codeHash: item.codeHash, nonce: item.nonce, expiresAt: item[TTL_ATTRIBUTE] }
      : undefined;
  const isLive = (item: Record<string, unknown> | undefined, now: number, minRemaining: number, maxAttempts: number) =>
    item !== undefined && Number(item[TTL_ATTRIBUTE]) >= now + minRemaining && Number(item.attempts) < maxAttempts;
  return {
    async liveCode(email, now, minRemaining, maxAttempts) {
      const item = (await ddb.send(new GetCommand({ TableName, Key: otpKey(email), ConsistentRead: true }))).Item;
      return isLive(item, now, minRemaining, maxAttempts) ? asCode(item) : undefined;
    },

    async putCodeUnlessLive(email, candidate, now, minRemaining, maxAttempts) {
      for (let round = 0; round < 3; round++) {
        try {
          // Replace only what is not live: missing, expiring within minRemaining, or out of attempts.
          await ddb.send(new PutCommand({
            TableName, Item: { ...otpKey(email), codeHash: candidate.codeHash, nonce: candidate.nonce, attempts: 0, [TTL_ATTRIBUTE]: candidate.expiresAt },
            ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :fresh OR attempts >= :max OR attribute_not_exists(nonce)',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':fresh': now + minRemaining, ':max': maxAttempts },
          }));
          return candidate;
        } catch (err) {
          if (!isConditionFailure(err)) throw err;
        }
        const item = (await ddb.send(new GetCommand({ TableName, Key: otpKey(email), ConsistentRead: true }))).Item;
        const live = isLive(item, now, minRemaining, maxAttempts) ? asCode(item) : undefined;
        if (live) return live;
        // It died between the put and the read (used or exhausted meanwhile): try again.
      }
      throw new Error('could not store a sign-in code');
    },

    async consumeCode(email, codeHash, now, maxAttempts) {
      let stored: string;
      try {
        // Count the attempt first, so that parallel guesses cannot exceed maxAttempts.
        const res = await ddb.send(new UpdateCommand({
          TableName, Key: otpKey(email),
          UpdateExpression: 'ADD attempts :one',
          ConditionExpression: 'attribute_exists(pk) AND attempts < :max AND #ttl > :now',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':one': 1, ':max': maxAttempts, ':now': now },
          ReturnValues: 'ALL_NEW',
        }));
        stored = String(res.Attributes?.codeHash ?? '');
      } catch (err) {
        if (isConditionFailure(err)) return 'expired';
        throw err;
      }
      if (stored !== codeHash) return 'wrong';
      try {
        // Single use: only the request whose delete still finds this very code wins.
        await ddb.send(new DeleteCommand({
          TableName, Key: otpKey(email), ConditionExpression: 'codeHash = :h', ExpressionAttributeValues: { ':h': codeHash },
        }));
        return 'ok';
      } catch (err) {
        if (isConditionFailure(err)) return 'expired';
        throw err;
      }
    },

    async hit(bucket, subject, limit, windowSeconds, now) {
      const window = Math.floor(now / windowSeconds) * windowSeconds;
      try {
        await ddb.send(new UpdateCommand({
          TableName, Key: rateKey(bucket, subject, window),
          UpdateExpression: 'ADD #count :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': window + windowSeconds },
        }));
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },

    async unhit(bucket, subject, windowSeconds, now) {
      const window = Math.floor(now / windowSeconds) * windowSeconds;
      await ddb.send(new UpdateCommand({
        TableName, Key: rateKey(bucket, subject, window),
        UpdateExpression: 'ADD #count :minus', ConditionExpression: '#count > :zero',
        ExpressionAttributeNames: { '#count': 'count' }, ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
      })).catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
    },

    async hitDistinct(bucket, subject, member, perMember, maxMembers, windowSeconds, now) {
      const window = Math.floor(now / windowSeconds) * windowSeconds;
      try {
        // One item per window: the set of members, and one counter attribute per member. A known
        // member may go on up to perMember; a new one only while fewer than maxMembers are known.
        await ddb.send(new UpdateCommand({
          TableName, Key: rateKey(bucket, subject, window),
          UpdateExpression: 'ADD members :set, #n :one SET #ttl = :ttl',
          ConditionExpression: '(contains(members, :member) AND #n < :per) OR (attribute_not_exists(members)) OR (NOT contains(members, :member) AND size(members) < :max)',
          ExpressionAttributeNames: { '#n': `n_${createHash('sha256').update(member).digest('hex').slice(0, 16)}`, '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':set': new Set([member]), ':member': member, ':one': 1, ':per': perMember, ':max': maxMembers, ':ttl': window + windowSeconds },
        }));
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },

    async accountIdForEmail(email) {
      const res = await ddb.send(new GetCommand({ TableName, Key: { pk: `EMAIL#${email}`, sk: 'EMAIL' }, ConsistentRead: true }));
      const id = res.Item?.accountId;
      return typeof id === 'string' ? id : undefined;
    },
  };
}
