/**
 * DynamoDB item size, counted the way DynamoDB bills and limits it (UTF-8 bytes of attribute
 * names and strings, numbers by their digits, 3 bytes per map or list plus 1 per element), so a
 * write that cannot fit is refused with a 400 before it is sent instead of failing with a 500.
 * (`dyno-item-size` on npm does this for the low-level AttributeValue format, not for the plain
 * values the document client writes, and is unmaintained.)
 */

/** DynamoDB's hard limit on one item, in bytes. */
export const DYNAMODB_ITEM_LIMIT = 400 * 1024;
/**
 * What we let an item grow to: the limit less room for the attributes a later update adds
 * (status, times, index keys, `objectsDeleted`, ...), so that an accepted record stays writable.
 */
export const MAX_ITEM_BYTES = DYNAMODB_ITEM_LIMIT - 4 * 1024;

/** Bytes of one value as DynamoDB counts them (undefined values are not stored). */
export function attributeBytes(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'bigint') {
    // "Approximately (number of UTF-8 encoded bytes of the significant digits / 2) + 1", at most 21.
    const digits = String(value).replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.min(21, Math.ceil(Math.max(digits.length, 1) / 2) + 1);
  }
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value) || value instanceof Set) {
    let n = 3;
    for (const v of value) n += 1 + attributeBytes(v);
    return n;
  }
  if (typeof value === 'object') return 3 + itemBytes(value as Record<string, unknown>, 1);
  return 0;
}

/** Bytes of an item (or of a map's entries, with `perEntry` bytes of overhead each). */
export function itemBytes(item: Record<string, unknown>, perEntry = 0): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) {
    if (v === undefined) continue;
    n += Buffer.byteLength(k, 'utf8') + attributeBytes(v) + perEntry;
  }
  return n;
}
