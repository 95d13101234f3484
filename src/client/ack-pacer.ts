/**
 * Paces a client's acknowledgements (docs/PROTOCOL.md, `received`). Ids are gathered and handed
 * to `send` together, when the earliest of them is due:
 *
 * - a delivery someone waits on (a private `msg`): in this event-loop pass if nothing was sent in
 *   the last ACK_INTERVAL_MS, else when that interval is up;
 * - a delivery nobody waits on (`lazy`: group messages, updates): within ACK_LAZY_MS;
 * - any delivery, once ACK_PROMPTLY ids or ACK_PROMPTLY_TEXT characters of text wait (a mailbox
 *   drain waits for them): in this pass.
 *
 * Both waits stay within a quarter of the server's ack timeout (`welcome.ackTimeout`), which a
 * server may set lower than ACK_LAZY_MS: past it the server stores the delivery and sends it again.
 */
import { performance } from 'node:perf_hooks';
import { ACK_INTERVAL_MS, ACK_LAZY_MS, ACK_PROMPTLY, ACK_PROMPTLY_TEXT } from '../protocol/messages.ts';

export class AckPacer {
  private ids: string[] = [];
  private textWaiting = 0;
  /** performance.now() of the last send */
  private lastSentAt = -Infinity;
  /** performance.now() when the scheduled send is due; Infinity when none is scheduled */
  private due = Infinity;
  private soon: NodeJS.Immediate | null = null;
  private later: NodeJS.Timeout | null = null;
  private intervalMs: number;
  private lazyMs: number;

  constructor(
    private readonly send: (ids: string[]) => void,
    /** ms between sends of prompt ids (the protocol's ACK_INTERVAL_MS; the benchmarks try others) */
    private readonly intervalLimitMs = ACK_INTERVAL_MS,
    /** ms a lazy id may wait (the protocol's ACK_LAZY_MS) */
    private readonly lazyLimitMs = ACK_LAZY_MS,
  ) {
    this.intervalMs = intervalLimitMs;
    this.lazyMs = lazyLimitMs;
  }

  /** The server stores what is not acknowledged within `ackTimeoutMs`: both waits keep well inside it. */
  fitWithin(ackTimeoutMs: number): void {
    this.intervalMs = Math.min(this.intervalLimitMs, ackTimeoutMs / 4);
    this.lazyMs = Math.min(this.lazyLimitMs, ackTimeoutMs / 4);
  }

  /** Queues `id`; `textLength` is its message's text (0 if none), to hurry a drain of long ones. */
  add(id: string, lazy = false, textLength = 0): void {
    this.ids.push(id);
    this.textWaiting += textLength;
    const now = performance.now();
    let due;
    if (this.ids.length >= ACK_PROMPTLY || this.textWaiting >= ACK_PROMPTLY_TEXT) due = now;
    else if (lazy) due = now + this.lazyMs;
    else due = Math.max(now, this.lastSentAt + this.intervalMs);
    if (due < this.due) this.schedule(due, now);
  }

  /** Sends what waits now (before a quit or logout, so that none of it is redelivered). */
  flush(): void {
    this.unschedule();
    if (this.ids.length === 0) return;
    const ids = this.ids;
    this.ids = [];
    this.textWaiting = 0;
    this.lastSentAt = performance.now();
    this.send(ids);
  }

  /** Forgets what waits (the connection is gone: the server resends what was not acknowledged). */
  cancel(): void {
    this.unschedule();
    this.ids = [];
    this.textWaiting = 0;
  }

  private schedule(due: number, now: number): void {
    this.unschedule();
    this.due = due;
    if (due <= now) this.soon = setImmediate(() => this.flush());
    else this.later = setTimeout(() => this.flush(), due - now);
  }

  private unschedule(): void {
    if (this.soon !== null) clearImmediate(this.soon);
    if (this.later !== null) clearTimeout(this.later);
    this.soon = this.later = null;
    this.due = Infinity;
  }
}
