/**
 * SSE-C key derivation exactly as tool_vault does it (protocol §7.1): the passphrase's UTF-8
 * bytes are hashed with SHA-256; the raw 32 bytes are the AES key. The key lives only in memory.
 */
import { createHash } from 'node:crypto';

/** Derived customer key in the two encodings S3 wants. */
export interface SseCKey {
  /** Base64 of SHA-256(passphrase). */
  readonly keyB64: string;
  /** Base64 of MD5 of the 32 raw key bytes (not of the Base64 text). */
  readonly md5B64: string;
}

/** Derives the SSE-C key; an empty passphrase means "no encryption" and gives null. */
export function deriveSseCKey(passphrase: string): SseCKey | null {
  if (passphrase === '') return null;
  const raw = createHash('sha256').update(passphrase, 'utf8').digest();
  return { keyB64: raw.toString('base64'), md5B64: createHash('md5').update(raw).digest('base64') };
}

/** The three SSE-C request headers for a key. */
export function sseCHeaders(key: SseCKey): Record<string, string> {
  return {
    'x-amz-server-side-encryption-customer-algorithm': 'AES256',
    'x-amz-server-side-encryption-customer-key': key.keyB64,
    'x-amz-server-side-encryption-customer-key-MD5': key.md5B64,
  };
}
