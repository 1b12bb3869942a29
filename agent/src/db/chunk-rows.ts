/**
 * Chunk-file rows (JSON arrays as PHP's json_encode writes them, spec §3.4) straight into database
 * input, byte by byte: for PostgreSQL COPY text lines for `COPY … FROM STDIN`, or the `(…)` tuples
 * of an `INSERT … VALUES` (small tables, several to a round trip: import-database.ts); for
 * MySQL/MariaDB the lines of `LOAD DATA LOCAL INFILE` or the tuples of its multi-row INSERTs. The mirror of the dump's transcoders
 * (pg-copy-text.ts copyLineToPhpJson, mysql.ts mysqlRowToPhpJson): no JavaScript value per field,
 * JSON escapes undone and the target's applied while the bytes are copied. Anything unusual takes
 * the string path (the rows decoded with JSON.parse), whose output is the reference.
 */
import { decodeBinary } from '../archive/binary-encoding.js';
import { HEX as HEX_DIGIT, utf8At } from '../archive/php-json.js';
import { escapeCopyBytea, escapeCopyText } from './pg-copy-text.js';

/** Slots of {@link transcodeChunkRow}: an element of a chunk row that is not loaded. */
export const ROW_SKIP = 0;
/** A row element loaded into a text (or number, date …) column. */
export const ROW_TEXT = 1;
/** A row element loaded into a bytea column (binary-encoding.ts decodes it). */
export const ROW_BYTEA = 2;

/** The slots of a table's chunk rows: per loaded column (`pick`, increasing), text or binary. */
export function chunkRowSlots(pick: readonly number[], binary: readonly boolean[]): Uint8Array {
  const slots = new Uint8Array(pick.length ? Math.max(...pick) + 1 : 0);
  pick.forEach((p, j) => { slots[p] = binary[j] ? ROW_BYTEA : ROW_TEXT; });
  return slots;
}

/** A COPY text line, LF included. */
export const FORM_COPY = 0;
/** An `INSERT … VALUES` tuple, `('a',NULL,'b')`: standard-conforming string literals. */
export const FORM_VALUES = 1;
/**
 * A MySQL/MariaDB `INSERT … VALUES` tuple, `('a',NULL,X'00ff')`: string literals with backslash
 * escapes (the adapter's sql_mode leaves them on), binary values as hex literals.
 */
export const FORM_MYSQL = 2;
/**
 * A line of MySQL/MariaDB `LOAD DATA` input in its default format (fields ended by tab, lines by
 * LF, escapes with `\`), LF included: COPY text with U+0000 as `\0`, binary values as bare hex
 * (the statement loads them through `UNHEX`).
 */
export const FORM_TSV = 3;
/** What {@link transcodeChunkRow} writes. */
export type RowForm = typeof FORM_COPY | typeof FORM_VALUES | typeof FORM_MYSQL | typeof FORM_TSV;

/** Upper bound of what {@link transcodeChunkRow} writes for a row of `rowBytes` JSON bytes. */
export const chunkRowBound = (rowBytes: number, columns: number): number => 2 * rowBytes + 5 * columns + 4;

/**
 * The kept slots of a decoded chunk row, each value as `format` writes it (`nil` for null), joined
 * by `separator`: the string path of both forms.
 */
function joinSlots(row: readonly unknown[], slots: Uint8Array, separator: string, nil: string, format: (value: string, bytea: boolean) => string): string {
  let out = '';
  let first = true;
  for (let k = 0; k < slots.length; k++) {
    const slot = slots[k];
    if (slot === ROW_SKIP) continue;
    if (!first) out += separator;
    first = false;
    const v = row[k];
    out += v === null || v === undefined ? nil : format(typeof v === 'string' ? v : String(v), slot === ROW_BYTEA);
  }
  return out;
}

/**
 * The COPY text line, LF included, of one decoded chunk row: what the import loaded before the
 * byte path existed (each slot's value as a string, or `\N`; bytea through decodeBinary).
 */
