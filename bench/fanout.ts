/**
 * Group fan-out benchmark (docs/BENCHMARKS.md, "Group fan-out"): a message to a 1,000-member
 * group is validated and serialised once, then sealed per recipient. How many deliveries a second
 * the server makes, how long a delivery takes (send → member receive, p50/p99), and how much
 * server CPU one delivered message costs; a 100-member group alongside for comparison.
 *
 *   node --import tsx bench/fanout.ts             (make bench-fanout)
 *   node --import tsx bench/fanout.ts --profile   (also: the server's top self-time functions)
 *
 * The real server runs in a child process (bin/parley-server.js) so that its CPU time can be read
 * from /proc/PID/stat. The members are light protocol clients in this process, built from the
 * project's own handshake, channel, frame and record modules (like RawClient in
 * test/e2e/wire.test.ts): they answer pings and acknowledge every `msg` with one `received` per
 * socket read, as the real client does per pass, but keep nothing on disk and skip zod.
 *
 * Setup (accounts: 1,000 scrypts at the server's default cost) runs on both cores; then, where
 * taskset exists, the server is pinned to core 0 and this load generator to core 1. The machine
 * is noisy: compare the two group sizes within one run (they are measured in alternation).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Channel } from '../src/crypto/channel.ts';
import { clientKeyExchange, parseHello } from '../src/crypto/handshake.ts';
import { encodeFrame, FrameDecoder } from '../src/protocol/frame.ts';
import { packJson, RECORD_JSON, unpackRecords } from '../src/protocol/records.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
/** Member connections; the big group holds all of them, the small one the first SMALL. */
const MEMBERS = 1_000;
const SMALL = 100;
/** Group messages per round: the same number of deliveries (100,000) for both sizes. */
const MESSAGES: Record<number, number> = { [MEMBERS]: 100, [SMALL]: 1_000 };
const WARMUP = 20;
const ROUNDS = 3;
/** Messages in flight: a message leaves the window when every member has received it. */
const WINDOW = 4;
/** Connections set up at once (each: handshake, register, join). */
const SETUP_BATCH = 50;
const TEXT_BYTES = 80;
const PASSWORD = 'correct horse battery';
const REQUEST_LIMIT_MS = 60_000;
const ROUND_LIMIT_MS = 60_000;
/** Whole-run bound: whatever hangs, the benchmark stops, kills its server and cleans up. */
const RUN_LIMIT_MS = 240_000;
const GROUP = { [MEMBERS]: 'fanout-big', [SMALL]: 'fanout-small' } as Record<number, string>;
/** --profile: run the server under --cpu-prof; --profile-dir DIR also keeps the .cpuprofile there. */
const PROFILE_DIR = (() => {
  const at = process.argv.indexOf('--profile-dir');
  return at >= 0 ? process.argv[at + 1] : undefined;
})();
const PROFILE = PROFILE_DIR !== undefined || process.argv.includes('--profile');

type Json = Record<string, any>;

// ---- a light member client ------------------------------------------------------------------

/** What the member connections report to the running round. */
interface Sink {
  delivered(msgId: string, text: string, at: number): void;
}
let sink: Sink | null = null;
let duplicatesOrStrays = 0;

