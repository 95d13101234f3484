/**
 * Instructions the Parley server executes per message, counted by valgrind's callgrind: a measure
 * of a change that this noisy machine's CPU times cannot give (docs/BENCHMARKS.md, "Whole-server
 * instruction counts"). CPU time per message wanders by 6% between two servers of one run and by
 * 30% between runs. Here one commit against itself in one run gave 1.002x (pipelined relay), and
 * one server's count moved by 4% between runs (94-98k instructions a message): compare two
 * servers in one run.
 *
 *   node --import tsx bench/instructions.ts                          (all four workloads, this checkout)
 *   node --import tsx bench/instructions.ts --workloads relay16      (some of: relay16 relay1 fan100 fan1000)
 *   node --import tsx bench/instructions.ts --baseline DIR           (and another checkout's server, same workloads)
 *   node --import tsx bench/instructions.ts --server-flags '--flush-interval 10'   (this checkout's server only)
 *   node --import tsx bench/instructions.ts --keep     (keeps the dumps, for callgrind_annotate DIR/parley/cg.PID.out.N)
 *
 * The server runs under callgrind (about 50 times slower) with bench/compare's generator and
 * workloads, scaled down. Each workload runs once to warm up (the JIT), then callgrind's counts are
 * zeroed, the workload runs again with its settle (the store's checkpoint of what it recorded),
 * and the counts are dumped (callgrind_control). What is counted: the server's user-space
 * instructions in all its threads (V8's helpers, libuv's pool). What is not: the kernel's work
 * in its system calls, a quarter to a third of its CPU time (bench/compare prints the share).
 *
 * A server that runs 50 times slower would see its clock run 50 times faster: a store batch
 * (every 50 ms) would gather a fiftieth of the messages, and a checkpoint (every 2 s) would
 * rewrite each busy conversation's tail many times over. So every timer that paces the work is
 * stretched by --time-scale (default 20): the server's store batches, checkpoints and
 * acknowledgement timeout, and the clients' acknowledgement pacing. Batching still differs
 * somewhat from a run at full speed: compare two servers with this, and take the size of a gain
 * in seconds from bench/compare.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ACK_INTERVAL_MS, ACK_LAZY_MS } from '../src/protocol/messages.ts';
import { ParleyTarget } from './lib/parley-target.ts';
import { arg, exitAfter, fmt, listArg, lpad, numberArg, pad } from './lib/proc.ts';
import type { BenchPeer } from './lib/target.ts';
import { fanout, relay, type WorkloadResult } from './lib/workloads.ts';

const TEXT_BYTES = 100;
const PAIRS = 100;
/** The fan-outs' group (group names are 2 to 32 characters: a one-letter name was refused). */
const GROUP = 'fans';
/**
 * Under callgrind a workload runs ~50x slower than in bench/compare: a third to a quarter of its
 * messages (fewer made the garbage collector's few scavenges a round a 5% lottery).
 */
const WORKLOADS = {
  relay16: { title: `1:1 relay, ${PAIRS} pairs, 16 in flight`, members: 0, run: (t: ParleyTarget, p: BenchPeer[]) => relay(t, pairsOf(p), 16, 450, TEXT_BYTES, LIMIT_MS) },
  relay1: { title: `1:1 relay, ${PAIRS} pairs, 1 in flight`, members: 0, run: (t: ParleyTarget, p: BenchPeer[]) => relay(t, pairsOf(p), 1, 100, TEXT_BYTES, LIMIT_MS) },
  fan100: { title: 'fan-out to 100 members, 16 in flight', members: 100, run: (t: ParleyTarget, p: BenchPeer[]) => fanout(t, p[0], GROUP, p.slice(1, 101), 16, 1000, TEXT_BYTES, LIMIT_MS) },
  fan1000: { title: 'fan-out to 1,000 members, 16 in flight', members: 1000, run: (t: ParleyTarget, p: BenchPeer[]) => fanout(t, p[0], GROUP, p.slice(1, 1001), 16, 100, TEXT_BYTES, LIMIT_MS) },
};
type WorkloadKey = keyof typeof WORKLOADS;
const LIMIT_MS = 600_000;
/** How much longer than by default the timers that pace the server's work are (see above). */
const TIME_SCALE = numberArg('--time-scale', 20);

const pairsOf = (peers: BenchPeer[]) => Array.from({ length: PAIRS }, (_, p): [BenchPeer, BenchPeer] => [peers[1 + 2 * p], peers[2 + 2 * p]]);

/**
 * What callgrind's newest dump in `dir` counted: all of it, and TurboFan's background compiles
 * within it. Those are left out of the figure: they come when V8 decides a function is hot (a
 * fifth of a round's instructions in one run, far less in the next), not with each message, and
 * a run at full speed pays them once.
 */
