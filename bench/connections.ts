/**
 * Connection benchmark (issue "Performance against a C IRC server"): what a connection costs the
 * server to open, to keep and to take back in a storm. Figures only, no asserts.
 *
 *   node --import tsx bench/connections.ts                 (make bench-connections)
 *   node --import tsx bench/connections.ts --big 3000      (a smaller "big" round, for a quick look)
 *   node --import tsx bench/connections.ts --forge-client  (clients wrap with node-forge throughout)
 *     --round-limit S (90)  --storm-limit S (60)  --concurrency N (256)
 *     --profile DIR         (the server under --cpu-prof; the profile is written to DIR at its stop)
 *     --node-flags '...'    (more node flags for the server, e.g. '--trace-gc' with BENCH_SERVER_OUTPUT=FILE)
 *
 *  1. Handshakes alone (connect until `welcome`), handshakes + `login`, and `resume`s per second
 *     with 1,000 and 10,000 clients, at most CONCURRENCY outstanding at a time; rate = clients
 *     completed / wall seconds. Handshakes are set against `openssl speed rsa2048` sign/s measured
 *     in the same run on the server's core (a handshake costs the server one RSA-2048 private-key
 *     operation). Server CPU per client from /proc/PID/stat; how busy this generator was, and how
 *     busy the rest of the machine was meanwhile (/proc/stat), since other load disturbs it all.
 *  2. Memory per idle logged-in connection at 10,000 connections: server RSS (and V8 heap, external)
 *     with all of them logged in and idle, minus the same with none after a warm-up, over N; also
 *     after a full GC in the server (HeapProfiler.collectGarbage over its inspector, opened with
 *     SIGUSR1; taken after the storm, which must not start on a heap such a GC has shrunk), and for
 *     connections that did the handshake but did not log in. Then 50,000 where the file limits
 *     allow it (several source addresses: one address has ~28k ports).
 *  3. Event-loop delay of the server during a reconnect storm: the logged-in clients drop at once
 *     and all reconnect + resume at once; stats() just before and right after the last resume.
 *
 * Presence goes to everyone online only up to PRESENCE_TO_ALL (500) users; past it, to group
 * co-members and private contacts, which these clients have none of. (Before that rule, N logins
 * cost N²/2 presence messages and the 10,000 rounds could not finish.) Rounds still stop
 * launching clients after --round-limit and the storm is cut off at --storm-limit; the figures
 * then say how many were done, and the rest of the run uses what was.
 *
 * The real server runs in a child process (bin/parley-server.js, no rate or connection limits).
 * After setup it is pinned to core 0 (all its threads, so libuv's pool that runs scrypt and the
 * store's file writes too) and this generator to core 1. Seeing one core, the server then unwraps
 * RSA on its event loop instead of the pool (src/server/unwraps.ts).
 *
 * Client side of the handshake: the project's client wraps the session secret with node-forge,
 * about 1 ms of JavaScript per handshake, which alone would cap one generator core near 1,000
 * handshakes/s. Unless --forge-client is given, the light clients here wrap the same RSA-OAEP-SHA256
 * with node:crypto (OpenSSL) instead, by swapping forge.pki.publicKeyFromPem in this process only:
 * the bytes on the wire are the same, the server is untouched. One handshake round with forge is
 * measured alongside for comparison.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import forge from 'node-forge';
import type { ServerStats } from '../src/server/server.ts';
import { LightClient } from './lib/light-client.ts';
import { HELLO_TIMEOUT_MS } from '../src/client/connection.ts';
import { createAccounts, DEFAULT_SCRYPT, HOST, ParleyServerChild, PASSWORD } from './lib/parley-server.ts';
import { arg, cpuMicros, exitAfter, fmt, listArg, loadAverage, lpad, machine, pad, pin, rssBytes, sleep, unpin } from './lib/proc.ts';

const SMALL = 1_000;
const BIG = Number(arg('--big') ?? 10_000);
const HUGE = 50_000;
/** Clients between connect and their last reply at any moment in the bounded rounds. */
const CONCURRENCY = Number(arg('--concurrency') ?? 256);
/** The bench accounts' scrypt cost: cheap, so that 10,000 logins take seconds (said in the output). */
const BENCH_SCRYPT = { N: 1024, r: 8, p: 1 };
const FORGE_CLIENT = process.argv.includes('--forge-client');
/** Source addresses the clients spread over (127.0.0.2 ...): ~28k ephemeral ports each. */
const SOURCES = 16;
/** fds the 50k part needs in each process, and what it asks for. */
const HUGE_FDS = HUGE + 2_000;
const HUGE_LIMIT = 70_000;
/** Whole-run bound: whatever hangs, the benchmark stops, kills its server and cleans up. */
const RUN_LIMIT_MS = 8 * 60_000;
/** A round stops launching clients after this and reports what was done (the rate: done / limit). */
const ROUND_LIMIT_MS = Number(arg('--round-limit') ?? 90) * 1000;
/** The storm is cut off here, and its event-loop figures read then. */
const STORM_LIMIT_MS = Number(arg('--storm-limit') ?? 60) * 1000;
/** A wait for the server to go quiet after a round goes on after this. */
const QUIET_LIMIT_MS = 60_000;
const REQUEST_LIMIT_MS = 60_000;
/** Memory targets and storm target (issue). */
const TARGET_BYTES_PER_CONN = 16 * 1024;
const TARGET_STORM_P99_MS = 20;
const TARGET_HANDSHAKE_SHARE = 0.5;

