/**
 * A first-in, first-out queue whose array is kept from one use to the next: a connection's outbox
 * (texts queued in a pass, written at its end) and inbox (messages read from a frame, handled in
 * order). Each empties many times a second. The outbox was a fresh array each flush, and a fresh
 * array (or one whose length is set to 0) gets a new 17-slot store at its first push: ~150 bytes a
 * relayed message, a twentieth of what one allocated (docs/BENCHMARKS.md, "Thirtieth session").
 * Here the store stays, and an emptied queue writes from its start again. (The inbox, emptied by
 * `shift`, kept its store already; it is one of these so that both work one way.)
 */

/** Slots a queue keeps room for once empty; a store grown past them by a burst is let go. */
export const KEPT_SLOTS = 64;

export class KeptQueue<T> {
  /** The queued items are items[head, tail); the slots outside hold `undefined`. */
  private items: T[] = [];
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(item: T): void {
    this.items[this.tail++] = item;
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.head === this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T; // let go of it
    if (this.head === this.tail) this.restart();
    return item;
  }

  /**
   * The queue's own array, holding the queued items, oldest first, as its first `size` (moved
   * there if some were shifted): for a reader that takes an array and a count (eachJsonBatch).
   * Valid until the queue next changes.
   */
  contents(): readonly T[] {
    if (this.head > 0) this.compact();
    return this.items;
  }

  /** Empties the queue, letting go of its items. */
  clear(): void {
    this.items.fill(undefined as T, this.head, this.tail);
    this.restart();
  }

  /**
   * Gives up the kept store (an idle connection: ~150 bytes); the queue must be empty. Called for
   * every silent connection at every sweep, so a queue with nothing kept makes no new array.
   */
  letGo(): void {
    if (this.head === this.tail && this.items.length > 0) this.items = [];
  }

  private restart(): void {
    this.head = this.tail = 0;
    if (this.items.length > KEPT_SLOTS) this.items = [];
  }

  /** Moves the queued items to the array's start. */
  private compact(): void {
    const count = this.tail - this.head;
    this.items.copyWithin(0, this.head, this.tail);
    this.items.fill(undefined as T, count, this.tail);
    this.head = 0;
    this.tail = count;
  }
}
