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

/** A plugin name in a setting is not frankenstyle (`[a-z0-9_]+`), so it cannot go into SQL. */
export class PluginNameError extends VaultAgentError {
  constructor(readonly plugin: string) {
    super('ERR_PLUGIN_NAME', `invalid plugin name ${JSON.stringify(plugin)}`);
  }
}
