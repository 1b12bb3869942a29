/**
 * Both AWS client factories in one import, for the local server and the tests. Lambda code
 * imports `dynamodb-client.ts` / `s3-client.ts` directly so a bundle holds only the SDK it uses.
 */
export { createDocumentClient, type DynamoDbClientOptions } from './dynamodb-client.js';
export { createS3Client, type S3ClientOptions } from './s3-client.js';
