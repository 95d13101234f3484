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
import { SegmentedLog } from './log.ts';
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
  opening: Promise<SegmentedLog<E>>;
  /** set once opened */
  log: SegmentedLog<E> | null;
  holds: number;
  /** used since the closer last passed it (the clock algorithm: a flag on the hot path, not a reorder) */
  used: boolean;
  /** its weight when it last became idle or the closer passed it (counted in `idleWeight`) */
  weight: number;
}

export class LogPool<E> {
  private readonly logs = new Map<string, PooledLog<E>>();
  /** Open logs nobody holds, in the order the closer passes them. */
  private readonly idle = new Map<string, PooledLog<E>>();
  /**
   * The weight of the idle logs. Appends through `peek` grow a log without telling the pool, so
   * this can lag behind by what they added since the log was last weighed (the closer weighs
   * each log again as it passes it).
   */
  private idleWeight = 0;

  constructor(
    private readonly store: Store,
    private readonly entrySchema: z.ZodType<E>,
    /** entries (plus LOG_WEIGHT a log) that the logs nobody holds may keep in memory */
    private readonly budget: number,
  ) {}

  /** Logs open now, held or not. */
  get size(): number {
    return this.logs.size;
  }

  /**
   * The log under `collection` if it is open, for a synchronous use such as an append (the hot
   * path: no promise, no hold). It may be closed once the caller returns.
   */
  peek(collection: string): SegmentedLog<E> | undefined {
    const pooled = this.logs.get(collection);
    if (pooled?.log == null) return undefined;
    pooled.used = true;
    return pooled.log;
  }

  /** Opens (or finds) the log under `collection` and keeps it open until `release`. */
  async hold(collection: string): Promise<SegmentedLog<E>> {
    let pooled = this.logs.get(collection);
    if (!pooled) {
      const fresh: PooledLog<E> = { opening: SegmentedLog.open(this.store, collection, this.entrySchema), log: null, holds: 0, used: true, weight: 0 };
      fresh.opening.then(
        (log) => (fresh.log = log),
        () => this.logs.get(collection) === fresh && this.logs.delete(collection),
      );
      this.logs.set(collection, (pooled = fresh));
    }
    pooled.holds++;
    pooled.used = true;
    if (this.idle.delete(collection)) this.idleWeight -= pooled.weight;
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
    this.idle.set(collection, pooled);
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

  /**
   * Closes idle logs, least recently used first, until their weight is within the budget. A log
   * used since the closer last passed it gets another round. Each pass either closes a log or
   * clears a flag, so this ends within twice the number of idle logs.
   */
  private closeExcess(): void {
    while (this.idleWeight > this.budget && this.idle.size > 0) {
      const [collection, pooled] = this.idle.entries().next().value as [string, PooledLog<E>];
      this.idle.delete(collection);
      const weight = LOG_WEIGHT + pooled.log!.resident;
      this.idleWeight += weight - pooled.weight;
      pooled.weight = weight;
      if (pooled.used) {
        pooled.used = false;
        this.idle.set(collection, pooled);
        continue;
      }
      this.idleWeight -= weight;
      this.logs.delete(collection);
      pooled.log!.close();
    }
  }
}
