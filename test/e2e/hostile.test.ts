/**
 * Hostile clients against one real server, each with its expected outcome, while a well-behaved
 * pair keeps chatting in the background and its latency is measured.
 *
 *   slowloris (a byte every 100 ms)    → dropped with E_HANDSHAKE_TIMEOUT at the deadline
 *   a client that never reads          → dropped past maxQueuedBytes; its messages wait in its mailbox
 *   10,000 connects from one address   → refused with E_TOO_MANY_CONNECTIONS, no leak, others fine
 *   huge or odd usernames              → E_INVALID / E_BAD_USERNAME / E_USER_EXISTS, no stray files
 *   ANSI escapes in text, status, names → carried as data, printed without a control character
 *
 * wire.test.ts covers the 4 GB frame length, garbage before the handshake, a wrong-size wrapped
 * key and a replayed handshake; flood.test.ts the message rate limit. File names: there is no
 * file transfer yet, so there is nothing to test for them.
 *
 * Every hostile case connects from its own loopback address (127.0.0.x), so the per-address
 * limits one case trips never touch another, nor the pair on 127.0.0.3.
 */
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ParleyClient } from '../../src/client/connection.ts';
import { formatEvent } from '../../src/client/format.ts';
import { client, record, registered, sleep, startServer, tempDir, waitFor, PASSWORD, type TestServer } from './helpers.ts';
import { RawClient } from './raw-client.ts';
import { collectGarbage } from '../helpers/gc.ts';

const HOST = '127.0.0.1';
const PAIR_ADDRESS = '127.0.0.3';
/** Connects in the storm case: 10,000 as the issue asks; PARLEY_HOSTILE_CONNECTS lowers it on a slow box. */
const STORM_CONNECTS = Number(process.env.PARLEY_HOSTILE_CONNECTS ?? 10_000);
const STORM_BATCH = 200;
const HANDSHAKE_TIMEOUT_S = 0.5;
const MAX_QUEUED_BYTES = 256 * 1024;
/** Anything that could steer a terminal: C0 (bar tab and newline), DEL, C1, bidi overrides. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/**
 * The connect storm, run in a child process (plain JS, node:net only): TOTAL connects from FROM
 * in batches of BATCH, each closed right after its first frame (a hello or a refusal). Prints
 * `progress N` after each batch and `result {json}` at the end.
 */
const STORM_SCRIPT = `
import { connect } from 'node:net';
const { PORT, HOST, FROM, TOTAL, BATCH } = process.env;
const out = { hello: 0, refused: 0, codes: [], other: {} };
const other = (what) => (out.other[what] = (out.other[what] ?? 0) + 1);
const once = () => new Promise((resolve) => {
  const socket = connect({ host: HOST, port: Number(PORT), localAddress: FROM });
  let seen = Buffer.alloc(0);
  let settled = false;
  const done = (what) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    if (what) other(what);
    resolve();
  };
  const timer = setTimeout(() => done('no answer in 5 s'), 5000);
  socket.on('data', (chunk) => {
    seen = Buffer.concat([seen, chunk]);
    if (seen.length < 4 || seen.length < 4 + seen.readUInt32BE(0)) return;
    const first = JSON.parse(seen.subarray(4, 4 + seen.readUInt32BE(0)).toString('utf8'));
    if (first.type === 'hello') out.hello++;
    else {
      out.refused++;
      if (!out.codes.includes(first.code)) out.codes.push(first.code);
    }
    done(null);
  });
  socket.on('error', (err) => done('error ' + err.code));
  socket.on('close', () => done('closed without a frame'));
});
for (let opened = 0; opened < Number(TOTAL); opened += Number(BATCH)) {
  const n = Math.min(Number(BATCH), Number(TOTAL) - opened);
  await Promise.all(Array.from({ length: n }, once));
  process.stdout.write('progress ' + (opened + n) + '\\n');
}
process.stdout.write('result ' + JSON.stringify(out) + '\\n');
`;

// ---- the well-behaved pair -----------------------------------------------------------------

