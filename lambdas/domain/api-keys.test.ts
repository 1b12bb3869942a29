import { describe, expect, it } from 'vitest';
import { API_KEY_LENGTH, apiKeyHint, generateApiKey, hashApiKey, isWellFormedApiKey } from './api-keys.js';

describe('API key format', () => {
  it('issues keys the plugin accepts (15–100 of [A-Za-z0-9]) with our prefix, all different', () => {
    const keys = Array.from({ length: 200 }, generateApiKey);
    for (const k of keys) {
      expect(k).toMatch(/^vault[A-Za-z0-9]+$/);
      expect(k.length).toBe(API_KEY_LENGTH);
      expect(k.length).toBeGreaterThanOrEqual(15);
      expect(k.length).toBeLessThanOrEqual(100);
      expect(isWellFormedApiKey(k)).toBe(true);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('refuses any single-character change, other lengths and foreign keys without a lookup', () => {
    const k = generateApiKey();
    for (let i = 0; i < k.length; i++) {
      const ch = k[i] === 'a' ? 'b' : 'a';
      expect(isWellFormedApiKey(k.slice(0, i) + ch + k.slice(i + 1))).toBe(false);
    }
    expect(isWellFormedApiKey(k.slice(0, -1))).toBe(false);
    expect(isWellFormedApiKey(`${k}a`)).toBe(false);
    expect(isWellFormedApiKey('hellothereThisisaninvalidAPIkeythatlooksvalid')).toBe(false);
    expect(isWellFormedApiKey('')).toBe(false);
    expect(isWellFormedApiKey(`${k.slice(0, 20)}-${k.slice(21)}`)).toBe(false);
  });

  it('stores only a SHA-256 hex hash and shows only a short hint', () => {
    const k = generateApiKey();
    expect(hashApiKey(k)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(k)).not.toContain(k.slice(5, 15));
    expect(apiKeyHint(k)).toBe(`${k.slice(0, 9)}...`);
  });
});
