/**
 * A store batch's journal line, `[entry,entry,...]\n`, encoded entry by entry as the entries come,
 * into bytes reused from batch to batch. Kept as objects until the batch (its 50 ms), each of a
 * busy relay's messages held its journal entry, its log item and record, and the text of its
 * `msg` (which the entry's text is cut from): survivors of the scavenges in between, for the
 * garbage collector to copy, about half of what a relayed message left it to copy.
 */

import type { ItemTexts } from './item-texts.ts';
import { withRoom, withRoomFor, type GrowthPolicy } from './room.ts';

/** The least a line's buffer holds; it doubles as entries come. */
const FIRST_BYTES = 64 * 1024;
/** A buffer grown past this by a burst goes back to FIRST_BYTES when a line uses little of it. */
const KEEP_BYTES = 8 * 1024 * 1024;
const double: GrowthPolicy = (needed, length) => Math.max(2 * length, needed);

export class JournalLine {
  private bytes: Buffer = Buffer.allocUnsafeSlow(FIRST_BYTES);
  /** bytes in use: the `[` and the entries so far */
  private used = 1;
  /** entries added since the last clear */
  count = 0;

  constructor() {
    this.bytes[0] = 0x5b; // [
  }

  /**
   * The start of an appended item's entry for the document (collection, key), up to the item, as
   * bytes: the same for every append to it, so a document makes it once. Collection names and
   * keys are safe path segments (the store checks them): nothing in them to escape.
   */
  static itemHead(collection: string, key: string): Buffer {
    return Buffer.from(`{"c":"${collection}","k":"${key}","i":`);
  }

  /**
   * Adds an appended item's entry, `{"c":collection,"k":key,"i":itemText}`: `head` is its
   * document's itemHead, and the item's text is the newest one `texts` holds, copied as bytes:
   * the text is encoded once, for the segment's texts, not a second time for the journal (the
   * journal line was 3.05% of the pipelined relay's server CPU encoding its own, 2.48% copying).
   */
  addItemFrom(head: Buffer, texts: ItemTexts): void {
    this.comma();
    this.ensure(head.length + texts.lastBytes + 1);
    this.used += head.copy(this.bytes, this.used);
    this.used += texts.copyLast(this.bytes, this.used);
    this.bytes[this.used++] = 0x7d; // }
  }

  /** Adds any other entry (a tombstone, a whole document): serialised here. */
  addEntry(entry: object): void {
    this.comma();
    this.write(JSON.stringify(entry));
  }

  /** The line, `]` and a newline added: valid until the next clear. */
  end(): Buffer {
    this.ensure(2);
    this.bytes[this.used] = 0x5d; // ]
    this.bytes[this.used + 1] = 0x0a; // \n
    return this.bytes.subarray(0, this.used + 2);
  }

  /** Starts the next line (the last one's bytes are written by now). */
  clear(): void {
    if (this.bytes.length > KEEP_BYTES && this.used < this.bytes.length / 8) {
      this.bytes = Buffer.allocUnsafeSlow(FIRST_BYTES);
      this.bytes[0] = 0x5b;
    }
    this.used = 1;
    this.count = 0;
  }

  private comma(): void {
    if (this.count++ === 0) return;
    this.ensure(1);
    this.bytes[this.used++] = 0x2c; // ,
  }

  private write(text: string): void {
    this.bytes = withRoomFor(this.bytes, this.used, text, double);
    this.used += this.bytes.write(text, this.used);
  }

  private ensure(bytes: number): void {
    this.bytes = withRoom(this.bytes, this.used, this.used + bytes, double);
  }
}
