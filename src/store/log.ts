/**
 * An append-only log on the sharded store, cut into fixed-size segments:
 *
 *   <collection>/meta.json           { first }   the oldest kept seq (moved by dropBefore)
 *   <collection>/s000000000042.json  entries with seq 42*SEGMENT .. 43*SEGMENT-1 (JSON arrays, one a line)
 *
 * Appending touches only the tail segment (one journal line, Store.append; checkpoints append to
 * the segment's file), so storing one entry costs the same whether the log holds a thousand entries or
 * a million (lowdb rewrites whole files; this keeps every file small). The next seq is not stored: it is read from the newest segment at open, so a kill
 * between two file writes can never leave a counter that disagrees with the entries. Reading
 * old segments does not keep them in memory. Mailboxes and conversation histories are logs.
 */
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import type { Store } from './store.ts';

/**
 * Entries per segment. Appends are journal lines; a checkpoint creates each new segment's file
 * (~150-320 µs of CPU here; a temporary file and a rename before the sixteenth session) and
 * appends to the file of each it wrote before, so a segment costs a file write per checkpoint
 * that touched it, while draining a backlog reads one file per segment. 64 was chosen when
 * every append rewrote its tail (before the journal); with the journal 256 cut the relay's
 * server CPU per message by a seventh and met every bench/store target (docs/BENCHMARKS.md).
 */
export const SEGMENT = 256;

const Meta = z.object({ first: z.number().int().nonnegative() });
type Meta = z.infer<typeof Meta>;
const SEGMENT_KEY = /^s\d{12}$/;

export interface LogEntry<E> {
  seq: number;
  entry: E;
}

const segmentKey = (index: number) => `s${String(index).padStart(12, '0')}`;

/**
 * One segment schema per entry schema, shared by every log of that kind: a zod schema is a few
 * KB, and a server opens a mailbox log for every user who logs in.
 */
const segmentSchemas = new WeakMap<z.ZodType, z.ZodType>();
function segmentSchemaOf<E>(entrySchema: z.ZodType<E>): z.ZodType<Array<LogEntry<E>>> {
  let schema = segmentSchemas.get(entrySchema);
  if (!schema) segmentSchemas.set(entrySchema, (schema = z.array(z.object({ seq: z.number().int(), entry: entrySchema }))));
  return schema as unknown as z.ZodType<Array<LogEntry<E>>>;
}

/** Where a log's chain of rewrites starts: one settled promise for all (a server opens a mailbox log per user online). */
const SETTLED: Promise<unknown> = Promise.resolve();

/**
 * The segment appends go to: its index, its store key, how many entries it has, and the entries
 * themselves, or null where the store holds them (Store.appendText: a segment whose first append
 * came with its text).
 */
interface Tail<E> {
  index: number;
  key: string;
  count: number;
  items: Array<LogEntry<E>> | null;
}

export class SegmentedLog<E> {
  /**
   * The segment appends go to. Its entries are an array held here, the store's document too (two
   * appends in one tick must land in the same array, so appends never read the store, whose reads
   * hand out validated copies), or are held by the store as texts until a read or an edit asks
   * for them as an array (tailItems).
   */
  private tail: Tail<E> = { index: 0, key: segmentKey(0), count: 0, items: [] };
  /** Rewrites of older segments run one at a time (read, change, write). */
  private updating: Promise<unknown> = SETTLED;
  /** close() was called: another instance may own the log now (src/store/log-pool.ts). */
  private closed = false;

  private constructor(
    private readonly store: Store,
    readonly collection: string,
    private readonly meta: Meta,
    private nextSeq: number,
    private readonly segmentSchema: z.ZodType<Array<LogEntry<E>>>,
  ) {}