interface Sample {
  ms: number;
  phase: string;
}

/** alice and bob take turns sending each other a message and timing it until it is `delivered`. */
class Pair {
  readonly samples: Sample[] = [];
  readonly failures: string[] = [];
  phase = 'idle';
  sent = 0;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly received: { alice: string[]; bob: string[] } = { alice: [], bob: [] };

  constructor(
    readonly alice: ParleyClient,
    readonly bob: ParleyClient,
  ) {
    alice.on('message', (m) => m.from === 'bob' && m.text.startsWith('pair ') && this.received.alice.push(m.msgId));
    bob.on('message', (m) => m.from === 'alice' && m.text.startsWith('pair ') && this.received.bob.push(m.msgId));
  }

  /** One timed message from `from` to `to`. */
  private async once(from: ParleyClient, to: string): Promise<void> {
    const started = performance.now();
    this.sent++;
    try {
      const result = await from.sendPrivate(to, `pair ${this.sent}`);
      const ms = performance.now() - started;
      if (result.status !== 'delivered') this.failures.push(`message ${this.sent} ${result.status}`);
      else this.samples.push({ ms, phase: this.phase });
    } catch (err) {
      this.failures.push(`message ${this.sent}: ${(err as { code?: string }).code ?? (err as Error).message}`);
    }
  }

  /** `rounds` round trips now (the idle measurement), spaced as in the background loop. */
  async measure(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await this.once(this.alice, 'bob');
      await this.once(this.bob, 'alice');
      await sleep(10);
    }
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) await this.measure(1);
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  get receivedCount(): number {
    return this.received.alice.length + this.received.bob.length;
  }

  p(phase: (s: string) => boolean, q = 0.5): number {
    const values = this.samples.filter((s) => phase(s.phase)).map((s) => s.ms).sort((a, b) => a - b);
    return values.length ? values[Math.min(values.length - 1, Math.floor(q * values.length))]! : NaN;
  }

  count(phase: (s: string) => boolean): number {
    return this.samples.filter((s) => phase(s.phase)).length;
  }
}

// ---- the server --------------------------------------------------------------------------

const dir = tempDir();
let served: TestServer;
let pair: Pair;
let idleP50 = NaN;
/** Connections open before each case: the pair. Every case must leave the count where it found it. */
let baseline = 0;

test.before(async () => {
  served = await startServer(
    {
      handshakeTimeout: HANDSHAKE_TIMEOUT_S,
      maxQueuedBytes: MAX_QUEUED_BYTES,
      // The non-reader case floods at full speed; flood.test.ts covers the rate limit itself.
      ratePerSecond: 0,
      // connBurst, connPerMinute and connMaxPerIp stay at their defaults (60, 120, 100).
    },
    dir.path,
    false, // files on disk, so the username case can look at what was written
  );
  const options = { localAddress: PAIR_ADDRESS, reconnect: false };
  pair = new Pair(await registered(served.port, 'alice', options), await registered(served.port, 'bob', options));
  await pair.measure(10); // warm-up: JIT, first history files
  pair.samples.length = 0;
  await pair.measure(40);
  idleP50 = pair.p((s) => s === 'idle');
  baseline = served.server.connectionCount;
  pair.start();
});

test.after(async () => {
  await pair?.stop();
  pair?.alice.close();
  pair?.bob.close();
  // Let the server see every close (and write lastSeenAt) before it stops and its files go.
  await waitFor(() => served.server.connectionCount === 0, 2000, 'every connection closed').catch(() => undefined);
  await served?.stop();
  await sleep(50);
  dir.remove();
});

// ---- the cases -------------------------------------------------------------------------------

