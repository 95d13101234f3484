/**
 * Paces a client's acknowledgements (docs/PROTOCOL.md, `received`): ids are gathered and handed
 * to `send` together, in this event-loop pass if none were sent in the last ACK_INTERVAL_MS or
 * ACK_PROMPTLY are waiting (a mailbox drain), else when that interval is up.
 */
import { performance } from 'node:perf_hooks';
import { ACK_INTERVAL_MS, ACK_PROMPTLY } from '../protocol/messages.ts';

export class AckPacer {
  private ids: string[] = [];
  /** performance.now() of the last send, and the send waiting to go */
  private lastSentAt = -Infinity;
  private soon: NodeJS.Immediate | null = null;
  private later: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (ids: string[]) => void,
    /** ms between sends under load (the protocol's ACK_INTERVAL_MS; the benchmarks try others) */
    private readonly intervalMs = ACK_INTERVAL_MS,
  ) {}

  add(id: string): void {
    this.ids.push(id);
    if (this.soon !== null) return;
    if (this.later !== null) {
      if (this.ids.length < ACK_PROMPTLY) return;
      clearTimeout(this.later);
      this.later = null;
    }
    const wait = this.ids.length >= ACK_PROMPTLY ? 0 : this.lastSentAt + this.intervalMs - performance.now();
    if (wait > 0) this.later = setTimeout(() => this.flush(), wait);
    else this.soon = setImmediate(() => this.flush());
  }

  /** Forgets what waits (the connection is gone: the server resends what was not acknowledged). */
  cancel(): void {
    if (this.soon !== null) clearImmediate(this.soon);
    if (this.later !== null) clearTimeout(this.later);
    this.soon = this.later = null;
    this.ids = [];
  }

  private flush(): void {
    this.soon = this.later = null;
    const ids = this.ids;
    this.ids = [];
    this.lastSentAt = performance.now();
    this.send(ids);
  }
}
