/** Random identifiers; every one is URL- and S3-key-safe (`[A-Za-z0-9]`). */
import { randomBytes } from 'node:crypto';

/** Digits, upper case, lower case: the alphabet of API keys. */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const UPPER36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER36 = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `length` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias). */
export function randomString(length: number, alphabet: string = BASE62): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit) out += alphabet[b % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A backup key: 32 upper-case alphanumerics, like the plugin's own fixtures. */
export const newBackupKey = (): string => randomString(32, UPPER36);
/** A restore key: same shape as backup keys. */
export const newRestoreKey = (): string => randomString(32, UPPER36);
/** An account id: `a` + 19 lower-case alphanumerics (used in S3 object keys). */
export const newAccountId = (): string => `a${randomString(19, LOWER36)}`;
/** An API key id (public handle for listing and revoking). */
export const newKeyId = (): string => `k${randomString(15, LOWER36)}`;

/** Pattern shared by backup and restore keys in URLs. */
export const RECORD_KEY_PATTERN = /^[A-Za-z0-9]{1,64}$/;
