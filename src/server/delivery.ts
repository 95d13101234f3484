/**
 * Delivery that loses nothing (docs/PROTOCOL.md, "Delivery guarantees").
 *
 * - To an online recipient a delivery goes out live and is `delivered` when the recipient's
 *   client acknowledges it (`received`). If the recipient leaves, or does not acknowledge within
 *   the ack timeout, it is written to their mailbox instead and is `stored`.
 * - To an offline recipient it is written to the mailbox: `stored` once on disk.
 * - At login the mailbox drains to the client in order, a window of unacknowledged entries at a
 *   time; acknowledged entries are dropped. Whatever is unacknowledged when the session ends is
 *   sent again at the next login, and clients drop duplicates by id.
 */
import { performance } from 'node:perf_hooks';
import type { ParleyError } from '../protocol/errors.ts';
import type { JsonOut } from '../protocol/json-bytes.ts';
import type { DeliveryStatus } from '../protocol/messages.ts';
import type { SegmentedLog } from '../store/log.ts';
import type { Logger } from './log.ts';
import type { MailboxEntry, Mailboxes } from './mailboxes.ts';
import type { Session } from './session.ts';

/** Mailbox entries sent ahead of their acknowledgements during a drain. */
const DRAIN_WINDOW = 1024;
/** Entries read from disk per step of a drain. */
const DRAIN_BATCH = 256;
/**
 * Bytes of unacknowledged mailbox entries in flight: well under the per-client queue cap
 * (--max-queued default 8 MiB), so a reading client with a mailbox of large messages is never
 * mistaken for a slow consumer.
 */
const DRAIN_BYTES = 2 * 1024 * 1024;

/**
 * One message sent live and not yet acknowledged. Kept small and free of timers and promises
 * (per-delivery timers and closures were most of the server's garbage, docs/BENCHMARKS.md); the
 * members of one fan-out share one, so a 1,000-member group with 16 messages in flight holds 16,
 * and a 1:1 send is its own (hub.ts, PrivateSend).
 */
export interface LiveDelivery {
  /** the message as sent (a fan-out's recipients share one object), read when it is stored */
  readonly message: Record<string, unknown>;
  /**
   * performance.now() when it was queued, in whole ms, for the ack timeout: a small integer, held
   * in the record itself, where a fraction needed a number of its own for every message in flight
   */
  sentAt: number;
  /** told the outcome when someone waits for it (a 1:1 send); null for fan-outs */
  readonly waiter: DeliveryWaiter | null;
}

/** Told how a delivery ended (an object, not a closure: one per private message, held until the ack). */
export interface DeliveryWaiter {
  /** `err` when it could be neither delivered nor stored */
  deliveryEnded(status: DeliveryStatus, err?: ParleyError): void;
}

/** How far past the oldest live delivery an acknowledgement out of order is looked for. */
const OUT_OF_ORDER_WINDOW = 64;

/** A ring bigger than this, emptied, is let go (a burst's), to start small again. */
const RING_KEEP = 1024;

/**
 * One session's live deliveries, oldest first. A client acknowledges in the order it receives,
 * which is the order they were sent, so an acknowledgement is nearly always for the oldest entry
 * and is taken off the front without hashing: a Map per session, grown and shrunk again by every
 * busy group's messages, was an eighth of a fan-out's server time. One out of order is looked for
 * among the next OUT_OF_ORDER_WINDOW entries, so that ids a client makes up cost it little; one
 * not found there stays, and times out into the mailbox like any unacknowledged delivery.
 *
 * The entries are a ring, doubled when full, so it holds at most twice what was ever in flight
 * at once: arrays pushed onto at the back and cut at the front every thousand entries (a busy
 * conversation's queue is never empty) were grown and copied again and again, a thousand
 * entries and more each, where a few dozen are in flight.
 */
export class LiveQueue {
  /** The ring's slots ('' when free or acknowledged); its length is a power of two (or 0). */
  private ids: string[] = [];
  /** null when free, or once acknowledged (out of order: the front moves past it later) */
  private records: Array<LiveDelivery | null> = [];
  /** The oldest slot in use. */
  private front = 0;
  /** Slots in use from the front, acknowledged ones the front has not passed yet included. */
  private used = 0;
  /** Entries not yet acknowledged. */
  size = 0;