export function chunkRowToCopyLine(row: readonly unknown[], slots: Uint8Array, marked: boolean): string {
  return `${joinSlots(row, slots, '\t', '\\N', (s, bytea) => (bytea ? escapeCopyBytea(decodeBinary(s, marked)) : escapeCopyText(s)))}\n`;
}

/**
 * The `INSERT … VALUES` tuple of one decoded chunk row, the same values as
 * {@link chunkRowToCopyLine} as string literals (`standard_conforming_strings` on, as the adapter
 * sets it). A query cannot carry U+0000 (PostgreSQL text cannot hold it either): such a value
 * throws, and the table is then loaded with COPY, whose error names it.
 */
export function chunkRowToValues(row: readonly unknown[], slots: Uint8Array, marked: boolean): string {
  return `(${joinSlots(row, slots, ',', 'NULL', (s, bytea) => {
    if (bytea) return `'\\x${decodeBinary(s, marked).toString('hex')}'`;
    if (s.includes('\u0000')) throw new Error('a value holds U+0000');
    return `'${s.replaceAll("'", "''")}'`;
  })})`;
}

/**
 * Escapes a string as a single-quoted MySQL literal (backslash escapes on, as the adapter's sql_mode
 * leaves them). Written apart from the byte path's tables, so that each checks the other.
 */
export function mysqlString(s: string): string {
  // eslint-disable-next-line no-control-regex -- these control characters are exactly what MySQL needs escaped
  return `'${s.replace(/[\0\n\r\b\t\\'"\x1a]/g, (c) => {
    switch (c) {
      case '\0': return '\\0';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\b': return '\\b';
      case '\t': return '\\t';
      case '\x1a': return '\\Z';
      default: return `\\${c}`;
    }
  })}'`;
}

/**
 * Escapes a value for a `LOAD DATA` field (default format: `\` escapes): backslash, tab, LF and CR
 * as COPY text writes them, U+0000 as `\0`. Written apart from the byte path's tables.
 */
export function tsvField(s: string): string {
  return s.replace(/[\\\n\r\t\0]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : '\\0'));
}

/**
 * The `LOAD DATA` line, LF included, of one decoded chunk row: each kept slot's value as
 * {@link tsvField} writes it, binary ones (decodeBinary) as bare hex, null as `\N`.
 */
export function chunkRowToTsvLine(row: readonly unknown[], slots: Uint8Array, marked: boolean): string {
  return `${joinSlots(row, slots, '\t', '\\N', (s, binary) => (binary ? decodeBinary(s, marked).toString('hex') : tsvField(s)))}\n`;
}

/**
 * The MySQL/MariaDB `INSERT … VALUES` tuple of one decoded chunk row: each kept slot's value as
 * {@link mysqlString} writes it, binary ones (decodeBinary) as `X'…'`, null as `NULL`.
 */
export function chunkRowToMysql(row: readonly unknown[], slots: Uint8Array, marked: boolean): string {
  return `(${joinSlots(row, slots, ',', 'NULL', (s, binary) => (binary ? `X'${decodeBinary(s, marked).toString('hex')}'` : mysqlString(s)))})`;
}

