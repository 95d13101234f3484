/**
 * What ran while no message arrived: a relay's latency tail, lined up with CPU samples of both
 * processes (docs/BENCHMARKS.md, twenty-ninth session). With 100 messages in flight, a millisecond
 * in which hardly any arrives is one in which every one of them waits, and the messages of the
 * 99th percentile are those that spanned such milliseconds.
 *
 *   perf record -k CLOCK_MONOTONIC -F 1999 -a -g -o perf.data -- sleep 110 &
 *   BENCH_LATENCY_LOG=lat.txt node --perf-basic-prof --import tsx bench/compare.ts --only parley \
 *     --node-flags --perf-basic-prof
 *   perf script -i perf.data -F comm,pid,tid,cpu,time,ip,sym > perf.txt
 *   node --import tsx bench/gaps.ts lat.txt perf.txt [--window 1] [--server parley] [--gap-ms 2] [--top 6] [--warm-up 1]
 *
 * A gap is a run of milliseconds (from the round's first send) in which fewer than QUIET_ARRIVALS
 * messages arrived. Each CPU sample goes in a bucket by process, thread and what its stack shows
 * (bench/lib/gaps.ts), and the report gives, per bucket, how many of its samples fell in gaps.
 * The first rounds of each workload and server are compare.ts's warm-up (--warm-up, as given to
 * it), reported but left out of the totals.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseLatencyLog, QUIET_ARRIVALS, quietRuns, readPerfSamples, roundBounds, sampleBucket } from './lib/gaps.ts';
import { arg, exitAfter, fmt, lpad, numberArg, pad, percentile } from './lib/proc.ts';

async function main(): Promise<void> {
  // Every flag takes a value: the two files are the arguments that are neither.
  const args = process.argv.slice(2);
  const [latencyFile, perfFile] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  if (!latencyFile || !perfFile) throw new Error('usage: bench/gaps.ts LATENCY_LOG PERF_SCRIPT_OUTPUT [--window 1] [--server parley] [--gap-ms 2] [--top 6] [--warm-up 1]');
  const window = numberArg('--window', 1);
  const server = arg('--server') ?? 'parley';
  const gapMs = numberArg('--gap-ms', 2);
  const top = numberArg('--top', 6);
  const warmUps = numberArg('--warm-up', 1);
  const rounds = parseLatencyLog(readFileSync(latencyFile, 'utf8')).filter((r) => r.window === window && r.server === server);
  if (rounds.length === 0) throw new Error(`no relay round with ${window} in flight on ${server} in ${latencyFile}`);
  const bounds = rounds.map(roundBounds);
  const lines = createInterface({ input: createReadStream(perfFile), crlfDelay: Infinity });
  const samples = await readPerfSamples(lines, Math.min(...bounds.map((b) => b[0])), Math.max(...bounds.map((b) => b[1])));
  console.log(`bench/gaps: relay with ${window} in flight on ${server}, ${rounds.length} rounds (the first ${warmUps} of them warm-up); ${samples.length.toLocaleString('en')} CPU samples`);
  console.log(`a gap: ${gapMs} ms or more in a row with fewer than ${QUIET_ARRIVALS} arrivals a millisecond\n`);
  const inGaps = new Map<string, number>();
  const inRounds = new Map<string, number>();
  const count = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const [r, round] of rounds.entries()) {
    const [from, to] = bounds[r];
    const gaps = quietRuns(round, gapMs);
    const quiet = new Uint8Array(Math.floor(to - from) + 1);
    for (const [start, length] of gaps) quiet.fill(1, start, start + length);
    const sorted = Float64Array.from(round.latency).sort();
    const warmUp = r < warmUps;
    console.log(
      `round ${r}${warmUp ? ' (warm-up)' : ''}: ${round.latency.length.toLocaleString('en')} messages in ${fmt(to - from, 0)} ms, p50 ${fmt(percentile(sorted, 50), 2)} ms, ` +
        `p99 ${fmt(percentile(sorted, 99), 2)} ms; ${gaps.length} gaps, ${gaps.reduce((sum, [, length]) => sum + length, 0)} ms in all`,
    );
    const roundSamples = samples.filter((s) => s.at >= from && s.at <= to);
    if (!warmUp) {
      for (const s of roundSamples) {
        const key = `core ${s.cpu} ${sampleBucket(s, round)}`;
        count(inRounds, key);
        if (quiet[Math.floor(s.at - from)]) count(inGaps, key);
      }
    }
    for (const [start, length] of [...gaps].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      const counts = new Map<string, number>();
      for (const s of roundSamples) if (s.at >= from + start && s.at < from + start + length) count(counts, `core ${s.cpu} ${sampleBucket(s, round)}`);
      const what = [...counts].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} ${n}`);
      console.log(`  gap at ${lpad(String(start), 5)} ms, ${lpad(String(length), 3)} ms: ${what.join(', ') || 'no samples'}`);
    }
  }
  console.log('\nCPU samples in the measured rounds, and how many fell in gaps:');
  for (const [key, n] of [...inRounds].sort((a, b) => (inGaps.get(b[0]) ?? 0) - (inGaps.get(a[0]) ?? 0))) {
    const gapped = inGaps.get(key) ?? 0;
    console.log(`  ${pad(key, 40)} ${lpad(String(gapped), 6)} of ${lpad(String(n), 6)} (${fmt((100 * gapped) / n, 0)}%)`);
  }
}

exitAfter(main());
