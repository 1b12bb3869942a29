/** Typed errors of the database layer. */
import { VaultAgentError } from '../schema/errors.js';

/** The database URL is not a supported postgres://, mysql:// or mariadb:// URL. */
export class DbUrlError extends VaultAgentError {
  constructor(message: string) {
    super('ERR_DB_URL', message);
  }
}

/** A table could not be read or written. */
export class TableTransferError extends VaultAgentError {
  constructor(
    readonly table: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_TABLE_TRANSFER', `table ${table}: ${message}`, options);
  }
}
