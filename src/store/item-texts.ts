/**
 * The JSON texts of a log segment's newest items, as UTF-8 bytes, for a checkpoint to append to
 * the segment's file instead of serialising the items again. An appended item comes with its
 * entry's text, or with what writes it (a relayed message's `msg`, written for its recipient too:
 * Store.append); serialising the items a second time at the checkpoint was ~1.2 µs of a pipelined
 * relay's ~18 µs a message.
 * The bytes are off the V8 heap, so holding a checkpoint's worth (two seconds of a busy relay)
 * adds nothing for the garbage collector to trace; a conversation's tail segment is held as its
 * texts alone (Store.appendText).
 *
 * The texts are for consecutive seqs, comma-separated, in chunks: a text that does not fit in the
 * last chunk starts the next one, twice its size (up to CHUNK_MAX), so what is written is never
 * copied to make room. A single growing buffer copied its bytes four times over on the way to a
 * full 1,024-entry segment (growing by a quarter), and that copying cost more than the segment
 * files bigger segments saved (docs/BENCHMARKS.md, nineteenth session). A text for a seq that does
 * not follow the last starts them afresh (the items between are not here, so the run is broken);
 * the store calls `clear` when the items themselves change (a put, a replaced array).
 */

import { maxBytesOf, NUMBER_BYTES_MAX, putBytes, putNumber, writeJson, type JsonOut } from '../protocol/json-bytes.ts';
import { fitsAfter } from './room.ts';

/** The first chunk: a few messages' texts. */
const FIRST_CHUNK = 2048;
/** Chunks double up to this; a text bigger than it gets a chunk of its own size. */
const CHUNK_MAX = 64 * 1024;
/** Room for this many ends at first. */
const FIRST_ENDS = 32;
/** What holds no text holds no store for ends either. */
const NO_ENDS = new Uint32Array(0);
/** What an item's text holds around its entry's. */
const ITEM_HEAD = Buffer.from('{"seq":');
const ENTRY_KEY = Buffer.from(',"entry":');
/** The most bytes an item's text adds to its entry's: the head, the seq, the key, `}`. */
const ITEM_BYTES_MAX = ITEM_HEAD.length + NUMBER_BYTES_MAX + ENTRY_KEY.length + 1;

/** Whether `entry` fits in `bytes` after `used` bytes. */
function fitsEntry(bytes: Buffer, used: number, entry: JsonOut): boolean {
  return typeof entry === 'string' ? fitsAfter(bytes, used, entry) : used + entry.maxBytes <= bytes.length;
}

export class ItemTexts {
  /** The chunks, oldest first; only the last has texts added to it. */
  private chunks: Buffer[] = [];
  /** Index (into `ends`) of the first text of each chunk. */
  private chunkFirst: number[] = [];
  /** Bytes in use in the last chunk. */
  private used = 0;
  /** Where the first text held starts in the first chunk (texts before it were dropped). */
  private headStart = 0;
  /**
   * Where each text ends in its chunk, in order, in its first `held` places; a text after another
   * in its chunk starts past a comma. A typed array, whose store is off the V8 heap: a number[]
   * lives as long as the texts (a checkpoint's two seconds), so each store its growth left behind
   * had been promoted before it died, 43% of what a relay with 1 in flight promoted
   * (docs/BENCHMARKS.md, thirty-first session).
   */
  private ends = NO_ENDS;
  /** Places of `ends` in use: one a text held. */
  private held = 0;
  /** seq of the first text held */
  private firstSeq = 0;

  /** Texts held. */
  get count(): number {
    return this.held;
  }

  /**
   * Holds the text of the log item `{"seq":seq,"entry":ENTRY}`, where ENTRY is the JSON `entry`
   * writes with the first `leaveOut` bytes after its opening brace left out (ASCII, as a JSON
   * object's leading keys are here): a relayed message's history record is its `msg` without the
   * type (Histories.appendFor), cut out here as it is written. Built as bytes in the chunk: the
   * item's text as a string (a wrapper around the record, itself cut from the `msg`) was two more
   * strings a message, each flattened (copied) before it was encoded, ~600 bytes a message for the
   * garbage collector.
   */
  add(seq: number, entry: JsonOut, leaveOut = 0): void {
    if (this.held > 0 && seq !== this.firstSeq + this.held) this.clear();
    if (this.held === 0) this.firstSeq = seq;
    let last = this.chunks.length === 0 ? null : this.chunks[this.chunks.length - 1];
    // Every chunk holds a text (a chunk starts with one; dropThrough keeps the chunks from the first text kept).
    let at = last === null ? 0 : this.used + 1;
    if (last === null || !fitsEntry(last, at + ITEM_BYTES_MAX, entry)) {
      const size = ITEM_BYTES_MAX + maxBytesOf(entry);
      const next = last === null ? FIRST_CHUNK : Math.min(Math.max(2 * last.length, FIRST_CHUNK), CHUNK_MAX);
      last = Buffer.allocUnsafeSlow(Math.max(next, size));
      this.chunks.push(last);
      this.chunkFirst.push(this.held);
      at = 0;
    } else {
      last[this.used] = 0x2c; // ,
    }
    at = putBytes(last, putNumber(last, putBytes(last, at, ITEM_HEAD), seq), ENTRY_KEY);
    const end = writeJson(entry, last, at);
    if (leaveOut > 0) last.copyWithin(at + 1, at + 1 + leaveOut, end);
    at = end - leaveOut;
    last[at++] = 0x7d; // }
    this.used = at;
    if (this.held === this.ends.length) this.growEnds();
    this.ends[this.held++] = at;
  }