  /** Opens (or starts) the log stored under `collection`. */
  static async open<E>(store: Store, collection: string, entrySchema: z.ZodType<E>): Promise<SegmentedLog<E>> {
    const segmentSchema = segmentSchemaOf(entrySchema);
    const meta = (await store.get(collection, 'meta', Meta)) ?? { first: 0 };
    const segments = (await store.keys(collection)).filter((key) => SEGMENT_KEY.test(key)).sort();
    const newest = segments.at(-1);
    const items = newest === undefined ? [] : ((await store.get(collection, newest, segmentSchema)) ?? []);
    const last = items.at(-1);
    const next = Math.max(meta.first, last ? last.seq + 1 : 0);
    const log = new SegmentedLog(store, collection, meta, next, segmentSchema);
    // Segments wholly before the start are what a kill during dropBefore left behind.
    const stale = segments.filter((key) => (Number(key.slice(1)) + 1) * SEGMENT <= meta.first && key !== newest);
    await Promise.all(stale.map((key) => store.remove(collection, key)));
    const tailIndex = last ? Number(newest!.slice(1)) : Math.floor(next / SEGMENT);
    log.tail = { index: tailIndex, key: segmentKey(tailIndex), count: last ? items.length : 0, items: last ? items : [] };
    return log;
  }

  /** Seq of the oldest kept entry. */
  get first(): number {
    return this.meta.first;
  }

  /** Seq the next appended entry gets. */
  get next(): number {
    return this.nextSeq;
  }

  /** Entries held in memory (as objects or as their texts): the tail segment's. */
  get resident(): number {
    return this.tail.count;
  }

  /** Entries kept. */
  get size(): number {
    return this.nextSeq - this.meta.first;
  }

  private async segment(index: number): Promise<Array<LogEntry<E>>> {
    if (index === this.tail.index) return this.tailItems();
    return (await this.store.get(this.collection, segmentKey(index), this.segmentSchema)) ?? [];
  }

  /**
   * The tail's entries as an array. Where the store holds them as texts, it parses them into an
   * array of its own, which the tail then appends to: a conversation whose history is read (a
   * client opening it, a resend looked for) holds its tail as entries again, so that its next
   * reads parse nothing, and an edit's rewrite of that array loses no append.
   */
  private tailItems(): Array<LogEntry<E>> {
    this.tail.items ??= (this.store.heldItems(this.collection, this.tail.key) as Array<LogEntry<E>> | undefined) ?? [];
    return this.tail.items;
  }

  /**
   * Appends one entry. `written` resolves when it is on disk. `entryText`, when the caller has
   * it, is JSON.stringify(entry): the store copies it rather than serialising the entry again,
   * and a segment whose first entry comes with its text is held by the store as texts
   * (Store.appendText), an entry without one then serialised here.
   */
  append(entry: E, entryText?: string): { seq: number; written: Promise<void> } {
    // A closed instance appending beside a reopened one would give out its seqs a second time.
    if (this.closed) throw new ParleyError('E_INTERNAL', `append to the closed log ${this.collection}`);
    const seq = this.nextSeq++;
    const index = Math.floor(seq / SEGMENT);
    if (index !== this.tail.index) {
      // The full segment is done with: the store forgets it once written (a server's memory must
      // not grow with every message it ever relayed). Reads load it again from its file.
      if (this.tail.count > 0) this.store.evict(this.collection, this.tail.key);
      this.tail = { index, key: segmentKey(index), count: 0, items: [] };
    }
    // An empty segment is held as its first entry comes: as texts if it comes with one.
    if (this.tail.count++ === 0) this.tail.items = entryText === undefined ? [] : null;
    const item = { seq, entry };
    const itemText = entryText === undefined ? undefined : `{"seq":${seq},"entry":${entryText}}`;
    if (this.tail.items === null) return { seq, written: this.store.appendText(this.collection, this.tail.key, item, itemText ?? JSON.stringify(item)) };
    this.tail.items.push(item);
    return { seq, written: this.store.append(this.collection, this.tail.key, this.tail.items, itemText) };
  }