const count = (n: number) => n.toLocaleString('en');
const kb = (bytes: number) => `${fmt(bytes / 1024)} KB`;
const mb = (bytes: number) => `${fmt(bytes / 1048576)} MB`;

// ---- the client-side RSA wrap ----------------------------------------------------------------

type PublicKeyFromPem = (pem: string) => unknown;
const pki = forge.pki as unknown as { publicKeyFromPem: PublicKeyFromPem };
const forgePublicKeyFromPem = pki.publicKeyFromPem;
let nativeWraps = 0;

/** 'native': the light clients' RSA-OAEP-SHA256 wrap runs in OpenSSL; 'forge': as the real client. */
function clientWrap(kind: 'native' | 'forge'): void {
  if (kind === 'forge') {
    pki.publicKeyFromPem = forgePublicKeyFromPem;
    return;
  }
  const keys = new Map<string, { encrypt(data: string): string }>();
  pki.publicKeyFromPem = (pem: string) => {
    let key = keys.get(pem);
    if (!key) {
      const native: KeyObject = createPublicKey(pem);
      // Same call shape as forge's key.encrypt(binaryString, 'RSA-OAEP', {sha256, mgf1 sha256}).
      key = {
        encrypt(data: string) {
          nativeWraps++;
          return publicEncrypt({ key: native, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(data, 'binary')).toString('binary');
        },
      };
      keys.set(pem, key);
    }
    return key;
  };
}

// ---- rounds of clients -----------------------------------------------------------------------

type Kind = 'handshake' | 'login' | 'resume';
let sourceSeq = 0;
const sourceAddress = () => `127.0.0.${2 + (sourceSeq++ % SOURCES)}`;
/** Every client not yet closed, whatever round it belongs to: closeAll and cleanup close them. */
const live = new Set<LightClient>();

/** Connections given up at the hello deadline and made again (openClient), since the count was read. */
let helloRetries = 0;
/** Tries per client when the server never sends its hello, as ParleyClient reconnects. */
const HELLO_TRIES = 5;
const HELLO_RETRY_PAUSE_MS = 500;

/**
 * One client: handshake until `welcome`, then `login` or `resume` where asked. A connection the
 * server never took (no hello within HELLO_TIMEOUT_MS: a listen queue that overflowed) is made
 * again after a pause, as ParleyClient does when reconnecting.
 */
async function openClient(port: number, kind: Kind, user: string, token: string, pending?: Set<LightClient>): Promise<LightClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openClientOnce(port, kind, user, token, pending);
    } catch (err) {
      if (!(err instanceof HelloTimeout) || attempt === HELLO_TRIES) throw err;
      helloRetries++;
      await sleep(HELLO_RETRY_PAUSE_MS);
    }
  }
}

class HelloTimeout extends Error {}

async function openClientOnce(port: number, kind: Kind, user: string, token: string, pending?: Set<LightClient>): Promise<LightClient> {
  const client = new LightClient({ host: HOST, port, localAddress: sourceAddress(), requestLimitMs: REQUEST_LIMIT_MS });
  live.add(client);
  pending?.add(client);
  void client.ended.then(() => live.delete(client));
  try {
    await client.opened;
    if (kind === 'login') await client.request({ type: 'login', user, password: PASSWORD });
    else if (kind === 'resume') await client.request({ type: 'resume', user, token });
  } catch (err) {
    client.close();
    throw client.helloTimedOut ? new HelloTimeout((err as Error).message) : err;
  } finally {
    pending?.delete(client);
  }
  return client;
}

/** The kernel's count of connections dropped because a listen queue was full (TcpExt ListenOverflows); null if unreadable. */
function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    const at = names.indexOf('ListenOverflows');
    return at > 0 ? Number(values[at]) : null;
  } catch {
    return null;
  }
}

/** CPU µs all cores have been busy (user + nice + system + irq + softirq + steal), from /proc/stat. */
function machineBusyMicros(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Round {
  kind: Kind;
  n: number;
  done: number;
  /** false: stopped at ROUND_LIMIT_MS, `done` of `n` had completed */
  complete: boolean;
  failures: Map<string, number>;
  /** wall seconds until the last client completed (or the limit) */
  seconds: number;
  perSecond: number;
  /** server CPU µs per completed client, until the server went quiet (what the round set off) */
  serverUs: number;
  /** server CPU seconds per wall second while the round ran */
  serverBusy: number;
  generatorBusy: number;
  /** CPU s per wall s the rest of the machine used while the round ran (other processes, kernel) */
  otherBusy: number;
}

function describeFailures(failures: Map<string, number>): string {
  return [...failures].map(([message, n]) => `${n} x ${message}`).join('; ');
}

function addFailure(failures: Map<string, number>, err: unknown): void {
  const message = ((err as Error).message ?? String(err)).slice(0, 120);
  failures.set(message, (failures.get(message) ?? 0) + 1);
}

/** `names.length` clients, at most `concurrency` outstanding; they stay open (in `live`). */
async function round(server: ParleyServerChild, kind: Kind, names: string[], tokens: Map<string, string>, concurrency: number): Promise<Round> {
  const failures = new Map<string, number>();
  let next = 0;
  let done = 0;
  let lastAt = performance.now();
  const cpu0 = cpuMicros(server.pid);
  const gen0 = process.cpuUsage();
  const machine0 = machineBusyMicros();
  const start = performance.now();
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++];
      try {
        await openClient(server.port, kind, name, tokens.get(name)!);
        done++;
        lastAt = performance.now();
      } catch (err) {
        addFailure(failures, err);
      }
    }
  };
  const complete = await within(Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker)), ROUND_LIMIT_MS);
  if (!complete) next = names.length; // launch no more; what is in flight is closed with the rest
  const seconds = ((complete ? lastAt : performance.now()) - start) / 1000;
  const serverAtEnd = cpuMicros(server.pid) - cpu0;
  const gen = process.cpuUsage(gen0);
  const others = machineBusyMicros() - machine0 - serverAtEnd - (gen.user + gen.system);
  // What the round set off (presence, last-seen writes) is part of its cost: wait for quiet.
  await quiet(server);
  const serverCpu = cpuMicros(server.pid) - cpu0;
  return {
    kind,
    n: names.length,
    done,
    complete,
    failures,
    seconds,
    perSecond: done / seconds,
    serverUs: serverCpu / Math.max(1, done),
    serverBusy: serverAtEnd / 1e6 / seconds,
    generatorBusy: (gen.user + gen.system) / 1e6 / seconds,
    otherBusy: Math.max(0, others) / 1e6 / seconds,
  };
}

