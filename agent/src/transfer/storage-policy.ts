/**
 * Which storage hosts may receive SSE-C keys. The plugin only sends keys to
 * `https://<bucket>.s3.amazonaws.com/`; the agent does the same unless the operator names another
 * host (e.g. a local Ceph RGW) with `--allow-storage-host`.
 */
import { StorageHostRefusedError } from './errors.js';

/** Storage host policy: extra hosts (`host` or `host:port`) allowed besides AWS. */
export interface StoragePolicy {
  allowHosts: readonly string[];
}

/** True when a key may be sent to `url`. */
export function isKeyAllowedFor(url: string, policy: StoragePolicy): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol === 'https:' && u.hostname.endsWith('.s3.amazonaws.com') && u.hostname.length > '.s3.amazonaws.com'.length && u.port === '') return true;
  const allowed = policy.allowHosts.map((h) => h.toLowerCase());
  return allowed.includes(u.host.toLowerCase()) || allowed.includes(u.hostname.toLowerCase());
}

/** Throws StorageHostRefusedError unless a key may be sent to `url`. */
export function assertKeyAllowedFor(url: string, policy: StoragePolicy): void {
  if (!isKeyAllowedFor(url, policy)) throw new StorageHostRefusedError(url);
}
