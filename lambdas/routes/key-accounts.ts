/**
 * The accounts of the API keys this instance has authenticated (key hash → account id), so that
 * a key's next request can start its account's request counter together with the key read
 * instead of after it. A key never moves to another account, so an entry cannot go stale; whether
 * the key still works (revoked, suspended) is read from the key item on every request as before.
 */

/** At most this many keys are remembered (about 150 bytes each); the oldest goes first. */
export const KEY_ACCOUNTS_MAX = 10_000;

/** A bounded map of key hashes to account ids (one per app instance, that is per Lambda instance). */
export interface KeyAccounts {
  get(keyHash: string): string | undefined;
  remember(keyHash: string, accountId: string): void;
  /** Forgets a key that was refused (revoked, unknown or suspended): its next request reads it first again. */
  forget(keyHash: string): void;
}

export function createKeyAccounts(max = KEY_ACCOUNTS_MAX): KeyAccounts {
  const accounts = new Map<string, string>();
  return {
    get: (keyHash) => accounts.get(keyHash),
    remember(keyHash, accountId) {
      if (accounts.has(keyHash)) return;
      // Map iteration follows insertion: the first entry is the oldest.
      const oldest = accounts.keys().next();
      if (accounts.size >= max && !oldest.done) accounts.delete(oldest.value);
      accounts.set(keyHash, accountId);
    },
    forget(keyHash) {
      accounts.delete(keyHash);
    },
  };
}
