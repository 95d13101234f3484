/**
 * Room in a byte buffer that texts are written into one after another (a batch's journal line):
 * the buffer itself while the next text fits, else a bigger one holding a copy of what is written
 * so far. `fitsAfter` is also how a log segment's item texts tell when to start a chunk, and how
 * a frame's plaintext tells when to start the next (protocol/records.ts).
 */

/** The size of a grown buffer, at least `needed`, for one of `length` bytes now. */
export type GrowthPolicy = (needed: number, length: number) => number;

/** `bytes`, or a copy of its first `used` bytes in a buffer of `grow`'s size, with room for `needed` bytes in all. */
export function withRoom(bytes: Buffer | null, used: number, needed: number, grow: GrowthPolicy): Buffer {
  const length = bytes?.length ?? 0;
  if (bytes !== null && needed <= length) return bytes;
  const grown = Buffer.allocUnsafeSlow(grow(needed, length));
  bytes?.copy(grown, 0, 0, used);
  return grown;
}

/**
 * Whether `text` as UTF-8 fits in `bytes` (up to `end`) after `used` bytes. At most 3 bytes a
 * UTF-16 unit: the exact size (a pass over the text) is counted only when that might not fit.
 */
export function fitsAfter(bytes: Buffer, used: number, text: string, end = bytes.length): boolean {
  return used + 3 * text.length <= end || used + Buffer.byteLength(text) <= end;
}

/** withRoom for `text` as UTF-8 after `used` bytes. */
export function withRoomFor(bytes: Buffer | null, used: number, text: string, grow: GrowthPolicy): Buffer {
  if (bytes !== null && fitsAfter(bytes, used, text)) return bytes;
  return withRoom(bytes, used, used + Buffer.byteLength(text), grow);
}