test('slowloris: a byte every 100 ms during the handshake is dropped with E_HANDSHAKE_TIMEOUT at the deadline', async () => {
  pair.phase = 'slowloris';
  const lorises = Array.from({ length: 20 }, () => new RawClient(served.port, { localAddress: '127.0.0.5', open: 'on-arrival' }));
  const openedAt = Date.now();
  for (const raw of lorises) assert.is((await raw.clearFrame()).type, 'hello');
  // the start of a plausible 600-byte key frame, one byte at a time
  const header = Buffer.alloc(4);
  header.writeUInt32BE(600);
  let trickled = 0;
  const trickle = setInterval(() => {
    const byte = trickled < 4 ? header.subarray(trickled, trickled + 1) : Buffer.from('{');
    for (const raw of lorises) if (!raw.closed) raw.socket.write(byte);
    trickled++;
  }, 100);
  try {
    const reasons = await Promise.all(lorises.map((raw) => raw.clearFrame(3000)));
    await waitFor(() => lorises.every((raw) => raw.closed), 2000, 'every slowloris closed');
    const elapsed = Date.now() - openedAt;
    for (const reason of reasons) assert.is(reason.code, 'E_HANDSHAKE_TIMEOUT');
    assert.ok(trickled >= 4, `the server waited past the deadline though bytes kept coming (${trickled} sent)`);
    // The deadline is 500 ms; the sweeper runs every 250 ms; 1 s more for a busy machine.
    assert.ok(elapsed >= HANDSHAKE_TIMEOUT_S * 1000, `closed after ${elapsed} ms`);
    assert.ok(elapsed <= HANDSHAKE_TIMEOUT_S * 1000 + 1250, `closed after ${elapsed} ms`);
    await waitFor(() => served.server.connectionCount === baseline, 2000, 'the connection count back to the pair');
  } finally {
    clearInterval(trickle);
    for (const raw of lorises) raw.destroy();
  }
});

test('a client that never reads is dropped past maxQueuedBytes, others chat on, and its messages wait in its mailbox', async () => {
  pair.phase = 'non-reader';
  const address = '127.0.0.6';
  const sloth = new RawClient(served.port, { localAddress: address, open: 'on-arrival' });
  await sloth.handshake();
  assert.is((await sloth.request({ type: 'register', user: 'sloth', password: PASSWORD })).type, 'ok');
  sloth.socket.pause(); // reads nothing more: the kernel buffers fill, then the server's queue

  const flooder = await registered(served.port, 'flooder', { localAddress: address, reconnect: false });
  const presence = record(flooder, 'presence');
  // Few large messages (7,990 three-byte characters, 24 KB each) fill the kernel's buffers
  // (hundreds of KB to a few MB on loopback) and then the server's queue with little work per message.
  const text = '\u20ac'.repeat(7990);
  const sends: Array<Promise<{ status: string; msgId: string }>> = [];
  // Bursts of 10 (240 KB) every 50 ms until the server gives up on sloth, at most 24 MB in all.
  const floodStarted = Date.now();
  while (!presence.some((p) => p.user === 'sloth' && p.event === 'left') && sends.length < 1000) {
    // Caught at once (a refusal then shows in the statuses below): an unhandled rejection while
    // this loop runs would stop the whole test process.
    for (let i = 0; i < 10; i++) sends.push(flooder.sendPrivate('sloth', `${String(sends.length).padStart(4, '0')} ${text}`).catch((err: Error) => ({ status: `refused: ${err.message}`, msgId: '' })));
    await sleep(50);
  }
  // Past the cap and taking nothing for 2 s (SLOW_CONSUMER_GRACE_MS), checked at least once a second.
  await waitFor(() => presence.some((p) => p.user === 'sloth' && p.event === 'left'), 8000, 'the server to drop sloth');
  const floodSeconds = (Date.now() - floodStarted) / 1000;
  const dropped = served.lines.find((l) => /sloth not reading: \d+ B queued, disconnecting/.test(l));
  assert.ok(dropped, 'the server says why it dropped sloth');
  const queued = Number(/not reading: (\d+) B/.exec(dropped!)![1]);
  // Past the cap; never past the hard bound (32 MB here, the floor of 4 x maxQueuedBytes).
  assert.ok(queued > MAX_QUEUED_BYTES && queued <= 32 * 1024 * 1024, `${queued} B queued when dropped`);

  const results = await Promise.all(sends);
  const statuses = new Set(results.map((r) => r.status));
  assert.equal([...statuses], ['stored'], 'every message to sloth is in its mailbox (none acknowledged, none lost)');
  assert.ok(pair.failures.length === 0, pair.failures.join('; '));
  assert.not.ok((await flooder.who()).users.some((u) => u.user === 'sloth' && u.online), 'sloth is offline');

  // sloth comes back with a real client and gets every one of them, once, in order
  sloth.destroy();
  const back = client(served.port, undefined, { localAddress: address, reconnect: false });
  const inbox = record(back, 'message');
  await back.connect();
  await back.login('sloth', PASSWORD);
  await waitFor(() => inbox.length >= results.length, 15_000, `${results.length} messages at sloth's next login`);
  await sleep(100);
  assert.is(inbox.length, results.length, 'no duplicates');
  assert.equal(inbox.map((m) => m.msgId), results.map((r) => r.msgId), 'in the order they were sent');
  console.log(`    non-reader: dropped at ${queued} B queued, ${floodSeconds.toFixed(1)} s into a flood of ${sends.length} messages of 24 KB; all ${inbox.length} delivered at the next login`);
  back.close();
  flooder.close();
  await waitFor(() => served.server.connectionCount === baseline, 2000, 'the connection count back to the pair');
});