  push(ackId: string, record: LiveDelivery): void {
    if (this.used === this.ids.length) this.grow();
    const at = (this.front + this.used) & (this.ids.length - 1);
    this.ids[at] = ackId;
    this.records[at] = record;
    this.used++;
    this.size++;
  }

  /** Removes and returns the entry `ackId` acknowledges, if it is near the front. */
  take(ackId: string): LiveDelivery | undefined {
    const mask = this.ids.length - 1;
    const end = Math.min(this.used, OUT_OF_ORDER_WINDOW);
    for (let k = 0; k < end; k++) {
      const i = (this.front + k) & mask;
      const record = this.records[i];
      if (record === null || this.ids[i] !== ackId) continue;
      this.forget(i);
      if (k === 0) this.advance();
      return record;
    }
    return undefined;
  }

  /** Removes the entries sent before `cutoff`, oldest first, handing each to `each`. */
  takeOlderThan(cutoff: number, each: (ackId: string, record: LiveDelivery) => void): void {
    while (this.used > 0) {
      const record = this.records[this.front]!; // the front is never an acknowledged entry
      if (record.sentAt > cutoff) return; // oldest first: the rest are younger
      const ackId = this.ids[this.front];
      this.forget(this.front);
      this.advance();
      each(ackId, record);
    }
  }

  /** Removes every entry, oldest first, handing each to `each`. */
  takeAll(each: (ackId: string, record: LiveDelivery) => void): void {
    this.takeOlderThan(Infinity, each);
  }

  /** Lets go of slot `i`'s entry, acknowledged or handed on. */
  private forget(i: number): void {
    this.records[i] = null;
    this.ids[i] = '';
    this.size--;
  }

  /** Moves the front past acknowledged entries; a big ring, emptied, is let go. */
  private advance(): void {
    const mask = this.ids.length - 1;
    while (this.used > 0 && this.records[this.front] === null) {
      this.front = (this.front + 1) & mask;
      this.used--;
    }
    if (this.used === 0 && this.ids.length > RING_KEEP) {
      this.ids = [];
      this.records = [];
      this.front = 0;
    }
  }

  /** Doubles the ring (16 slots at first), its entries moved to the start in order. */
  private grow(): void {
    const capacity = Math.max(16, 2 * this.ids.length);
    const ids = new Array<string>(capacity).fill('');
    const records = new Array<LiveDelivery | null>(capacity).fill(null);
    for (let k = 0; k < this.used; k++) {
      const i = (this.front + k) & (this.ids.length - 1);
      ids[k] = this.ids[i];
      records[k] = this.records[i];
    }
    this.ids = ids;
    this.records = records;
    this.front = 0;
  }
}

/**
 * The `drained` of a session with no mailbox entries in flight: one shared empty map, never
 * written (pump makes a session its own before adding). An empty Map is ~330 bytes, and nearly
 * every session has nothing to drain (bench/connection-heap).
 */
const NOTHING_DRAINED: Map<string, { seq: number; bytes: number }> = new Map();

/** What is in flight to one session (its `deliveryState`). */
export interface SessionDeliveries {
  user: string;
  live: LiveQueue;
  /** ackId → mailbox seq of entries sent by the drain and not yet acknowledged */
  drained: Map<string, { seq: number; bytes: number }>;
  drainedBytes: number;
  nextSeq: number;
  pumping: boolean;
  mailbox: SegmentedLog<MailboxEntry> | null;
}

export class Delivery {
  /** Sessions with live deliveries waiting for an acknowledgement. */
  private readonly waiting = new Set<SessionDeliveries>();
  private sweeper: NodeJS.Timeout | null = null;
  /** The live record of the latest fan-out, which its members share. */
  private fanOutRecord: LiveDelivery | null = null;

  constructor(
    private readonly mailboxes: Mailboxes,
    private readonly online: ReadonlyMap<string, Session>,
    private readonly log: Logger,
    /** ms a live delivery waits for its acknowledgement before it goes to the mailbox */
    private readonly ackTimeoutMs: number,
  ) {}

