/**
 * When connections' queued writes leave (docs/ARCHITECTURE.md, "Event loop model"). A connection
 * gathers what it is sent and asks to be flushed (one seal, one write for all of it):
 *
 * - asked `now`: in this event-loop pass's check phase, at most FLUSHES_PER_PASS connections a
 *   pass, the rest in the next passes, in order, so that an event for thousands (a storm of
 *   presence, a big fan-out) never holds the loop for the whole of it (a storm's flushes of 4,000
 *   connections took 300-500 ms);
 * - or sooner, in a long pass: once FLUSH_AFTER_MS have gone by since the last flush, the next
 *   frame handled flushes what waits, so what the first frames of a pass queued does not wait for
 *   all the others (the pass that reads a hundred acknowledgements at once, or a scavenge's worth
 *   of backlog);
 * - asked `later` (the outbox holds only answers that can wait a little: ServerConnection's
 *   sendSerializedLater): after the others, LATER_FLUSHES_PER_PASS a pass, and never in the
 *   middle of one. The `ok`s of a store batch's sends are answered together; written in one go
 *   they held up every message of the pass. A connection asked for `now` meanwhile moves up.
 */
import { performance } from 'node:perf_hooks';

/** Connections flushed per event-loop pass (a seal and a write each: ~10-100 µs). */
export const FLUSHES_PER_PASS = 256;
/** Connections whose writes can wait flushed per pass, after the others. */
export const LATER_FLUSHES_PER_PASS = 16;
/**
 * How long a pass may run before what it queued so far is written. 0.5 ms against waiting for the
 * pass to end (bench/compare.ts --baseline, four runs of all four workloads): p99 0.52-0.76x in
 * the pipelined relay with server CPU 0.86-0.94x, p99 0.63-0.90x with 1 in flight; 0.25 and 1 ms
 * did no better (docs/BENCHMARKS.md, twenty-seventh session).
 */
export const FLUSH_AFTER_MS = 0.5;

/** A connection, as far as flushing goes. */
export interface Flushable {
  /** Seals and writes everything it has queued. */
  flush(): void;
}

export class Flushes {
  private readonly now = new Set<Flushable>();
  private readonly later = new Set<Flushable>();
  private passScheduled = false;
  private lastFlushAt = -Infinity;

  constructor(
    /** ms, monotonic (tests pass their own) */
    private readonly clock: () => number = () => performance.now(),
    /** runs `pass` in the check phase of this event-loop pass (tests pass their own) */
    private readonly defer: (pass: () => void) => void = (pass) => setImmediate(pass),
  ) {}

  /** Queues `connection` to be flushed in this pass, or (`later`) in one of the next few. */
  ask(connection: Flushable, later: boolean): void {
    if (later) this.later.add(connection);
    else {
      if (this.later.size > 0) this.later.delete(connection);
      this.now.add(connection);
    }
    if (this.passScheduled) return;
    this.passScheduled = true;
    this.defer(() => this.endOfPass());
  }

  /** Told after each frame a connection has handled. */
  frameHandled(): void {
    if (this.now.size > 0 && this.clock() - this.lastFlushAt >= FLUSH_AFTER_MS) this.flushNow();
  }

  private endOfPass(): void {
    this.flushNow();
    flushFirst(this.later, LATER_FLUSHES_PER_PASS);
    if (this.now.size > 0 || this.later.size > 0) this.defer(() => this.endOfPass());
    else this.passScheduled = false;
  }

  private flushNow(): void {
    this.lastFlushAt = this.clock();
    flushFirst(this.now, FLUSHES_PER_PASS);
  }
}

/** Flushes the first `most` connections of `queue`, in order, and takes them out of it. */
function flushFirst(queue: Set<Flushable>, most: number): void {
  let n = 0;
  for (const connection of queue) {
    if (n++ === most) break;
    queue.delete(connection);
    connection.flush();
  }
}
