/**
 * What a chat server under test looks like to the workloads in bench/lib/workloads.ts, so that
 * one generator runs the same 1:1 and fan-out workloads against Parley and against ngircd.
 *
 * Every text a workload sends starts with `<id> <send time ms>` (performance.now() of this
 * process) and is padded to the workload's size; a peer reports each message it receives with
 * the time of the socket read that brought it, and the workload works out id and latency.
 */

/** Receives every message a peer gets: its text, and when the read that brought it happened. */
export type DeliverySink = (text: string, at: number) => void;

export interface BenchPeer {
  readonly name: string;
  /** A private (1:1) message to `to`, fire and forget. */
  sendPrivate(to: string, text: string): void;
  /** A message to a group/channel this peer is in, fire and forget. */
  sendGroup(group: string, text: string): void;
  /** Set by the workload while it runs; null otherwise (messages arriving then are counted as strays). */
  sink: DeliverySink | null;
  close(): void;
}

export interface BenchTarget {
  /** e.g. "parley" or "ngircd" */
  readonly name: string;
  /** the server process, for /proc/PID/stat */
  readonly pid: number;
  /** Opens and logs in one connection per name (already registered where the server needs it). */
  connect(names: string[]): Promise<BenchPeer[]>;
  /** Makes `group` with `owner` and all `members` in it (members do not include the owner). */
  makeGroup(group: string, owner: BenchPeer, members: BenchPeer[]): Promise<void>;
  /**
   * Has the peers send now whatever the server still has to read for the messages delivered so
   * far (Parley's paced acknowledgements), and waits for what the server still has to write for
   * them (Parley's store checkpoint), so that the server's CPU time counts that too.
   */
  settle(): Promise<void>;
  /** Messages that arrived outside a workload, or twice. */
  strays(): number;
  stop(): Promise<void>;
}
