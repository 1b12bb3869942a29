/**
 * The single DynamoDB table's key schema, shared by the API, the local server, the tests and the
 * CDK stack so that all four agree. Items: `pk`/`sk`; GSI `gsi1` (`gsi1pk`/`gsi1sk`) for
 * listings; the sparse, keys-only GSI `ops` (`opsPk`/`opsSk`) holding only the backups the ops
 * job may have to act on; `expiresAt` (epoch seconds) is the TTL attribute.
 */
export const TABLE_KEYS = { partition: 'pk', sort: 'sk' } as const;
export const GSI1 = { name: 'gsi1', partition: 'gsi1pk', sort: 'gsi1sk' } as const;
/**
 * Work queue of the ops job. Only backups and restores carry its keys, and only while there may be
 * work: `opsPk = INPROGRESS` (sort: creation time) while in progress, `SWEEP` (sort: when it ended
 * or was deleted) until its sweep after the upload URLs' lifetime, then `EXPIRES` (sort: expiry)
 * for a finished one with an expiry until its objects are deleted; `RESTORING` for restores in
 * progress. Keys-only, so updates of other attributes (every upload completion) cost no index writes.
 */
export const OPS_INDEX = { name: 'ops', partition: 'opsPk', sort: 'opsSk' } as const;
export const TTL_ATTRIBUTE = 'expiresAt';