/**
 * MB of heap and external memory still reachable after a full collection. V8 frees the memory
 * of dead Buffers on a background thread after the collection, so a first collection, a pause
 * for those frees to land, and a second collection. Printed, and bounded loosely only: this
 * process also holds the pair, the other cases' leftovers and sockets still closing, and the
 * figure moved by up to 14 MB from one CI run to the next whatever the storm did. The exact
 * leak check is `survivors` below.
 */
async function retainedMb(): Promise<number> {
  collectGarbage();
  await sleep(100);
  collectGarbage();
  const { heapUsed, external } = process.memoryUsage();
  return (heapUsed + external) / 1024 / 1024;
}

/**
 * How many of `sockets` are still reachable after full collections. Each one a connection,
 * refused or admitted, leaves behind (its ServerConnection, its listeners, a timer, an entry in
 * a map) keeps its socket alive, so a leak of any of them shows here as a count, not as
 * megabytes lost in noise. WeakRef targets are held until the end of the job that made or read
 * them, hence a macrotask before each collection.
 */
async function survivors(sockets: Array<WeakRef<Socket>>): Promise<number> {
  let alive = sockets.length;
  // Up to 4 s: a refused socket the server is still closing is reachable until it has closed.
  for (let round = 0; round < 20 && alive > 0; round++) {
    await sleep(round === 0 ? 0 : 200);
    collectGarbage();
    await sleep(0);
    alive = sockets.filter((ref) => ref.deref() !== undefined).length;
  }
  return alive;
}

