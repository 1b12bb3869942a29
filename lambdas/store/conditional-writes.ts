/**
 * How the repository tells DynamoDB's refusals apart: a failed condition of one write, the
 * per-item reasons of a cancelled transaction, and a transaction retried while it only conflicts
 * with a concurrent one.
 */
import { type DynamoDBDocumentClient, TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';

/** True when a single write's ConditionExpression failed. */
export function isConditionFailure(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/** The cancellation reason of each item of a cancelled transaction (`ConditionalCheckFailed`, `None`, ...); [] for any other error. */
export function cancellationCodes(err: unknown): string[] {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return [];
  const reasons = (err as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((r) => r.Code ?? 'None');
}

/** Waits a random time up to 20 ms × 2^attempt before the next attempt of a retried request. */
export function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
}

/**
 * Runs a transaction, retrying while DynamoDB cancels it for a conflict with a concurrent
 * transaction on the same items (not a condition failure): those would succeed a moment later.
 */
export async function transactWithRetry(ddb: DynamoDBDocumentClient, input: TransactWriteCommandInput, attempts = 8): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await ddb.send(new TransactWriteCommand(input));
      return;
    } catch (err) {
      const codes = cancellationCodes(err);
      const conflictOnly = codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
      if (!conflictOnly || i >= attempts) throw err;
      await backoff(i);
    }
  }
}
