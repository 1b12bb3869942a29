/**
 * Typed API errors with stable codes. Routes and the repository throw these; one function
 * (routes/error-response.ts) maps the code to an HTTP status and answers `{"message": "..."}`.
 * Recognise them with `isApiError`, not `instanceof`: a lazily loaded file of a Lambda bundle has
 * its own copy of this module (infra/bundling.ts), and errors cross between the two.
 */
export const ERROR_STATUS = {
  ERR_UNAUTHENTICATED: 401,
  ERR_FORBIDDEN_SCOPE: 403,
  ERR_ACCOUNT_SUSPENDED: 403,
  ERR_PLAN_REFUSED: 403,
  ERR_QUOTA_EXCEEDED: 403,
  ERR_BAD_REQUEST: 400,
  ERR_RECORD_TOO_LARGE: 400,
  ERR_DRY_RUN: 403,
  ERR_NOT_FOUND: 404,
  ERR_BACKUP_NOT_FOUND: 404,
  ERR_RESTORE_NOT_FOUND: 404,
  ERR_FILE_NOT_FOUND: 404,
  ERR_KEY_NOT_FOUND: 404,
  ERR_BACKUP_STATE: 409,
  ERR_UPLOAD_MISMATCH: 409,
  ERR_UPLOAD_MISSING: 409,
  ERR_EMAIL_TAKEN: 409,
  ERR_LAST_KEY: 409,
  ERR_SIZE_LIMIT: 413,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_RATE_LIMITED: 429,
  ERR_STORAGE: 502,
  ERR_INTERNAL: 500,
} as const;

/** Stable machine code of an API error. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Marks an `ApiError` of any copy of this module (`Symbol.for` is one symbol per process). */
const API_ERROR = Symbol.for('vault-cloud/api-error');

/** Base class of every error the API answers deliberately; `message` is shown to the admin. */
export class ApiError extends Error {
  readonly [API_ERROR] = true;

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** True for an `ApiError` (of `code`, when given), whichever copy of this module made it. */
export function isApiError<C extends ErrorCode>(err: unknown, code?: C): err is ApiError & { code: C } {
  return typeof err === 'object' && err !== null && (err as { [API_ERROR]?: unknown })[API_ERROR] === true && (code === undefined || (err as ApiError).code === code);
}

/** A missing, malformed, unknown or revoked API key; the message never says which. */
export class UnauthenticatedError extends ApiError {
  constructor() {
    super('ERR_UNAUTHENTICATED', 'The API key is not valid');
  }
}

/** The key is valid but lacks the scope the endpoint needs. */
export class ScopeError extends ApiError {
  constructor(scope: string) {
    super('ERR_FORBIDDEN_SCOPE', `This API key does not have the ${scope} permission`);
  }
}

/** Request failed validation. */
export class BadRequestError extends ApiError {
  constructor(message: string) {
    super('ERR_BAD_REQUEST', message);
  }
}

/** No backup with this key in the caller's account (or it expired). */
export class BackupNotFoundError extends ApiError {
  constructor() {
    super('ERR_BACKUP_NOT_FOUND', 'Backup not found or no longer available');
  }
}

/** No restore with this key in the caller's account. */
export class RestoreNotFoundError extends ApiError {
  constructor() {
    super('ERR_RESTORE_NOT_FOUND', 'Restore not found');
  }
}

/** The plan does not allow what was asked (bucket, encryption, expiry, ...). */
export class PlanRefusedError extends ApiError {
  constructor(message: string) {
    super('ERR_PLAN_REFUSED', message);
  }
}

/** A counted plan quota (stored backups, restores per 30 days) is used up. */
export class QuotaExceededError extends ApiError {
  constructor(message: string) {
    super('ERR_QUOTA_EXCEEDED', message);
  }
}

/** The operation does not fit the record's current status. */
export class BackupStateError extends ApiError {
  constructor(message: string) {
    super('ERR_BACKUP_STATE', message);
  }
}

/** The archived size of a backup exceeds the plan's limit. */
export class SizeLimitError extends ApiError {
  constructor(limit: number) {
    super('ERR_SIZE_LIMIT', `The backup exceeds the size limit of your plan (${limit} bytes archived)`);
  }
}

/** The record would not fit in one DynamoDB item (400 KB, counted in UTF-8 bytes). */
export class RecordTooLargeError extends ApiError {
  constructor(what: string, bytes: number, max: number) {
    super('ERR_RECORD_TOO_LARGE', `The ${what} would take ${bytes} bytes, more than the ${max} bytes a record may hold; send less info`);
  }
}

/** A dry run (restore pre-check) asked for more than the structure archive. */
export class DryRunError extends ApiError {
  constructor(allowed: string) {
    super('ERR_DRY_RUN', `A restore pre-check (dry run) can download only ${allowed}`);
  }
}

/** Revoking the account's last API key without confirming it (nothing could sign in again). */
export class LastKeyError extends ApiError {
  constructor() {
    super('ERR_LAST_KEY', 'This is the last API key of the account; revoking it locks the account. Add ?confirm=lastkey to revoke it anyway');
  }
}

/** Too many requests in the current window; `retryAfter` seconds until it ends (the `Retry-After` header). */
export class RateLimitedError extends ApiError {
  constructor(readonly retryAfter: number) {
    super('ERR_RATE_LIMITED', `Too many requests; try again in ${retryAfter} seconds`);
  }
}

/** The operator suspended the account: every call with any of its keys is refused. */
export class AccountSuspendedError extends ApiError {
  constructor(readonly reason: string) {
    super('ERR_ACCOUNT_SUSPENDED', `This account is suspended: ${reason}. Contact the operator.`);
  }
}