  /** Twice the room for ends (the first store is above V8's 64 bytes for a typed array on its heap). */
  private growEnds(): void {
    const grown = new Uint32Array(Math.max(2 * this.ends.length, FIRST_ENDS));
    grown.set(this.ends);
    this.ends = grown;
  }

  /** UTF-8 bytes of the newest text held (0 when none is). */
  get lastBytes(): number {
    const k = this.held - 1;
    return k < 0 ? 0 : this.used - this.startOf(k, this.chunks.length - 1);
  }

  /**
   * Copies the newest text's bytes into `target` at `at` (room for lastBytes); returns how many.
   * The store's journal line takes a message's text from here, encoded once (Store.journalItem).
   */
  copyLast(target: Buffer, at: number): number {
    const k = this.held - 1;
    if (k < 0) return 0;
    const c = this.chunks.length - 1;
    return this.chunks[c].copy(target, at, this.startOf(k, c), this.used);
  }

  /** Whether the texts of the items with seqs `from` to `to` (inclusive) are all held. */
  holds(from: number, to: number): boolean {
    return this.held > 0 && from >= this.firstSeq && to < this.firstSeq + this.held && from <= to;
  }

  /** The chunk holding text `k` (an index into `ends`). */
  private chunkOf(k: number): number {
    let c = this.chunkFirst.length - 1;
    while (this.chunkFirst[c] > k) c--;
    return c;
  }

  /** Where text `k`, the first of the run wanted from chunk `c`, starts. */
  private startOf(k: number, c: number): number {
    if (k === 0) return this.headStart;
    return k === this.chunkFirst[c] ? 0 : this.ends[k - 1] + 1;
  }

  /**
   * The texts of the items with seqs `from` to `to` (inclusive) as one JSON array and a newline,
   * after `prefix`: a copy, as more texts may be added while it is written. null when a text in
   * that range is not held.
   */
  line(from: number, to: number, prefix: string): Buffer | null {
    if (!this.holds(from, to)) return null;
    const first = from - this.firstSeq;
    const last = to - this.firstSeq;
    const firstChunk = this.chunkOf(first);
    const lastChunk = this.chunkOf(last);
    let size = prefix.length + 3;
    for (let c = firstChunk, k = first; c <= lastChunk; c++) {
      const end = c === lastChunk ? last : this.chunkFirst[c + 1] - 1;
      size += this.ends[end] - this.startOf(k, c) + (c > firstChunk ? 1 : 0);
      k = end + 1;
    }
    const out = Buffer.allocUnsafe(size);
    let at = out.write(prefix, 0, 'latin1');
    out[at++] = 0x5b; // [
    for (let c = firstChunk, k = first; c <= lastChunk; c++) {
      const end = c === lastChunk ? last : this.chunkFirst[c + 1] - 1;
      if (c > firstChunk) out[at++] = 0x2c;
      at += this.chunks[c].copy(out, at, this.startOf(k, c), this.ends[end]);
      k = end + 1;
    }
    out[at++] = 0x5d; // ]
    out[at] = 0x0a; // \n
    return out;
  }

  /** Lets go of the texts of the items up to seq `to` (inclusive): they are in the file. */
  dropThrough(to: number): void {
    const dropped = to - this.firstSeq + 1;
    if (dropped <= 0 || this.held === 0) return;
    if (dropped >= this.held) return this.clear();
    // Whole chunks go; in the chunk that holds the first text kept, the bytes before it stay unused.
    const keep = this.chunkOf(dropped);
    this.headStart = this.startOf(dropped, keep);
    this.chunks = this.chunks.slice(keep);
    this.chunkFirst = this.chunkFirst.slice(keep).map((k) => Math.max(k - dropped, 0));
    this.ends.copyWithin(0, dropped, this.held);
    this.held -= dropped;
    this.firstSeq += dropped;
  }

  /**
   * Moves the last chunk's texts to a buffer of their size, where a quarter or more of it is
   * unused: texts that will only be read from now on (a shelved segment's) need no room to grow.
   */
  trim(): void {
    const lastChunk = this.chunks.length - 1;
    if (lastChunk < 0) return;
    const bytes = this.chunks[lastChunk];
    if (bytes.length - this.used < bytes.length / 4) return;
    const trimmed = Buffer.allocUnsafeSlow(this.used);
    bytes.copy(trimmed, 0, 0, this.used);
    this.chunks[lastChunk] = trimmed;
  }

  /** Holds nothing (and gives its chunks back). */
  clear(): void {
    this.chunks = [];
    this.chunkFirst = [];
    this.used = 0;
    this.headStart = 0;
    this.ends = NO_ENDS;
    this.held = 0;
  }
}
