/**
 * How binary column values travel in chunk files (decision for spec §15 question 1).
 *
 * The plugin writes bytes as a JSON string and loses every row whose bytes are not UTF-8. We
 * write a binary value that is valid UTF-8 as that string — exactly what the plugin writes and
 * reads — and any other value as `MARKER + base64(bytes)`. The marker starts with U+0000, which
 * no real Moodle binary content that is text starts with; a valid-UTF-8 value that happens to
 * start with the marker is base64-encoded too, so decoding is unambiguous. The plugin reading
 * our archive gets every row (the marked ones as the marker text instead of the bytes) rather
 * than a silently dropped chunk.
 */

/** Prefix of a base64-encoded binary value. */
export const BINARY_MARKER = '\u0000vault-agent:base64:';

/** Name recorded in `__vault_agent__.json` for this encoding. */
export const BINARY_ENCODING = 'utf8-or-marked-base64';

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes → the chunk-file string. */
export function encodeBinary(bytes: Buffer): string {
  let text: string | undefined;
  try {
    text = fatal.decode(bytes);
  } catch {
    text = undefined;
  }
  if (text !== undefined && !text.startsWith(BINARY_MARKER)) return text;
  return BINARY_MARKER + bytes.toString('base64');
}

/**
 * Chunk-file string → bytes. `marked` is false for archives not written by us (the plugin's):
 * there the string is the value's UTF-8 text.
 */
export function decodeBinary(value: string, marked: boolean): Buffer {
  if (marked && value.startsWith(BINARY_MARKER)) return Buffer.from(value.slice(BINARY_MARKER.length), 'base64');
  return Buffer.from(value, 'utf8');
}
