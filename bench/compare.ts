/**
 * Parley against ngircd, side by side (docs/BENCHMARKS.md, "Parley against ngircd").
 *
 *   node --import tsx bench/compare.ts                  (make bench-compare; part of make bench)
 *   node --import tsx bench/compare.ts --only parley    (without ngircd)
 *   node --import tsx bench/compare.ts --profile DIR    (the Parley server under --cpu-prof, profile kept in DIR)
 *   node --import tsx bench/compare.ts --workloads relay16,fan1000   (some of: relay16 relay1 fan100 fan1000)
 *   node --import tsx bench/compare.ts --server-flags '--flush-interval 10' --node-flags '--max-semi-space-size=32'
 *   node --import tsx bench/compare.ts --only parley --baseline DIR   (also the server of another checkout, as "base")
 *   node --import tsx bench/compare.ts --rounds 7                     (more measured rounds than 3)
 *   node --import tsx bench/compare.ts --warm-up 4                    (more unmeasured rounds first than 1)
 *   BENCH_LATENCY_LOG=FILE node --import tsx bench/compare.ts         (every relay message's latency, for bench/gaps.ts)
 *   node --import tsx bench/compare.ts --only parley --baseline . --ack-interval 200   (clients' ack pacing, against base's default)
 *   node --import tsx bench/compare.ts --only parley --baseline . --base-node-flags '--max-semi-space-size=4'   (node flags for base alone)
 *   node --import tsx bench/compare.ts --only parley --baseline . --base-acks prompt   (base's clients acknowledge group messages as promptly as private ones)
 *
 * A baseline is how a change is judged on this noisy machine: both servers in one run, round by
 * round. For example: git worktree add /tmp/base HEAD~1 && ln -s "$PWD/node_modules" /tmp/base/
 *
 * One load generator (this process) runs the same workloads (bench/lib/workloads.ts) against both
 * servers, alternating between them round by round so that a slow spell on this noisy machine hits
 * both alike. Both servers are pinned to core 0 and the generator to core 1 (taskset). The primary
 * figure is the server's CPU time (utime + stime of all its threads, /proc/PID/stat) per
 * delivered message: on 2 cores the generator, not the server, is often what limits msgs/s.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { ParleyTarget } from './lib/parley-target.ts';
import { profileTop } from './lib/profile.ts';
import { arg, exitAfter, fmt, listArg, loadAverage, lpad, machine, median, pad, pin } from './lib/proc.ts';
import type { BenchPeer, BenchTarget } from './lib/target.ts';
import { fanout, relay, type WorkloadResult } from './lib/workloads.ts';

/**
 * The generator's V8 does not pretenure (allocate straight into the old generation) what its
 * allocation sites made that survived a scavenge. Each client's sends wait in its outbox for the
 * pass's end, and a scavenge that fell while a pass's reads were being handled found most of them
 * alive: V8 then allocated every later outbox, packed frame and `received` list in the old
 * generation, where only a mark-compact frees them, and each scavenge had their pointers into
 * the young generation to follow. Whether it happened was chance, per run and per server: in
 * rounds where it had, the generator's scavenges took 2-3.8 ms and promoted 1.3-2 MB each, where
 * they otherwise took 0.4-1 ms and promoted nothing, and every message in flight waited through
 * them (ngircd's p99 with 1 in flight 3.9-5.0 ms in such a run, 1.6-2.5 in others).
 * docs/BENCHMARKS.md, twenty-sixth session. `node --allocation-site-pretenuring --import tsx
 * bench/compare.ts` keeps V8's default, to compare.
 */
if (!process.execArgv.some((flag) => flag.endsWith('allocation-site-pretenuring'))) setFlagsFromString('--no-allocation-site-pretenuring');

const TEXT_BYTES = 100;
const PAIRS = 100;
const MEMBERS = 1_000;
const SMALL_GROUP = 100;
const RUN_LIMIT_MS = 600_000;
/**
 * Messages a round sends. A round lasts two to three seconds on Parley, longer than the store's
 * 2 s between checkpoints, so that each round's latencies include a checkpoint's passes and its
 * CPU time a checkpoint's files (ParleyTarget.settle counts the last one): rounds of about a
 * second measured the checkpoint in some rounds only, which the median then left out.
 */
