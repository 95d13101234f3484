/**
 * ngircd (the Debian package, /usr/sbin/ngircd) as a BenchTarget, so that the workloads that run
 * against Parley run unchanged against a plain IRC server: one TCP connection per peer, PRIVMSG to
 * a nick for 1:1 and PRIVMSG to #group for fan-out.
 *
 * For fairness with Parley's client (which batches its writes once per event-loop pass), a peer
 * gathers the lines written in one pass and writes them with one socket.write at its end.
 *
 * IRC lines are at most 512 bytes with CRLF, both ways: a send whose relayed line (with the
 * `:nick!~user@host` prefix the server adds) would not fit throws instead of being cut silently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { listeningPort, sleep } from './proc.ts';
import type { BenchPeer, BenchTarget, DeliverySink } from './target.ts';

export const NGIRCD = '/usr/sbin/ngircd';
const HOST = '127.0.0.1';
/** RFC 1459/2812: 512 bytes including CR LF. */
const IRC_LINE = 512;
/** Logins under way at once (ngircd's listen backlog is small). */
const CONNECTS_IN_FLIGHT = 8;
const JOIN_BATCH = 200;
const CONNECT_LIMIT_MS = 30_000;
const GROUP_LIMIT_MS = 60_000;
/** makeGroup resolves once no peer has received anything for this long (JOIN floods drained). */
const QUIET_MS = 500;

/** The config: loopback only, no lookups, no penalties or connection limits, no idle drops. */
export function ngircdConfig(root: string, port: number): string {
  const includeDir = join(root, 'conf.d'); // empty, so that nothing from /etc/ngircd/ngircd.conf.d comes in
  mkdirSync(includeDir, { recursive: true });
  return [
    '[Global]',
    'Name = bench.parley',
    'Info = Parley benchmark',
    'AdminInfo1 = bench',
    'AdminInfo2 = bench',
    'AdminEMail = bench@localhost',
    `Listen = ${HOST}`,
    `Ports = ${port}`,
    'MotdPhrase = bench',
    '',
    '[Limits]',
    'MaxConnections = 0',
    'MaxConnectionsIP = 0',
    'MaxJoins = 0',
    'MaxNickLength = 31',
    'MaxPenaltyTime = 0', // no flood penalties (ngircd 26+; it warns that this "is not recommended")
    'PingTimeout = 1000000',
    'PongTimeout = 1000000',
    'IdleTimeout = 0',
    '',
    '[Options]',
    'DNS = no',
    'Ident = no',
    'PAM = no',
    'ConnectIPv6 = no',
    `IncludeDir = ${includeDir}`,
    '',
  ].join('\n');
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

const running = new Set<ChildProcess>();
// Last resort: whatever way this process ends, no ngircd outlives it.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts ngircd in the foreground with a config written into `root` (made and removed by the
 * caller), and resolves once it listens. It runs as root here, so ngircd drops to "nobody" itself.
 */
export async function startNgircd(root: string): Promise<IrcTarget> {
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configFile = join(root, 'ngircd.conf');
    writeFileSync(configFile, ngircdConfig(root, port));
    // The shell raises the soft fd limit to the hard one and then becomes ngircd (same pid).
    const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', NGIRCD, '--nodaemon', '--config', configFile], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    child.once('exit', () => running.delete(child));
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 100) output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        lastError = new Error(`ngircd exited (${child.exitCode ?? child.signalCode}) before listening:\n${output.join('')}`);
        break;
      }
      let listening: number | null = null;
      try {
        listening = listeningPort(child.pid!);
      } catch {
        // /proc/PID went away or is not readable yet
      }
      if (listening === port) return new IrcTarget(child, port, output);
      if (/Can't bind socket|Can't listen/i.test(output.join(''))) {
        lastError = new Error(`ngircd could not listen on ${port}:\n${output.join('')}`);
        await stopChild(child);
        break;
      }
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`ngircd did not listen on ${HOST}:${port} within 15 s:\n${output.join('')}`);
      }
      await sleep(50);
    }
  }
  throw lastError ?? new Error('ngircd did not start');
}

/**
 * Where every peer's socket reads (Node's `onread` option), as the Parley light client reads
 * (light-client.ts): both generators' clients read the same way, with no buffer per read for the
 * generator's collector. Reads run one at a time; each is decoded before the next.
 */
const sharedRead = Buffer.allocUnsafe(64 * 1024);

/** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class IrcPeer implements BenchPeer {
  sink: DeliverySink | null = null;
  strays = 0;
  /** Set when the connection closed without close() being called (e.g. ngircd's ERROR text). */
  lost: string | null = null;
  /** `:nick!user@host` as the server puts it before this peer's messages (known after 001). */
  private prefix: string;
  private out: string[] = [];
  private flushQueued = false;
  private tail = '';
  private readonly utf8 = new StringDecoder('utf8');
  private closing = false;
  private lastError = '';
  private welcome: Waiter | null = null;
  private readonly joins = new Map<string, Waiter>();
  /** Channels (lower case) this peer has joined; ngircd answers a second JOIN with nothing. */
  private readonly channels = new Set<string>();
  readonly welcomed: Promise<void>;
  isWelcomed = false;

  constructor(
    readonly name: string,
    private readonly socket: Socket,
    private readonly target: IrcTarget,
  ) {
    this.prefix = `:${name}!~${name}@${HOST}`;
    this.welcomed = new Promise((resolve, reject) => (this.welcome = { resolve, reject }));
    this.welcomed.catch(() => undefined);
    socket.setNoDelay(true);
    socket.on('error', (e) => (this.lastError = e.message));
    socket.on('close', () => this.onClose());
    this.queue(`NICK ${name}\r\nUSER ${name} 0 * :${name}\r\n`);
  }

  sendPrivate(to: string, text: string): void {
    this.queue(this.checked(`PRIVMSG ${to} :${text}\r\n`));
  }

  sendGroup(group: string, text: string): void {
    this.queue(this.checked(`PRIVMSG #${group} :${text}\r\n`));
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    this.socket.end('QUIT :bye\r\n');
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  /** Drops the connection at once (no QUIT), e.g. once the server has gone. */
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /** JOINs #group; resolves at RPL_ENDOFNAMES (366), i.e. after the JOIN echo and the names. */
  join(group: string): Promise<void> {
    const channel = `#${group}`.toLowerCase();
    return new Promise((resolve, reject) => {
      if (this.lost !== null) return reject(new Error(`${this.name}: connection lost: ${this.lost}`));
      if (this.channels.has(channel)) return resolve();
      this.joins.set(channel, { resolve, reject });
      this.queue(`JOIN #${group}\r\n`);
    });
  }

  /** The line as sent, if it and the line the server relays both fit into 512 bytes. */
  private checked(line: string): string {
    // Relayed as `<prefix> PRIVMSG <target> :<text>\r\n`: the sent line plus the prefix and a space.
    const relayed = Buffer.byteLength(line) + this.prefix.length + 1;
    if (relayed > IRC_LINE) throw new Error(`IRC lines are limited to ${IRC_LINE} bytes; relaying this from ${this.name} would take ${relayed}: use shorter texts against ngircd`);
    return line;
  }

  /** Lines written in one event-loop pass leave in one write at its end. */
  private queue(lines: string): void {
    if (this.closing) return;
    this.out.push(lines);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket.destroyed) return;
    const data = this.out.length === 1 ? this.out[0] : this.out.join('');
    this.out = [];
    this.socket.write(data);
  }

  /** What a read put into the shared buffer (see `sharedRead`): decoded at once, as it is reused. */
  onRead(buffer: Uint8Array, bytes: number): boolean {
    this.onData(this.utf8.write(Buffer.from(buffer.buffer, buffer.byteOffset, bytes)));
    return true;
  }

  private onData(chunk: string): void {
    const at = performance.now();
    this.target.lastData = at;
    const data = this.tail.length > 0 ? this.tail + chunk : chunk;
    let start = 0;
    let end: number;
    while ((end = data.indexOf('\r\n', start)) >= 0) {
      this.onLine(data.slice(start, end), at);
      start = end + 2;
    }
    this.tail = start === 0 ? data : data.slice(start);
  }

  private onLine(line: string, at: number): void {
    if (line.length === 0) return;
    if (line.charCodeAt(0) !== 58 /* ':' */) {
      // PING :token, ERROR :reason (no prefix)
      if (line.startsWith('PING ')) this.queue(`PONG ${line.slice(5)}\r\n`);
      else if (line.startsWith('ERROR ')) this.lastError = line.slice(6).replace(/^:/, '');
      return;
    }
    const space = line.indexOf(' ');
    if (space < 0) return;
    const commandEnd = line.indexOf(' ', space + 1);
    const command = commandEnd < 0 ? line.slice(space + 1) : line.slice(space + 1, commandEnd);
    if (command === 'PRIVMSG') {
      const colon = line.indexOf(' :', commandEnd + 1);
      const text = colon < 0 ? '' : line.slice(colon + 2);
      if (this.sink) this.sink(text, at);
      else this.strays++;
      return;
    }
    if (command === '001') {
      // :server 001 nick :Welcome to the Internet Relay Network nick!user@host
      const match = /(\S+!\S+@\S+)\s*$/.exec(line);
      if (match) this.prefix = `:${match[1]}`;
      const welcome = this.welcome;
      this.welcome = null;
      this.isWelcomed = true;
      welcome?.resolve();
      return;
    }
    if (command === '366') {
      // :server 366 nick #channel :End of NAMES list
      const params = line.slice(commandEnd + 1).split(' ');
      const channel = (params[1] ?? '').toLowerCase();
      const waiter = this.joins.get(channel);
      this.channels.add(channel);
      if (waiter) {
        this.joins.delete(channel);
        waiter.resolve();
      }
      return;
    }
    if (command.length === 3 && (command[0] === '4' || command[0] === '5')) {
      // An error numeric: during registration (432, 433, ...) or for a JOIN (403, 405, 471, ...).
      const error = new Error(`${this.name}: ngircd answered ${line}`);
      if (this.welcome) {
        const welcome = this.welcome;
        this.welcome = null;
        welcome.reject(error);
      }
      const params = line.slice(commandEnd + 1).split(' ');
      const waiter = this.joins.get((params[1] ?? '').toLowerCase());
      if (waiter) {
        this.joins.delete((params[1] ?? '').toLowerCase());
        waiter.reject(error);
      }
    }
  }

  private onClose(): void {
    if (!this.closing) {
      this.lost = this.lastError || 'connection closed';
      this.target.noteLost(this);
    }
    this.closing = true;
    const error = new Error(`${this.name}: connection closed${this.lastError ? `: ${this.lastError}` : ''}`);
    if (this.welcome) {
      const welcome = this.welcome;
      this.welcome = null;
      welcome.reject(error);
    }
    for (const waiter of this.joins.values()) waiter.reject(error);
    this.joins.clear();
  }
}

