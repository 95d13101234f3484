/**
 * The open logs of one kind (conversation histories, mailboxes), so that a server's memory does
 * not grow with every conversation and mailbox touched since it started: an open log keeps its
 * tail segment (up to SEGMENT entries) in memory, and the store keeps that segment's document.
 *
 * A log is open once at most: two instances of one log would give out the same seqs. A log that
 * someone holds (an operation that awaits it, a session draining its mailbox) stays open; of the
 * others, the least recently used are closed while together they hold more than `budget`
 * entries. Closing is safe with appends still on their way to disk: the store keeps a journaled
 * document until it is written, and a reopen reads that document.
 */
import type { z } from 'zod';
import type { JsonOut } from '../protocol/json-bytes.ts';
import { SEGMENT, SegmentedLog } from './log.ts';
import type { Store } from './store.ts';

/**
 * What an open log costs beside its entries, in entries: ~2 KB (the log, its store document and
 * writer) against ~230 bytes an entry, measured with 2,000 history logs. So a thousand empty
 * mailboxes weigh as much as 10,000 messages.
 */
export const LOG_WEIGHT = 10;

/**
 * The server's budget for each of histories and mailboxes (`--cached-messages`): ~60 MB each
 * at most. A thousand offline users with a full tail segment waiting each still fit, so storing
 * for them reopens nothing (bench/store's million messages over 1,000 mailboxes).
 */
export const DEFAULT_CACHED_MESSAGES = 262_144;

interface PooledLog<E> {
  collection: string;
  opening: Promise<SegmentedLog<E>>;
  /** set once opened */
  log: SegmentedLog<E> | null;
  holds: number;
  /** used since the closer last passed it (the clock algorithm: a flag on the hot path, not a reorder) */
  used: boolean;
  /** its weight as last counted in `idleWeight` */
  weight: number;
  /** its place in the ring of idle logs, or -1 while held */
  slot: number;
}

