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

/**
 * A byte buffer JSON is written into at `len`. `reserve(n)` makes room for `n` more bytes (it may
 * replace `buf`: read it again afterwards).
 */
export interface JsonOut {
  buf: Buffer;
  len: number;
  reserve(n: number): void;
}

/**
 * Writes {@link phpJsonString} of `s` at `out.len`. Its output is ASCII only, so 'latin1' writes
 * it exactly.
 */
export function writePhpJsonString(out: JsonOut, s: string): void {
  const json = phpJsonString(s);
  out.reserve(json.length);
  out.len += out.buf.write(json, out.len, 'latin1');
}

/** A {@link JsonOut} over a buffer of its own that grows as needed (for rows written aside). */
export class GrowableJsonOut implements JsonOut {
  buf: Buffer = Buffer.alloc(0);
  len = 0;

  /** Keeps the buffer for reuse unless it grew past `keepBytes`. */
  constructor(private readonly keepBytes = 1024 * 1024) {}

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.len + n, this.buf.length * 2, 64 * 1024));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  /** Empties the buffer for the next use (and lets a large one go). */
  reset(): void {
    this.len = 0;
    if (this.buf.length > this.keepBytes) this.buf = Buffer.alloc(0);
  }
}

/** Lower-case hex digits as bytes. */
export const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Per ASCII byte: 0 = written as is, else the character after `\` (`u` = `\u00XX`). */
export const JSON_ESCAPE = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) JSON_ESCAPE[c] = 0x75;
for (const [c, e] of [[0x22, '"'], [0x5c, '\\'], [0x2f, '/'], [0x08, 'b'], [0x0c, 'f'], [0x0a, 'n'], [0x0d, 'r'], [0x09, 't']] as const) JSON_ESCAPE[c] = e.charCodeAt(0);

/** 1 for the bytes json_encode writes as they are: printable ASCII but `"`, `\` and `/`. */
export const PLAIN_BYTE = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN_BYTE[c] = c === 0x22 || c === 0x5c || c === 0x2f ? 0 : 1;

/** Writes ASCII byte `b` as json_encode does at `o` of `d`; returns the new offset. */
export function writeJsonAscii(d: Buffer, o: number, b: number): number {
  const x = JSON_ESCAPE[b] as number;
  if (x === 0) {
    d[o] = b;
    return o + 1;
  }
  d[o] = 0x5c;
  if (x !== 0x75) {
    d[o + 1] = x;
    return o + 2;
  }
  d[o + 1] = 0x75; d[o + 2] = 0x30; d[o + 3] = 0x30;
  d[o + 4] = HEX[b >> 4] as number; d[o + 5] = HEX[b & 15] as number;
  return o + 6;
}

/** Writes UTF-16 unit `u` as `\uXXXX` (lower-case hex) at `o` of `d`; returns the new offset. */
export function writeJsonUnit(d: Buffer, o: number, u: number): number {
  d[o] = 0x5c; d[o + 1] = 0x75;
  d[o + 2] = HEX[u >> 12] as number; d[o + 3] = HEX[(u >> 8) & 15] as number;
  d[o + 4] = HEX[(u >> 4) & 15] as number; d[o + 5] = HEX[u & 15] as number;
  return o + 6;
}

/**
 * Decodes the UTF-8 sequence starting at `i` (lead byte ≥ 0x80) of `src`, ending before `e`, as the
 * WHATWG decoder does for valid input: returns code point × 8 + sequence length, or -1 for
 * anything the decoder would replace with U+FFFD (the caller then takes the string path).
 */
export function utf8At(src: Buffer, i: number, e: number): number {
  const b = src[i] as number;
  const b1 = i + 1 < e ? src[i + 1] as number : 0;
  if (b >= 0xc2 && b <= 0xdf) {
    if ((b1 & 0xc0) !== 0x80) return -1;
    return ((((b & 0x1f) << 6) | (b1 & 0x3f)) * 8) + 2;
  }
  if (b >= 0xe0 && b <= 0xef) {
    const b2 = i + 2 < e ? src[i + 2] as number : 0;
    if (b1 < (b === 0xe0 ? 0xa0 : 0x80) || b1 > (b === 0xed ? 0x9f : 0xbf) || (b2 & 0xc0) !== 0x80) return -1;
    return ((((b & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f)) * 8) + 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const b2 = i + 2 < e ? src[i + 2] as number : 0;
    const b3 = i + 3 < e ? src[i + 3] as number : 0;
    if (b1 < (b === 0xf0 ? 0x90 : 0x80) || b1 > (b === 0xf4 ? 0x8f : 0xbf) || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return -1;
    return ((((b & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)) * 8) + 4;
  }
  return -1;
}

/** Writes code point `cp` as its `\uXXXX` UTF-16 unit(s); returns the new offset. */
export function writeJsonCodePoint(d: Buffer, o: number, cp: number): number {
  if (cp < 0x10000) return writeJsonUnit(d, o, cp);
  const v = cp - 0x10000;
  return writeJsonUnit(d, writeJsonUnit(d, o, 0xd800 | (v >> 10)), 0xdc00 | (v & 0x3ff));
}
