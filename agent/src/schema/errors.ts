/** Typed errors of the schema layer, each with a stable code. */

/** Base of all vault-agent errors: a stable machine-readable `code` plus a message. */
export class VaultAgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An XMLDB document (install.xml or __structure__.xml) could not be understood. */
export class XmldbParseError extends VaultAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_XMLDB_PARSE', message, options);
  }
}

/** A field type or definition cannot be expressed for the target engine. */
export class DdlError extends VaultAgentError {
  constructor(message: string) {
    super('ERR_DDL', message);
  }
}
