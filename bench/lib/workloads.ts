/**
 * The two message workloads of `make bench`, written once against BenchTarget so that Parley and
 * ngircd run exactly the same load: 1:1 relay (pairs of sender and receiver) and group fan-out.
 * A message leaves its sender's window when its recipient (every member, for a group) has it.
 */
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cpuTimes, monotonicMicros, percentile, sleep } from './proc.ts';
import type { BenchPeer, BenchTarget } from './target.ts';

export interface WorkloadResult {
  messages: number;
  deliveries: number;
  seconds: number;
  perSecond: number;
  /** send → receive, ms */
  p50: number;
  p99: number;
  max: number;
  /** server CPU (user + system, all threads) per delivery, µs */
  serverUs: number;
  /** the kernel's share of that (system calls, and the loopback's TCP work done in them) */
  serverSystemShare: number;
  /** CPU seconds per wall second while the workload ran (1 = one core) */
  serverBusy: number;
  generatorBusy: number;
  /** CLOCK_MONOTONIC µs bounds of the workload, to cut a server --cpu-prof profile to it */
  window: [number, number];
}

let roundNumber = 0;

/**
 * BENCH_LATENCY_LOG=FILE: the relay rounds' messages are appended to FILE when the process exits,
 * a line each (pair, send time, latency; ms), each round after a header that gives its window,
 * server, both processes' pids and the CLOCK_MONOTONIC time of the generator's performance.now()
 * origin, so that a `perf record -k CLOCK_MONOTONIC` of the run lines up with it: bench/gaps.ts
 * says what ran while nothing arrived.
 */
const LATENCY_LOG = process.env.BENCH_LATENCY_LOG;

interface LoggedRound {
  header: string;
  pair: Int32Array;
  sentAt: Float64Array;
  latency: Float64Array;
}

/**
 * The rounds logged so far, written when the process exits: formatting a round's 150,000 lines
 * between rounds left megabytes of strings for the generator to collect in the next round, which
 * is what the log is for looking at.
 */
const loggedRounds: LoggedRound[] = [];

function logRound(round: LoggedRound): void {
  if (loggedRounds.length === 0) process.once('exit', () => writeLoggedRounds(LATENCY_LOG!));
  loggedRounds.push(round);
}

function writeLoggedRounds(file: string): void {
  for (const { header, pair, sentAt, latency } of loggedRounds) {
    const lines = [header];
    for (let k = 0; k < pair.length; k++) lines.push(`${pair[k]} ${sentAt[k].toFixed(3)} ${latency[k].toFixed(3)}`);
    appendFileSync(file, lines.join('\n') + '\n');
  }
}

/** The CLOCK_MONOTONIC ms at which performance.now() was 0 (Node's hrtime is CLOCK_MONOTONIC). */
const monotonicOrigin = () => Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** `<id> <send time> ` padded with x to `bytes`. */
function stamp(id: string, bytes: number): string {
  const head = `${id} ${performance.now().toFixed(3)} `;
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length);
}

/** The id and send time back out of a stamped text. */
function unstamp(text: string): { id: string; sentAt: number } {
  const space = text.indexOf(' ');
  return { id: text.slice(0, space), sentAt: Number(text.slice(space + 1, text.indexOf(' ', space + 1))) };
}

interface Measure {
  finish(messages: number, deliveries: number, latencies: Float64Array, firstAt: number, lastAt: number): Promise<WorkloadResult>;
}

function startMeasure(target: BenchTarget): Measure {
  const cpu0 = cpuTimes(target.pid);
  const gen0 = process.cpuUsage();
  const wall0 = performance.now();
  const from = monotonicMicros();
  return {
    async finish(messages, deliveries, latencies, firstAt, lastAt) {
      // The server reads the last acknowledgements after the last delivery: let it, before reading its CPU time.
      await target.settle();
      await sleep(100);
      const cpu1 = cpuTimes(target.pid);
      const serverSystem = cpu1.system - cpu0.system;
      const serverCpu = cpu1.user - cpu0.user + serverSystem;
      const gen = process.cpuUsage(gen0);
      const wall = (performance.now() - wall0) / 1000;
      const sorted = latencies.sort();
      const seconds = (lastAt - firstAt) / 1000;
      return {
        messages,
        deliveries,
        seconds,
        perSecond: deliveries / seconds,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1],
        serverUs: serverCpu / deliveries,
        serverSystemShare: serverSystem / serverCpu,
        serverBusy: serverCpu / 1e6 / wall,
        generatorBusy: (gen.user + gen.system) / 1e6 / wall,
        window: [from, monotonicMicros()],
      };
    },
  };
}