test(`${STORM_CONNECTS} connects from one address: refused with E_TOO_MANY_CONNECTIONS, a client from another address is unaffected, nothing leaks`, async () => {
  pair.phase = 'storm';
  const stormAddress = '127.0.0.4';
  const carol = await registered(served.port, 'carol', { localAddress: '127.0.0.2', reconnect: false });
  let dave: ParleyClient | undefined;
  try {
    const carolInbox = record(carol, 'message');
    // Every socket the storm opens, seen beside the server's own listener, held weakly.
    const stormSockets: Array<WeakRef<Socket>> = [];
    const watch = (socket: Socket) => socket.remoteAddress === stormAddress && stormSockets.push(new WeakRef(socket));
    const listener = served.server['server'];
    listener.on('connection', watch);
    const rssBefore = process.memoryUsage().rss;
    const retainedBefore = await retainedMb();
    const started = performance.now();
    // The attacker is another process, as it would be: its 10,000 sockets cost this one nothing,
    // so the time the pair and the server lose is the server's own.
    const storm = spawn(process.execPath, ['--input-type=module', '-e', STORM_SCRIPT], {
      env: { ...process.env, PORT: String(served.port), HOST, FROM: stormAddress, TOTAL: String(STORM_CONNECTS), BATCH: String(STORM_BATCH) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    let progress = 0;
    storm.stdout.setEncoding('utf8');
    storm.stdout.on('data', (chunk: string) => {
      output += chunk;
      for (const m of chunk.matchAll(/progress (\d+)/g)) progress = Math.max(progress, Number(m[1]));
    });
    const exited = new Promise<number | null>((resolve) => storm.on('exit', resolve));
    const killer = setTimeout(() => storm.kill(), 60_000);
    // halfway through, a newcomer from another address connects, registers and writes to carol
    await waitFor(() => progress >= STORM_CONNECTS / 2, 60_000, 'the storm to get halfway');
    dave = await registered(served.port, 'dave', { localAddress: '127.0.0.2', reconnect: false });
    assert.is((await dave.sendPrivate('carol', 'storm outside?')).status, 'delivered');
    assert.is(await exited, 0, 'the storm ran to its end');
    clearTimeout(killer);
    listener.off('connection', watch);
    const outcomes = JSON.parse(/^result (.*)$/m.exec(output)![1]!) as { hello: number; refused: number; codes: string[]; other: Record<string, number> };
    const codes = new Set(outcomes.codes);
    const seconds = (performance.now() - started) / 1000;
    const rssGrowth = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    // Refused sockets make no connection objects and admitted ones are gone once closed; what is
    // kept is read only then, so that a connection still closing is not taken for a leak.
    await waitFor(() => served.server.connectionCount === baseline + 2, 3000, 'the connection count back to the pair, carol and dave');
    const kept = await survivors(stormSockets);
    const retainedGrowth = (await retainedMb()) - retainedBefore;
    const signed = (mb: number) => `${mb >= 0 ? '+' : ''}${mb.toFixed(1)} MB`;
    console.log(
      `    storm: ${STORM_CONNECTS} connects in ${seconds.toFixed(1)} s: ${outcomes.hello} admitted, ${outcomes.refused} refused, ${JSON.stringify(outcomes.other)} other; ${kept} of ${stormSockets.length} sockets still reachable; rss ${signed(rssGrowth)}, kept after a full GC ${signed(retainedGrowth)}`,
    );
    assert.equal(outcomes.other, {}, 'every connect got a hello or a refusal');
    assert.equal([...codes], ['E_TOO_MANY_CONNECTIONS']);
    // The burst (60) plus 2 a second over the storm; a little slack for the clock.
    assert.ok(outcomes.hello <= 60 + Math.ceil(seconds * 2) + 2, `${outcomes.hello} admitted in ${seconds.toFixed(1)} s`);
    assert.is(outcomes.hello + outcomes.refused, STORM_CONNECTS);
    assert.is(served.server.connectionLimiter.openFrom(stormAddress), 0);
    assert.ok(served.server.connectionLimiter.addresses <= 10, `${served.server.connectionLimiter.addresses} addresses remembered`);
    // Nothing leaks: the server saw every connect, and holds none of them once they closed.
    assert.is(stormSockets.length, STORM_CONNECTS, 'the server saw every connect');
    assert.is(kept, 0, `${kept} of the storm's sockets are still reachable after full collections`);
    // And in bytes, loosely (see retainedMb): 3 KB kept a connect would be 30 MB.
    assert.ok(retainedGrowth < 30, `heap and external memory kept after the storm grew by ${retainedGrowth.toFixed(1)} MB`);
    // a storm is a few log lines, not one per refusal
    assert.ok(served.lines.filter((l) => /refused/.test(l) && l.includes(stormAddress)).length <= 2 + Math.ceil(seconds / 5));

    assert.ok(carol.loggedIn && dave.loggedIn, 'the clients from 127.0.0.2 are still connected');
    await waitFor(() => carolInbox.some((m) => m.from === 'dave'), 2000, 'dave reaches carol');
    assert.is((await carol.sendPrivate('dave', 'all calm here')).status, 'delivered');
  } finally {
    // closed whatever failed, so that the next case finds the count where this one found it
    carol.close();
    dave?.close();
  }
  await waitFor(() => served.server.connectionCount === baseline, 2000, 'the connection count back to the pair');
});

test('huge or odd usernames are refused with the exact code and write no file', async () => {
  pair.phase = 'usernames';
  const raw = new RawClient(served.port, { localAddress: '127.0.0.7', open: 'on-arrival' });
  await raw.handshake();
  const cases: Array<[string, string, string]> = [
    ['65 characters', 'a'.repeat(65), 'E_INVALID'],
    ['10,000 characters', 'a'.repeat(10_000), 'E_INVALID'],
    ['empty', '', 'E_INVALID'],
    ['25 characters', 'a'.repeat(25), 'E_BAD_USERNAME'],
    ['64 characters', 'b'.repeat(64), 'E_BAD_USERNAME'],
    ['one character', 'a', 'E_BAD_USERNAME'],
    ['Cyrillic а in аlice', '\u0430lice', 'E_BAD_USERNAME'],
    ['full-width ａlice', '\uff41lice', 'E_BAD_USERNAME'],
    ['zero-width space', 'ali\u200bce', 'E_BAD_USERNAME'],
    ['right-to-left override', 'ali\u202ece', 'E_BAD_USERNAME'],
    ['CSI colour', '\x1b[31mred\x1b[0m', 'E_BAD_USERNAME'],
    ['OSC title', 'mallory\x1b]0;pwned\x07', 'E_BAD_USERNAME'],
    ['8-bit CSI', 'mal\x9b2Jlory', 'E_BAD_USERNAME'],
    ['slash', 'a/b', 'E_BAD_USERNAME'],
    ['dot dot', '..', 'E_BAD_USERNAME'],
    ['path traversal', '../../etc/passwd', 'E_BAD_USERNAME'],
    ['back slash', 'a\\b', 'E_BAD_USERNAME'],
    ['NUL byte', 'mal\0lory', 'E_BAD_USERNAME'],
    ['only NUL', '\0\0', 'E_BAD_USERNAME'],
    ['newline', 'mal\nlory', 'E_BAD_USERNAME'],
    ['dots inside', 'mal.lory', 'E_BAD_USERNAME'],
    ['leading digit', '1mallory', 'E_BAD_USERNAME'],
    ['reserved admin', 'admin', 'E_BAD_USERNAME'],
    ['reserved ALL', 'ALL', 'E_BAD_USERNAME'],
    ['reserved Server', 'Server', 'E_BAD_USERNAME'],
    ['reserved everyone', 'everyone', 'E_BAD_USERNAME'],
    ['case of alice', 'ALICE', 'E_USER_EXISTS'],
    ['mixed case of alice', 'aLiCe', 'E_USER_EXISTS'],
    ['alice with spaces', '  alice\t', 'E_USER_EXISTS'],
  ];
  const wrong: string[] = [];
  for (const [what, user, code] of cases) {
    const answer = await raw.request({ type: 'register', user, password: PASSWORD });
    if (answer.type !== 'error' || answer.code !== code) wrong.push(`${what}: ${answer.type} ${answer.code ?? ''}, expected ${code}`);
    // the reference client rejects server messages over 1000 characters: a huge name must not make one
    if (answer.type === 'error' && answer.message.length > 1000) wrong.push(`${what}: ${answer.message.length}-character error message`);
  }
  // the same names where an existing user is named: log in as, write to, read history with, block
  for (const [what, user] of cases.filter(([, , code]) => code !== 'E_USER_EXISTS')) {
    const expected = user.length === 0 || user.length > 64 ? 'E_INVALID' : 'E_NO_SUCH_USER';
    const login = await raw.request({ type: 'login', user, password: PASSWORD });
    if (login.code !== expected) wrong.push(`login as ${what}: ${login.type} ${login.code ?? ''}, expected ${expected}`);
  }
  assert.equal(wrong, []);
  assert.is((await raw.request({ type: 'register', user: 'mallory', password: PASSWORD })).type, 'ok');
  for (const [what, user] of cases.filter(([, , code]) => code !== 'E_USER_EXISTS')) {
    const expected = user.length === 0 || user.length > 64 ? 'E_INVALID' : 'E_NO_SUCH_USER';
    const requests = [
      { type: 'send', msgId: `odd-${wrong.length}-${Math.random().toString(36).slice(2, 10)}`, to: user, text: 'hi' },
      { type: 'history', with: user },
      { type: 'block', user },
      { type: 'group_invite', name: 'nowhere', user },
    ];
    for (const request of requests) {
      const answer = await raw.request(request);
      const ok = request.type === 'group_invite' ? answer.type === 'error' : answer.code === expected;
      if (!ok) wrong.push(`${request.type} ${what}: ${answer.type} ${answer.code ?? ''}, expected ${request.type === 'group_invite' ? 'an error' : expected}`);
    }
  }
  assert.equal(wrong, []);
  raw.destroy();

  // Only safe names in the store, and only the accounts that were really made.
  await served.server.store.flush();
  const walk = (path: string): string[] => readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(path, e.name)) : [join(path, e.name)]));
  assert.equal(readdirSync(dir.path).sort(), ['keys', 'store']);
  // lowdb writes `.name.json.tmp` and renames it: wait until no write is in flight (the pair writes history)
  const files = await waitFor(() => {
    const now = walk(join(dir.path, 'store')).map((f) => relative(join(dir.path, 'store'), f));
    return now.some((f) => f.endsWith('.tmp')) ? null : now;
  }, 3000, 'no store write in flight');
  const unsafe = files.filter((f) => !f.split('/').every((part) => /^[a-z0-9][a-z0-9_.:-]*$/.test(part) && part !== '..'));
  assert.equal(unsafe, [], 'every path segment in the store is a safe name');
  const accounts = files.filter((f) => f.startsWith('accounts/')).map((f) => f.slice('accounts/'.length).replace(/\.json$/, '')).sort();
  assert.equal(accounts, ['alice', 'bob', 'carol', 'dave', 'flooder', 'mallory', 'sloth']);
  const named = files.filter((f) => /mallory\.|lory|passwd|etc|red|pwned/.test(f) && !/(^|\/)mallory(\.json)?$/.test(f) && !f.endsWith('/mallory.json'));
  assert.equal(named, [], 'no file is named after a refused name');
});