  /** The session's own record of what is in flight to it: kept on the session, not looked up in a Map per delivery. */
  private state(session: Session, user: string): SessionDeliveries {
    let state = session.deliveryState;
    if (state === null) {
      state = { user, live: new LiveQueue(), drained: NOTHING_DRAINED, drainedBytes: 0, nextSeq: 0, pumping: false, mailbox: null };
      session.deliveryState = state;
    }
    return state;
  }

  /**
   * Delivers `delivery.message` (serialised: `json`) to `user`, acknowledged by `ackId`. Its
   * waiter hears `delivered` or `stored`, or `stored` with E_MAILBOX_FULL when it could be
   * neither. Not a promise: this runs once per private message, and it may wait seconds for the
   * ack. `delivery` is the live record from here on (its sentAt is set now).
   */
  deliver(user: string, ackId: string, json: JsonOut, delivery: LiveDelivery & { readonly waiter: DeliveryWaiter }): void {
    delivery.sentAt = Math.floor(performance.now());
    const { waiter } = delivery;
    this.send(user, this.online.get(user), ackId, json, delivery)?.then(
      (status) => waiter.deliveryEnded(status),
      (err: ParleyError) => waiter.deliveryEnded('stored', err),
    );
  }

  /**
   * A fan-out's delivery to one member, whose session the caller passes (`session`, from
   * Hub.recipientsOf; undefined when offline): nobody waits for the acknowledgement. Returns the mailbox write when
   * `user` is offline (or still draining), else null; a live delivery that later falls back to
   * the mailbox is logged if it cannot be stored.
   */
  fanOut(user: string, session: Session | undefined, ackId: string, message: Record<string, unknown>, json: string): Promise<DeliveryStatus> | null {
    // A fan-out's calls come one after another: its members share one record (it never changes).
    let record = this.fanOutRecord;
    if (record === null || record.message !== message) this.fanOutRecord = record = { message, sentAt: Math.floor(performance.now()), waiter: null };
    return this.send(user, session, ackId, json, record);
  }

