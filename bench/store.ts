/**
 * Storage benchmark (docs/BENCHMARKS.md, "Storage"): what storing one offline message costs with
 * 1k, 100k and 1M messages already stored, spread over 1,000 mailboxes and all in one mailbox;
 * and how long a reconnecting client takes to receive a 100k backlog.
 *
 *   node --import tsx bench/store.ts        (make bench-store)
 *
 * Targets: the 1M figure within 1.5x of the 1k figure (same layout); the 100k backlog delivered
 * in under 5 s. The machine is noisy, so compare ratios within one run, not across runs.
 *
 * The preload writes segment files directly, in the exact format SegmentedLog reads
 * (src/store/log.ts), because storing a million messages through the store would take longer than
 * the benchmark itself. What is timed always goes through the real code: Mailboxes.put, awaited
 * until on disk, and the real server's mailbox drain to a real client.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ParleyClient } from '../src/client/connection.ts';
import { DEFAULT_CONFIG, type ServerConfig } from '../src/server/config.ts';
import { createLogger } from '../src/server/log.ts';
import { Mailboxes, type MailboxEntry } from '../src/server/mailboxes.ts';
import { ParleyServer } from '../src/server/server.ts';
import { MAILBOX_SEGMENT, segmentKey } from '../src/store/log.ts';
import { Store } from '../src/store/store.ts';

const SIZES = [1_000, 100_000, 1_000_000];
const SPREAD_MAILBOXES = 1_000;
/** Puts timed per measurement, and rounds per figure (the median is reported). */
const PUTS = 1_000;
const ROUNDS = 5;
const CONCURRENCY = 50;
const BACKLOG = 100_000;
const TARGET_RATIO = 1.5;
const TARGET_BACKLOG_S = 5;
/** Whole-run bound: a hung drain must not hang the benchmark. */
const BACKLOG_LIMIT_MS = 120_000;
const SCRYPT = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'correct horse';
const TEXT = 'the quick brown fox jumps over the lazy dog, 42 times';

type Layout = 'spread' | 'one';
const LAYOUT_NAME: Record<Layout, string> = { spread: `spread over ${SPREAD_MAILBOXES.toLocaleString('en')} mailboxes`, one: 'all in one mailbox' };

const userName = (i: number) => `u${String(i).padStart(4, '0')}`;
const msgId = (prefix: string, i: number) => `${prefix}${i.toString(36).padStart(8, '0')}`;

function entry(id: string, from: string, to: string): MailboxEntry {
  return { ackId: id, message: { type: 'msg', msgId: id, scope: 'private', from, to, text: TEXT, ts: 1_760_000_000_000 } };
}

/**
 * Writes `count` entries into `<storeDir>/mailbox/<user>/` as SegmentedLog stores them:
 * `segmentKey(index, MAILBOX_SEGMENT).json` = compact JSON array of {seq, entry} (MAILBOX_SEGMENT per file),
 * `meta.json` = {"first":0}.
 */
function preloadMailbox(storeDir: string, user: string, count: number, from = 'alice'): void {
  const dir = join(storeDir, 'mailbox', user);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ first: 0 }));
  for (let start = 0, index = 0; start < count; start += MAILBOX_SEGMENT, index++) {
    const items: Array<{ seq: number; entry: MailboxEntry }> = [];
    for (let seq = start; seq < Math.min(start + MAILBOX_SEGMENT, count); seq++) items.push({ seq, entry: entry(msgId(`p${user}x`, seq), from, user) });
    writeFileSync(join(dir, `${segmentKey(index, MAILBOX_SEGMENT)}.json`), JSON.stringify(items));
  }
}