test('ANSI escapes in messages and status text arrive as sent, and print with no control character; in group names they are refused', async () => {
  pair.phase = 'ansi';
  const address = '127.0.0.8';
  const eve = await registered(served.port, 'eve', { localAddress: address, reconnect: false });
  const frank = await registered(served.port, 'frank', { localAddress: address, reconnect: false });
  const inbox = record(frank, 'message');
  const presence = record(frank, 'presence');
  const nasty = '\x1b[2J\x1b[H\x1b]0;pwned\x07\x1bP+q\x1b\\\x1b[31mred\x1b[0m \x9b5n \u202egnp.exe\u202c bell\x07 back\b\b del\x7f cr\rlf\nnul-free';
  const sent = await eve.sendPrivate('frank', nasty);
  assert.is(sent.status, 'delivered');
  await waitFor(() => inbox.length > 0, 2000, 'frank gets it');
  const got = inbox[0]!;
  assert.is(got.text, nasty, 'the server does not alter content: it is data');
  const line = formatEvent({ kind: 'message', msgId: got.msgId, scope: got.scope, from: got.from, to: got.to, text: got.text, ts: got.ts });
  assert.not.match(line, CONTROL, JSON.stringify(line));
  assert.not.ok(line.includes('\x1b'), 'no ESC');
  assert.ok(line.includes('red') && line.includes('bell'), `the text is still readable: ${JSON.stringify(line)}`);

  // the same through history, and an edit
  const history = await frank.history('eve');
  assert.is(history.messages.at(-1)!.text, nasty);
  const page = formatEvent({ kind: 'history', with: 'eve', messages: history.messages, more: false, local: false, ts: Date.now() });
  assert.not.match(page.replace(/\n/g, ''), CONTROL);
  const updates = record(frank, 'update');
  await eve.edit('frank', sent.msgId, `${nasty} (edited \x1b[5mblink\x1b[0m)`);
  await waitFor(() => updates.length > 0, 2000, 'the edit reaches frank');
  const edited = formatEvent({ kind: 'update', msgId: sent.msgId, scope: 'private', from: 'eve', action: 'edit', text: updates[0]!.text, ts: Date.now() });
  assert.not.match(edited.replace(/\n/g, ''), CONTROL);

  // status text is carried as data too, and printed clean
  const statusText = '\x1b[8mhidden\x1b[0m\x1b]8;;http://evil.example\x07click\x1b]8;;\x07';
  await eve.request({ type: 'status', status: 'busy', text: statusText });
  const status = await waitFor(() => presence.find((p) => p.user === 'eve' && p.event === 'status'), 2000, 'eve status');
  assert.is(status.statusText, statusText);
  const statusLine = formatEvent({ kind: 'presence', user: 'eve', event: 'status', status: status.status, statusText: status.statusText, ts: status.at });
  assert.not.match(statusLine, CONTROL, JSON.stringify(statusLine));
  assert.ok(statusLine.includes('hidden') && statusLine.includes('click'));

  // names a peer chooses elsewhere: group names with escapes are refused by validation
  for (const name of ['\x1b[31mred', 'ok\x1b]0;x\x07', '#\x9b2J', 'a\0b', 'x'.repeat(81)]) {
    const err = (await eve.request({ type: 'group_create', name }).catch((e) => e)) as { code?: string };
    assert.ok(err.code === 'E_BAD_GROUP' || err.code === 'E_INVALID', `group '${JSON.stringify(name)}': ${err.code}`);
  }
  // a profile with escapes makes no community name with them
  await eve.request({ type: 'profile', location: '\x1b[2JBerlin', interests: ['\x1b[31mchess', 'go\x07'] });
  const communities = await eve.request<{ communities: Array<{ name: string }> }>({ type: 'communities' });
  for (const c of communities.communities) assert.not.match(c.name, CONTROL, c.name);
  eve.close();
  frank.close();
  await waitFor(() => served.server.connectionCount === baseline, 2000, 'the connection count back to the pair');
});

