/**
 * Deflate data made of stored blocks only (RFC 1951 §3.2.4, BTYPE 00), decoded without zlib.
 *
 * Deflate falls back to stored blocks where compressing does not pay: a zip of images, PDFs,
 * archives or media (most of a Moodle file pool) holds its entries "deflated" as stored blocks,
 * each a byte-aligned header, two length fields and the bytes as they are. Their data is handed
 * out as pieces of the caller's buffer: no inflater, no output buffers (a filedir of 100 MB made
 * 400 output buffers of 256 KiB through zlib, whose turnover triggered most of a restore's full
 * garbage collections). The first block that is not stored ends the decoding (`null`): the
 * caller inflates the entry with zlib instead.
 */

const HEADER = 0;
const LENGTHS = 1;
const DATA = 2;
const END = 3;

/** Decoder of one entry's deflate stream, fed its bytes in order, piece by piece. */
export class StoredDeflateDecoder {
  private state = HEADER;
  private final = false;
  /** LEN and NLEN of the block being read, byte by byte (a piece may end inside them). */
  private lengths = 0;
  private lengthBytes = 0;
  /** Data bytes left in the current block. */
  private left = 0;

  /** Whether the final block has ended (the stream is complete). */
  get ended(): boolean {
    return this.state === END;
  }

  /**
   * The data in `piece` (subarrays of it, in order), or `null` when the stream holds a block
   * that is not stored, is malformed, or goes on after its final block.
   */
  decode(piece: Buffer): Buffer[] | null {
    const out: Buffer[] = [];
    let i = 0;
    while (i < piece.length) {
      switch (this.state) {
        case HEADER: {
          const b = piece[i++] as number;
          // BFINAL in bit 0, BTYPE in bits 1-2; a stored block's other bits pad to the byte.
          if ((b >> 1) & 3) return null;
          this.final = (b & 1) === 1;
          this.state = LENGTHS;
          this.lengths = 0;
          this.lengthBytes = 0;
          break;
        }
        case LENGTHS: {
          this.lengths |= (piece[i++] as number) << (8 * this.lengthBytes);
          if (++this.lengthBytes < 4) break;
          const len = this.lengths & 0xffff;
          if ((this.lengths >>> 16) !== (~len & 0xffff)) return null;
          this.left = len;
          this.state = len > 0 ? DATA : this.final ? END : HEADER;
          break;
        }
        case DATA: {
          const n = Math.min(this.left, piece.length - i);
          out.push(piece.subarray(i, i + n));
          i += n;
          this.left -= n;
          if (this.left === 0) this.state = this.final ? END : HEADER;
          break;
        }
        default:
          return null;
      }
    }
    return out;
  }
}