function preload(storeDir: string, layout: Layout, total: number): string[] {
  if (layout === 'one') {
    preloadMailbox(storeDir, 'u0000', total);
    return ['u0000'];
  }
  const users = Array.from({ length: SPREAD_MAILBOXES }, (_, i) => userName(i));
  const each = Math.floor(total / users.length);
  const extra = total % users.length;
  users.forEach((user, i) => preloadMailbox(storeDir, user, each + (i < extra ? 1 : 0)));
  return users;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

interface PutFigures {
  sequentialUs: number;
  concurrentUs: number;
  preloadS: number;
  openS: number;
  /** mean entries in the tail segment each timed put appended to (at most MAILBOX_SEGMENT; a checkpoint rewrites it) */
  tail: number;
}

/** One preloaded store, opened as the server opens it, with a way to store one more message. */
interface Bench {
  root: string;
  store: Store;
  preloadS: number;
  openS: number;
  put: () => Promise<number>;
  sequential: number[];
  concurrent: number[];
  tail: { sum: number; count: number };
}

async function prepare(layout: Layout, total: number): Promise<Bench> {
  const root = mkdtempSync(join(tmpdir(), 'parley-bench-store-'));
  const storeDir = join(root, 'store');
  let t = performance.now();
  const users = preload(storeDir, layout, total);
  const preloadS = (performance.now() - t) / 1000;

  t = performance.now();
  const store = await Store.open(storeDir);
  const mailboxes = new Mailboxes(store, 100_000_000);
  await mailboxes.checkAll(); // as ParleyServer.start does: every mailbox opened once
  const openS = (performance.now() - t) / 1000;

  let next = 0;
  const tail = { sum: 0, count: 0 };
  const put = async () => {
    const n = next++;
    const user = users[n % users.length]; // round-robin over the existing mailboxes
    const seq = await mailboxes.put(user, entry(msgId('b', n), 'alice', user));
    tail.sum += (seq % MAILBOX_SEGMENT) + 1; // the tail segment this put appended to now holds this many
    tail.count++;
    return seq;
  };
  return { root, store, preloadS, openS, put, sequential: [], concurrent: [], tail };
}

/** µs per message, one put after another, each awaited until on disk. */
async function sequential(put: () => Promise<number>, count: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await put();
  return ((performance.now() - start) * 1000) / count;
}

/** µs per message with CONCURRENCY puts in flight, as a busy server has them (they share flushes). */
async function concurrent(put: () => Promise<number>, count: number): Promise<number> {
  const start = performance.now();
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await put();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return ((performance.now() - start) * 1000) / count;
}

/**
 * The sizes of one layout are measured side by side, round after round, so a slow spell of
 * the (shared, noisy) machine hits all of them alike; each figure is the median of its rounds.
 */
async function measureLayout(layout: Layout): Promise<PutFigures[]> {
  const benches: Bench[] = [];
  try {
    for (const size of SIZES) benches.push(await prepare(layout, size));
    for (const b of benches) {
      await sequential(b.put, 100); // warm-up: JIT, directories made
      await concurrent(b.put, 100);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const b of benches) {
        b.sequential.push(await sequential(b.put, PUTS));
        b.concurrent.push(await concurrent(b.put, PUTS));
      }
    }
    for (const b of benches) await b.store.flush();
    return benches.map((b) => ({ sequentialUs: median(b.sequential), concurrentUs: median(b.concurrent), preloadS: b.preloadS, openS: b.openS, tail: b.tail.sum / b.tail.count }));
  } finally {
    for (const b of benches) rmSync(b.root, { recursive: true, force: true });
  }
}

function serverConfig(root: string): ServerConfig {
  return {
    ...DEFAULT_CONFIG,
    host: '127.0.0.1',
    port: 0,
    keysDir: join(root, 'keys'),
    storeDir: join(root, 'store'),
    mailboxCap: 10_000_000,
    logLevel: 'silent',
  };
}

const startServer = (root: string) => ParleyServer.start(serverConfig(root), { memoryStore: false, scrypt: SCRYPT, log: createLogger('silent') });

const newClient = (port: number, storeDir: string) => new ParleyClient({ host: '127.0.0.1', port, storeDir, reconnect: false, requestTimeoutMs: 60_000 });

