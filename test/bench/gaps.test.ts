import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLatencyLog, quietRuns, readPerfSamples, roundBounds, sampleBucket, type LoggedRelayRound } from '../../bench/lib/gaps.ts';

/** A round of `ms` milliseconds with `perMs` arrivals in each (sent half a millisecond before), but none in the milliseconds of `quiet`. */
function round(ms: number, perMs: number, quiet: Set<number>): LoggedRelayRound {
  const sentAt: number[] = [];
  const latency: number[] = [];
  for (let t = 0; t < ms; t++) {
    if (quiet.has(t)) continue;
    for (let k = 0; k < perMs; k++) {
      sentAt.push(1000 + t + k / (perMs * 10));
      latency.push(0.5);
    }
  }
  return { window: 1, server: 'parley', serverPid: 10, generatorPid: 20, origin: 5_000_000, sentAt, latency };
}

test('reads the rounds of a latency log: header fields, then pair, send time and latency', () => {
  const rounds = parseLatencyLog(
    ['# relay window=16 server=parley pid=101 generator=202 origin=41214343.482', '0 11109.042 22.356', '3 11109.137 22.261', '# relay window=1 server=ngircd pid=303 generator=202 origin=41214343.485', '7 12000.5 1.25', ''].join('\n'),
  );
  assert.is(rounds.length, 2);
  assert.equal(rounds[0], { window: 16, server: 'parley', serverPid: 101, generatorPid: 202, origin: 41214343.482, sentAt: [11109.042, 11109.137], latency: [22.356, 22.261] });
  assert.equal([rounds[1].window, rounds[1].server, rounds[1].serverPid, rounds[1].sentAt, rounds[1].latency], [1, 'ngircd', 303, [12000.5], [1.25]]);
  const [from, to] = roundBounds(rounds[0]);
  assert.ok(Math.abs(from - (41214343.482 + 11109.042)) < 1e-6 && Math.abs(to - (41214343.482 + 11109.042 + 22.356)) < 1e-6);
});

test('finds the runs of quiet milliseconds at least as long as asked, and only those', () => {
  const quiet = new Set([10, 11, 12, 40, 70, 71]);
  const r = round(100, 20, quiet);
  assert.equal(quietRuns(r, 2), [[10, 3], [70, 2]]);
  assert.equal(quietRuns(r, 1), [[10, 3], [40, 1], [70, 2]]);
  assert.equal(quietRuns(round(50, 20, new Set()), 1), [], 'a busy round has none');
  const late = round(50, 20, new Set());
  late.latency = late.latency.map(() => 3.5);
  assert.equal(quietRuns(late, 1), [], 'the milliseconds before the first arrival are not a gap');
  assert.equal(quietRuns(round(50, 3, new Set()), 2), [[0, 50]], 'fewer than 5 arrivals a millisecond is quiet');
});

test('reads perf script samples within the bounds, and puts each in its bucket', async () => {
  const text = [
    'node 10/10 [000] 5001.000500: ',
    '\tffffffff821f2c2b do_syscall_64',
    '\t7f00 uv__io_poll',
    '',
    'node 10/11 [000] 5001.001000: ',
    '\t55aa v8::internal::ScavengerCollector::CollectGarbage',
    '',
    'node 20/23 [001] 5001.001500: ',
    '\t55ab v8::internal::compiler::PipelineImpl::OptimizeGraph',
    '',
    'swapper 0/0 [001] 5001.002000: ',
    '\tffffffff821f2c2b pv_native_safe_halt',
    '',
    'node 20/20 [001] 5001.002500: ',
    '\t7f01 epoll_wait',
    '',
    'node 10/12 [000] 5001.003000: ',
    '\t7f02 uv__fs_work',
    '\t7f03 worker',
    '',
    'bash 99/99 [000] 5001.003500: ',
    '\t7f04 read',
    '',
    'node 10/10 [000] 5009.000000: ',
    '\t7f05 JS:*sendPrivate file:///src/server/hub.ts:1:1',
    '',
  ];
  const samples = await readPerfSamples(text, 5_001_000, 5_001_004);
  assert.is(samples.length, 7, 'the sample after the bounds is left out');
  assert.equal(samples[0], { pid: 10, tid: 10, cpu: 0, at: 5_001_000.5, stack: 'do_syscall_64 uv__io_poll' });
  const pids = { serverPid: 10, generatorPid: 20 };
  assert.equal(
    samples.map((s) => sampleBucket(s, pids)),
    ['server main: running', 'server helper: scavenge', 'generator helper: compiling', 'idle', 'generator main: epoll wait', 'server helper: thread pool', 'other processes'],
  );
});

test.run();
