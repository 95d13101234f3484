/**
 * An append-only log on the sharded store, cut into fixed-size segments:
 *
 *   <collection>/meta.json                { first }   the oldest kept seq (moved by dropBefore)
 *   <collection>/s1024-000000000042.json  entries with seq 42*1024 .. 43*1024-1 (JSON arrays, one a line)
 *
 * Appending touches only the tail segment (one journal line, Store.append; checkpoints append to
 * the segment's file), so storing one entry costs the same whether the log holds a thousand entries or
 * a million (lowdb rewrites whole files; this keeps every file small). The next seq is not stored: it is read from the newest segment at open, so a kill
 * between two file writes can never leave a counter that disagrees with the entries. Reading
 * old segments does not keep them in memory. Mailboxes and conversation histories are logs.
 *
 * A segment file's name gives its log's segment size, but for 256-entry segments, named without it
 * (`s000000000042.json`: seqs 42*256 .. 43*256-1): every log started before the nineteenth
 * session, which keeps that size, and mailboxes. A log with no segment file starts with the size
 * its opener asks for (SEGMENT, MAILBOX_SEGMENT).
 */
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import type { JsonOut } from '../protocol/json-bytes.ts';
import type { Store } from './store.ts';

/**
 * Entries per segment of a new log. Appends are journal lines; a checkpoint creates each new
 * segment's file and appends to the file of each it wrote before, so a segment costs a file
 * creation once and a write per checkpoint that touched it, while draining a backlog reads one
 * file per segment. Creating a file is what costs: ~40 µs of kernel time on a quiet disk here, and
 * ten times that after many deletions (ext4 without a journal looks past every inode deleted
 * lately to allocate one: docs/BENCHMARKS.md, nineteenth session). 1,024 made a fourth as many
 * files as 256 and, with chunked ItemTexts, took the relays' server CPU to 0.84x and 0.81x (256
 * was chosen when every append rewrote its tail, 64 before the journal).
 */
export const SEGMENT = 1024;
/**
 * The segment size of logs whose files are named without one: every log before the nineteenth
 * session, and mailboxes since (MAILBOX_SEGMENT).
 */
const UNNAMED_SIZE = 256;
/**
 * Entries per segment of a mailbox. A mailbox nobody holds stays open with its tail while the
 * mailboxes' budget allows (LogPool), so that storing for an offline user reopens nothing; with
 * 1,024-entry tails a thousand offline users' full tails were four times the budget, and a put to
 * a mailbox closed for it read and parsed its tail first (bench/store, spread over 1,000
 * mailboxes: 3.9 ms a put against 41 µs). Mailboxes are drained and deleted, not kept like
 * histories, so fewer files matter less there.
 */
export const MAILBOX_SEGMENT = UNNAMED_SIZE;

const Meta = z.object({ first: z.number().int().nonnegative() });
type Meta = z.infer<typeof Meta>;
/** `s<size>-<index>`, or `s<index>` for a log of UNNAMED_SIZE segments. */
const SEGMENT_KEY = /^s(?:(\d{1,7})-)?(\d{12})$/;

/** The store key of segment `index` of a log of `size`-entry segments. */
export function segmentKey(index: number, size = SEGMENT): string {
  const padded = String(index).padStart(12, '0');
  return size === UNNAMED_SIZE ? `s${padded}` : `s${size}-${padded}`;
}

/**
 * A segment's size and index from its store key; null for a key that is no segment's, or not the
 * one segmentKey gives (`s256-...`, `s01024-...`): one file a segment, so no two keys are read as one.
 */
function parseSegmentKey(key: string): { size: number; index: number } | null {
  const match = SEGMENT_KEY.exec(key);
  if (!match) return null;
  const segment = { size: match[1] === undefined ? UNNAMED_SIZE : Number(match[1]), index: Number(match[2]) };
  return segmentKey(segment.index, segment.size) === key ? segment : null;
}

