/**
 * The single DynamoDB table's key schema, shared by the API, the local server, the tests and the
 * CDK stack so that all four agree. Items: `pk`/`sk`; one GSI (`gsi1pk`/`gsi1sk`) for listings;
 * `expiresAt` (epoch seconds) is the TTL attribute.
 */
export const TABLE_KEYS = { partition: 'pk', sort: 'sk' } as const;
export const GSI1 = { name: 'gsi1', partition: 'gsi1pk', sort: 'gsi1sk' } as const;
export const TTL_ATTRIBUTE = 'expiresAt';