export class LogPool<E> {
  private readonly logs = new Map<string, PooledLog<E>>();
  /**
   * The open logs nobody holds, in the order they became idle, which the closer's hand goes
   * round; a log that leaves leaves a hole (null), and the holes are squeezed out once they are
   * half the ring. An array, not a Map in use order: taking a Map's first entry again and again
   * gets slower as the deleted slots pile up in front of it.
   */
  private ring: Array<PooledLog<E> | null> = [];
  private holes = 0;
  private hand = 0;
  /** The weight of the idle logs, as last counted (the closer counts each again as it passes it). */
  private idleWeight = 0;
  /** The closer is due in a microtask (appends past the budget). */
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly entrySchema: z.ZodType<E>,
    /** entries (plus LOG_WEIGHT a log) that the logs nobody holds may keep in memory */
    private readonly budget: number,
    /** entries per segment of a log started here (SegmentedLog.open) */
    private readonly segmentSize = SEGMENT,
  ) {}

  /** Logs open now, held or not. */
  get size(): number {
    return this.logs.size;
  }

  /**
   * The log under `collection` if it is open, for a synchronous use (the hot path: no promise,
   * no hold). Append to it with `append`, which weighs it; it may be closed once the caller's
   * synchronous run ends.
   */
  peek(collection: string): SegmentedLog<E> | undefined {
    const pooled = this.logs.get(collection);
    if (pooled?.log == null) return undefined;
    pooled.used = true;
    return pooled.log;
  }

  /** Appends to a log from `peek` (or one held), counting the entry against the budget (`entryText`, `leaveOut`: SegmentedLog.append). */
  append(log: SegmentedLog<E>, entry: E, entryText?: JsonOut, leaveOut = 0): { seq: number; written: Promise<void> } {
    const appended = log.append(entry, entryText, leaveOut);
    const pooled = this.logs.get(log.collection);
    // A held log is weighed when its last hold ends.
    if (pooled !== undefined && pooled.slot >= 0) {
      pooled.weight++;
      // Closed after the caller's synchronous run, not under it: it may append to this log again.
      if (++this.idleWeight > this.budget && !this.closing) {
        this.closing = true;
        queueMicrotask(() => {
          this.closing = false;
          this.closeExcess();
        });
      }
    }
    return appended;
  }

  /** Opens (or finds) the log under `collection` and keeps it open until `release`. */
  async hold(collection: string): Promise<SegmentedLog<E>> {
    let pooled = this.logs.get(collection);
    if (!pooled) {
      const fresh: PooledLog<E> = { collection, opening: SegmentedLog.open(this.store, collection, this.entrySchema, this.segmentSize), log: null, holds: 0, used: true, weight: 0, slot: -1 };
      fresh.opening.then(
        (log) => (fresh.log = log),
        () => this.logs.get(collection) === fresh && this.logs.delete(collection),
      );
      this.logs.set(collection, (pooled = fresh));
    }
    pooled.holds++;
    pooled.used = true;
    if (pooled.slot >= 0) this.leaveRing(pooled);
    try {
      return await pooled.opening;
    } catch (err) {
      pooled.holds--;
      throw err;
    }
  }

  /**
   * One more hold of a log already held, taken at once: an operation on a held log that may
   * outlast its holder (a mailbox drain when its session ends) keeps the log open until it ends.
   */
  retain(collection: string): void {
    const pooled = this.logs.get(collection);
    if (!pooled || pooled.holds === 0) throw new Error(`retain of ${collection}, which nobody holds`);
    pooled.holds++;
  }

  /** Ends one `hold` (or `retain`) of `collection`. */
  release(collection: string): void {
    const pooled = this.logs.get(collection);
    if (!pooled || pooled.holds === 0) return;
    if (--pooled.holds > 0) return;
    pooled.weight = LOG_WEIGHT + pooled.log!.resident;
    this.idleWeight += pooled.weight;
    pooled.slot = this.ring.length;
    this.ring.push(pooled);
    this.closeExcess();
  }

  /** Runs `use` on the log under `collection`, held meanwhile. */
  async with<T>(collection: string, use: (log: SegmentedLog<E>) => T | Promise<T>): Promise<T> {
    const log = await this.hold(collection);
    try {
      return await use(log);
    } finally {
      this.release(collection);
    }
  }

  private leaveRing(pooled: PooledLog<E>): void {
    this.idleWeight -= pooled.weight;
    this.ring[pooled.slot] = null;
    pooled.slot = -1;
    if (++this.holes > 64 && this.holes * 2 > this.ring.length) this.squeeze();
  }

  /** Drops the ring's holes, keeping its order and the hand on the same log. */
  private squeeze(): void {
    const kept: Array<PooledLog<E>> = [];
    let hand = 0;
    for (let i = 0; i < this.ring.length; i++) {
      if (i === this.hand) hand = kept.length;
      const pooled = this.ring[i];
      if (pooled === null) continue;
      pooled.slot = kept.length;
      kept.push(pooled);
    }
    this.hand = this.hand >= this.ring.length ? kept.length : hand;
    this.ring = kept;
    this.holes = 0;
  }

  /**
   * Closes idle logs, least recently used first (as a clock approximates it), until their weight
   * is within the budget. A log used since the hand last passed it gets another round. Each step
   * either closes a log, clears a flag or passes a hole, so this ends within three rounds of the
   * ring.
   */
  private closeExcess(): void {
    while (this.idleWeight > this.budget && this.ring.length > this.holes) {
      if (this.hand >= this.ring.length) this.hand = 0;
      const pooled = this.ring[this.hand++];
      if (pooled === null) continue;
      const weight = LOG_WEIGHT + pooled.log!.resident; // a segment ended since makes it lighter
      this.idleWeight += weight - pooled.weight;
      pooled.weight = weight;
      if (pooled.used) {
        pooled.used = false;
        continue;
      }
      this.leaveRing(pooled);
      this.logs.delete(pooled.collection);
      pooled.log!.close();
    }
  }
}
