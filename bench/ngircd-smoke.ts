/**
 * Smoke test of bench/lib/irc.ts: starts ngircd in a temp dir, connects a few peers, runs a short
 * 1:1 exchange and a short channel fan-out through the BenchTarget interface, prints latencies and
 * ngircd's CPU µs per message, then stops ngircd and removes the temp dir. Bounded to 60 s.
 *
 *   node --import tsx bench/ngircd-smoke.ts [peers=10] [messages=200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startNgircd, type IrcTarget } from './lib/irc.ts';
import { cpuMicros, fmt, percentile, sleep } from './lib/proc.ts';
import type { BenchPeer } from './lib/target.ts';

const peerCount = Math.max(2, Number(process.argv[2] ?? 10));
const messages = Math.max(1, Number(process.argv[3] ?? 200));
const TEXT_SIZE = 100;

const root = mkdtempSync(join(tmpdir(), 'ngircd-smoke-'));
const cleanup = () => rmSync(root, { recursive: true, force: true });
const watchdog = setTimeout(() => {
  console.error('ngircd smoke: over 60 s, giving up');
  cleanup();
  process.exit(1); // the 'exit' handler in irc.ts kills ngircd
}, 60_000);
watchdog.unref();

const text = (id: number) => {
  const head = `${id} ${performance.now().toFixed(3)} `;
  return head.padEnd(TEXT_SIZE, 'x');
};

interface Run {
  latencies: number[];
  expected: number;
  got: number;
}

/** Hooks every receiver's sink up to one run: latency of each delivery from the send time in its text. */
function listen(receivers: BenchPeer[], expected: number): Run {
  const run: Run = { latencies: [], expected, got: 0 };
  for (const peer of receivers) {
    peer.sink = (body, at) => {
      const second = body.indexOf(' ', body.indexOf(' ') + 1);
      run.latencies.push(at - Number(body.slice(body.indexOf(' ') + 1, second)));
      run.got++;
    };
  }
  return run;
}

async function finish(run: Run, receivers: BenchPeer[], limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (run.got < run.expected && Date.now() < deadline) await sleep(5);
  await sleep(100); // let late duplicates show up as strays
  for (const peer of receivers) peer.sink = null;
}

function report(label: string, run: Run, sent: number, cpu: number): void {
  const sorted = Float64Array.from(run.latencies).sort();
  console.log(
    `${label}: ${run.got}/${run.expected} delivered, latency ms p50 ${fmt(percentile(sorted, 50), 2)} p99 ${fmt(percentile(sorted, 99), 2)} max ${fmt(sorted[sorted.length - 1] ?? NaN, 2)}; ` +
      `ngircd CPU ${fmt(cpu / sent)} µs per message sent, ${fmt(cpu / Math.max(run.got, 1))} µs per delivery`,
  );
}

let target: IrcTarget | null = null;
try {
  const t0 = performance.now();
  target = await startNgircd(root);
  console.log(`ngircd pid ${target.pid} on 127.0.0.1:${target.port}, up in ${fmt(performance.now() - t0)} ms`);

  const names = Array.from({ length: peerCount }, (_, i) => `m${String(i + 1).padStart(5, '0')}`);
  const t1 = performance.now();
  const peers = await target.connect(names);
  console.log(`${peers.length} peers connected and welcomed in ${fmt(performance.now() - t1)} ms`);

  // 1:1: the first half each send to their partner in the second half, a burst per pass.
  const half = Math.floor(peers.length / 2);
  const senders = peers.slice(0, half);
  const receivers = peers.slice(half, half * 2);
  {
    const run = listen(receivers, half * messages);
    const cpu0 = cpuMicros(target.pid);
    let id = 0;
    for (let round = 0; round < messages; round++) {
      for (let i = 0; i < half; i++) senders[i].sendPrivate(receivers[i].name, text(id++));
      await sleep(1);
    }
    await finish(run, receivers);
    report(`1:1      (${half} pairs x ${messages})`, run, half * messages, cpuMicros(target.pid) - cpu0);
  }

  // Fan-out: the owner sends to a channel with every other peer in it.
  {
    const owner = peers[0];
    const members = peers.slice(1);
    const t2 = performance.now();
    await target.makeGroup('smoke', owner, members);
    console.log(`#smoke with ${peers.length} members made in ${fmt(performance.now() - t2)} ms`);
    const run = listen(members, members.length * messages);
    const cpu0 = cpuMicros(target.pid);
    for (let id = 0; id < messages; id++) {
      owner.sendGroup('smoke', text(id));
      await sleep(1);
    }
    await finish(run, members);
    report(`fan-out  (1 -> ${members.length} x ${messages})`, run, messages, cpuMicros(target.pid) - cpu0);
  }

  // Texts that ngircd could not relay whole are refused on this side.
  try {
    peers[0].sendGroup('smoke', 'x'.repeat(500));
    console.log('long text: NOT refused (unexpected)');
  } catch (e) {
    console.log(`long text refused: ${(e as Error).message}`);
  }

  console.log(`strays ${target.strays()}, peers dropped by ngircd ${target.lostPeers}`);
  if (target.lostPeers > 0) process.exitCode = 1;
} catch (e) {
  console.error(e);
  if (target) console.error(`ngircd log:\n${target.log}`);
  process.exitCode = 1;
} finally {
  const t3 = performance.now();
  await target?.stop();
  if (target) console.log(`ngircd stopped in ${fmt(performance.now() - t3)} ms`);
  cleanup();
  clearTimeout(watchdog);
}