/** Rejects with `message` after `ms` unless `promise` settles first. */
async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class IrcTarget implements BenchTarget {
  readonly name = 'ngircd';
  readonly pid: number;
  readonly peers: IrcPeer[] = [];
  /** performance.now() of the last read any peer made. */
  lastData = 0;
  /** Peers whose connection closed without close(). */
  lostPeers = 0;
  private warned = false;
  private stopping = false;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly output: string[],
  ) {
    this.pid = child.pid!;
  }

  /** The last lines ngircd wrote (it logs to stderr in the foreground). */
  get log(): string {
    return this.output.join('');
  }

  noteLost(peer: IrcPeer): void {
    if (this.stopping) return;
    this.lostPeers++;
    if (!this.warned) {
      this.warned = true;
      console.warn(`ngircd dropped ${peer.name}: ${peer.lost}`);
    }
  }

  async connect(names: string[]): Promise<BenchPeer[]> {
    // ngircd listens with a backlog of about 10: more connects at once overflow it, and the
    // kernel's SYN retries (1, 3, 7, 15 s...) would stretch the logins over half a minute.
    const peers: IrcPeer[] = new Array(names.length);
    let next = 0;
    let welcomed = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < names.length) {
        const i = next++;
        let peer!: IrcPeer;
        const socket = connect({ host: HOST, port: this.port, noDelay: true, onread: { buffer: sharedRead, callback: (bytes, buffer) => peer.onRead(buffer, bytes) } });
        peer = new IrcPeer(names[i], socket, this);
        peers[i] = peer;
        await peer.welcomed;
        welcomed++;
      }
    };
    try {
      await within(
        Promise.all(Array.from({ length: Math.min(CONNECTS_IN_FLIGHT, names.length) }, worker)),
        CONNECT_LIMIT_MS,
        () => `ngircd: only ${welcomed} of ${names.length} connections were welcomed (001) within ${CONNECT_LIMIT_MS / 1000} s`,
      );
    } catch (e) {
      failed = true;
      for (const peer of peers) peer?.close();
      throw e;
    }
    this.peers.push(...peers);
    return peers;
  }

  async makeGroup(group: string, owner: BenchPeer, members: BenchPeer[]): Promise<void> {
    const all = [owner, ...members].map((peer) => {
      if (!(peer instanceof IrcPeer)) throw new Error(`makeGroup: ${peer.name} is not an ngircd peer`);
      return peer;
    });
    const started = Date.now();
    const deadline = started + GROUP_LIMIT_MS;
    let joined = 0;
    for (let i = 0; i < all.length; i += JOIN_BATCH) {
      const batch = all.slice(i, i + JOIN_BATCH);
      await within(
        Promise.all(batch.map((peer) => peer.join(group).then(() => joined++))),
        Math.max(deadline - Date.now(), 0),
        () => `ngircd: only ${joined} of ${all.length} peers joined #${group} within ${GROUP_LIMIT_MS / 1000} s`,
      );
    }
    // Every later JOIN is announced to everyone already in: wait until that flood has been read.
    for (;;) {
      const quiet = performance.now() - this.lastData;
      if (quiet >= QUIET_MS) return;
      if (Date.now() > deadline) throw new Error(`ngircd: #${group} still sending JOIN traffic ${GROUP_LIMIT_MS / 1000} s after the first JOIN`);
      await sleep(Math.min(QUIET_MS - quiet + 5, 100));
    }
  }

  /** IRC has no acknowledgements: nothing is left for the server to read. */
  async settle(): Promise<void> {}

  strays(): number {
    let total = 0;
    for (const peer of this.peers) total += peer.strays;
    return total;
  }

  /**
   * Stops ngircd first and drops the connections after: closing 1,000s of channel members first
   * would have ngircd relay every QUIT to every other member before it could exit.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const peer of this.peers) peer.sink = null;
    await stopChild(this.child);
    for (const peer of this.peers) peer.destroy();
  }
}
