/**
 * PostgreSQL COPY text format: parsing rows streamed by `COPY … TO STDOUT` and encoding rows
 * for `COPY … FROM STDIN`. Text format (not binary) because it is what the server produces
 * fastest for every type and we need text for all values anyway.
 */

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
