/**
 * Table access of e-mail sign-in (lambdas/routes/signin.ts): one-time-code challenges, fixed-window
 * rate-limit counters and the email → account lookup. Kept beside the main repository (same table,
 * same TTL attribute) so that sign-in adds no method to the shared `Repository` interface.
 *
 * Items (pk / sk):
 *   OTP#<email>                    / OTP       → { codeHash, attempts, expiresAt }  (one live code per address)
 *   RATE#<bucket>#<subject>        / <window>  → { count, expiresAt }               (fixed-window counter)
 *   EMAIL#<email>                  / EMAIL     → accountId (written by Repository.createAccount; read here)
 *
 * Expired items are removed by DynamoDB TTL, which may lag by days: every read checks `expiresAt`
 * itself.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TTL_ATTRIBUTE } from './table-definition.js';

/** What `consumeCode` found. */
export type ConsumeResult = 'ok' | 'wrong' | 'expired';

/** Table operations of the sign-in flow. */
export interface SigninStore {
  /** Stores the (hashed) code of `email`, replacing any earlier one; it expires at `expiresAt` (epoch s). */
  putCode(email: string, codeHash: string, expiresAt: number): Promise<void>;
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
  return {
    async putCode(email, codeHash, expiresAt) {
      await ddb.send(new PutCommand({ TableName, Item: { ...otpKey(email), codeHash, attempts: 0, [TTL_ATTRIBUTE]: expiresAt } }));
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
          TableName, Key: { pk: `RATE#${bucket}#${subject}`, sk: String(window) },
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

    async accountIdForEmail(email) {
      const res = await ddb.send(new GetCommand({ TableName, Key: { pk: `EMAIL#${email}`, sk: 'EMAIL' }, ConsistentRead: true }));
      const id = res.Item?.accountId;
      return typeof id === 'string' ? id : undefined;
    },
  };
}