/** Raw bytes a JSON string holds and COPY text keeps as they are: printable ASCII but `"` and `\`. */
const COPY_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) COPY_PLAIN[c] = c === 0x22 || c === 0x5c ? 0 : 1;
/** The same for a string literal, which doubles `'` (PostgreSQL) or escapes it (MySQL). */
const VALUES_PLAIN = COPY_PLAIN.slice();
VALUES_PLAIN[0x27] = 0;
/** Per ASCII byte: the letter after `\` that a MySQL string literal writes it as (mysqlString), 0 = as is. */
const MYSQL_ESCAPE = new Uint8Array(128);
for (const [c, e] of [[0, '0'], [0x0a, 'n'], [0x0d, 'r'], [0x08, 'b'], [0x09, 't'], [0x1a, 'Z'], [0x5c, '\\'], [0x27, "'"], [0x22, '"']] as const) MYSQL_ESCAPE[c] = e.charCodeAt(0);
/** Per byte after `\` in a JSON string: the byte it stands for (0: not a one-letter escape). */
const JSON_UNESCAPE = new Uint8Array(256);
for (const [e, c] of [['"', 0x22], ['\\', 0x5c], ['/', 0x2f], ['b', 8], ['f', 12], ['n', 10], ['r', 13], ['t', 9]] as const) JSON_UNESCAPE[e.charCodeAt(0)] = c;
/** Per ASCII byte: the letter after `\` that COPY text writes it as (escapeCopyText), 0 = as is. */
const COPY_ESCAPE = new Uint8Array(128);
for (const [c, e] of [[0x5c, '\\'], [0x0a, 'n'], [0x0d, 'r'], [0x09, 't']] as const) COPY_ESCAPE[c] = e.charCodeAt(0);
/** The same for `LOAD DATA` input (tsvField), which also escapes U+0000. */
const TSV_ESCAPE = COPY_ESCAPE.slice();
TSV_ESCAPE[0] = 0x30;
/** Hex digit values, -1 for other bytes. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) HEX_VALUE[c.toString(16).charCodeAt(0)] = c;
for (let c = 10; c < 16; c++) HEX_VALUE[c.toString(16).toUpperCase().charCodeAt(0)] = c;

/** The UTF-16 unit of the 4 hex digits at `i` (before `e`), or -1. */
function hex4(src: Buffer, i: number, e: number): number {
  if (i + 4 > e) return -1;
  const a = HEX_VALUE[src[i] as number] as number;
  const b = HEX_VALUE[src[i + 1] as number] as number;
  const c = HEX_VALUE[src[i + 2] as number] as number;
  const d = HEX_VALUE[src[i + 3] as number] as number;
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** How {@link jsonStringAt} writes a string's bytes: bare (bytea, skipped elements), or for a target. */
const AS_BYTES = 0;
const AS_COPY = 1;
const AS_LITERAL = 2;
const AS_MYSQL = 3;
const AS_TSV = 4;

/** Where the last {@link jsonStringAt} call stopped reading (after the closing quote). */
let stringEnd = 0;

/**
 * Decodes the JSON string whose opening quote is at `i` into its UTF-8 bytes at `o` of `d`, escaped
 * as `as` says; returns the new offset and leaves the read position in {@link stringEnd}, or
 * returns -1 for anything the string path must decide (invalid JSON, a lone surrogate, invalid
 * UTF-8, U+0000 in a PostgreSQL literal). `d` must have room for twice the bytes read.
 */
function jsonStringAt(src: Buffer, i: number, e: number, d: Buffer, o: number, as: number): number {
  const plain = as === AS_COPY || as === AS_BYTES || as === AS_TSV ? COPY_PLAIN : VALUES_PLAIN;
  i++;
  for (;;) {
    if (i >= e) return -1;
    let b = src[i] as number;
    if (plain[b] === 1) {
      d[o++] = b;
      i++;
      continue;
    }
    if (b === 0x22) break;
    if (b === 0x5c) {
      const x = i + 1 < e ? src[i + 1] as number : 0;
      if (x === 0x75) {
        const u = hex4(src, i + 2, e);
        if (u < 0) return -1;
        i += 6;
        if (u >= 0x80) {
          if (u < 0x800) {
            d[o++] = 0xc0 | (u >> 6); d[o++] = 0x80 | (u & 0x3f);
          } else if (u < 0xd800 || u > 0xdfff) {
            d[o++] = 0xe0 | (u >> 12); d[o++] = 0x80 | ((u >> 6) & 0x3f); d[o++] = 0x80 | (u & 0x3f);
          } else {
            // A surrogate pair; a lone surrogate becomes U+FFFD on the string path.
            const lo = u <= 0xdbff && src[i] === 0x5c && src[i + 1] === 0x75 ? hex4(src, i + 2, e) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return -1;
            i += 6;
            const cp = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            d[o++] = 0xf0 | (cp >> 18); d[o++] = 0x80 | ((cp >> 12) & 0x3f); d[o++] = 0x80 | ((cp >> 6) & 0x3f); d[o++] = 0x80 | (cp & 0x3f);
          }
          continue;
        }
        b = u;
      } else {
        b = JSON_UNESCAPE[x] as number;
        if (b === 0) return -1;
        i += 2;
      }
    } else if (b >= 0x80) {
      // Non-ASCII must be valid UTF-8.
      const u = utf8At(src, i, e);
      if (u < 0) return -1;
      const n = u & 7;
      for (let k = 0; k < n; k++) d[o++] = src[i + k] as number;
      i += n;
      continue;
    } else if (b === 0x27) i++;
    // A raw control character is invalid JSON.
    else return -1;
    // An ASCII byte, written as the target needs it.
    if (as === AS_COPY || as === AS_TSV) {
      const c = (as === AS_COPY ? COPY_ESCAPE : TSV_ESCAPE)[b] as number;
      if (c !== 0) d[o++] = 0x5c;
      d[o++] = c || b;
    } else if (as === AS_LITERAL) {
      if (b === 0) return -1;
      if (b === 0x27) d[o++] = 0x27;
      d[o++] = b;
    } else if (as === AS_MYSQL) {
      const c = MYSQL_ESCAPE[b] as number;
      if (c !== 0) d[o++] = 0x5c;
      d[o++] = c || b;
    } else d[o++] = b;
  }
  stringEnd = i + 1;
  return o;
}

const isJsonBlank = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** Scratch space for bytea values, decoded here before they are written as hex. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Transcodes one chunk row (the JSON array in bytes `s`–`e` of `src`) into `form` at `o` of `d`:
 * byte for byte what {@link chunkRowToCopyLine}, {@link chunkRowToValues}, {@link chunkRowToMysql} or
 * {@link chunkRowToTsvLine} gives for the decoded row. `slots` says per element whether it is
 * loaded and how (elements past it are ignored, missing ones are NULL). Strings are unescaped and escaped for the target as
 * their bytes are copied, integers of up to 15 digits copied as they are, binary values written as
 * hex of the string's UTF-8 bytes. Returns the new offset, or -1 for a row with anything else (other numbers,
 * booleans, nested values, a lone surrogate, a bytea value that may be marked base64, U+0000 in a
 * PostgreSQL literal, invalid JSON): the caller then takes the string path. `d` must have room for
 * {@link chunkRowBound} bytes.
 */