const RELAY16_PER_PAIR = 1_500;
const RELAY1_PER_PAIR = 400;
const FAN100_MESSAGES = 4_000;
const FAN1000_MESSAGES = 400;

interface Workload {
  key: string;
  title: string;
  run(target: BenchTarget, peers: BenchPeer[]): Promise<WorkloadResult>;
}

const pairsOf = (peers: BenchPeer[]) => Array.from({ length: PAIRS }, (_, p): [BenchPeer, BenchPeer] => [peers[1 + 2 * p], peers[2 + 2 * p]]);

const WORKLOADS: Workload[] = [
  { key: 'relay16', title: `1:1 relay, ${PAIRS} pairs, 16 in flight per pair`, run: (t, peers) => relay(t, pairsOf(peers), 16, RELAY16_PER_PAIR, TEXT_BYTES) },
  { key: 'relay1', title: `1:1 relay, ${PAIRS} pairs, 1 in flight per pair`, run: (t, peers) => relay(t, pairsOf(peers), 1, RELAY1_PER_PAIR, TEXT_BYTES) },
  { key: 'fan100', title: `fan-out to ${SMALL_GROUP} members, 16 messages in flight`, run: (t, peers) => fanout(t, peers[0], 'small', peers.slice(1, 1 + SMALL_GROUP), 16, FAN100_MESSAGES, TEXT_BYTES) },
  { key: 'fan1000', title: `fan-out to ${MEMBERS.toLocaleString('en')} members, 16 messages in flight`, run: (t, peers) => fanout(t, peers[0], 'big', peers.slice(1, 1 + MEMBERS), 16, FAN1000_MESSAGES, TEXT_BYTES) },
];

/** Measured rounds per workload and server (--rounds N): more narrow the medians on a noisy machine. */
const ROUNDS = Number(arg('--rounds') ?? 3);
/** Unmeasured rounds of every workload first (--warm-up N). */
const WARM_UP_ROUNDS = Number(arg('--warm-up') ?? 1);

