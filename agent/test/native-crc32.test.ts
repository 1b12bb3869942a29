import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import crc32, { signed, unsigned } from '../src/archive/native-crc32.js';

const require = createRequire(import.meta.url);
/** The package the agent's build replaces (yazl's dependency). */
const original = require('buffer-crc32') as ((b: Buffer | string, p?: number | Buffer) => Buffer) & { unsigned(b: Buffer | string, p?: number | Buffer): number; signed(b: Buffer | string, p?: number | Buffer): number };

describe('native crc32 drop-in for buffer-crc32', () => {
  it('gives the same values as buffer-crc32 for whole and chained inputs', () => {
    expect(unsigned('123456789')).toBe(0xcbf43926);
    for (const size of [0, 1, 7, 1000, 65_537]) {
      const a = randomBytes(size);
      const b = randomBytes(size + 3);
      expect(unsigned(a)).toBe(original.unsigned(a));
      expect(signed(a)).toBe(original.signed(a));
      expect(crc32(a).equals(original(a))).toBe(true);
      expect(unsigned(b, unsigned(a))).toBe(original.unsigned(b, original.unsigned(a)));
      expect(unsigned(b, crc32(a))).toBe(original.unsigned(b, original(a)));
    }
  });
});
