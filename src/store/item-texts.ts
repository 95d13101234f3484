/**
 * The JSON texts of a log segment's newest items, as UTF-8 bytes, for a checkpoint to append to
 * the segment's file instead of serialising the items again. An appended item comes with its
 * text (a relayed message is serialised once, for its recipient: Store.append); serialising the
 * items a second time at the checkpoint was ~1.2 µs of a pipelined relay's ~18 µs a message.
 * The bytes are off the V8 heap, so holding a checkpoint's worth (two seconds of a busy relay)
 * adds nothing for the garbage collector to trace; a conversation's tail segment is held as its
 * texts alone (Store.appendText).
 *
 * The texts are for consecutive seqs, comma-separated in one buffer. A text for a seq that does
 * not follow the last starts them afresh (the items between are not here, so the run is
 * broken); the store calls `clear` when the items themselves change (a put, a replaced array).
 */

import { withRoomFor, type GrowthPolicy } from './room.ts';

/** The smallest buffer: a few messages' texts. It grows by a quarter as texts come. */
const FIRST_BYTES = 2048;

/**
 * By a quarter, not double: a log's tail may be held as its texts alone for as long as its
 * conversation is open, and doubling left a third of such texts' memory unused
 * (bench/idle-logs), for copies of half as many bytes.
 */
const growByAQuarter: GrowthPolicy = (needed, length) => Math.max(FIRST_BYTES, needed, Math.ceil(1.25 * length));

export class ItemTexts {
  private bytes: Buffer | null = null;
  /** bytes in use */
  private used = 0;
  /** where each text ends, in order: text k is bytes [ends[k-1] + 1 (past its comma), ends[k]) */
  private ends: number[] = [];
  /** seq of the first text held */
  private firstSeq = 0;

  /** Texts held. */
  get count(): number {
    return this.ends.length;
  }

  /** Holds `text` as the item with `seq`. */
  add(seq: number, text: string): void {
    if (this.ends.length > 0 && seq !== this.firstSeq + this.ends.length) this.clear();
    if (this.ends.length === 0) this.firstSeq = seq;
    const comma = this.ends.length > 0 ? 1 : 0;
    this.bytes = withRoomFor(this.bytes, this.used + comma, text, growByAQuarter);
    if (comma) this.bytes[this.used++] = 0x2c;
    this.used += this.bytes.write(text, this.used);
    this.ends.push(this.used);
  }

  /** Whether the texts of the items with seqs `from` to `to` (inclusive) are all held. */
  holds(from: number, to: number): boolean {
    return this.bytes !== null && from >= this.firstSeq && to < this.firstSeq + this.ends.length && from <= to;
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
    const start = first === 0 ? 0 : this.ends[first - 1] + 1;
    const end = this.ends[last];
    const out = Buffer.allocUnsafe(prefix.length + 1 + (end - start) + 2);
    let at = out.write(prefix, 0, 'latin1');
    out[at++] = 0x5b; // [
    at += this.bytes!.copy(out, at, start, end);
    out[at++] = 0x5d; // ]
    out[at] = 0x0a; // \n
    return out;
  }

  /** Lets go of the texts of the items up to seq `to` (inclusive): they are in the file. */
  dropThrough(to: number): void {
    const dropped = to - this.firstSeq + 1;
    if (dropped <= 0 || this.bytes === null) return;
    if (dropped >= this.ends.length) return this.clear();
    const start = this.ends[dropped - 1] + 1;
    this.bytes.copy(this.bytes, 0, start, this.used);
    this.used -= start;
    this.ends = this.ends.slice(dropped).map((end) => end - start);
    this.firstSeq += dropped;
  }

  /**
   * Moves the texts to a buffer of their size, where growing left a quarter or more of it
   * unused: texts that will only be read from now on (a shelved segment's) need no room to grow.
   */
  trim(): void {
    if (this.bytes === null || this.bytes.length - this.used < this.bytes.length / 4) return;
    const trimmed = Buffer.allocUnsafeSlow(this.used);
    this.bytes.copy(trimmed, 0, 0, this.used);
    this.bytes = trimmed;
  }

  /** Holds nothing (and gives its buffer back). */
  clear(): void {
    this.bytes = null;
    this.used = 0;
    this.ends = [];
  }
}