async function main(root: string): Promise<void> {
  const began = performance.now();
  const only = arg('--only');
  const chosen = arg('--workloads')?.split(',');
  if (chosen) WORKLOADS.splice(0, WORKLOADS.length, ...WORKLOADS.filter((w) => chosen.includes(w.key)));
  const profileDir = arg('--profile');
  console.log('bench/compare: Parley against ngircd, same generator, same workloads');
  console.log(`machine: ${machine()}; load average ${loadAverage()} at start`);
  const names = Array.from({ length: 1 + MEMBERS }, (_, i) => `u${String(i).padStart(4, '0')}`);
  const targets: BenchTarget[] = [];
  const peersOf = new Map<BenchTarget, BenchPeer[]>();
  try {
    if (only === undefined || only === 'parley') {
      mkdirs(root, 'parley');
      const nodeFlags = [...listArg('--node-flags'), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
      const flags = listArg('--server-flags');
      const ackInterval = arg('--ack-interval');
      targets.push(await ParleyTarget.start({ root: join(root, 'parley'), nodeFlags, flags }, names, 'parley', ackInterval === undefined ? {} : { ackIntervalMs: Number(ackInterval) }));
    }
    const baseline = arg('--baseline');
    if (baseline) {
      mkdirs(root, 'base');
      const baseNodeFlags = listArg('--base-node-flags');
      const baseAcks = arg('--base-acks');
      targets.push(await ParleyTarget.start({ root: join(root, 'base'), checkout: baseline, nodeFlags: baseNodeFlags }, names, 'base', baseAcks === 'prompt' ? { lazyAcks: false } : {}));
    }
    if (only === undefined || only === 'ngircd') {
      mkdirs(root, 'ngircd');
      const { startNgircd } = await import('./lib/irc.ts');
      targets.push(await startNgircd(join(root, 'ngircd')));
    }
    for (const target of targets) {
      const t = performance.now();
      const peers = await target.connect(names);
      await target.makeGroup('big', peers[0], peers.slice(1, 1 + MEMBERS));
      await target.makeGroup('small', peers[0], peers.slice(1, 1 + SMALL_GROUP));
      peersOf.set(target, peers);
      console.log(`${target.name}: ${names.length.toLocaleString('en')} connections logged in, groups made, in ${fmt((performance.now() - t) / 1000)} s`);
    }
    const pinned = targets.every((t) => pin(t.pid, 0)) && pin(process.pid, 1);
    console.log(pinned ? 'servers pinned to core 0, generator to core 1 (taskset)' : 'not pinned (no taskset or 1 core): figures are rougher');
    console.log(`texts of ${TEXT_BYTES} bytes; a message leaves its sender's window when its recipient (every member) has it; ${ROUNDS} rounds, alternating servers\n`);

    // Warm-up (JIT, buffers), then the measured rounds.
    for (let r = 0; r < WARM_UP_ROUNDS; r++) for (const w of WORKLOADS) for (const target of targets) await w.run(target, peersOf.get(target)!);
    const results = new Map<string, WorkloadResult[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const w of WORKLOADS) {
        // Who goes first turns round by round, so that no server always follows the same one (a
        // server run against itself in a fixed order once showed a p99 1.34x its twin's).
        const shift = r % targets.length;
        for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
          // A Parley server tells its event-loop delay over the round (SIGUSR2): where latency tails come from.
          const parleyServer = target instanceof ParleyTarget ? target.server : null;
          const before = await parleyServer?.stats();
          const result = await w.run(target, peersOf.get(target)!);
          const after = await parleyServer?.stats();
          const loop = after?.eventLoopDelayMs;
          const perFrame = before && after ? (after.messagesSent - before.messagesSent) / Math.max(1, after.framesSent - before.framesSent) : null;
          const key = `${w.key}/${target.name}`;
          results.set(key, [...(results.get(key) ?? []), result]);
          console.log(
            `  round ${r + 1} ${pad(w.key, 8)} ${pad(target.name, 7)} ${lpad(fmt(result.perSecond, 0), 8)} msg/s  p50 ${lpad(fmt(result.p50, 2), 7)} ms  p99 ${lpad(fmt(result.p99, 2), 7)} ms  server ${lpad(fmt(result.serverUs, 2), 6)} µs/msg (sys ${fmt(result.serverSystemShare * 100, 0)}%)  busy ${fmt(result.serverBusy, 2)} / gen ${fmt(result.generatorBusy, 2)}` +
              (loop ? `  loop delay p99 ${fmt(loop.p99, 1)} max ${fmt(loop.max, 1)} ms` : '') +
              (after ? `  heap ${fmt(after.heapUsed / 2 ** 20, 0)} MB` : '') +
              (perFrame !== null ? `  ${fmt(perFrame, 2)} msgs/frame` : ''),
          );
        }
      }
    }

    console.log(`\nmedian of ${ROUNDS} rounds. server CPU = utime+stime of the server process / messages delivered (a fan-out message to N members counts N)`);
    const header = `${pad('workload', 44)} ${pad('server', 7)} ${lpad('msg/s', 9)} ${lpad('p50 ms', 8)} ${lpad('p99 ms', 8)} ${lpad('server µs/msg', 14)} ${lpad('srv busy', 9)} ${lpad('gen busy', 9)}`;
    console.log(header);
    console.log('-'.repeat(header.length));
    const summary = new Map<string, Record<string, number>>();
    for (const w of WORKLOADS) {
      for (const target of targets) {
        const rounds = results.get(`${w.key}/${target.name}`)!;
        const m = (k: Exclude<keyof WorkloadResult, 'window'>) => median(rounds.map((x) => x[k]));
        const row = { perSecond: m('perSecond'), p50: m('p50'), p99: m('p99'), serverUs: m('serverUs'), serverBusy: m('serverBusy'), generatorBusy: m('generatorBusy') };
        summary.set(`${w.key}/${target.name}`, row);
        console.log(`${pad(w.title, 44)} ${pad(target.name, 7)} ${lpad(fmt(row.perSecond, 0), 9)} ${lpad(fmt(row.p50, 2), 8)} ${lpad(fmt(row.p99, 2), 8)} ${lpad(fmt(row.serverUs, 2), 14)} ${lpad(fmt(row.serverBusy, 2), 9)} ${lpad(fmt(row.generatorBusy, 2), 9)}`);
      }
      const p = summary.get(`${w.key}/parley`);
      for (const other of ['ngircd', 'base']) {
        const n = summary.get(`${w.key}/${other}`);
        if (!p || !n) continue;
        const label = other === 'ngircd' ? 'ratio' : '/ base';
        console.log(`${pad('', 44)} ${pad(label, 7)} ${lpad(`${fmt(p.perSecond / n.perSecond, 2)}x`, 9)} ${lpad(`${fmt(p.p50 / n.p50, 2)}x`, 8)} ${lpad(`${fmt(p.p99 / n.p99, 2)}x`, 8)} ${lpad(`${fmt(p.serverUs / n.serverUs, 2)}x`, 14)}`);
      }
    }
    // The targets of the workloads run against both servers (--workloads may pick some).
    const both = (key: string) => summary.has(`${key}/parley`) && summary.has(`${key}/ngircd`);
    if (WORKLOADS.some((w) => both(w.key))) {
      const ratio = (key: string, k: string) => summary.get(`${key}/parley`)![k] / summary.get(`${key}/ngircd`)![k];
      console.log('\ntargets (Parley / ngircd):');
      const check = (key: string, label: string, k: string, limit: number) => {
        if (!both(key)) return;
        const value = ratio(key, k);
        console.log(`  ${pad(label, 58)} ${lpad(`${fmt(value, 2)}x`, 7)}  target <= ${fmt(limit, 1)}x  ${value <= limit ? 'met' : 'MISSED'}`);
      };
      check('relay16', 'server CPU per message, 1:1 with 16 in flight', 'serverUs', 1.0);
      check('fan100', `server CPU per delivery, fan-out to ${SMALL_GROUP}`, 'serverUs', 1.0);
      check('fan1000', `server CPU per delivery, fan-out to ${MEMBERS.toLocaleString('en')}`, 'serverUs', 1.0);
      check('relay1', 'server CPU per message, 1:1 with 1 in flight', 'serverUs', 1.5);
      for (const w of WORKLOADS) check(w.key, `p99 latency, ${w.title}`, 'p99', 2.0);
    }
    if (profileDir) {
      const parley = targets.find((t) => t.name === 'parley');
      await parley?.stop();
      const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profileDir, f));
      // The biggest profile is the server's main thread (tsx's loader thread writes a small one).
      const main = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
      const windows: Array<[number, number]> = [...results].filter(([key]) => key.endsWith('/parley')).flatMap(([, rounds]) => rounds.map((r) => r.window));
      console.log(`\nParley server CPU profile (${main}), measured rounds only:`);
      for (const line of main ? profileTop(main, windows, 40) : ['(no profile written)']) console.log(line);
    }
    const strays = targets.map((t) => `${t.name} ${t.strays()}`).join(', ');
    console.log(`\nmessages that arrived twice or outside a round: ${strays}; load average ${loadAverage()} at the end; run took ${fmt((performance.now() - began) / 1000, 0)} s`);
  } finally {
    for (const target of targets) await target.stop().catch(() => undefined);
  }
}

function mkdirs(root: string, name: string): void {
  rmSync(join(root, name), { recursive: true, force: true });
}

const root = mkdtempSync(join(tmpdir(), 'parley-bench-compare-'));
const cleanup = () => rmSync(root, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping`);
    cleanup();
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`\nbench/compare: not finished within ${RUN_LIMIT_MS / 1000} s; stopping`);
  cleanup();
  process.exit(1);
}, RUN_LIMIT_MS).unref();

exitAfter(main(root), cleanup);
