/**
 * The unit per-IP limits count by. An IPv4 client has one address; an IPv6 client is usually
 * given a whole /64 (SLAAC, privacy addresses), so counting per IPv6 address would let one
 * client rotate through 2^64 buckets. IPv6 addresses are therefore counted by their /64.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The rate-limit bucket of a client address: an IPv4 address as is (also when written as an
 * IPv4-mapped IPv6 address, `::ffff:192.0.2.1`), an IPv6 address as its /64 in a canonical form
 * (`2001:db8:0:1::/64`), anything else (e.g. `unknown`) as is, cut to 64 characters.
 */
export function ipBucket(address: string): string {
  const ip = address.trim().toLowerCase().replace(/%.*$/, ''); // zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip.slice(0, 64);
  const groups = expandIPv6(ip);
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 part becomes two groups). */
function expandIPv6(ip: string): string[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right];
}