class LightClient {
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private channel: Channel | null = null;
  private readonly pending = new Map<string, { resolve: (r: Json) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextRef = 0;
  private acks: string[] = [];
  private receivedAt = 0;
  private ready!: { resolve: () => void; reject: (e: Error) => void };
  readonly opened: Promise<void>;
  closed = false;
  notice: string | null = null;

  constructor(port: number) {
    this.opened = new Promise((resolve, reject) => (this.ready = { resolve, reject }));
    this.decoder = new FrameDecoder({ maxFrame: 1 << 24, onFrame: (f) => this.onFrame(f), onError: (e) => this.fail(e) });
    this.socket = connect({ host: HOST, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.socketOnData(chunk));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => {
      this.closed = true;
      this.fail(new Error(`connection closed${this.notice ? `: ${this.notice}` : ''}`));
    });
  }

  private socketOnData(chunk: Buffer): void {
    this.receivedAt = performance.now();
    this.decoder.write(chunk);
    if (this.acks.length > 0) {
      // One acknowledgement per read, like ParleyClient's one per pass.
      const ids = this.acks;
      this.acks = [];
      for (let i = 0; i < ids.length; i += 4096) this.send({ type: 'received', ids: ids.slice(i, i + 4096) });
    }
  }

  private onFrame(payload: Buffer): void {
    if (this.channel === null) {
      let hello;
      try {
        hello = parseHello(payload);
      } catch (err) {
        // A refusal before the handshake comes in clear.
        const text = payload.toString('utf8').slice(0, 300);
        this.fail(new Error(text.startsWith('{') ? text : (err as Error).message));
        return;
      }
      const exchange = clientKeyExchange(hello);
      this.socket.write(encodeFrame(exchange.payload));
      this.channel = Channel.forClient(exchange.keys);
      return;
    }
    let records;
    try {
      records = unpackRecords(this.channel.open(payload));
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
      return;
    }
    for (const record of records) {
      if (record.kind !== RECORD_JSON) continue;
      const m = JSON.parse(record.body.toString('utf8')) as Json;
      switch (m.type) {
        case 'msg':
          this.acks.push(m.msgId);
          if (sink) sink.delivered(m.msgId, m.text, this.receivedAt);
          else duplicatesOrStrays++;
          break;
        case 'ok':
        case 'error': {
          const waiter = this.pending.get(m.ref);
          if (!waiter) break;
          this.pending.delete(m.ref);
          clearTimeout(waiter.timer);
          if (m.type === 'ok') waiter.resolve(m.result ?? {});
          else waiter.reject(new Error(`${m.code}: ${m.message}`));
          break;
        }
        case 'welcome':
          this.ready.resolve();
          break;
        case 'ping':
          this.send({ type: 'pong', ...(m.id !== undefined && { id: m.id }) });
          break;
        case 'notice':
          this.notice = `${m.code} ${m.message}`;
          break;
        default:
          break; // presence, group events: not what is measured
      }
    }
  }

  private fail(err: Error): void {
    this.ready.reject(err);
    for (const [ref, waiter] of this.pending) {
      this.pending.delete(ref);
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  send(message: Json): void {
    if (this.closed || this.channel === null) return;
    this.socket.write(encodeFrame(this.channel.seal(packJson([JSON.stringify(message)]))));
  }

  request(message: Json): Promise<Json> {
    const id = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${message.type}: no reply within ${REQUEST_LIMIT_MS / 1000} s`));
      }, REQUEST_LIMIT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...message, id });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- the server in a child process ----------------------------------------------------------

interface ServerChild {
  child: ChildProcess;
  pid: number;
  port: number;
  output: string[];
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process (all its threads), in µs, from /proc/PID/stat. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
}

/** The TCP port a process listens on, found through its socket inodes (it was told port 0). */
function listeningPort(pid: number): number | null {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // the fd closed while we looked
    }
  }
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) return parseInt(f[1].split(':')[1], 16);
    }
  }
  return null;
}

async function startServerChild(root: string): Promise<ServerChild> {
  const flags = [
    '--host', HOST, '--port', '0',
    '--keys', join(root, 'keys'), '--store', join(root, 'store'),
    '--log-level', 'warn',
    '--rate-per-second', '0', // no message flood control
    '--conn-burst', '1000000', '--conn-per-minute', '0', '--conn-max-per-ip', '0', // no connection limits
    '--away-after', '0', '--timeout', '0', // no idle sweeps changing presence mid-run
  ];
  const nodeFlags = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR ?? join(root, 'profile')}`] : [];
  const child = spawn(process.execPath, [...nodeFlags, join(ROOT, 'bin/parley-server.js'), ...flags], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  serverChild = child;
  const pid = child.pid!;
  const deadline = Date.now() + 60_000; // the first start makes the server's RSA key pair
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}:\n${output.join('')}`);
    const port = listeningPort(pid);
    if (port !== null) return { child, pid, port, output };
    if (Date.now() > deadline) throw new Error(`the server did not listen within 60 s:\n${output.join('')}`);
    await sleep(50);
  }
}

let serverChild: ChildProcess | null = null;

/** SIGTERM (a clean stop, which also writes --cpu-prof), then SIGKILL after 15 s. */
async function stopServerChild(): Promise<void> {
  const child = serverChild;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

// Last resort: whatever way this process ends, the server does not outlive it.
process.on('exit', () => {
  if (serverChild && serverChild.exitCode === null && serverChild.signalCode === null) serverChild.kill('SIGKILL');
});

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function pin(pid: number, core: number): boolean {
  if (!hasTaskset || cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---- setup ----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const memberName = (i: number) => `m${String(i).padStart(4, '0')}`;

async function openClient(port: number, user: string, groups: string[], create = false): Promise<LightClient> {
  const c = new LightClient(port);
  await c.opened;
  await c.request({ type: 'register', user, password: PASSWORD });
  for (const name of groups) await c.request(create ? { type: 'group_create', name, visibility: 'open' } : { type: 'group_join', name });
  return c;
}

// ---- one measured round ---------------------------------------------------------------------

interface Round {
  size: number;
  messages: number;
  deliveries: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  serverUs: number;
  serverBusy: number;
  generatorBusy: number;
  /** CLOCK_MONOTONIC µs bounds, to cut the server's CPU profile to the measured time */
  from: number;
  to: number;
}

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

let roundNumber = 0;

/** The sender sends `count` messages to `size` members, WINDOW in flight, stamped with the send time. */
async function fanout(sender: LightClient, server: ServerChild, size: number, count: number, measure = true): Promise<Round> {
  const prefix = `f${(roundNumber++).toString(36)}x`;
  const group = GROUP[size];
  const sentAt = new Float64Array(count);
  const remaining = new Int32Array(count).fill(size);
  const latencies = new Float64Array(count * size);
  let received = 0;
  let lastAt = 0;
  let next = 0;
  let done = 0;
  const oks: Array<Promise<Json>> = [];
  const padding = 'x'.repeat(TEXT_BYTES);

  let finish!: () => void;
  let abort!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  const sendNext = () => {
    const i = next++;
    const t = performance.now();
    sentAt[i] = t;
    // The send time travels in the text (ms since this process's time origin, same clock here).
    const text = `t=${t.toFixed(3)} ${padding}`.slice(0, TEXT_BYTES);
    const ok = sender.request({ type: 'group_send', group, msgId: `${prefix}${String(i).padStart(5, '0')}`, text });
    ok.catch((err) => abort(err as Error));
    oks.push(ok);
  };
  sink = {
    delivered(msgId, text, at) {
      const i = msgId.startsWith(prefix) ? Number(msgId.slice(prefix.length)) : -1;
      if (!(i >= 0 && i < next) || remaining[i] <= 0) {
        duplicatesOrStrays++;
        return;
      }
      latencies[received++] = at - Number(text.slice(2, text.indexOf(' ')));
      lastAt = at;
      if (--remaining[i] === 0) {
        done++;
        if (next < count) sendNext();
        else if (done === count) finish();
      }
    },
  };
  const limit = setTimeout(() => abort(new Error(`round of ${count} messages to ${size} members: not finished within ${ROUND_LIMIT_MS / 1000} s (${received} of ${count * size} delivered)`)), ROUND_LIMIT_MS);
  const cpu0 = cpuMicros(server.pid);
  const gen0 = process.cpuUsage();
  const from = monotonicMicros();
  const start = performance.now();
  try {
    for (let k = 0; k < Math.min(WINDOW, count); k++) sendNext();
    await finished;
    await Promise.all(oks);
  } finally {
    clearTimeout(limit);
    sink = null;
  }
  const seconds = (lastAt - start) / 1000;
  // Let the server read the last acknowledgements before its CPU time is read.
  await sleep(100);
  const to = monotonicMicros();
  const serverCpu = cpuMicros(server.pid) - cpu0;
  const gen = process.cpuUsage(gen0);
  const wall = (to - from) / 1e6;
  const sorted = latencies.sort();
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  const deliveries = count * size;
  const round: Round = {
    size,
    messages: count,
    deliveries,
    seconds,
    perSecond: deliveries / seconds,
    p50: pct(50),
    p99: pct(99),
    max: sorted[sorted.length - 1],
    serverUs: serverCpu / deliveries,
    serverBusy: serverCpu / 1e6 / wall,
    generatorBusy: (gen.user + gen.system) / 1e6 / wall,
    from,
    to,
  };
  if (measure) {
    console.log(
      `  round: ${lpad(size.toLocaleString('en'), 5)} members  ${lpad(fmt(round.perSecond, 0), 7)} deliveries/s  p50 ${lpad(fmt(round.p50), 6)} ms  p99 ${lpad(fmt(round.p99), 6)} ms  server ${fmt(round.serverUs, 2)} µs/delivery (busy ${fmt(round.serverBusy * 100, 0)}%, generator ${fmt(round.generatorBusy * 100, 0)}%)`,
    );
  }
  return round;
}

// ---- the server's CPU profile ---------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time per function in the server's .cpuprofile, counting only samples inside `windows`. */
function profileTop(dir: string, windows: Array<[number, number]>, top = 20): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) return ['(no .cpuprofile was written)'];
  const profile = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  let idle = 0;
  let inWindow = 0;
  const within = (at: number) => windows.some(([a, b]) => at >= a && at <= b);
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (!within(t)) continue;
    inWindow++;
    const node = byId.get(profile.samples[i])!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += duration;
      continue;
    }
    total += duration;
    // tsx-compiled sources report line 1 for everything: the file name is what tells.
    const where = url.startsWith('file://') ? basename(url) : url ? `${url.replace(/^node:/, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? `  ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + duration);
  }
  if (inWindow === 0) return ['(no samples fell inside the measured rounds: the profile clock did not match)'];
  const lines = [`${fmt(total / 1000, 0)} ms on the main thread in the measured rounds (${fmt(idle / 1000, 0)} ms idle); self time:`];
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${lpad(fmt(us / 1000, 0), 6)} ms ${lpad(fmt((us / total) * 100), 5)}%  ${key}`);
  }
  return lines;
}

// ---- main -----------------------------------------------------------------------------------

const fmt = (n: number, digits = 1) => n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const loadAverage = () => loadavg().map((n) => n.toFixed(2)).join(' ');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(root: string): Promise<void> {
  const began = performance.now();
  const cpu = cpus();
  console.log('bench/fanout: Parley group fan-out');
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}, ${process.platform}; load average ${loadAverage()} at start`);
  console.log(`server: bin/parley-server.js in a child process (on-disk store, default scrypt, --rate-per-second 0, no connection limits,`);
  console.log(`--log-level warn${PROFILE ? ', --cpu-prof' : ''}); members: ${MEMBERS.toLocaleString('en')} light protocol clients in this process, each acking every msg.`);

  const server = await startServerChild(root);
  const clients: LightClient[] = [];
  try {
    let t = performance.now();
    const sender = await openClient(server.port, 'sender', [GROUP[MEMBERS], GROUP[SMALL]], true);
    clients.push(sender);
    const members: LightClient[] = [];
    for (let start = 0; start < MEMBERS; start += SETUP_BATCH) {
      const batch = [];
      for (let i = start; i < Math.min(MEMBERS, start + SETUP_BATCH); i++) batch.push(openClient(server.port, memberName(i), i < SMALL ? [GROUP[MEMBERS], GROUP[SMALL]] : [GROUP[MEMBERS]]));
      const settled = await Promise.allSettled(batch);
      for (const s of settled) {
        if (s.status !== 'fulfilled') continue;
        members.push(s.value);
        clients.push(s.value);
      }
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw new Error(`setting up member connections: ${(failed.reason as Error).message}`);
    }
    // Presence and group events of the setup have to drain before anything is timed.
    await sleep(1000);
    const setupS = (performance.now() - t) / 1000;
    const pinned = pin(server.pid, 0) && pin(process.pid, 1);
    console.log(
      `setup: ${MEMBERS.toLocaleString('en')} members connected, registered and joined in ${fmt(setupS)} s; ${pinned ? 'server pinned to core 0, generator to core 1 (taskset)' : 'not pinned (no taskset or 1 core)'}`,
    );
    console.log(
      `each round: one sender, ${WINDOW} messages in flight (a message leaves the window when every member has it), ${TEXT_BYTES}-byte texts;` +
        `\n${ROUNDS} rounds per size in alternation, ${MESSAGES[MEMBERS]} messages to ${MEMBERS.toLocaleString('en')} members and ${MESSAGES[SMALL].toLocaleString('en')} to ${SMALL}, after ${WARMUP} warm-up messages each\n`,
    );

    for (const size of [SMALL, MEMBERS]) await fanout(sender, server, size, WARMUP, false);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) for (const size of [SMALL, MEMBERS]) rounds.push(await fanout(sender, server, size, MESSAGES[size]));

    console.log(`\nmedian of ${ROUNDS} rounds; latency = member receive - send (same clock); server CPU = utime+stime of the server process / deliveries;`);
    console.log(`busy = CPU seconds per wall second while the round ran (1.00 = one core saturated)\n`);
    const header = `${pad('group', 14)} ${lpad('messages', 9)} ${lpad('deliveries', 11)} ${lpad('deliveries/s', 13)} ${lpad('p50', 9)} ${lpad('p99', 9)} ${lpad('max', 9)} ${lpad('server CPU', 16)} ${lpad('server busy', 12)} ${lpad('gen. busy', 10)}`;
    console.log(header);
    console.log('-'.repeat(header.length));
    const summary = new Map<number, Json>();
    for (const size of [SMALL, MEMBERS]) {
      const mine = rounds.filter((r) => r.size === size);
      const m = (key: keyof Round) => median(mine.map((r) => r[key] as number));
      const row = { perSecond: m('perSecond'), p50: m('p50'), p99: m('p99'), max: m('max'), serverUs: m('serverUs'), serverBusy: m('serverBusy'), generatorBusy: m('generatorBusy') };
      summary.set(size, row);
      console.log(
        `${pad(`${size.toLocaleString('en')} members`, 14)} ${lpad(MESSAGES[size].toLocaleString('en'), 9)} ${lpad(mine[0].deliveries.toLocaleString('en'), 11)} ${lpad(fmt(row.perSecond, 0), 13)} ${lpad(`${fmt(row.p50)} ms`, 9)} ${lpad(`${fmt(row.p99)} ms`, 9)} ${lpad(`${fmt(row.max)} ms`, 9)} ${lpad(`${fmt(row.serverUs, 2)} µs/deliv.`, 16)} ${lpad(fmt(row.serverBusy, 2), 12)} ${lpad(fmt(row.generatorBusy, 2), 10)}`,
      );
    }
    const big = summary.get(MEMBERS)!;
    const small = summary.get(SMALL)!;
    console.log(`\n${MEMBERS.toLocaleString('en')} vs ${SMALL}: server CPU per delivery ${fmt(big.serverUs / small.serverUs, 2)}x, deliveries/s ${fmt(big.perSecond / small.perSecond, 2)}x`);
    console.log(`server CPU alone would allow ${fmt(1e6 / big.serverUs, 0)} deliveries/s to ${MEMBERS.toLocaleString('en')} members on one free core (${fmt(1e6 / small.serverUs, 0)} to ${SMALL})`);
    const bottleneck =
      big.serverBusy >= 0.9
        ? 'the server (its core is saturated)'
        : big.generatorBusy >= 0.9
          ? 'the load generator (its core is saturated), not the server'
          : `neither process saturated its core (other load on the machine: load average ${loadAverage()} now)`;
    console.log(`bottleneck at ${MEMBERS.toLocaleString('en')} members: ${bottleneck}`);
    if (duplicatesOrStrays > 0) console.log(`note: ${duplicatesOrStrays} deliveries arrived twice or outside a round (ack timeouts falling back to the mailbox?)`);

    for (const c of clients) c.close();
    clients.length = 0;
    if (PROFILE) {
      await stopServerChild();
      console.log(`\nserver CPU profile (--cpu-prof), measured rounds only:`);
      for (const line of profileTop(PROFILE_DIR ?? join(root, 'profile'), rounds.map((r) => [r.from, r.to]))) console.log(line);
    }
    console.log(`\n(run took ${fmt((performance.now() - began) / 1000, 0)} s)`);
  } finally {
    for (const c of clients) c.close();
  }
}

const root = mkdtempSync(join(tmpdir(), 'parley-bench-fanout-'));
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await stopServerChild().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the server and cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
const runLimit = setTimeout(() => {
  console.error(`\nbench/fanout: not finished within ${RUN_LIMIT_MS / 1000} s; stopping`);
  void cleanup().finally(() => process.exit(1));
}, RUN_LIMIT_MS);
runLimit.unref();

main(root).then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  },
);
