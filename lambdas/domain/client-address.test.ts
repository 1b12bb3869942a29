import { describe, expect, it } from 'vitest';
import { ipBucket } from './client-address.js';

describe('ipBucket', () => {
  it('counts IPv4 clients by address, also when written IPv4-mapped', () => {
    expect(ipBucket('192.0.2.7')).toBe('192.0.2.7');
    expect(ipBucket('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(ipBucket('192.0.2.8')).not.toBe(ipBucket('192.0.2.7'));
  });

  it('counts IPv6 clients by their /64, whatever the spelling', () => {
    const bucket = '2001:db8:0:1::/64';
    for (const ip of ['2001:db8:0:1::1', '2001:0db8:0000:0001:ffff:ffff:ffff:ffff', '2001:DB8:0:1:a:b:c:d', '2001:db8::1:0:0:0:5', '2001:db8:0:1::9%eth0']) {
      expect(ipBucket(ip)).toBe(bucket);
    }
    expect(ipBucket('2001:db8:0:2::1')).toBe('2001:db8:0:2::/64');
    expect(ipBucket('::1')).toBe('0:0:0:0::/64');
    expect(ipBucket('2001:db8:1:2:3:4:192.0.2.1')).toBe('2001:db8:1:2::/64');
  });

  it('keeps anything that is not an address as it is, bounded', () => {
    expect(ipBucket('unknown')).toBe('unknown');
    expect(ipBucket('x'.repeat(100))).toHaveLength(64);
  });
});