test('the well-behaved pair kept chatting, and its latency stayed within 2x of idle', async () => {
  await pair.stop();
  const during = (s: string) => s !== 'idle';
  const duringP50 = pair.p(during);
  const phases = [...new Set(pair.samples.map((s) => s.phase))];
  const breakdown = phases.map((ph) => `${ph} p50 ${pair.p((s) => s === ph).toFixed(1)} p99 ${pair.p((s) => s === ph, 0.99).toFixed(1)} (${pair.count((s) => s === ph)})`).join('; ');
  console.log(`    pair: idle p50 ${idleP50.toFixed(2)} ms; during p50 ${duringP50.toFixed(2)} ms; ${breakdown}`);
  assert.equal(pair.failures, [], 'every pair message was delivered');
  await waitFor(() => pair.receivedCount === pair.sent, 2000, 'every pair message received');
  assert.ok(pair.count(during) >= 50, `${pair.count(during)} round trips during the hostile cases`);
  // The assertion: p50(during) <= 2 * p50(idle) + 5 ms. Idle round trips on loopback take about a
  // millisecond and this machine is shared, so 5 ms of slack keeps noise from failing the test.
  assert.ok(duringP50 <= 2 * idleP50 + 5, `p50 during ${duringP50.toFixed(2)} ms > 2 x idle ${idleP50.toFixed(2)} ms + 5 ms`);
  assert.ok(pair.alice.loggedIn && pair.bob.loggedIn, 'the pair is still connected');
});

test.run();