function newestDump(dir: string, pid: number): { total: number; compiling: number } {
  const prefix = `cg.${pid}.out.`;
  const dumps = readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .map((name) => Number(name.slice(prefix.length)))
    .sort((a, b) => b - a);
  if (dumps.length === 0) throw new Error(`no callgrind dump of ${pid} in ${dir}`);
  const file = join(dir, `${prefix}${dumps[0]}`);
  const total = /^totals: (\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!total) throw new Error(`no totals line in callgrind's dump ${file}`);
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const compiling = /^\s*([\d,]+) .*OptimizingCompileDispatcher::CompileTask::RunInternal/m.exec(annotated);
  return { total: Number(total[1]), compiling: compiling ? Number(compiling[1].replaceAll(',', '')) : 0 };
}

interface Counted {
  result: WorkloadResult;
  instructions: number;
}

/** One checkout's server under callgrind: each workload warmed up, then counted. */
async function measure(root: string, name: string, checkout: string | undefined, flags: string[], keys: WorkloadKey[]): Promise<Map<WorkloadKey, Counted>> {
  const dir = join(root, name);
  const members = Math.max(2 * PAIRS, ...keys.map((k) => WORKLOADS[k].members));
  const names = Array.from({ length: 1 + members }, (_, i) => `u${String(i).padStart(4, '0')}`);
  const scaledTimers = [
    ['--flush-interval', 50 * TIME_SCALE],
    ['--checkpoint-interval', 2000 * TIME_SCALE],
    ['--ack-timeout', 5 * TIME_SCALE],
    ['--handshake-timeout', 600],
    ['--ping-interval', 3600],
  ].flatMap(([flag, value]) => [String(flag), String(value)]);
  const launcher = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--dump-instr=no', `--callgrind-out-file=${dir}/cg.%p.out`];
  const t0 = performance.now();
  const target = await ParleyTarget.start(
    { root: dir, checkout, flags: [...scaledTimers, ...flags], launcher, listenTimeoutMs: 600_000 },
    names,
    name,
    { ackIntervalMs: ACK_INTERVAL_MS * TIME_SCALE, ackLazyMs: ACK_LAZY_MS * TIME_SCALE, helloTimeoutMs: 600_000, requestLimitMs: 600_000 },
    3 * 2000 * TIME_SCALE,
  );
  const out = new Map<WorkloadKey, Counted>();
  try {
    const peers = await target.connect(names);
    if (keys.some((k) => WORKLOADS[k].members > 0)) await target.makeGroup(GROUP, peers[0], peers.slice(1, 1 + members));
    console.log(`${name}: server under callgrind, ${names.length} connections logged in in ${fmt((performance.now() - t0) / 1000, 0)} s`);
    for (const key of keys) {
      const workload = WORKLOADS[key];
      await workload.run(target, peers); // warm-up
      execFileSync('callgrind_control', ['--zero', String(target.pid)], { stdio: 'ignore' });
      const result = await workload.run(target, peers);
      execFileSync('callgrind_control', ['--dump', String(target.pid)], { stdio: 'ignore' });
      const { total, compiling } = newestDump(dir, target.pid);
      const instructions = total - compiling;
      out.set(key, { result, instructions });
      const per = (n: number) => fmt(n / result.deliveries, 0);
      console.log(`  ${pad(name, 7)} ${pad(key, 8)} ${lpad(per(instructions), 9)} instructions per delivery (${result.deliveries.toLocaleString('en')} deliveries; and ${per(compiling)} in TurboFan's compiles, left out)`);
    }
  } finally {
    await target.stop();
  }
  return out;
}

async function main(root: string): Promise<void> {
  const keys = (arg('--workloads')?.split(',') ?? Object.keys(WORKLOADS)) as WorkloadKey[];
  for (const key of keys) if (!(key in WORKLOADS)) throw new Error(`unknown workload ${key}: one of ${Object.keys(WORKLOADS).join(' ')}`);
  console.log(`bench/instructions: server instructions per delivered message, under valgrind --tool=callgrind; the server's timers stretched ${TIME_SCALE}x`);
  const current = await measure(root, 'parley', undefined, listArg('--server-flags'), keys);
  const baseline = arg('--baseline');
  const base = baseline ? await measure(root, 'base', resolve(baseline), [], keys) : null;
  console.log(`\n${pad('workload', 40)} ${lpad('parley', 12)}${base ? `${lpad('base', 12)} ${lpad('/ base', 8)}` : ''}`);
  for (const key of keys) {
    const p = current.get(key)!;
    const perP = p.instructions / p.result.deliveries;
    let line = `${pad(WORKLOADS[key].title, 40)} ${lpad(fmt(perP, 0), 12)}`;
    const b = base?.get(key);
    if (b) {
      const perB = b.instructions / b.result.deliveries;
      line += `${lpad(fmt(perB, 0), 12)} ${lpad(`${fmt(perP / perB, 3)}x`, 8)}`;
    }
    console.log(line);
  }
}

const root = mkdtempSync(join(tmpdir(), 'parley-bench-instructions-'));
const cleanup = () => {
  if (process.argv.includes('--keep')) console.log(`callgrind's dumps kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
};
exitAfter(main(root), cleanup);
