/**
 * Drop-in for the `buffer-crc32` package that yazl uses, on Node's native `zlib.crc32`
 * (Node ≥ 20.15). The agent's build aliases `buffer-crc32` to this module: the package's
 * table-driven JavaScript loop was ~4 % of a dump's CPU time.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

type Input = Buffer | string | number;
type Previous = number | Buffer | undefined;

function bytesOf(input: Input): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (typeof input === 'number') return Buffer.alloc(input);
  return Buffer.from(input);
}

function previousOf(previous: Previous): number {
  if (Buffer.isBuffer(previous)) return previous.readUInt32BE(0);
  return (previous ?? 0) >>> 0;
}

/** CRC-32 as an unsigned integer, continuing from `previous`. */
export function unsigned(input: Input, previous?: Previous): number {
  return zlibCrc32(bytesOf(input), previousOf(previous)) >>> 0;
}

/** CRC-32 as a signed 32-bit integer, continuing from `previous`. */
export function signed(input: Input, previous?: Previous): number {
  return unsigned(input, previous) | 0;
}

/** CRC-32 as a 4-byte big-endian Buffer (buffer-crc32's default export). */
export default function crc32(input: Input, previous?: Previous): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(signed(input, previous), 0);
  return out;
}
