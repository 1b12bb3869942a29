/**
 * The API keys this instance has admitted (key hash → key record), so that a key's next requests
 * skip the key read: the account's gate (store/key-gate.ts) decides on each of them whether the
 * key still works (revoked, suspended) in the same write that counts the request. What is kept
 * never changes while the key exists (account, id, name, scopes); the suspension is not kept.
 */
import type { ApiKeyRecord } from '../store/records.js';

/** At most this many keys are remembered (about 300 bytes each); the oldest goes first. */
export const KEY_CACHE_MAX = 10_000;

/** A bounded map of key hashes to key records (one per app instance, that is per Lambda instance). */
export interface KeyCache {
  get(keyHash: string): ApiKeyRecord | undefined;
  remember(keyHash: string, key: ApiKeyRecord): void;
  /** Forgets a key that was refused (revoked or suspended): its next request reads it first again. */
  forget(keyHash: string): void;
}

/** An empty cache of at most `max` keys. */
export function createKeyCache(max = KEY_CACHE_MAX): KeyCache {
  const keys = new Map<string, ApiKeyRecord>();
  return {
    get: (keyHash) => keys.get(keyHash),
    remember(keyHash, key) {
      if (keys.has(keyHash)) return;
      // Map iteration follows insertion: the first entry is the oldest.
      const oldest = keys.keys().next();
      if (keys.size >= max && !oldest.done) keys.delete(oldest.value);
      const { suspendedReason: _suspension, ...kept } = key;
      keys.set(keyHash, kept);
    },
    forget(keyHash) {
      keys.delete(keyHash);
    },
  };
}
