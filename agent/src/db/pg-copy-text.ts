/**
 * PostgreSQL COPY text format: parsing rows streamed by `COPY … TO STDOUT` and encoding rows
 * for `COPY … FROM STDIN`. Text format (not binary) because it is what the server produces
 * fastest for every type and we need text for all values anyway.
 */
import { JSON_ESCAPE, type JsonOut, PLAIN_BYTE, utf8At, writeJsonAscii, writeJsonCodePoint, writePhpJsonString } from '../archive/php-json.js';

const UNESCAPE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** Decodes one COPY text field (without the `\N` null case). */
export function unescapeCopyField(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)/g, (_m, e: string) => {
    const u = UNESCAPE[e];
    if (u !== undefined) return u;
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return e;
  });
}

/** Encodes one text value for a COPY text line. */
export function escapeCopyText(s: string): string {
  if (!/[\\\n\r\t]/.test(s)) return s;
  return s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** Encodes bytes for a bytea column in a COPY text line (hex form, backslash doubled). */
export function escapeCopyBytea(b: Buffer): string {
  return `\\\\x${b.toString('hex')}`;
}

/**
 * Splits a byte stream of COPY text output into lines of fields. Multi-byte UTF-8 sequences
 * never contain the newline byte, so cutting at 0x0A is safe before decoding.
 */
export async function* copyTextLines(source: AsyncIterable<Buffer>): AsyncGenerator<(string | null)[]> {
  let rest: Buffer | undefined;
  for await (const chunk of source) {
    const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    let nl = buf.indexOf(10, start);
    while (nl !== -1) {
      const line = buf.toString('utf8', start, nl);
      yield line.split('\t').map((f) => (f === '\\N' ? null : unescapeCopyField(f)));
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    rest = start < buf.length ? buf.subarray(start) : undefined;
  }
  if (rest && rest.length) {
    yield rest.toString('utf8').split('\t').map((f) => (f === '\\N' ? null : unescapeCopyField(f)));
  }
}

/** Column kinds of {@link copyLineToPhpJson}. */
export const COPY_TEXT = 0;
/** A column whose value {@link copyLineToPhpJson} passes through its `convert` function. */
export const COPY_CONVERTED = 1;

/** Per byte after `\` in COPY text: the byte it stands for, 0 = itself, 0xff = decoded by the string path. */
const COPY_UNESCAPE = new Uint8Array(256);
for (const [e, c] of [['b', 8], ['f', 12], ['n', 10], ['r', 13], ['t', 9], ['v', 11], ['\\', 0x5c]] as const) COPY_UNESCAPE[e.charCodeAt(0)] = c;
// Octal and hex escapes (PostgreSQL writes neither), and bytes the string path treats otherwise
// (a line terminator or non-ASCII character after `\`: its regex leaves the backslash there).
for (const e of '01234567x\n\r') COPY_UNESCAPE[e.charCodeAt(0)] = 0xff;
for (let c = 0x80; c < 0x100; c++) COPY_UNESCAPE[c] = 0xff;

/** Upper bound of the JSON {@link copyLineToPhpJson} writes for a line of `lineBytes` bytes and `columns` fields. */
export const copyJsonBound = (lineBytes: number, columns: number): number => 6 * lineBytes + 3 * columns + 2;

/**
 * Transcodes one COPY text line (bytes `s`–`e` of `src`, without its LF) into the chunk-file JSON
 * array of its values, `["a",null,"b"]`, written at `out.len`, byte for byte what
 * {@link phpJsonRow} gives for the values {@link copyTextLines} decodes — without a JavaScript string
 * per field: COPY escapes are undone, ASCII is escaped like PHP's json_encode and every UTF-8
 * sequence becomes its `\uXXXX` UTF-16 units while the bytes are copied. A field with anything
 * unusual (an octal or `\x` escape, invalid UTF-8) and the `COPY_CONVERTED` columns take the
 * string path: decoded, unescaped, passed through `convert` (column index, value) and encoded
 * with {@link phpJsonString}. `out` must have room for {@link copyJsonBound} bytes; only a
 * converted value longer than that bound reserves more.
 */
export function copyLineToPhpJson(src: Buffer, s: number, e: number, kinds: Uint8Array, convert: (column: number, value: string) => string, out: JsonOut): void {
  let d = out.buf;
  let o = out.len;
  let i = s;
  let col = 0;
  d[o++] = 0x5b;
  for (;;) {
    if (col >= kinds.length) throw new Error(`COPY row has more than ${kinds.length} fields`);
    if (col) d[o++] = 0x2c;
    const fs = i;
    const fieldOut = o;
    let slow = kinds[col] !== COPY_TEXT;
    if (i + 2 <= e && src[i] === 0x5c && src[i + 1] === 0x4e && (i + 2 === e || src[i + 2] === 0x09)) {
      // \N
      d[o++] = 0x6e; d[o++] = 0x75; d[o++] = 0x6c; d[o++] = 0x6c;
      i += 2;
      slow = false;
    } else if (!slow) {
      d[o++] = 0x22;
      while (i < e) {
        let b = src[i] as number;
        // Most bytes: printable ASCII that json_encode leaves alone.
        if (PLAIN_BYTE[b] === 1) {
          d[o++] = b;
          i++;
          continue;
        }
        if (b === 0x09) break;
        if (b < 0x80) {
          if (b === 0x5c) {
            const n = i + 1 < e ? src[i + 1] as number : 0x09;
            // A lone `\` at the field's end stays a backslash.
            if (n === 0x09) { i++; } else {
              const u = COPY_UNESCAPE[n] as number;
              if (u === 0xff) { slow = true; break; }
              b = u || n;
              i += 2;
            }
          } else i++;
          if (JSON_ESCAPE[b] === 0) d[o++] = b;
          else o = writeJsonAscii(d, o, b);
          continue;
        }
        // UTF-8 sequence, validated as the WHATWG decoder does; anything invalid takes the string path.
        const u = utf8At(src, i, e);
        if (u < 0) { slow = true; break; }
        o = writeJsonCodePoint(d, o, u >>> 3);
        i += u & 7;
      }
      if (!slow) d[o++] = 0x22;
    }
    if (slow) {
      let fe = src.indexOf(0x09, fs);
      if (fe === -1 || fe > e) fe = e;
      const raw = src.toString('utf8', fs, fe);
      let v = unescapeCopyField(raw);
      if (kinds[col] !== COPY_TEXT) v = convert(col, v);
      out.len = fieldOut;
      writePhpJsonString(out, v);
      i = fe;
      // Room for the rest of the line again: the value may have been longer than its share.
      out.reserve(copyJsonBound(e - i, kinds.length - col));
      d = out.buf;
      o = out.len;
    }
    col++;
    if (i >= e) break;
    i++;
  }
  if (col !== kinds.length) throw new Error(`COPY row has ${col} fields, expected ${kinds.length}`);
  d[o++] = 0x5d;
  out.len = o;
}