const roundName = (kind: Kind) => (kind === 'handshake' ? 'handshake only' : kind === 'login' ? 'handshake+login' : 'handshake+resume');

function printRound(r: Round, note = ''): void {
  console.log(
    `  ${pad(roundName(r.kind), 16)} ${lpad(count(r.n), 6)} clients  ${lpad(fmt(r.perSecond, 0), 6)} /s in ${lpad(fmt(r.seconds, 2), 6)} s` +
      `  server ${lpad(fmt(r.serverUs, 0), 6)} µs/client, busy ${lpad(fmt(r.serverBusy * 100, 0), 3)}%  generator busy ${lpad(fmt(r.generatorBusy * 100, 0), 3)}%` +
      `  others ${lpad(fmt(r.otherBusy * 100, 0), 3)}%${note}`,
  );
  if (!r.complete) console.log(`    INCOMPLETE: stopped after ${ROUND_LIMIT_MS / 1000} s with ${count(r.done)} of ${count(r.n)} done; the rate is done / ${ROUND_LIMIT_MS / 1000} s`);
  if (r.failures.size) console.log(`    FAILED ${count([...r.failures.values()].reduce((a, b) => a + b, 0))}: ${describeFailures(r.failures)}`);
}

/** true if `promise` settled within `ms`, false if the time ran out first. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer!: NodeJS.Timeout;
  const limit = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** An unmeasured round of logins and disconnects (JIT, pools, buffers); throws if any failed. */
async function warmUp(server: ParleyServerChild, names: string[], tokens: Map<string, string>): Promise<void> {
  const warm = await round(server, 'login', names, tokens, CONCURRENCY);
  if (warm.failures.size || !warm.complete) throw new Error(`warm-up logins failed: ${describeFailures(warm.failures)}`);
  await closeAll(server);
}

/** Waits until the server uses under 3% of a core over a quarter second (it has drained its queues). */
async function quiet(server: ParleyServerChild, ms = QUIET_LIMIT_MS): Promise<boolean> {
  const deadline = performance.now() + ms;
  let last = cpuMicros(server.pid);
  let lastAt = performance.now();
  for (;;) {
    await sleep(250);
    const now = cpuMicros(server.pid);
    const at = performance.now();
    if (now - last < 0.03 * (at - lastAt) * 1000) return true;
    if (at > deadline) {
      console.log(`    (the server was still busy ${ms / 1000} s later: going on)`);
      return false;
    }
    last = now;
    lastAt = at;
  }
}

/** Closes every live client and waits until the server holds no connection and is quiet again. */
async function closeAll(server: ParleyServerChild): Promise<void> {
  const clients = [...live];
  for (const c of clients) c.close();
  await within(Promise.all(clients.map((c) => c.ended)), 30_000);
  const deadline = performance.now() + QUIET_LIMIT_MS;
  while ((await server.stats()).connections > 0) {
    if (performance.now() > deadline) throw new Error('the server still holds connections after every client closed');
    await sleep(100);
  }
  await quiet(server);
}

// ---- memory --------------------------------------------------------------------------------

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  connections: number;
  online: number;
  /** the same right after a full garbage collection (through the inspector); NaN where that failed */
  gc: { rss: number; heapUsed: number; external: number };
}

async function memory(server: ParleyServerChild, collect = true): Promise<Memory> {
  await quiet(server);
  await sleep(1000);
  const stats: ServerStats = await server.stats();
  const now = { rss: rssBytes(server.pid), heapUsed: stats.heapUsed, external: stats.external, connections: stats.connections, online: stats.online };
  let gc = { rss: NaN, heapUsed: NaN, external: NaN };
  if (collect && (await collectGarbage(server))) {
    await sleep(500);
    const after = await server.stats();
    gc = { rss: rssBytes(server.pid), heapUsed: after.heapUsed, external: after.external };
  }
  return { ...now, gc };
}

const inspectors = new WeakMap<ParleyServerChild, RegExpExecArray | null>();
/**
 * The server's inspector address. The server starts with --inspect-port=127.0.0.1:0 only (an
 * inspector listening from the start would be the port ParleyServerChild finds): SIGUSR1 opens it
 * when first needed, and it says where on stderr ("Debugger listening on ws://...").
 */
