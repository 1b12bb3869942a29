/** Local stand-ins for the AWS services and the site databases, started by code. */
export { startDynamoDbLocal, type DynamoDbLocal } from './dynamodb.js';
export { startRgw, type RgwServer } from './rgw.js';
export { startPostgres, type PostgresServer } from './postgres.js';
export { startMariaDb, type MariaDbServer } from './mariadb.js';
export { reapOrphans, freePort, killServicesOnSignals, serviceDir, systemTmpDir } from './process.js';