  /** Sends live to `recipient`, `user`'s session (returns null), or stores (returns the mailbox write). */
  private send(user: string, recipient: Session | undefined, ackId: string, json: JsonOut, record: LiveDelivery): Promise<DeliveryStatus> | null {
    // record.message only where it is stored: a 1:1 send makes it when asked (hub.ts, PrivateSend).
    if (!recipient) return this.store(user, { ackId, message: record.message });
    const state = this.state(recipient, user);
    // While older messages still drain from the mailbox, newer ones queue behind them, so that
    // the recipient sees everything in order (an edit never arrives before its message).
    if (state.mailbox === null || state.drained.size > 0 || state.nextSeq < state.mailbox.next) return this.store(user, { ackId, message: record.message });
    state.live.push(ackId, record);
    // A session is in `waiting` from its first live delivery until a sweep finds it has none.
    if (state.live.size === 1) this.waiting.add(state);
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweepAcks(), Math.max(10, Math.min(1000, this.ackTimeoutMs / 4)));
      this.sweeper.unref();
    }
    recipient.sendSerialized(json);
    return null;
  }

  /** Live deliveries past the ack timeout go to the mailbox; the sweeper stops when none wait. */
  private sweepAcks(): void {
    const cutoff = performance.now() - this.ackTimeoutMs;
    for (const state of this.waiting) {
      state.live.takeOlderThan(cutoff, (ackId, pending) => this.fallBack(state.user, ackId, pending));
      if (state.live.size === 0) this.waiting.delete(state);
    }
    if (this.waiting.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** A live delivery that was not acknowledged goes to the mailbox. */
  private fallBack(user: string, ackId: string, pending: LiveDelivery): void {
    this.store(user, { ackId, message: pending.message }).then(
      (status) => pending.waiter?.deliveryEnded(status),
      (err: ParleyError) => {
        if (pending.waiter) pending.waiter.deliveryEnded('stored', err);
        else this.log.warn(`message ${ackId} for ${user} not stored: ${err.message}`);
      },
    );
  }

  private async store(user: string, entry: MailboxEntry): Promise<DeliveryStatus> {
    await this.mailboxes.put(user, entry);
    // Someone online (an unacknowledged live delivery that fell back) gets it from the drain.
    const session = this.online.get(user);
    if (session) void this.pump(session);
    return 'stored';
  }

  /** The recipient's client acknowledged these ids. */
  acknowledge(session: Session, ids: readonly string[]): void {
    const state = session.deliveryState;
    if (state === null) return;
    let drainedAcked = false;
    for (const id of ids) {
      const live = state.live.take(id);
      if (live) live.waiter?.deliveryEnded('delivered');
      const drained = state.drained.size > 0 ? state.drained.get(id) : undefined;
      if (drained) {
        state.drained.delete(id);
        state.drainedBytes -= drained.bytes;
        drainedAcked = true;
      }
    }
    if (!drainedAcked) return;
    if (state.drained.size === 0) state.drained = NOTHING_DRAINED; // let go of a drain's grown table
    void this.advance(session, state);
  }

  /**
   * Drops the acknowledged prefix of the mailbox and sends more. The prefix ends at the oldest
   * entry still unacknowledged (or at what the drain has read, if none), so a seq that a crash
   * left without an entry never holds the mailbox up.
   */
  private async advance(session: Session, state: SessionDeliveries): Promise<void> {
    const mailbox = state.mailbox;
    if (!mailbox) return;
    let first = state.nextSeq;
    for (const { seq } of state.drained.values()) if (seq < first) first = seq;
    // The session may end while this awaits: its mailbox stays open until the drop is written.
    this.mailboxes.retain(state.user);
    try {
      if (first > mailbox.first) await mailbox.dropBefore(first);
    } catch (err) {
      // A store that cannot write (a full disk) keeps the delivered messages on disk; after a
      // restart they are delivered again and the client drops those it remembers seeing. Nothing
      // is lost, the drain goes on, and the server must not stop over it.
      this.log.error(`mailbox of ${state.user}: delivered messages not dropped: ${(err as Error).message}`);
    } finally {
      this.mailboxes.release(state.user);
    }
    await this.pump(session);
  }

  /** Starts draining `user`'s mailbox to the session that just logged in. */
  async startDrain(session: Session, user: string): Promise<void> {
    const state = this.state(session, user);
    const mailbox = await this.mailboxes.hold(user);
    // Detached (or replaced by a newer login) while the mailbox opened: nobody will release it.
    if (session.deliveryState !== state || state.mailbox !== null) return this.mailboxes.release(user);
    state.mailbox = mailbox;
    state.nextSeq = state.mailbox.first;
    if (state.mailbox.size > 0) this.log.info(`mailbox of ${user}: ${state.mailbox.size} waiting, delivering`);
    await this.pump(session);
  }

  private async pump(session: Session): Promise<void> {
    const state = session.deliveryState;
    if (state === null || !state.mailbox || state.pumping) return;
    state.pumping = true;
    this.mailboxes.retain(state.user); // read on after the session ends, it must stay open
    try {
      const mailbox = state.mailbox;
      while (session.deliveryState === state && state.drained.size < DRAIN_WINDOW && state.drainedBytes < DRAIN_BYTES && state.nextSeq < mailbox.next) {
        const batch = await mailbox.read(state.nextSeq, Math.min(DRAIN_BATCH, DRAIN_WINDOW - state.drained.size));
        if (batch.length === 0) break;
        let last = state.nextSeq - 1;
        for (const { seq, entry } of batch) {
          const json = JSON.stringify(entry.message);
          if (state.drained === NOTHING_DRAINED) state.drained = new Map();
          state.drained.set(entry.ackId, { seq, bytes: json.length });
          state.drainedBytes += json.length;
          session.sendSerialized(json);
          last = seq;
          if (state.drainedBytes >= DRAIN_BYTES) break;
        }
        state.nextSeq = last + 1;
      }
    } catch (err) {
      this.log.error(`mailbox of ${state.user}: ${(err as Error).message}`);
    } finally {
      state.pumping = false;
      this.mailboxes.release(state.user);
    }
  }

  /** The session ended: its unacknowledged live deliveries go to the mailbox. */
  detach(session: Session): void {
    const state = session.deliveryState;
    if (state === null) return;
    session.deliveryState = null;
    this.waiting.delete(state);
    if (state.mailbox !== null) this.mailboxes.release(state.user);
    state.live.takeAll((ackId, pending) => this.fallBack(state.user, ackId, pending));
  }
}
