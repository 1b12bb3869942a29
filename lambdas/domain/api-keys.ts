/**
 * API key format: `vault` + 32 random base62 characters + a 6-character checksum, 43 characters
 * of `[A-Za-z0-9]` (the plugin accepts 15–100 of those). The checksum lets us refuse typos and
 * garbage without a database read; only the SHA-256 of the whole key is stored.
 */
import { createHash } from 'node:crypto';
import { BASE62, randomString } from './ids.js';

/** Recognisable prefix of every key we issue (secret scanners can match on it). */
export const API_KEY_PREFIX = 'vault';
const BODY_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
/** Total length of an issued key. */
export const API_KEY_LENGTH = API_KEY_PREFIX.length + BODY_LENGTH + CHECKSUM_LENGTH;

/** Scopes a key can carry. */
export const SCOPES = ['backup', 'restore', 'account'] as const;
/** One scope. */
export type Scope = (typeof SCOPES)[number];

function checksum(body: string): string {
  const digest = createHash('sha256').update(`${API_KEY_PREFIX}${body}`).digest();
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) out += BASE62[(digest[i] ?? 0) % BASE62.length];
  return out;
}

/** A new random key (shown once to its owner). */
export function generateApiKey(): string {
  const body = randomString(BODY_LENGTH);
  return `${API_KEY_PREFIX}${body}${checksum(body)}`;
}

/** True when `key` has our shape and a correct checksum; says nothing about existence. */
export function isWellFormedApiKey(key: string): boolean {
  if (key.length !== API_KEY_LENGTH || !/^[A-Za-z0-9]+$/.test(key) || !key.startsWith(API_KEY_PREFIX)) return false;
  const body = key.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + BODY_LENGTH);
  return checksum(body) === key.slice(API_KEY_PREFIX.length + BODY_LENGTH);
}

/** Hex SHA-256 of the key: the only form in which keys are stored and looked up. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** What the list shows of a key: the plugin itself shows the first 8 characters. */
export function apiKeyHint(key: string): string {
  return `${key.slice(0, 9)}...`;
}