  /** Up to `limit` entries with seq >= `from`, oldest first. */
  async read(from: number, limit: number): Promise<Array<LogEntry<E>>> {
    const out: Array<LogEntry<E>> = [];
    let seq = Math.max(from, this.meta.first);
    while (seq < this.nextSeq && out.length < limit) {
      const index = Math.floor(seq / SEGMENT);
      for (const item of await this.segment(index)) {
        if (item.seq >= seq && out.length < limit) out.push(item);
      }
      this.release(index);
      seq = (index + 1) * SEGMENT;
    }
    return out;
  }

  /** Up to `limit` entries with seq < `before`, returned oldest first (for paging backwards). */
  async readBefore(before: number, limit: number): Promise<Array<LogEntry<E>>> {
    const out: Array<LogEntry<E>> = [];
    let end = Math.min(before, this.nextSeq); // exclusive
    while (end > this.meta.first && out.length < limit) {
      const index = Math.floor((end - 1) / SEGMENT);
      const items = (await this.segment(index)).filter((item) => item.seq < end && item.seq >= this.meta.first);
      out.unshift(...items.slice(-(limit - out.length)));
      this.release(index);
      end = index * SEGMENT;
    }
    return out;
  }

  /** Finds the newest entry matching `predicate`, searching back at most `maxEntries`. */
  async findLast(predicate: (entry: E) => boolean, maxEntries = 10_000): Promise<LogEntry<E> | undefined> {
    let end = this.nextSeq;
    const stop = Math.max(this.meta.first, this.nextSeq - maxEntries);
    while (end > stop) {
      const index = Math.floor((end - 1) / SEGMENT);
      const items = await this.segment(index);
      this.release(index);
      for (let i = items.length - 1; i >= 0; i--) {
        if (items[i].seq < end && items[i].seq >= stop && predicate(items[i].entry)) return items[i];
      }
      end = index * SEGMENT;
    }
    return undefined;
  }

  /** Replaces the entry at `seq` (edits, deletions). Resolves when written. */
  update(seq: number, change: (entry: E) => E): Promise<void> {
    const run = async () => {
      const index = Math.floor(seq / SEGMENT);
      try {
        const segment = await this.segment(index);
        const position = segment.findIndex((item) => item.seq === seq);
        if (position < 0) return;
        segment[position] = { seq, entry: change(segment[position].entry) };
        await this.store.put(this.collection, segmentKey(index), segment);
      } finally {
        this.release(index); // an edited old segment is not kept once written
      }
    };
    const done = this.updating.then(run, run);
    this.updating = done.catch(() => undefined);
    return done;
  }

  /** Forgets entries with seq < `seq`: whole segments are deleted, the meta moves on. */
  async dropBefore(seq: number): Promise<void> {
    const target = Math.min(seq, this.nextSeq);
    if (target <= this.meta.first) return;
    const from = this.meta.first;
    // The new start goes to disk before any segment is deleted: a kill in between then leaves
    // only files below the start (removed at the next open), never a start that points back
    // at deleted seqs.
    this.meta.first = target;
    await this.store.put(this.collection, 'meta', this.meta);
    const everything = target >= this.nextSeq;
    const removals: Promise<void>[] = [];
    for (let index = Math.floor(from / SEGMENT); (index + 1) * SEGMENT <= target || (everything && index <= this.tail.index); index++) {
      removals.push(this.store.remove(this.collection, segmentKey(index)));
    }
    // Emptied: nothing delivered lingers on disk, and `first` alone tells where the log goes on.
    if (everything) this.tail = { ...this.tail, count: 0, items: [] };
    await Promise.all(removals);
  }

  /**
   * Lets the store forget this log's documents (once written: appends still on their way to disk
   * are kept by the store until then, and a reopen reads them there). Nothing may be running on
   * this instance, and it must not be used again: open the log anew.
   */
  close(): void {
    this.closed = true;
    this.store.evict(this.collection, this.tail.key);
    this.store.evict(this.collection, 'meta');
  }

  /** Old segments are read once and let go. */
  private release(index: number): void {
    if (index !== this.tail.index) this.store.evict(this.collection, segmentKey(index));
  }
}