async function waitUntil(check: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface BacklogFigures {
  seconds: number;
  received: number;
  firstMs: number;
}

/** A real server with BACKLOG messages waiting for bob; bob logs in; until all are received and acked. */
async function measureBacklog(): Promise<BacklogFigures> {
  const root = mkdtempSync(join(tmpdir(), 'parley-bench-backlog-'));
  const clientDir = join(root, 'client');
  try {
    // 1. Accounts, made the real way.
    let server = await startServer(root);
    for (const user of ['alice', 'bob']) {
      const c = newClient(server.address.port, join(clientDir, user));
      await c.connect();
      await c.register(user, PASSWORD);
      c.close();
    }
    await server.stop();

    // 2. bob's mailbox, written as SegmentedLog writes it.
    const storeDir = serverConfig(root).storeDir;
    rmSync(join(storeDir, 'mailbox', 'bob'), { recursive: true, force: true });
    preloadMailbox(storeDir, 'bob', BACKLOG, 'alice');

    // 3. bob reconnects.
    server = await startServer(root);
    try {
      const mailbox = await server.hub.mailboxes.hold('bob');
      server.hub.mailboxes.release('bob');
      if (mailbox.size !== BACKLOG) throw new Error(`preload: bob's mailbox holds ${mailbox.size}, expected ${BACKLOG}`);
      const bob = newClient(server.address.port, join(clientDir, 'bob'));
      let received = 0;
      let firstAt = 0;
      bob.on('message', () => {
        if (received++ === 0) firstAt = performance.now();
      });
      bob.on('error', () => undefined);
      await bob.connect();
      const start = performance.now();
      await bob.login('bob', PASSWORD);
      await waitUntil(() => received >= BACKLOG && mailbox.size === 0, BACKLOG_LIMIT_MS, `${BACKLOG} messages (received ${received}, mailbox ${mailbox.size})`);
      const seconds = (performance.now() - start) / 1000;
      bob.close();
      return { seconds, received, firstMs: firstAt - start };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

async function main(): Promise<void> {
  const began = performance.now();
  const cpu = cpus();
  console.log('bench/store: Parley storage');
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}, ${process.platform}`);
  console.log(`µs per stored message: median of ${ROUNDS} rounds of ${PUTS.toLocaleString('en')} Mailboxes.put, each awaited until on disk, the sizes`);
  console.log(`of a layout measured in alternation; "1 at a time" = one put after another, "${CONCURRENCY} concurrent" = ${CONCURRENCY} puts`);
  console.log(`in flight (they share flush batches). "stored" = preloaded before timing (the timed puts add ${((ROUNDS * 2 + 2) * PUTS).toLocaleString('en')} more).`);
  console.log(`ratio = vs the ${SIZES[0].toLocaleString('en')} figure of the same layout; avg tail = entries in the tail segment each put appended to
(at most ${MAILBOX_SEGMENT}; a put journals one line, a checkpoint rewrites the segment); preload = writing the segment files; open = checkAll at start\n`);

  const results = new Map<string, PutFigures>();
  const header = `${pad('layout', 30)} ${lpad('stored', 10)} ${lpad('1 at a time', 13)} ${lpad('ratio', 6)} ${lpad(`${CONCURRENCY} concurrent`, 14)} ${lpad('ratio', 6)} ${lpad('avg tail', 9)}   ${lpad('preload', 8)} ${lpad('open', 7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const layout of ['spread', 'one'] as const) {
    const figures = await measureLayout(layout);
    const base = figures[0];
    SIZES.forEach((size, i) => {
      const r = figures[i];
      results.set(`${layout}/${size}`, r);
      console.log(
        `${pad(LAYOUT_NAME[layout], 30)} ${lpad(size.toLocaleString('en'), 10)} ${lpad(`${fmt(r.sequentialUs)} µs`, 13)} ${lpad(`${fmt(r.sequentialUs / base.sequentialUs, 2)}x`, 6)} ${lpad(`${fmt(r.concurrentUs)} µs`, 14)} ${lpad(`${fmt(r.concurrentUs / base.concurrentUs, 2)}x`, 6)} ${lpad(fmt(r.tail, 0), 9)}   ${lpad(`${fmt(r.preloadS)} s`, 8)} ${lpad(`${fmt(r.openS, 2)} s`, 7)}`,
      );
    });
  }

  const backlog = await measureBacklog();
  console.log(`\nbacklog: ${backlog.received.toLocaleString('en')} messages waiting for bob, delivered to his reconnecting client in ${fmt(backlog.seconds, 2)} s (${Math.round(backlog.received / backlog.seconds).toLocaleString('en')} msg/s; first after ${fmt(backlog.firstMs, 0)} ms; until received and the mailbox empty)`);

  console.log('\ntargets:');
  let allPass = true;
  for (const layout of ['spread', 'one'] as const) {
    const small = results.get(`${layout}/${SIZES[0]}`)!;
    const large = results.get(`${layout}/${SIZES.at(-1)}`)!;
    for (const [mode, key] of [['1 at a time', 'sequentialUs'], [`${CONCURRENCY} concurrent`, 'concurrentUs']] as const) {
      const ratio = large[key] / small[key];
      const pass = ratio <= TARGET_RATIO;
      allPass &&= pass;
      const middle = results.get(`${layout}/${SIZES[1]}`)!;
      console.log(`  ${pass ? 'PASS' : 'MISS'}  1M vs 1k, ${LAYOUT_NAME[layout]}, ${mode}: ${fmt(ratio, 2)}x (target <= ${TARGET_RATIO}x; 1M vs 100k: ${fmt(large[key] / middle[key], 2)}x)`);
    }
  }
  const backlogPass = backlog.seconds < TARGET_BACKLOG_S;
  allPass &&= backlogPass;
  console.log(`  ${backlogPass ? 'PASS' : 'MISS'}  100k backlog delivered: ${fmt(backlog.seconds, 2)} s (target < ${TARGET_BACKLOG_S} s)`);
  console.log(`\n${allPass ? 'all targets met' : 'some targets missed'} (run took ${fmt((performance.now() - began) / 1000, 0)} s)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
