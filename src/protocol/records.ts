/**
 * The plaintext inside one sealed frame is a sequence of records, so that the server can batch
 * everything queued for a client in one event-loop pass into one frame (one seal, one write).
 *
 *   record = kind (u8) | length (u32 BE) | body
 *
 * Kind 1 is a UTF-8 JSON message. Kind 2 is reserved for binary data (file chunks travel as bytes,
 * not base64); a receiver that does not know a kind skips the record.
 */
import { ParleyError } from './errors.ts';
import { fitsAfter } from '../store/room.ts';
import { maxBytesOf, writeJson, type JsonOut } from './json-bytes.ts';
import { Scratch } from './scratch.ts';

export const RECORD_JSON = 1;
export const RECORD_BINARY = 2;
const RECORD_HEADER = 5;

export interface RawRecord {
  kind: number;
  body: Buffer;
}

/** Packs JSON texts (serialised, or written here: JsonBytes) into one plaintext. */
export function packJson(texts: readonly JsonOut[]): Buffer {
  let size = 0;
  for (const text of texts) size += RECORD_HEADER + maxBytesOf(text);
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const text of texts) offset = packText(text, out, offset);
  return offset === size ? out : out.subarray(0, offset);
}

/** Writes `text`'s record into `out` at `offset`, where it fits; returns the offset after it. */
function packText(text: JsonOut, out: Buffer, offset: number): number {
  const end = writeJson(text, out, offset + RECORD_HEADER);
  out[offset] = RECORD_JSON;
  out.writeUInt32BE(end - offset - RECORD_HEADER, offset + 1);
  return end;
}

/** Whether `text`'s record fits in `out`'s first `end` bytes after `used` bytes. */
function fitsRecord(out: Buffer, used: number, text: JsonOut, end: number): boolean {
  return typeof text === 'string' ? fitsAfter(out, used + RECORD_HEADER, text, end) : used + RECORD_HEADER + text.maxBytes <= end;
}

/** Plaintexts are packed here, one after another, each sealed before the next is packed. */
const PLAINTEXT_SCRATCH = 1024 * 1024;
const plaintexts = new Scratch(PLAINTEXT_SCRATCH);

/**
 * Packs JSON texts into as few plaintexts as fit `limit` bytes each (a frame's payload less its
 * tag), keeping their order, and hands each to `seal`. A text larger than the limit travels
 * alone. Each text is written straight into the plaintext and measured only when it might not
 * fit (fitsAfter: at most 3 bytes a UTF-16 unit, else measure): measuring every text first was a pass
 * over each message sent, ~2% of the relay with 1 in flight. The plaintexts share one scratch
 * buffer: `seal` must be done with each before it returns (sealing copies it). `seal` is called
 * on `thisArg`, as Array.prototype.forEach does, so that a server connection passes a method of
 * its own rather than holding a closure for it.
 */
export function eachJsonBatch<T>(
  texts: readonly JsonOut[],
  limit: number,
  seal: (this: T, plaintext: Buffer) => void,
  thisArg?: T,
  /** the texts are the first `count` of `texts` (a caller's array kept from batch to batch) */
  count = texts.length,
): void {
  // Reused only where packing anew would give the same one plaintext: it fits this caller's limit,
  // or it is a single text, which travels alone whatever the limit.
  if (lastPlaintext !== null && (lastPlaintext.length <= limit || count === 1) && sameTexts(texts, count)) return seal.call(thisArg as T, lastPlaintext);
  lastPlaintext = null;
  if (count === 0) return;
  // Plaintexts of up to the scratch's size are packed in it; a bigger limit only makes more frames.
  const room = Math.min(limit, PLAINTEXT_SCRATCH);
  // The scratch's buffer itself, filled up to `room`: a view of it was ~100 bytes a batch.
  const out = plaintexts.room(room);
  let used = 0;
  let sealed = 0;
  for (let i = 0; i < count; i++) {
    const text = texts[i];
    if (!fitsRecord(out, used, text, room)) {
      if (used > 0) {
        seal.call(thisArg as T, out.subarray(0, used));
        sealed++;
        used = 0;
      }
      if (!fitsRecord(out, 0, text, room)) {
        seal.call(thisArg as T, packJson([text])); // alone, in a buffer of its own
        sealed++;
        continue;
      }
    }
    used = packText(text, out, used);
  }
  if (used === 0) return;
  const plaintext = out.subarray(0, used);
  if (sealed === 0) {
    for (let i = 0; i < count; i++) lastTexts[i] = texts[i];
    lastTexts.length = count;
    lastPlaintext = plaintext;
  }
  seal.call(thisArg as T, plaintext);
}

/**
 * The texts of the last batch that was packed as one plaintext, and that plaintext, still in the
 * scratch buffer (until the next pack). A fan-out queues the same texts for every member in one
 * pass, so members after the first are sealed from it without measuring and encoding each text
 * again (fan-out to 1,000: a tenth of the server's main thread was packing the same bytes a
 * thousand times). Texts equal in content pack to equal bytes, so `===` is the test; for
 * batches that differ it fails at the first text. The texts are copied: a caller may reuse its array.
 */
const lastTexts: JsonOut[] = [];
let lastPlaintext: Buffer | null = null;

/** Whether the first `count` of `texts` are lastTexts. */
function sameTexts(texts: readonly JsonOut[], count: number): boolean {
  if (count !== lastTexts.length) return false;
  for (let i = 0; i < count; i++) if (texts[i] !== lastTexts[i]) return false;
  return true;
}

/** Splits a plaintext into records (views of it). A record running past the end is a broken frame. */
export function unpackRecords(plaintext: Buffer): RawRecord[] {
  const records: RawRecord[] = [];
  eachRecord(plaintext, (_, kind, start, end) => records.push({ kind, body: plaintext.subarray(start, end) }));
  return records;
}

/**
 * Calls `each(plaintext, kind, start, end)` for every record of `plaintext` in order, its body
 * being plaintext[start, end), on `thisArg` as eachJsonBatch does. Every record is checked whole
 * before the first is handed out, so a broken frame (E_BAD_FRAME) hands out none. It makes no
 * array, object or view a record: with the plaintext opened into a scratch buffer, the load
 * generator made 14% fewer scavenges in the relay with 1 in flight (docs/BENCHMARKS.md,
 * "Twenty-fifth session").
 */
export function eachRecord<T>(
  plaintext: Buffer,
  each: (this: T, plaintext: Buffer, kind: number, start: number, end: number) => void,
  thisArg?: T,
  /** where the plaintext ends in `plaintext` (Channel.openInto's room) */
  plaintextEnd = plaintext.length,
): void {
  let offset = 0;
  while (offset < plaintextEnd) {
    if (plaintextEnd - offset < RECORD_HEADER) throw brokenRecord();
    const length = plaintext.readUInt32BE(offset + 1);
    if (length > plaintextEnd - offset - RECORD_HEADER) throw brokenRecord();
    offset += RECORD_HEADER + length;
  }
  offset = 0;
  while (offset < plaintextEnd) {
    const start = offset + RECORD_HEADER;
    const end = start + plaintext.readUInt32BE(offset + 1);
    each.call(thisArg as T, plaintext, plaintext[offset], start, end);
    offset = end;
  }
}

function brokenRecord(): ParleyError {
  return new ParleyError('E_BAD_FRAME', 'a record runs past the end of its frame', { fatal: true });
}