export interface LogEntry<E> {
  seq: number;
  entry: E;
}

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
  private tail: Tail<E> = { index: 0, key: '', count: 0, items: [] };
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
    /** entries per segment: as its files are named, SEGMENT for a log that has none */
    readonly segmentSize: number,
  ) {}

  /** Opens (or starts, with `newSegmentSize` entries a segment) the log stored under `collection`. */
  static async open<E>(store: Store, collection: string, entrySchema: z.ZodType<E>, newSegmentSize = SEGMENT): Promise<SegmentedLog<E>> {
    const segmentSchema = segmentSchemaOf(entrySchema);
    const meta = (await store.get(collection, 'meta', Meta)) ?? { first: 0 };
    const segments: Array<{ key: string; size: number; index: number }> = [];
    for (const key of await store.keys(collection)) {
      const parsed = parseSegmentKey(key);
      if (parsed) segments.push({ key, ...parsed });
    }
    const size = segments[0]?.size ?? newSegmentSize;
    if (segments.some((segment) => segment.size !== size)) {
      throw new ParleyError('E_STORE_CORRUPT', `the log ${collection} has segment files of different sizes (${[...new Set(segments.map((s) => s.size))].join(', ')})`);
    }
    segments.sort((a, b) => a.index - b.index);
    const newest = segments.at(-1);
    const items = newest === undefined ? [] : ((await store.get(collection, newest.key, segmentSchema)) ?? []);
    const last = items.at(-1);
    const next = Math.max(meta.first, last ? last.seq + 1 : 0);
    const log = new SegmentedLog(store, collection, meta, next, segmentSchema, size);
    // Segments wholly before the start are what a kill during dropBefore left behind.
    const stale = segments.filter((segment) => (segment.index + 1) * size <= meta.first && segment !== newest);
    await Promise.all(stale.map((segment) => store.remove(collection, segment.key)));
    const tailIndex = last ? newest!.index : Math.floor(next / size);
    log.tail = { index: tailIndex, key: log.keyOf(tailIndex), count: last ? items.length : 0, items: last ? items : [] };
    return log;
  }

  /** The store key of this log's segment `index`. */
  private keyOf(index: number): string {
    return segmentKey(index, this.segmentSize);
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
    return (await this.store.get(this.collection, this.keyOf(index), this.segmentSchema)) ?? [];
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
   * it, is JSON.stringify(entry), less `leaveOut` characters after its brace (ItemTexts.add): the
   * store copies it rather than serialising the entry again, and a segment whose first entry
   * comes with its text is held by the store as texts (Store.appendText), an entry without one
   * then serialised here.
   */
  append(entry: E, entryText?: JsonOut, leaveOut = 0): { seq: number; written: Promise<void> } {
    // A closed instance appending beside a reopened one would give out its seqs a second time.
    if (this.closed) throw new ParleyError('E_INTERNAL', `append to the closed log ${this.collection}`);
    const seq = this.nextSeq++;
    const index = Math.floor(seq / this.segmentSize);
    if (index !== this.tail.index) {
      // The full segment is done with: the store forgets it once written (a server's memory must
      // not grow with every message it ever relayed). Reads load it again from its file.
      if (this.tail.count > 0) this.store.evict(this.collection, this.tail.key);
      this.tail = { index, key: this.keyOf(index), count: 0, items: [] };
    }
    // An empty segment is held as its first entry comes: as texts if it comes with one.
    if (this.tail.count++ === 0) this.tail.items = entryText === undefined ? [] : null;
    const item = { seq, entry };
    if (this.tail.items === null) return { seq, written: this.store.appendText(this.collection, this.tail.key, item, entryText ?? JSON.stringify(entry), leaveOut) };
    this.tail.items.push(item);
    return { seq, written: this.store.append(this.collection, this.tail.key, this.tail.items, entryText, leaveOut) };
  }

  /** Up to `limit` entries with seq >= `from`, oldest first. */
  async read(from: number, limit: number): Promise<Array<LogEntry<E>>> {
    const out: Array<LogEntry<E>> = [];
    let seq = Math.max(from, this.meta.first);
    while (seq < this.nextSeq && out.length < limit) {
      const index = Math.floor(seq / this.segmentSize);
      for (const item of await this.segment(index)) {
        if (item.seq >= seq && out.length < limit) out.push(item);
      }
      this.release(index);
      seq = (index + 1) * this.segmentSize;
    }
    return out;
  }

  /** Up to `limit` entries with seq < `before`, returned oldest first (for paging backwards). */
  async readBefore(before: number, limit: number): Promise<Array<LogEntry<E>>> {
    const out: Array<LogEntry<E>> = [];
    let end = Math.min(before, this.nextSeq); // exclusive
    while (end > this.meta.first && out.length < limit) {
      const index = Math.floor((end - 1) / this.segmentSize);
      const items = (await this.segment(index)).filter((item) => item.seq < end && item.seq >= this.meta.first);
      out.unshift(...items.slice(-(limit - out.length)));
      this.release(index);
      end = index * this.segmentSize;
    }
    return out;
  }

  /** Finds the newest entry matching `predicate`, searching back at most `maxEntries`. */
  async findLast(predicate: (entry: E) => boolean, maxEntries = 10_000): Promise<LogEntry<E> | undefined> {
    let end = this.nextSeq;
    const stop = Math.max(this.meta.first, this.nextSeq - maxEntries);
    while (end > stop) {
      const index = Math.floor((end - 1) / this.segmentSize);
      const items = await this.segment(index);
      this.release(index);
      for (let i = items.length - 1; i >= 0; i--) {
        if (items[i].seq < end && items[i].seq >= stop && predicate(items[i].entry)) return items[i];
      }
      end = index * this.segmentSize;
    }
    return undefined;
  }

  /** Replaces the entry at `seq` (edits, deletions). Resolves when written. */
  update(seq: number, change: (entry: E) => E): Promise<void> {
    const run = async () => {
      const index = Math.floor(seq / this.segmentSize);
      try {
        const segment = await this.segment(index);
        const position = segment.findIndex((item) => item.seq === seq);
        if (position < 0) return;
        segment[position] = { seq, entry: change(segment[position].entry) };
        await this.store.put(this.collection, this.keyOf(index), segment);
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
    for (let index = Math.floor(from / this.segmentSize); (index + 1) * this.segmentSize <= target || (everything && index <= this.tail.index); index++) {
      removals.push(this.store.remove(this.collection, this.keyOf(index)));
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
    if (index !== this.tail.index) this.store.evict(this.collection, this.keyOf(index));
  }
}