export function transcodeChunkRow(src: Buffer, s: number, e: number, slots: Uint8Array, form: RowForm, d: Buffer, o: number): number {
  const values = form === FORM_VALUES || form === FORM_MYSQL;
  const mysql = form === FORM_MYSQL;
  const tsv = form === FORM_TSV;
  let i = s;
  while (i < e && isJsonBlank(src[i])) i++;
  if (i >= e || src[i] !== 0x5b) return -1;
  i++;
  while (i < e && isJsonBlank(src[i])) i++;
  if (values) d[o++] = 0x28;
  let k = 0;
  let written = 0;
  if (i < e && src[i] === 0x5d) i++;
  else {
    for (;;) {
      if (i >= e) return -1;
      const slot = k < slots.length ? slots[k] as number : ROW_SKIP;
      if (slot !== ROW_SKIP && written++ > 0) d[o++] = values ? 0x2c : 0x09;
      const b = src[i] as number;
      if (b === 0x22) {
        if (slot === ROW_TEXT) {
          if (values) d[o++] = 0x27;
          // Most strings are plain bytes: copied here; the first other byte hands over to jsonStringAt.
          const plain = values ? VALUES_PLAIN : COPY_PLAIN;
          let j = i + 1;
          let c = j < e ? src[j] as number : 0;
          while (plain[c] === 1) {
            d[o++] = c;
            c = ++j < e ? src[j] as number : 0;
          }
          if (c === 0x22 && j < e) i = j + 1;
          else {
            o = jsonStringAt(src, j - 1, e, d, o, mysql ? AS_MYSQL : values ? AS_LITERAL : tsv ? AS_TSV : AS_COPY);
            if (o < 0) return -1;
            i = stringEnd;
          }
          if (values) d[o++] = 0x27;
        } else {
          const need = 2 * (e - i);
          if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
          const n = jsonStringAt(src, i, e, scratch, 0, AS_BYTES);
          if (n < 0) return -1;
          if (slot === ROW_BYTEA) {
            // A value starting with U+0000 may be marked base64 (binary-encoding.ts).
            if (n > 0 && scratch[0] === 0) return -1;
            if (mysql) {
              d[o++] = 0x58; d[o++] = 0x27;
            } else if (!tsv) {
              // '\x… or, in COPY text, \\x…
              d[o++] = values ? 0x27 : 0x5c;
              d[o++] = 0x5c; d[o++] = 0x78;
            }
            for (let j = 0; j < n; j++) {
              const x = scratch[j] as number;
              d[o++] = HEX_DIGIT[x >> 4] as number; d[o++] = HEX_DIGIT[x & 15] as number;
            }
            if (values) d[o++] = 0x27;
          }
          i = stringEnd;
        }
      } else if (b === 0x6e) {
        if (i + 4 > e || src[i + 1] !== 0x75 || src[i + 2] !== 0x6c || src[i + 3] !== 0x6c) return -1;
        if (slot !== ROW_SKIP) o = writeNull(d, o, values);
        i += 4;
      } else if ((b >= 0x30 && b <= 0x39) || b === 0x2d) {
        // An integer that String(Number(x)) gives back as it is: no -0, at most 15 digits.
        const start = i;
        if (b === 0x2d) i++;
        const first = i < e ? src[i] : undefined;
        if (first === 0x30) i++;
        else if (first !== undefined && first >= 0x31 && first <= 0x39) {
          while (i < e && (src[i] as number) >= 0x30 && (src[i] as number) <= 0x39) i++;
        } else return -1;
        const digits = i - start - (b === 0x2d ? 1 : 0);
        const next = i < e ? src[i] : undefined;
        if (digits > 15 || next === 0x2e || next === 0x65 || next === 0x45 || (next !== undefined && next >= 0x30 && next <= 0x39)) return -1;
        if (b === 0x2d && first === 0x30) return -1;
        if (slot === ROW_BYTEA) return -1;
        if (slot === ROW_TEXT) {
          if (values) d[o++] = 0x27;
          for (let j = start; j < i; j++) d[o++] = src[j] as number;
          if (values) d[o++] = 0x27;
        }
      } else return -1;
      while (i < e && isJsonBlank(src[i])) i++;
      k++;
      const sep = i < e ? src[i] : undefined;
      if (sep === 0x2c) {
        i++;
        while (i < e && isJsonBlank(src[i])) i++;
        continue;
      }
      if (sep === 0x5d) {
        i++;
        break;
      }
      return -1;
    }
  }
  while (i < e && isJsonBlank(src[i])) i++;
  if (i !== e) return -1;
  for (; k < slots.length; k++) {
    if (slots[k] === ROW_SKIP) continue;
    if (written++ > 0) d[o++] = values ? 0x2c : 0x09;
    o = writeNull(d, o, values);
  }
  d[o++] = values ? 0x29 : 0x0a;
  return o;
}

/** NULL as the form writes it, at `o`; returns the new offset. */
function writeNull(d: Buffer, o: number, values: boolean): number {
  if (values) {
    d[o] = 0x4e; d[o + 1] = 0x55; d[o + 2] = 0x4c; d[o + 3] = 0x4c;
    return o + 4;
  }
  d[o] = 0x5c; d[o + 1] = 0x4e;
  return o + 2;
}
