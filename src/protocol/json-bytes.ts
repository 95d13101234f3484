/**
 * JSON written straight into bytes. A relayed private message's `msg` is written, part by part,
 * into the frame its recipient gets and into its conversation's history (src/store/item-texts.ts):
 * as a string it was a template of six parts, one more string per part, flattened (copied) before
 * its first encoding and encoded twice, ~700 bytes a message for the garbage collector, whose
 * scavenges cost in proportion to what is allocated (docs/BENCHMARKS.md, twenty-second session).
 */

/**
 * A JSON text that writes itself as UTF-8, the same bytes every time (a fan-out's members share
 * one packed plaintext by the identity of what they were sent: src/protocol/records.ts).
 */
export interface JsonBytes {
  /** The most bytes writeTo writes. */
  readonly maxBytes: number;
  /** Writes the text into `out` at `at` (room for maxBytes); returns the offset after it. */
  writeTo(out: Buffer, at: number): number;
}

/** An outgoing JSON message: serialised already, or written as it is packed into a frame. */
export type JsonOut = string | JsonBytes;

/** UTF-8 bytes of `json`, or at most that many (a JsonBytes measures no closer). */
export function maxBytesOf(json: JsonOut): number {
  return typeof json === 'string' ? Buffer.byteLength(json) : json.maxBytes;
}

/** Writes `json` into `out` at `at` (room for maxBytesOf); returns the offset after it. */
export function writeJson(json: JsonOut, out: Buffer, at: number): number {
  return typeof json === 'string' ? at + out.write(json, at) : json.writeTo(out, at);
}

/** The text of `json` (test stubs: RecordingSession, LaterReply.result). */
export function jsonText(json: JsonOut): string {
  if (typeof json === 'string') return json;
  const bytes = Buffer.allocUnsafe(json.maxBytes);
  return bytes.toString('utf8', 0, json.writeTo(bytes, 0));
}

/** Copies `bytes` into `out` at `at`; returns the offset after them. */
export function putBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  out.set(bytes, at);
  return at + bytes.length;
}

/**
 * Writes `text`, which must be ASCII (ids and names their patterns restrict), one byte a
 * character; returns the offset after it. A loop, not Buffer.write: these are a dozen characters,
 * shorter than a call into Node's encoder takes to set up.
 */
export function putAscii(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/**
 * Writes `value` as a JSON string: `escaped` where escapedJsonString gave one, else the value in
 * quotes. Returns the offset after it.
 */
export function putJsonString(out: Buffer, at: number, value: string, escaped: string | null): number {
  if (escaped !== null) return at + out.write(escaped, at);
  out[at] = 0x22; // "
  at += 1 + out.write(value, at + 1);
  out[at] = 0x22;
  return at + 1;
}

/**
 * Writes JSON.stringify(value) for a short value (a request id, echoed as a reply's `ref`);
 * returns the offset after it. ASCII with nothing to escape, what clients send, is copied in a
 * loop as it is checked; anything else goes through JSON.stringify. For a few characters, a
 * regular expression's test and a call into Node's encoder cost more than the loop (~90 ns an
 * `ok`, docs/BENCHMARKS.md, twenty-third session).
 */
export function putShortJsonString(out: Buffer, at: number, value: string): number {
  out[at] = 0x22; // "
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c >= 0x80 || c === 0x22 || c === 0x5c) return at + out.write(JSON.stringify(value), at);
    out[at + 1 + i] = c;
  }
  out[at + 1 + value.length] = 0x22;
  return at + value.length + 2;
}

/** The most bytes putShortJsonString writes: JSON.stringify spells a UTF-16 unit in at most 6 (\u001f). */
export function shortJsonStringBytesMax(value: string): number {
  return 6 * value.length + 2;
}

/** The most bytes putJsonString writes (UTF-8 is at most 3 bytes a UTF-16 unit). */
export function jsonStringBytesMax(value: string, escaped: string | null): number {
  return escaped === null ? 3 * value.length + 2 : 3 * escaped.length;
}

/** The most bytes putNumber writes: a safe integer's digits and sign, or any number's JSON. */
export const NUMBER_BYTES_MAX = 24;

/** "00" to "99": digits are written two at a time. */
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');

/**
 * Writes `n` as JSON.stringify does (a time stamp, a seq); returns the offset after it. A safe
 * non-negative integer is written from its digits, two at a time, in 32-bit arithmetic (a time
 * stamp's top digits, then its low nine); anything else as its JSON. Three or four numbers a
 * relayed message: dividing a double by ten for each digit took ~90 ns a time stamp; this takes
 * ~50 (`taskset -c 1 node --import tsx bench/put-number.ts`), and took 112 while its low nine
 * digits were a double, whose `%` is a call to fmod.
 */
export function putNumber(out: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return at + out.write(JSON.stringify(n), at, 'latin1');
  if (n < 1e9) {
    const end = at + digitCount(n);
    putDigits(out, end, n, end - at);
    return end;
  }
  const high = Math.floor(n / 1e9); // below 1e7 for a safe integer
  const end = putNumber(out, at, high) + 9;
  putDigits(out, end, n - high * 1e9, 9);
  return end;
}

/** Digits of `n`, a non-negative integer below 1e9. */
function digitCount(n: number): number {
  let count = 1;
  for (let bound = 10; n >= bound && count < 9; bound *= 10) count++;
  return count;
}

/** Writes the last `count` digits of `n` (below 1e9), zero-padded, to end at `end`. */
function putDigits(out: Buffer, end: number, n: number, count: number): void {
  // As a 32-bit integer: a time stamp's low digits come as a double (n - high * 1e9), and `%` on a
  // double is a call to C's fmod (putNumber says what that cost).
  n |= 0;
  for (; count >= 2; count -= 2) {
    const pair = 2 * (n % 100);
    n = (n / 100) | 0;
    out[--end] = DIGIT_PAIRS[pair + 1];
    out[--end] = DIGIT_PAIRS[pair];
  }
  if (count === 1) out[end - 1] = 0x30 + (n % 10);
}