async function inspectorUrl(server: ParleyServerChild): Promise<RegExpExecArray | null> {
  if (inspectors.has(server)) return inspectors.get(server)!;
  server.child.kill('SIGUSR1');
  let url: RegExpExecArray | null = null;
  for (let i = 0; i < 50 && !url; i++) {
    await sleep(100);
    url = /Debugger listening on ws:\/\/127\.0\.0\.1:(\d+)(\/[\w-]+)/.exec(server.log);
  }
  inspectors.set(server, url);
  return url;
}

/**
 * A full GC in the server: HeapProfiler.collectGarbage through its inspector (see inspectorUrl), over a minimal WebSocket client. false where that did not work.
 */
async function collectGarbage(server: ParleyServerChild): Promise<boolean> {
  const url = await inspectorUrl(server);
  if (!url) return false;
  const exchange = new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(url[1]) });
      let buffer = Buffer.alloc(0);
      let upgraded = false;
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.on('error', () => done(false));
      socket.on('connect', () =>
        socket.write(`GET ${url[2]} HTTP/1.1\r\nHost: 127.0.0.1:${url[1]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
      );
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!upgraded) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101')) return done(false);
          upgraded = true;
          buffer = buffer.subarray(end + 4);
          const payload = Buffer.from(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
          const mask = randomBytes(4);
          const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
          socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked])); // payload < 126 bytes
        }
        // Server frames are unmasked; the reply to id 1 ends the exchange.
        while (buffer.length >= 2) {
          let length = buffer[1] & 0x7f;
          let offset = 2;
          if (length === 126) [length, offset] = [buffer.readUInt16BE(2), 4];
          else if (length === 127) [length, offset] = [Number(buffer.readBigUInt64BE(2)), 10];
          if (buffer.length < offset + length) return;
          const text = buffer.subarray(offset, offset + length).toString();
          buffer = buffer.subarray(offset + length);
          if (/"id":1\b/.test(text)) return done(!text.includes('"error"'));
        }
      });
  });
  return Promise.race([exchange, sleep(30_000).then(() => false)]);
}

function perConnection(loaded: Memory, empty: Memory, n: number) {
  const per = (a: number, b: number) => (a - b) / n;
  return {
    rss: per(loaded.rss, empty.rss),
    heapUsed: per(loaded.heapUsed, empty.heapUsed),
    external: per(loaded.external, empty.external),
    gc: { rss: per(loaded.gc.rss, empty.gc.rss), heapUsed: per(loaded.gc.heapUsed, empty.gc.heapUsed), external: per(loaded.gc.external, empty.gc.external) },
  };
}

type PerConnection = ReturnType<typeof perConnection>;
const describePerNow = (p: PerConnection) => `RSS ${kb(p.rss)} (V8 heap ${kb(p.heapUsed)}, external ${kb(p.external)})`;
const describePer = (p: PerConnection) =>
  `${describePerNow(p)}; after a full GC in both: RSS ${kb(p.gc.rss)} (heap ${kb(p.gc.heapUsed)}, external ${kb(p.gc.external)})`;
const describeMemory = (m: Memory) =>
  `RSS ${mb(m.rss)}, heapUsed ${mb(m.heapUsed)}, external ${mb(m.external)}` +
  (isNaN(m.gc.rss) ? '' : `; after a full GC: RSS ${mb(m.gc.rss)}, heapUsed ${mb(m.gc.heapUsed)}, external ${mb(m.gc.external)}`);

// ---- reference figures ---------------------------------------------------------------------

/** `openssl speed -seconds 2 rsa2048` on `core` (where the server will run): sign/s, or why not. */
function opensslSignsPerSecond(core: number): { signs: number; line: string } | { error: string } {
  const argv = ['openssl', 'speed', '-seconds', '2', 'rsa2048'];
  const run = spawnSync('taskset', ['-c', String(core), ...argv], { encoding: 'utf8', timeout: 60_000 });
  const result = run.error || run.status !== 0 ? spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 }) : run;
  if (result.error) return { error: `openssl speed: ${result.error.message}` };
  const line = /^rsa\s+2048 bits\s.*$/m.exec(result.stdout);
  const match = line && /^rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)/.exec(line[0]);
  if (!match) return { error: `openssl speed printed no 'rsa 2048 bits ... sign/s' line (exit ${result.status}): ${result.stderr.slice(0, 200)}` };
  return { signs: Number(match[1]), line: line[0].trim() };
}

function scryptMs(params: typeof DEFAULT_SCRYPT, runs: number): Promise<number> {
  const options = { ...params, maxmem: 256 * params.N * params.r };
  const salt = randomBytes(16);
  return (async () => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await new Promise<void>((resolve, reject) => scrypt(PASSWORD, salt, 32, options, (err) => (err ? reject(err) : resolve())));
      times.push(performance.now() - t);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  })();
}

const hardFileLimit = () => {
  const match = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match ? (match[1] === 'unlimited' ? Infinity : Number(match[1])) : NaN;
};
const sysctl = (key: string) => {
  try {
    return readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim().replace(/\s+/g, '-');
  } catch {
    return '?';
  }
};

/** Raises this process's fd limit for the 50k part: null when done, else exactly why not. */
function raiseOwnFileLimit(): string | null {
  const hard = hardFileLimit();
  if (hard >= HUGE_FDS) return null;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${HUGE_LIMIT}:${HUGE_LIMIT}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    const caps = /^CapEff:\s+(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '?';
    // Raising a hard limit takes CAP_SYS_RESOURCE (capability 24), which uid 0 alone does not give.
    const sysResource = /^[0-9a-f]+$/i.test(caps) ? ((BigInt(`0x${caps}`) >> 24n) & 1n) === 1n : null;
    const why =
      sysResource === false
        ? 'this process, though uid 0, lacks CAP_SYS_RESOURCE (capability 24 is not in CapEff): the sandbox does not let a hard limit be raised'
        : 'the sandbox refuses raising RLIMIT_NOFILE above its hard limit even to root';
    return (
      `the hard fd limit is ${count(hard)} (ulimit -Hn) and the server, one process, needs ${count(HUGE_FDS)}; ` +
      `'prlimit --pid ${process.pid} --nofile=${HUGE_LIMIT}:${HUGE_LIMIT}' (uid ${process.getuid?.()}, CapEff ${caps}) failed: ${stderr}. ` +
      `fs.nr_open=${sysctl('fs.nr_open')}, fs.file-max=${sysctl('fs.file-max')} would allow it: ${why}`
    );
  }
  const now = hardFileLimit();
  return now >= HUGE_FDS ? null : `prlimit reported success but the hard fd limit is still ${count(now)}`;
}

// ---- main -----------------------------------------------------------------------------------

interface Summary {
  figure: string;
  measured: string;
  target: string;
  met: string;
}

async function main(root: string): Promise<void> {
  const began = performance.now();
  console.log('bench/connections: Parley connection setup, memory per connection, reconnect storm');
  console.log(`machine: ${machine()}; load average ${loadAverage()} at start`);
  const summary: Summary[] = [];

  // Reference figures first, on an idle machine: openssl on the core the server will get.
  const openssl = opensslSignsPerSecond(0);
  if ('error' in openssl) console.log(`openssl: ${openssl.error}`);
  else console.log(`openssl speed -seconds 2 rsa2048 (taskset -c 0): ${fmt(openssl.signs, 0)} private-key (sign) ops/s   [${openssl.line.replace(/\s+/g, ' ')}]`);
  const defaultScryptMs = await scryptMs(DEFAULT_SCRYPT, 3);
  const benchScryptMs = await scryptMs(BENCH_SCRYPT, 9);
  console.log(
    `scrypt (node:crypto, one call, median): default cost N=${DEFAULT_SCRYPT.N} r=${DEFAULT_SCRYPT.r} p=${DEFAULT_SCRYPT.p} ${fmt(defaultScryptMs)} ms; ` +
      `the bench accounts' N=${BENCH_SCRYPT.N} r=${BENCH_SCRYPT.r} p=${BENCH_SCRYPT.p} ${fmt(benchScryptMs, 2)} ms`,
  );

  // Accounts with a cheap scrypt, straight into the store, before the server starts.
  let t = performance.now();
  const names = Array.from({ length: BIG }, (_, i) => `c${String(i).padStart(5, '0')}`);
  const tokens = await createAccounts(root, names, BENCH_SCRYPT);
  console.log(`setup: ${count(BIG)} accounts at scrypt N=${BENCH_SCRYPT.N} in ${fmt((performance.now() - t) / 1000)} s`);
  const profileDir = arg('--profile');
  const extraFlags = listArg('--node-flags');
  const server = await ParleyServerChild.start({ root, nodeFlags: ['--inspect-port=127.0.0.1:0', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...extraFlags] });
  servers.add(server);
  try {
    const small = names.slice(0, SMALL);
    clientWrap(FORGE_CLIENT ? 'forge' : 'native');
    // Warm-up: one round of SMALL logins and disconnects (JIT, pools, buffers), then the empty baseline.
    t = performance.now();
    await warmUp(server, small, tokens);
    const pinned = pin(server.pid, 0) && pin(process.pid, 1);
    const pinning = pinned ? 'server (all threads: main, and libuv pool doing scrypt and file writes) pinned to core 0, this generator to core 1 (taskset -a)' : 'not pinned (no taskset or 1 core)';
    console.log(`setup: warm-up round of ${count(SMALL)} logins + disconnects in ${fmt((performance.now() - t) / 1000)} s; ${pinning}`);
    const empty = await memory(server);
    console.log(`server with 0 connections after the warm-up: ${describeMemory(empty)}`);
    // The inspector's full collections above reduce memory as far as V8 can: they shrink the heap
    // and its limits and may drop compiled code, which no running server does. The first round
    // after them ran 15-20% slower than the ones after it (server CPU per handshake 520 against
    // 410-440 µs in the 1,000-client round): warm up again, unmeasured.
    await warmUp(server, small, tokens);
    console.log(
      `\nrounds: at most ${CONCURRENCY} clients outstanding; clients stay connected until the round ends (the server holds N at its end);` +
        `\nrate = clients completed / wall s; server µs/client = server CPU until it went quiet again (incl. what each login` +
        `\nset off: presence, store writes) / clients; busy = CPU s per wall s (100% = one core); others = the rest of the machine's` +
        `\nbusy time meanwhile (other processes; softirq of either side's loopback traffic may land there). Client RSA wrap: ${FORGE_CLIENT ? 'node-forge' : 'node:crypto (see the header)'}.` +
        `\nLogins run scrypt at the bench accounts' N=${BENCH_SCRYPT.N} (the default N=${DEFAULT_SCRYPT.N} costs ${fmt(defaultScryptMs)} ms of pool time per login, see above).\n`,
    );

    const rounds = new Map<string, Round>();
    const run0 = { machine: machineBusyMicros(), server: cpuMicros(server.pid), gen: process.cpuUsage(), at: performance.now() };
    // With forge, as the project's client does it, for comparison (generator-bound).
    if (!FORGE_CLIENT) {
      clientWrap('forge');
      const r = await round(server, 'handshake', small, tokens, CONCURRENCY);
      clientWrap('native');
      printRound(r, '   <- client wraps with node-forge');
      await closeAll(server);
    }
    for (const kind of ['handshake', 'login', 'resume'] as const) {
      const r = await round(server, kind, small, tokens, CONCURRENCY);
      printRound(r);
      rounds.set(`${kind} ${SMALL}`, r);
      await closeAll(server);
    }
    let opened: PerConnection | null = null;
    // BIG: handshakes alone, then logins that stay: the memory figure and the storm (the storm
    // is BIG resumes).
    for (const kind of ['handshake', 'login'] as const) {
      const r = await round(server, kind, names, tokens, CONCURRENCY);
      printRound(r);
      rounds.set(`${kind} ${BIG}`, r);
      if (kind === 'handshake') {
        const open = await memory(server);
        opened = perConnection(open, empty, open.connections);
        console.log(`    memory with those ${count(open.connections)} open (handshake done, not logged in), per connection: ${describePer(opened)}`);
        await closeAll(server);
      }
    }
    if (!FORGE_CLIENT) console.log(`  (native client wraps: ${count(nativeWraps)})`);

    // ---- 2. memory per idle logged-in connection -----------------------------------------
    // No full collection here: the storm comes next, and it would meet a heap shrunk as no
    // running server's is (see the second warm-up). The figure after a full GC is taken after the
    // storm, when the same clients are logged in again.
    const loaded = await memory(server, false);
    const held = loaded.connections;
    const per = perConnection(loaded, empty, held);
    console.log(`\nmemory: ${count(held)} connections, ${count(loaded.online)} online, idle: ${describeMemory(loaded)}`);
    console.log(`  per connection (minus 0 connections after warm-up, / ${count(held)}): ${describePerNow(per)}; after a full GC: after the storm, below`);

    // ---- 3. reconnect storm ---------------------------------------------------------------
    const loggedIn = [...live];
    const users = names.slice(0, loggedIn.length); // the login round took them in order; who is who does not matter for a resume
    console.log(`\nstorm: ${count(loggedIn.length)} logged-in clients drop at once (sockets destroyed) and at once reconnect + resume (no concurrency bound)`);
    await server.stats(); // resets the event-loop delay histogram
    const storm = { failures: new Map<string, number>(), seconds: 0, ok: 0 };
    const cpu0 = cpuMicros(server.pid);
    const gen0 = process.cpuUsage();
    const machine0 = machineBusyMicros();
    const overflows0 = listenOverflows();
    helloRetries = 0;
    t = performance.now();
    for (const c of loggedIn) c.close();
    const resuming = new Set<LightClient>();
    const reconnects = users.map((name) =>
      openClient(server.port, 'resume', name, tokens.get(name)!, resuming).then(
        () => {
          storm.ok++;
          storm.seconds = (performance.now() - t) / 1000;
        },
        (err) => addFailure(storm.failures, err),
      ),
    );
    const stormComplete = await within(Promise.all(reconnects), STORM_LIMIT_MS);
    const after = await server.stats();
    const stormWall = (performance.now() - t) / 1000;
    if (!stormComplete) storm.seconds = stormWall;
    const stormServer = cpuMicros(server.pid) - cpu0;
    const stormGen = process.cpuUsage(gen0);
    const stormOthers = Math.max(0, machineBusyMicros() - machine0 - stormServer - (stormGen.user + stormGen.system)) / 1e6 / stormWall;
    const loop = after.eventLoopDelayMs;
    console.log(
      `  ${count(storm.ok)} of ${count(users.length)} resumed in ${fmt(storm.seconds, 2)} s (${fmt(storm.ok / storm.seconds, 0)} /s)${stormComplete ? '' : ` INCOMPLETE: cut off at ${STORM_LIMIT_MS / 1000} s`}` +
        `\n  server event-loop delay over the storm: ` +
        (loop ? `p50 ${fmt(loop.p50, 2)} ms, p99 ${fmt(loop.p99, 2)} ms, max ${fmt(loop.max, 2)} ms (${count(loop.samples)} samples)` : 'no samples') +
        `\n  server CPU ${fmt(stormServer / 1e6, 2)} s (busy ${fmt((stormServer / 1e6 / stormWall) * 100, 0)}%), generator busy ${fmt(((stormGen.user + stormGen.system) / 1e6 / stormWall) * 100, 0)}%, others ${fmt(stormOthers * 100, 0)}%` +
        (overflows0 !== null ? `\n  the kernel dropped ${count(listenOverflows()! - overflows0)} connection attempts on a full listen queue (TcpExt ListenOverflows, this machine's every listener)` : '') +
        `\n  ${count(helloRetries)} connections got no hello within ${HELLO_TIMEOUT_MS / 1000} s and were made again, as ParleyClient makes them` +
        `${storm.failures.size ? `\n  FAILED ${count([...storm.failures.values()].reduce((a, b) => a + b, 0))}: ${describeFailures(storm.failures)}` : ''}`,
    );
    if (!stormComplete) {
      // Where the unfinished ones wait: connecting (SYNs dropped on a full listen queue, retried
      // after 1, 3, 7, 15, 31 s), awaiting hello (completed by the kernel with a SYN cookie, then
      // dropped on a full accept queue: made again at the hello deadline), awaiting welcome (the
      // server's queue of unwraps), or for the resume's answer.
      const stages = new Map<string, number>();
      for (const c of resuming) if (!c.closed) stages.set(c.stage, (stages.get(c.stage) ?? 0) + 1);
      console.log(`  still waiting at the cut-off: ${[...stages].map(([stage, n]) => `${count(n)} ${stage === 'open' ? 'for the resume answer' : stage}`).join(', ') || 'none'}; the server holds ${count(after.connections)} connections, ${count(after.online)} online`);
    }
    if (loop && loop.max > 1000) console.log(`  (the histogram takes a sample every 5 ms of loop time: one ${fmt(loop.max / 1000, 1)} s block counts as one sample, so p99 hides it)`);
    if (storm.failures.size) {
      // LightClient reads a clear-text refusal after its key went out as a sealed frame (E_DECRYPT): the server's log says why.
      const reasons = new Map<string, number>();
      for (const m of server.log.matchAll(/closed: (E_[A-Z_]+) ([^\n]{0,80})/g)) reasons.set(`${m[1]} ${m[2]}`, (reasons.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
      if (reasons.size) console.log(`  the server's log (last 50 lines) gives as reasons: ${[...reasons].map(([r, n]) => `${n} x ${r}`).join('; ')}`);
    }
    // ---- 2, continued: the same after a full GC ---------------------------------------------
    const settled = await memory(server);
    const perGc = perConnection(settled, empty, settled.connections).gc;
    console.log(`\nmemory after the storm: ${count(settled.connections)} connections, ${count(settled.online)} online, idle: ${describeMemory(settled)}`);
    console.log(`  per connection after a full GC in both (/ ${count(settled.connections)}): RSS ${kb(perGc.rss)} (V8 heap ${kb(perGc.heapUsed)}, external ${kb(perGc.external)})`);

    const runGen = process.cpuUsage(run0.gen);
    const runOthers = (machineBusyMicros() - run0.machine - (cpuMicros(server.pid) - run0.server) - (runGen.user + runGen.system)) / 1e3 / (performance.now() - run0.at);
    // The run is over: stop the server rather than close BIG clients one by one.
    unpin(server.pid);
    await server.stop();
    for (const c of live) c.close();

    // ---- 2b. 50,000 connections ----------------------------------------------------------
    let hugeFigure: Summary;
    const why = raiseOwnFileLimit();
    if (why) {
      console.log(`\n${count(HUGE)} connections: not run: ${why}`);
      hugeFigure = { figure: `RSS / idle conn, ${count(HUGE)}`, measured: 'not run (fd limit)', target: `< ${kb(TARGET_BYTES_PER_CONN)}`, met: 'n/a' };
    } else {
      hugeFigure = await hugeMemory(root);
    }

    // ---- summary ----------------------------------------------------------------------------
    const signs = 'error' in openssl ? NaN : openssl.signs;
    const hsTarget = signs * TARGET_HANDSHAKE_SHARE;
    const partial = (r: Round) => (r.complete ? '' : ` (${count(r.done)}/${count(r.n)} in ${ROUND_LIMIT_MS / 1000} s)`);
    for (const n of [SMALL, BIG]) {
      const r = rounds.get(`handshake ${n}`)!;
      summary.push({
        figure: `handshakes/s, ${count(n)} clients`,
        measured: `${fmt(r.perSecond, 0)}${isNaN(signs) ? '' : ` (${fmt((r.perSecond / signs) * 100, 0)}% of openssl)`}${partial(r)}`,
        target: isNaN(signs) ? '>= 50% of openssl sign/s (none)' : `>= ${fmt(hsTarget, 0)} (50% of ${fmt(signs, 0)})`,
        met: isNaN(signs) ? 'n/a' : r.perSecond >= hsTarget && r.complete && r.failures.size === 0 ? 'yes' : 'NO',
      });
    }
    for (const n of [SMALL, BIG]) {
      const r = rounds.get(`handshake ${n}`)!;
      summary.push({ figure: `  server CPU / handshake, ${count(n)}`, measured: `${fmt(r.serverUs, 0)} µs`, target: isNaN(signs) ? '-' : `(one openssl sign: ${fmt(1e6 / signs, 0)} µs)`, met: '-' });
    }
    const rows: Array<[string, Round | undefined]> = [
      [`handshake+login/s, ${count(SMALL)} (scrypt N=${BENCH_SCRYPT.N})`, rounds.get(`login ${SMALL}`)],
      [`handshake+login/s, ${count(BIG)} (scrypt N=${BENCH_SCRYPT.N})`, rounds.get(`login ${BIG}`)],
      [`handshake+resume/s, ${count(SMALL)}`, rounds.get(`resume ${SMALL}`)],
    ];
    for (const [figure, r] of rows) {
      summary.push({ figure, measured: `${fmt(r!.perSecond, 0)}, ${fmt(r!.serverUs, 0)} µs CPU each${partial(r!)}`, target: '-', met: r!.failures.size ? 'failures' : '-' });
    }
    summary.push({
      figure: `handshake+resume/s, ${count(users.length)} (the storm)`,
      measured: `${fmt(storm.ok / storm.seconds, 0)}, ${fmt(stormServer / Math.max(1, storm.ok), 0)} µs CPU each${stormComplete ? '' : ' (cut off)'}`,
      target: '-',
      met: storm.failures.size ? 'failures' : '-',
    });
    summary.push({ figure: `login at the default scrypt N=${DEFAULT_SCRYPT.N}`, measured: `+${fmt(defaultScryptMs)} ms pool time each`, target: '-', met: '-' });
    summary.push({ figure: `RSS / idle logged-in conn, ${count(held)}`, measured: `${kb(per.rss)} (heap ${kb(per.heapUsed)}, ext. ${kb(per.external)})`, target: `< ${kb(TARGET_BYTES_PER_CONN)}`, met: per.rss < TARGET_BYTES_PER_CONN ? 'yes' : 'NO' });
    summary.push({ figure: `  same after a full GC (after the storm)`, measured: `${kb(perGc.rss)} (heap ${kb(perGc.heapUsed)}, ext. ${kb(perGc.external)})`, target: '-', met: '-' });
    if (opened) summary.push({ figure: `  open conn, not logged in, ${count(BIG)}`, measured: `${kb(opened.rss)}, after GC ${kb(opened.gc.rss)} (heap ${kb(opened.gc.heapUsed)})`, target: '-', met: '-' });
    summary.push(hugeFigure);
    summary.push({
      figure: `storm event-loop delay p99, ${count(users.length)}`,
      measured: loop ? `${fmt(loop.p99, 1)} ms (max ${fmt(loop.max, 0)} ms; ${fmt(storm.seconds, 1)} s)` : 'no samples',
      target: `< ${TARGET_STORM_P99_MS} ms`,
      met: loop && loop.p99 < TARGET_STORM_P99_MS && stormComplete && storm.failures.size === 0 ? 'yes' : 'NO',
    });
    console.log(`\nsummary (${pinning.startsWith('not') ? 'not pinned' : 'server on core 0, generator on core 1'})`);
    const widths = [44, 44, 32];
    const header = [pad('figure', widths[0]), pad('measured', widths[1]), pad('target', widths[2]), 'met'].join(' ');
    console.log(header);
    console.log('-'.repeat(header.length));
    for (const row of summary) console.log([pad(row.figure, widths[0]), pad(row.measured, widths[1]), pad(row.target, widths[2]), row.met].join(' '));
    console.log(
      `\nother processes on the machine used ${fmt(Math.max(0, runOthers) * 100, 0)}% of a core on average while the rounds and the storm ran` +
        `${runOthers > 0.2 ? ': the figures above are disturbed by that load (the server and the generator had to share their cores)' : ''}`,
    );
    console.log(`(run took ${fmt((performance.now() - began) / 1000, 0)} s; load average ${loadAverage()} at the end)`);
  } finally {
    for (const c of live) c.close();
    await server.stop().catch(() => undefined);
  }
}

/**
 * The memory figure at HUGE connections (resumes, no scrypt), with a server started through
 * prlimit. The round limit may cut it short, and the figure is then per connection held.
 */
async function hugeMemory(root: string): Promise<Summary> {
  const figure = `RSS / idle logged-in conn, ${count(HUGE)}`;
  const hugeRoot = join(root, 'huge');
  const names = Array.from({ length: HUGE }, (_, i) => `h${String(i).padStart(5, '0')}`);
  const tokens = await createAccounts(hugeRoot, names, BENCH_SCRYPT);
  const server = await ParleyServerChild.start({ root: hugeRoot, nodeFlags: ['--inspect-port=127.0.0.1:0'], launcher: ['prlimit', `--nofile=${HUGE_LIMIT}:${HUGE_LIMIT}`] });
  servers.add(server);
  try {
    const limits = readFileSync(`/proc/${server.pid}/limits`, 'utf8');
    const serverHard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(limits)?.[1] ?? NaN);
    if (!(serverHard >= HUGE_FDS)) throw new Error(`the server's fd limit is ${serverHard} after prlimit`);
    const warm = await round(server, 'resume', names.slice(0, SMALL), tokens, CONCURRENCY);
    if (!warm.complete) throw new Error('the warm-up round did not finish');
    await closeAll(server);
    pin(server.pid, 0);
    const empty = await memory(server);
    const r = await round(server, 'resume', names, tokens, CONCURRENCY);
    console.log(`\n${count(HUGE)} connections (server started through prlimit --nofile=${HUGE_LIMIT}:${HUGE_LIMIT}, ${SOURCES} source addresses):`);
    printRound(r);
    const loaded = await memory(server);
    const per = perConnection(loaded, empty, loaded.connections);
    console.log(`  per connection (${count(loaded.connections)} connections, ${count(loaded.online)} online): ${describePer(per)}`);
    return { figure: `RSS / idle logged-in conn, ${count(loaded.connections)}`, measured: kb(per.rss), target: `< ${kb(TARGET_BYTES_PER_CONN)}`, met: per.rss < TARGET_BYTES_PER_CONN && r.failures.size === 0 ? 'yes' : 'NO' };
  } catch (err) {
    console.log(`\n${count(HUGE)} connections: failed: ${(err as Error).message}`);
    return { figure, measured: 'failed', target: `< ${kb(TARGET_BYTES_PER_CONN)}`, met: 'n/a' };
  } finally {
    for (const c of live) c.close();
    await server.stop().catch(() => undefined);
  }
}

/** Servers started, so that a time-out or a signal kills them before their directory goes. */
const servers = new Set<ParleyServerChild>();
const root = mkdtempSync(join(tmpdir(), 'parley-bench-connections-'));
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const c of live) c.close();
  for (const server of servers) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
    const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
    server.child.kill('SIGKILL');
    await within(exited, 5_000);
  }
  rmSync(root, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the server and cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
const runLimit = setTimeout(() => {
  console.error(`\nbench/connections: not finished within ${RUN_LIMIT_MS / 1000} s; stopping`);
  void cleanup().finally(() => process.exit(1));
}, RUN_LIMIT_MS);
runLimit.unref();

exitAfter(main(root), cleanup);
