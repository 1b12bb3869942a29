/**
 * JSON exactly as PHP's `json_encode` writes it with default flags: `/` escaped as `\/`,
 * every non-ASCII UTF-16 unit as lower-case `\uXXXX` (so characters above U+FFFF become
 * surrogate pairs), control characters as `\b \f \n \r \t` or `\u00XX`. Byte-identical chunk
 * files let a test compare ours with the plugin's.
 */

// eslint-disable-next-line no-control-regex -- control characters are what json_encode escapes
const NEEDS_ESCAPE = /["\\/\u0000-\u001f\u0080-\uffff]/;
const SHORT: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x2f: '\\/', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

/** A JSON string literal with PHP escaping. */
export function phpJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c && c !== 0x2f) continue;
    if (i > last) out += s.slice(last, i);
    out += SHORT[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
    last = i + 1;
  }
  return `${out}${s.slice(last)}"`;
}

/** A JSON value encoded like PHP: arrays as lists, empty arrays/objects as `[]` (PHP's habit). */
export type PhpJsonValue = string | number | boolean | null | PhpJsonValue[] | { [key: string]: PhpJsonValue };

/** Encodes a value the way PHP `json_encode` does (compact, PHP escaping). */
export function phpJsonEncode(v: PhpJsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return phpJsonString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(phpJsonEncode).join(',')}]`;
  const entries = Object.entries(v);
  if (entries.length === 0) return '[]';
  return `{${entries.map(([k, x]) => `${phpJsonString(k)}:${phpJsonEncode(x)}`).join(',')}}`;
}

/** One row of a chunk file: `["a",null,"b"]`. */
export function phpJsonRow(values: (string | null)[]): string {
  let s = '[';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i) s += ',';
    s += v === null || v === undefined ? 'null' : phpJsonString(v);
  }
  return `${s}]`;
}