/**
 * 1:1 relay: each sender sends `perPair` private messages to its receiver, `window` in flight per
 * pair; all pairs at once.
 */
export async function relay(target: BenchTarget, pairs: Array<[BenchPeer, BenchPeer]>, window: number, perPair: number, textBytes: number, limitMs = 120_000): Promise<WorkloadResult> {
  const prefix = `relay${(roundNumber++).toString(36)}p`;
  const total = pairs.length * perPair;
  const latencies = new Float64Array(total);
  let received = 0;
  let lastAt = 0;
  let finish!: () => void;
  let abort!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  const next = new Int32Array(pairs.length);
  const got = new Uint8Array(total);
  const log = LATENCY_LOG ? { sentAt: new Float64Array(total), pair: new Int32Array(total) } : null;
  const sendNext = (p: number) => {
    const [sender, receiver] = pairs[p];
    const i = next[p]++;
    sender.sendPrivate(receiver.name, stamp(`${prefix}${p}_${i}`, textBytes));
  };
  pairs.forEach(([, receiver], p) => {
    const base = `${prefix}${p}_`;
    receiver.sink = (text, at) => {
      const { id, sentAt } = unstamp(text);
      const i = id.startsWith(base) ? Number(id.slice(base.length)) : -1;
      if (!(i >= 0 && i < next[p]) || got[p * perPair + i]) return;
      got[p * perPair + i] = 1;
      if (log) {
        log.sentAt[received] = sentAt;
        log.pair[received] = p;
      }
      latencies[received++] = at - sentAt;
      lastAt = at;
      if (next[p] < perPair) sendNext(p);
      if (received === total) finish();
    };
  });
  const limit = setTimeout(() => abort(new Error(`${target.name} relay: ${received} of ${total} messages arrived within ${limitMs / 1000} s`)), limitMs);
  const measure = startMeasure(target);
  const start = performance.now();
  try {
    for (let p = 0; p < pairs.length; p++) for (let k = 0; k < Math.min(window, perPair); k++) sendNext(p);
    await finished;
  } finally {
    clearTimeout(limit);
    for (const [, receiver] of pairs) receiver.sink = null;
  }
  // finish sorts the latencies: the log keeps them in arrival order.
  if (log) logRound({ header: `# relay window=${window} server=${target.name} pid=${target.pid} generator=${process.pid} origin=${monotonicOrigin().toFixed(3)}`, ...log, latency: latencies.slice() });
  return measure.finish(total, total, latencies, start, lastAt);
}

/** Group fan-out: `sender` sends `messages` to `group` (whose other members are `members`), `window` in flight. */
export async function fanout(target: BenchTarget, sender: BenchPeer, group: string, members: BenchPeer[], window: number, messages: number, textBytes: number, limitMs = 120_000): Promise<WorkloadResult> {
  const prefix = `fanout${(roundNumber++).toString(36)}m`;
  const size = members.length;
  const remaining = new Int32Array(messages).fill(size);
  const latencies = new Float64Array(messages * size);
  const seen = new Uint8Array(messages * size);
  let received = 0;
  let lastAt = 0;
  let next = 0;
  let done = 0;
  let finish!: () => void;
  let abort!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  const sendNext = () => sender.sendGroup(group, stamp(`${prefix}${next++}`, textBytes));
  members.forEach((member, m) => {
    member.sink = (text, at) => {
      const { id, sentAt } = unstamp(text);
      const i = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : -1;
      if (!(i >= 0 && i < next) || seen[i * size + m]) return;
      seen[i * size + m] = 1;
      latencies[received++] = at - sentAt;
      lastAt = at;
      if (--remaining[i] === 0) {
        done++;
        if (next < messages) sendNext();
        else if (done === messages) finish();
      }
    };
  });
  const limit = setTimeout(() => abort(new Error(`${target.name} fan-out: ${received} of ${messages * size} deliveries within ${limitMs / 1000} s`)), limitMs);
  const measure = startMeasure(target);
  const start = performance.now();
  try {
    for (let k = 0; k < Math.min(window, messages); k++) sendNext();
    await finished;
  } finally {
    clearTimeout(limit);
    for (const member of members) member.sink = null;
  }
  return measure.finish(messages, messages * size, latencies, start, lastAt);
}
