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
import { ParleyError } from '../protocol/errors.ts';
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

interface LiveDelivery {
  entry: MailboxEntry;
  json: string;
  resolve: (status: DeliveryStatus) => void;
  reject: (err: ParleyError) => void;
  timer: NodeJS.Timeout;
}

/** What is in flight to one session. */
interface SessionDeliveries {
  user: string;
  live: Map<string, LiveDelivery>;
  /** ackId → mailbox seq of entries sent by the drain and not yet acknowledged */
  drained: Map<string, { seq: number; bytes: number }>;
  drainedBytes: number;
  nextSeq: number;
  pumping: boolean;
  mailbox: SegmentedLog<MailboxEntry> | null;
}

export class Delivery {
  private readonly sessions = new Map<Session, SessionDeliveries>();

  constructor(
    private readonly mailboxes: Mailboxes,
    private readonly online: ReadonlyMap<string, Session>,
    private readonly log: Logger,
    /** ms a live delivery waits for its acknowledgement before it goes to the mailbox */
    private readonly ackTimeoutMs: number,
  ) {}

  private state(session: Session, user: string): SessionDeliveries {
    let state = this.sessions.get(session);
    if (!state) {
      state = { user, live: new Map(), drained: new Map(), drainedBytes: 0, nextSeq: 0, pumping: false, mailbox: null };
      this.sessions.set(session, state);
    }
    return state;
  }

  /**
   * Delivers `message` to `user` (acknowledged by `ackId`). Resolves `delivered` or `stored`;
   * rejects with E_MAILBOX_FULL when it can be neither.
   */
  deliver(user: string, ackId: string, message: Record<string, unknown>, serialized?: string): Promise<DeliveryStatus> {
    const entry: MailboxEntry = { ackId, message };
    const recipient = this.online.get(user);
    if (!recipient) return this.store(user, entry);
    const state = this.state(recipient, user);
    // While older messages still drain from the mailbox, newer ones queue behind them, so that
    // the recipient sees everything in order (an edit never arrives before its message).
    if (state.mailbox === null || state.drained.size > 0 || state.nextSeq < state.mailbox.next) return this.store(user, entry);
    // A fan-out serialises once and hands the same text to every recipient.
    const json = serialized ?? JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fallBack(recipient, ackId), this.ackTimeoutMs);
      timer.unref();
      state.live.set(ackId, { entry, json, resolve, reject, timer });
      recipient.sendSerialized(json);
    });
  }

  private async store(user: string, entry: MailboxEntry): Promise<DeliveryStatus> {
    await this.mailboxes.put(user, entry);
    // Someone online (an unacknowledged live delivery that fell back) gets it from the drain.
    const session = this.online.get(user);
    if (session) void this.pump(session);
    return 'stored';
  }

  /** A live delivery that was not acknowledged goes to the mailbox. */
  private fallBack(session: Session, ackId: string): void {
    const state = this.sessions.get(session);
    const pending = state?.live.get(ackId);
    if (!state || !pending) return;
    state.live.delete(ackId);
    clearTimeout(pending.timer);
    this.store(state.user, pending.entry).then(pending.resolve, (err: ParleyError) => pending.reject(err));
  }

  /** The recipient's client acknowledged these ids. */
  acknowledge(session: Session, ids: readonly string[]): void {
    const state = this.sessions.get(session);
    if (!state) return;
    let drainedAcked = false;
    for (const id of ids) {
      const live = state.live.get(id);
      if (live) {
        state.live.delete(id);
        clearTimeout(live.timer);
        live.resolve('delivered');
      }
      const drained = state.drained.get(id);
      if (drained) {
        state.drained.delete(id);
        state.drainedBytes -= drained.bytes;
        drainedAcked = true;
      }
    }
    if (drainedAcked) void this.advance(session, state);
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
    if (first > mailbox.first) await mailbox.dropBefore(first);
    await this.pump(session);
  }

  /** Starts draining `user`'s mailbox to the session that just logged in. */
  async startDrain(session: Session, user: string): Promise<void> {
    const state = this.state(session, user);
    state.mailbox = await this.mailboxes.get(user);
    state.nextSeq = state.mailbox.first;
    if (state.mailbox.size > 0) this.log.info(`mailbox of ${user}: ${state.mailbox.size} waiting, delivering`);
    await this.pump(session);
  }

  private async pump(session: Session): Promise<void> {
    const state = this.sessions.get(session);
    if (!state || !state.mailbox || state.pumping) return;
    state.pumping = true;
    try {
      const mailbox = state.mailbox;
      while (this.sessions.get(session) === state && state.drained.size < DRAIN_WINDOW && state.drainedBytes < DRAIN_BYTES && state.nextSeq < mailbox.next) {
        const batch = await mailbox.read(state.nextSeq, Math.min(DRAIN_BATCH, DRAIN_WINDOW - state.drained.size));
        if (batch.length === 0) break;
        let last = state.nextSeq - 1;
        for (const { seq, entry } of batch) {
          const json = JSON.stringify(entry.message);
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
    }
  }

  /** The session ended: its unacknowledged live deliveries go to the mailbox. */
  detach(session: Session): void {
    const state = this.sessions.get(session);
    if (!state) return;
    this.sessions.delete(session);
    for (const [ackId, pending] of state.live) {
      clearTimeout(pending.timer);
      state.live.delete(ackId);
      this.store(state.user, pending.entry).then(pending.resolve, (err: ParleyError) => pending.reject(err));
    }
  }
}
