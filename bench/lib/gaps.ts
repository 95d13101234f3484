/**
 * The parts of bench/gaps.ts that read its inputs and judge them: a BENCH_LATENCY_LOG file
 * (bench/lib/workloads.ts), `perf script` samples, the quiet milliseconds of a round, and what a
 * sample was doing.
 */

/** Fewer arrivals than this in a millisecond make it quiet (the relay with 1 in flight delivers ~30-50 a millisecond). */
export const QUIET_ARRIVALS = 5;

export interface LoggedRelayRound {
  window: number;
  server: string;
  serverPid: number;
  generatorPid: number;
  /** CLOCK_MONOTONIC ms of the generator's performance.now() origin */
  origin: number;
  /** performance.now() ms of each message's send, in arrival order */
  sentAt: number[];
  /** ms from send to arrival */
  latency: number[];
}

export interface CpuSample {
  pid: number;
  tid: number;
  cpu: number;
  /** CLOCK_MONOTONIC ms */
  at: number;
  /** the stack's frames, innermost first, joined by spaces */
  stack: string;
}

/** The rounds of a BENCH_LATENCY_LOG file: a `# relay key=value...` header each, then `pair sentAt latency` lines. */
export function parseLatencyLog(text: string): LoggedRelayRound[] {
  const rounds: LoggedRelayRound[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      const field = (name: string) => new RegExp(`\\s${name}=(\\S+)`).exec(line)?.[1];
      rounds.push({
        window: Number(field('window')),
        server: field('server') ?? '?',
        serverPid: Number(field('pid')),
        generatorPid: Number(field('generator')),
        origin: Number(field('origin')),
        sentAt: [],
        latency: [],
      });
    } else if (line.trim() !== '' && rounds.length > 0) {
      const [, sentAt, latency] = line.split(' ').map(Number);
      rounds[rounds.length - 1].sentAt.push(sentAt);
      rounds[rounds.length - 1].latency.push(latency);
    }
  }
  return rounds;
}

/** CLOCK_MONOTONIC ms from the round's first send to its last arrival. */
export function roundBounds(round: LoggedRelayRound): [number, number] {
  let first = Infinity;
  let last = -Infinity;
  for (let k = 0; k < round.sentAt.length; k++) {
    first = Math.min(first, round.sentAt[k]);
    last = Math.max(last, round.sentAt[k] + round.latency[k]);
  }
  return [round.origin + first, round.origin + last];
}

/**
 * Runs of at least `minMs` milliseconds with fewer than QUIET_ARRIVALS arrivals each, from the
 * first arrival on: [start, length], in ms from the round's first send.
 */
export function quietRuns(round: LoggedRelayRound, minMs: number): Array<[number, number]> {
  const [from, to] = roundBounds(round);
  const arrivals = new Int32Array(Math.floor(to - from) + 1);
  let first = arrivals.length;
  for (let k = 0; k < round.sentAt.length; k++) {
    const ms = Math.floor(round.origin + round.sentAt[k] + round.latency[k] - from);
    arrivals[ms]++;
    first = Math.min(first, ms);
  }
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let ms = first; ms <= arrivals.length; ms++) {
    const quiet = ms < arrivals.length && arrivals[ms] < QUIET_ARRIVALS;
    if (quiet && start < 0) start = ms;
    if (!quiet && start >= 0) {
      if (ms - start >= minMs) runs.push([start, ms - start]);
      start = -1;
    }
  }
  return runs;
}

/**
 * The samples of `perf script -F comm,pid,tid,cpu,time,ip,sym` output taken between `from` and
 * `to` (CLOCK_MONOTONIC ms, as `perf record -k CLOCK_MONOTONIC` stamps them), oldest first: a
 * header line a sample, its stack a frame a line, then a blank line.
 */
export async function readPerfSamples(lines: AsyncIterable<string> | Iterable<string>, from: number, to: number): Promise<CpuSample[]> {
  const header = /^\s*.+?\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):/;
  const samples: CpuSample[] = [];
  let current: CpuSample | null = null;
  let frames: string[] = [];
  const done = () => {
    if (current && current.at >= from && current.at <= to) samples.push({ ...current, stack: frames.join(' ') });
    current = null;
    frames = [];
  };
  for await (const line of lines) {
    const m = header.exec(line);
    if (m) {
      done();
      current = { pid: Number(m[1]), tid: Number(m[2]), cpu: Number(m[3]), at: Number(m[4]) * 1000, stack: '' };
    } else if (line.trim() === '') done();
    else if (current) frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ''));
  }
  done();
  return samples.sort((a, b) => a.at - b.at);
}

/**
 * What a sample was: `idle`, `other processes`, or `<server|generator> <main|helper>: <what>`,
 * what being a scavenge, a major GC, compiling, the thread pool, an epoll wait, or running.
 */
export function sampleBucket(sample: CpuSample, round: Pick<LoggedRelayRound, 'serverPid' | 'generatorPid'>): string {
  if (sample.pid === 0) return 'idle';
  const who = sample.pid === round.serverPid ? 'server' : sample.pid === round.generatorPid ? 'generator' : null;
  if (who === null) return 'other processes';
  const thread = sample.tid === sample.pid ? 'main' : 'helper';
  const s = sample.stack;
  let what = 'running';
  if (/Scavenge/.test(s)) what = 'scavenge';
  else if (/MarkCompact|ConcurrentMarking|IncrementalMarking|Sweeper/.test(s)) what = 'major GC';
  else if (/Compile|Turbofan|compiler::|Maglev/.test(s)) what = 'compiling';
  else if (thread === 'helper' && /uv__fs_work|uv__work|\bworker\b/.test(s)) what = 'thread pool';
  else if (/epoll_wait/.test(s)) what = 'epoll wait';
  return `${who} ${thread}: ${what}`;
}
