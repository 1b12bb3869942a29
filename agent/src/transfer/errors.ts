/**
 * Typed errors of the transfer layer. Each has a stable `code`; the CLI maps codes to exit codes
 * (see `exitCodeFor`), so scripts can tell a wrong passphrase from a plan refusal or a network
 * failure.
 */

/** Base class: every agent error that the CLI reports cleanly. */
export class AgentError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The API answered with a non-200 status; `message` includes the API's own `{message}` text. */
export class ApiError extends AgentError {
  constructor(readonly status: number, readonly apiMessage: string, readonly endpoint: string) {
    super(status === 401 ? 'ERR_API_AUTH' : 'ERR_API', status === 401
      ? `Vault API rejected authentication${apiMessage ? `: ${apiMessage}` : ''}`
      : `Vault API error (${status})${apiMessage ? `: ${apiMessage}` : ''}`);
  }
}

/** No HTTP status received after all retries (DNS, refused, reset, timeout). */
export class NetworkError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NETWORK', message, options);
  }
}

/** Object storage answered with an error status after all retries. */
export class StorageError extends AgentError {
  constructor(readonly status: number, message: string) {
    super('ERR_STORAGE', message);
  }
}

/** The passphrase does not open the backup's objects. */
export class WrongPassphraseError extends AgentError {
  constructor() {
    super('ERR_WRONG_PASSPHRASE', 'The passphrase is wrong: storage refused the encryption key');
  }
}

/** The agent refuses to send an encryption key (or bytes of an encrypted backup) to this host. */
export class StorageHostRefusedError extends AgentError {
  constructor(url: string) {
    let host = url;
    try { host = new URL(url).host; } catch { /* keep raw text */ }
    super('ERR_STORAGE_HOST', `Refusing to send the encryption key to ${host}: only https://*.s3.amazonaws.com/ is allowed unless --allow-storage-host names it`);
  }
}

/** A downloaded archive does not match the hash recorded at backup time. */
export class IntegrityError extends AgentError {
  constructor(readonly file: string, readonly expected: string, readonly actual: string) {
    super('ERR_INTEGRITY', `${file}: SHA-256 mismatch (expected ${expected}, got ${actual}); nothing on the site was changed`);
  }
}

/** A pre-check failed; nothing was changed. */
export class CheckFailedError extends AgentError {
  constructor(message: string) {
    super('ERR_CHECK_FAILED', message);
  }
}

/** Process exit codes by error code. 1 = any other failure. */
export const EXIT_CODES: Readonly<Record<string, number>> = {
  ERR_CHECK_FAILED: 3,
  ERR_WRONG_PASSPHRASE: 4,
  ERR_API: 5,
  ERR_API_AUTH: 5,
  ERR_NETWORK: 6,
  ERR_STORAGE: 6,
  ERR_INTEGRITY: 7,
  ERR_STORAGE_HOST: 8,
  ERR_SITE_CONFIG: 2,
  ERR_USAGE: 2,
  ERR_CONFIG_PHP: 2,
};

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): number {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return EXIT_CODES[code] ?? 1;
}
