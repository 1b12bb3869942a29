/**
 * The DynamoDB actions the ops run issues, by resource: the CDK stack grants exactly these to the
 * ops function, and the ops API test checks them against the commands a real run sends.
 */
export const OPS_TABLE_ACCESS = {
  /**
   * Consistent re-read of each candidate and its account; status change, slot release (in one
   * transaction) and `objectsDeleted` updates; Query of a finished backup's archive records (its sweep keeps them).
   */
  table: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  /** Queries of the sparse ops index (OPS_INDEX), never a Scan. */
  opsIndex: ['dynamodb:Query'],
} as const;
