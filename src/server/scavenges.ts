/**
 * Scavenges in small steps while connections pour in (docs/ARCHITECTURE.md, "Event loop model").
 *
 * What a connection allocates when it is set up (Node's socket, the channel, the session, its
 * presence: ~3.3 KB) lives as long as the connection, so V8's scavenger copies all of it twice,
 * within the young generation and then into the old one. In a reconnect storm about 1,000
 * resumes fill the server's 32 MB young generation (bin/parley-server.node-flags) between two
 * scavenges, which then copy 2-5 MB at once: passes of 15-47 ms, most of the storm's event-loop
 * delay p99 (docs/BENCHMARKS.md). A minor collection every SCAVENGE_EVERY steps of connection
 * setup copies the same bytes in steps a few times smaller. A connection takes two steps, as its
 * state comes in two waves: when it is admitted (its socket and hello), and when its handshake
 * completes (its channel, then its login), which in a storm comes seconds after the accepts,
 * once the thread pool has unwrapped the keys: counting admissions alone left that second wave
 * to V8's own scavenges of 10-17 ms. Messages never trigger one: a relay's young generation is
 * mostly messages that die within 100 ms, which the large young generation lets die uncopied (a
 * 4 MB one cost the relays 14-22% of their CPU).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Steps of connection setup between two minor collections: ~128 connections, ~0.5 MB of their lasting state. */
export const SCAVENGE_EVERY = 256;

export class ScavengePacer {
  private sinceLast = 0;
  /** Minor collections this pacer ran (stats). */
  count = 0;

  constructor(
    private readonly every = SCAVENGE_EVERY,
    private readonly scavenge: () => void = minorCollection(),
  ) {}

  /** The server took a connection on: a step. */
  connectionAdmitted(): void {
    this.step();
  }

  /** A connection's handshake completed, and its channel and session come next: a step. */
  connectionKeyed(): void {
    this.step();
  }

  /** Every `every`th step runs a minor collection. */
  private step(): void {
    if (++this.sinceLast < this.every) return;
    this.sinceLast = 0;
    this.count++;
    this.scavenge();
  }
}

type Collect = (options: { type: 'minor' }) => void;
/** V8's `gc`, made once per process: every server started in it shares it (tests start hundreds). */
let collect: Collect | null = null;

/**
 * V8's minor collection (a scavenge of the young generation), run now. The `gc` function comes
 * from a fresh context made after turning on --expose-gc, so no module of the server sees a global
 * `gc`, and the server needs no flag of its own for it (tests start it in-process). Made when a
 * pacer is, not at its first collection, which runs inside a connection's setup.
 */
export function minorCollection(): () => void {
  if (collect === null) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as Collect;
  }
  const gc = collect;
  return () => gc({ type: 'minor' });
}
