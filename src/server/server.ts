/**
 * parley-server's core: the only file that listens on sockets. One process, one thread, one
 * event loop; every connection is a ServerConnection, every request goes through the Hub.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { webcrypto } from 'node:crypto';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ensureServerKeys, type ServerKeyPair } from '../crypto/keys.ts';
import { Hellos, importUnwrapKey } from '../crypto/handshake.ts';
import { ParleyError } from '../protocol/errors.ts';
import { encodeFrame } from '../protocol/frame.ts';
import { Store } from '../store/store.ts';
import { Accounts } from './accounts.ts';
import type { ServerConfig } from './config.ts';
import { ServerConnection, type ConnectionContext } from './connection.ts';
import { Flushes } from './flushes.ts';
import { Hub } from './hub.ts';
import { addressKey, ConnectionLimiter, MessageLimiter, RefusalLog, type ConnectionRefusal } from './limits.ts';
import { createLogger, type Logger } from './log.ts';
import { ScavengePacer, SCAVENGE_EVERY } from './scavenges.ts';
import { claimStore, releaseStore } from './store-lock.ts';
import { KeyUnwraps } from './unwraps.ts';

export const SERVER_NAME = 'parley-server/0.1.0';
/** Refused connections are logged one in full, then summed up at most this often. */
const REFUSAL_LOG_MS = 5000;

/**
 * Connections the kernel holds for accept(): Node's default of 511 overflowed when a class's
 * worth of clients (or 1,000 in bench/connections) reconnected at once after a restart, and each
 * overflowed one waited for a SYN retry (1 s, then 3 s...). The kernel caps it at somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/** TCP keepalive's first probe after this long idle; pings (`pingInterval`) usually notice first. */
const KEEPALIVE_DELAY_MS = 30_000;

/** A connection heard nothing from for this long is idle: its queues give up their kept room. */
const IDLE_MS = 1000;

/** Sampling period of the event-loop delay histogram that stats() reads. */
const LOOP_DELAY_RESOLUTION_MS = 5;

export interface ServerStats {
  connections: number;
  online: number;
  /** bytes */
  rss: number;
  heapUsed: number;
  external: number;
  /** user + system CPU time of the process so far */
  cpuMicros: number;
  /** delay percentiles (ms) since the previous stats(); null on the first call */
  eventLoopDelayMs: { samples: number; p50: number; p99: number; max: number } | null;
  /** sealed frames written to clients, and the messages they carried, since the server started */
  framesSent: number;
  messagesSent: number;
  /** conversation logs and mailboxes open now, held or idle (--cached-messages bounds the idle ones) */
  openHistories: number;
  openMailboxes: number;
  /** minor collections run because connections came in, since the server started (server/scavenges.ts) */
  scavenges: number;
}

export interface StartOptions {
  log?: Logger;
  /** An in-memory store instead of files (tests). */
  memoryStore?: boolean;
  /** scrypt cost override (tests use a cheap one). */
  scrypt?: { N: number; r: number; p: number };
  /** Cores the process may run on, which decides where RSA unwraps run (tests; server/unwraps.ts). */
  cores?: () => number;
  /** Steps of connection setup (an admission, a handshake) between two minor collections (tests; server/scavenges.ts). */
  scavengeEvery?: number;
}

export class ParleyServer {
  private readonly connections = new Set<ServerConnection>();
  /** What the connections have written (stats): they count into it. */
  readonly sent = { frames: 0, messages: 0 };
  /** When the connections' queued writes leave. */
  private readonly flushes = new Flushes();
  private sweeper: NodeJS.Timeout | null = null;
  private trimmer: NodeJS.Timeout | null = null;
  private readonly refusals = new RefusalLog(REFUSAL_LOG_MS);
  readonly connectionLimiter: ConnectionLimiter;
  readonly messageLimiter: MessageLimiter | null;
  /** Event-loop delay since the last stats() call; made by the first call, so it costs nothing until asked. */
  private loopDelay: IntervalHistogram | null = null;
  private readonly scavenges: ScavengePacer;

  private constructor(
    private readonly server: Server,
    readonly config: ServerConfig,
    readonly keys: ServerKeyPair,
    readonly store: Store,
    readonly accounts: Accounts,
    readonly hub: Hub,
    readonly log: Logger,
    scavengeEvery: number,
  ) {
    this.scavenges = new ScavengePacer(scavengeEvery);
    this.connectionLimiter = new ConnectionLimiter({ burst: config.connBurst, perMinute: config.connPerMinute, maxOpen: config.connMaxPerIp });
    this.messageLimiter =
      config.ratePerSecond > 0 ? new MessageLimiter({ burst: config.rateBurst, perSecond: config.ratePerSecond, strikes: config.rateStrikes }) : null;
  }

  /** Loads keys and accounts, then listens. Rejects with a ParleyError a person can act on. */
  static async start(config: ServerConfig, options: StartOptions = {}): Promise<ParleyServer> {
    const log = options.log ?? createLogger(config.logLevel);
    const keys = ensureServerKeys(config.keysDir);
    if (keys.created) log.info(`created server key pair in ${config.keysDir}/ (fingerprint ${keys.fingerprint})`);
    const unwrapKey = await importUnwrapKey(keys.privatePem);
    if (options.memoryStore) return ParleyServer.startOn(Store.memory(), config, keys, unwrapKey, log, options);
    // Claimed before the store is opened: opening replays and deletes journals.
    claimStore(config.storeDir);
    try {
      return await ParleyServer.startOn(await Store.open(config.storeDir, { flushIntervalMs: config.flushInterval, checkpointMs: config.checkpointInterval }), config, keys, unwrapKey, log, options);
    } catch (err) {
      releaseStore(config.storeDir);
      throw err;
    }
  }

  private static async startOn(store: Store, config: ServerConfig, keys: ServerKeyPair, unwrapKey: webcrypto.CryptoKey, log: Logger, options: StartOptions): Promise<ParleyServer> {
    const accounts = await Accounts.load(store, {
      maxLoginFailures: config.maxLoginFailures,
      blockDurationMs: config.blockDuration * 1000,
      tokenTtlMs: config.tokenDays * 86400_000,
      scrypt: options.scrypt,
    });
    const hub = new Hub(accounts, log, {
      idleTimeoutMs: config.timeout * 1000,
      store,
      mailboxCap: config.mailboxCap,
      cachedMessages: config.cachedMessages,
      ackTimeoutMs: config.ackTimeout * 1000,
      awayAfterMs: config.awayAfter * 1000,
    });
    await hub.load();
    // A damaged mailbox stops the start with the file's name, before anyone is told "stored".
    const mailboxes = await hub.mailboxes.checkAll();
    if (mailboxes > 0) log.info(`${mailboxes} mailbox(es) with messages waiting`);
    // Set at accept for every socket, so a connection costs no setsockopt calls of its own.
    const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS });
    const parley = new ParleyServer(server, config, keys, store, accounts, hub, log, options.scavengeEvery ?? SCAVENGE_EVERY);
    const context: ConnectionContext = {
      identity: { name: SERVER_NAME, hellos: new Hellos(keys.publicPem, SERVER_NAME) },
      hub,
      log,
      maxFrame: config.maxFrame,
      maxQueuedBytes: config.maxQueuedBytes,
      ackTimeoutMs: config.ackTimeout * 1000,
      messageLimiter: parley.messageLimiter,
      unwraps: new KeyUnwraps(unwrapKey, keys.modulusBytes, options.cores),
      scheduleFlush: (connection, later) => parley.flushes.ask(connection, later),
      frameHandled: () => parley.flushes.frameHandled(),
      keyed: () => parley.scavenges.connectionKeyed(),
      sent: parley.sent,
      now: Date.now,
    };
    server.on('connection', (socket) => {
      // Admission comes first: a refused socket costs no key material and no handshake.
      const address = addressKey(socket.remoteAddress);
      const refusal = parley.connectionLimiter.admit(address);
      if (refusal) {
        parley.refuse(socket, address, refusal);
        return;
      }
      const connection = new ServerConnection(socket, context);
      parley.connections.add(connection);
      parley.scavenges.connectionAdmitted();
      socket.once('close', () => {
        parley.connections.delete(connection);
        parley.connectionLimiter.release(address);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${config.host}:${config.port}`;
        if (err.code === 'EADDRINUSE') reject(new ParleyError('E_USAGE', `port ${config.port} on ${config.host} is already in use (another parley-server?); pick another with --port`));
        else if (err.code === 'EACCES') reject(new ParleyError('E_USAGE', `not allowed to listen on ${where}; ports below 1024 need privileges, pick another with --port`));
        else reject(new ParleyError('E_USAGE', `cannot listen on ${where}: ${err.message}`));
      });
      server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    server.on('error', (err) => log.error(`listener error: ${err.message}`));
    parley.startSweeper();
    await parley.trimHistory();
    log.info(`listening on ${parley.address.host}:${parley.address.port}, key ${keys.fingerprint}`);
    return parley;
  }

  get address(): { host: string; port: number } {
    const address = this.server.address();
    if (address === null || typeof address === 'string') return { host: this.config.host, port: this.config.port };
    return { host: address.address, port: address.port };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * What an operator (or bench/) asks of a running server: connections, memory, and the event
   * loop's delay since the previous call (the first call starts measuring, so its delay is empty).
   * parley-server prints it on SIGUSR2.
   */
  stats(): ServerStats {
    const memory = process.memoryUsage();
    const histogram = this.loopDelay;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const loop = histogram && histogram.count > 0
      ? { samples: histogram.count, p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) }
      : null;
    if (histogram) histogram.reset();
    else {
      this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
      this.loopDelay.enable();
    }
    const cpu = process.cpuUsage();
    return {
      connections: this.connections.size,
      online: this.hub.onlineCount,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      cpuMicros: cpu.user + cpu.system,
      eventLoopDelayMs: loop,
      framesSent: this.sent.frames,
      messagesSent: this.sent.messages,
      openHistories: this.hub.histories.openLogs,
      openMailboxes: this.hub.mailboxes.openLogs,
      scavenges: this.scavenges.count,
    };
  }

  /**
   * Turns away a connection over its address's limit: the reason in a clear-text error frame
   * (the way ServerConnection.fail speaks before a handshake), then close. No ServerConnection.
   */
  private refuse(socket: Socket, address: string, refusal: ConnectionRefusal): void {
    const { connBurst, connPerMinute, connMaxPerIp } = this.config;
    let message: string;
    let details: Record<string, unknown>;
    if (refusal.reason === 'rate') {
      const seconds = Math.ceil(refusal.retryAfterMs / 1000);
      message = `too many new connections from ${address}: at most ${connBurst} at once, then ${connPerMinute} a minute; try again in ${seconds} s`;
      details = { retryAfter: seconds };
    } else {
      message = `too many connections from ${address}: at most ${connMaxPerIp} may be open at once; close one and try again`;
      details = { open: refusal.open };
    }
    socket.on('error', () => undefined); // a peer that vanished first is no news
    socket.once('finish', () => socket.destroy());
    socket.end(encodeFrame(Buffer.from(JSON.stringify({ type: 'error', code: 'E_TOO_MANY_CONNECTIONS', message, details }))));
    if (this.refusals.note(address)) this.log.warn(`refused a connection: ${message}`);
  }

  /** Once a tick: handshake deadlines, pings to silent clients, dead peers, idle logouts. */
  private startSweeper(): void {
    const { handshakeTimeout, pingInterval, timeout } = this.config;
    const periods = [1000, handshakeTimeout * 500, pingInterval * 500];
    if (timeout > 0) periods.push(timeout * 250);
    const tick = Math.max(20, Math.min(...periods));
    this.sweeper = setInterval(() => this.sweep(), tick);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    const pingMs = this.config.pingInterval * 1000;
    const open: ServerConnection[] = [];
    for (const c of this.connections) {
      if (c.isHandshaking) {
        if (c.isAwaitingKey && now - c.openedAt > this.config.handshakeTimeout * 1000) {
          c.fail(new ParleyError('E_HANDSHAKE_TIMEOUT', `handshake not completed within ${this.config.handshakeTimeout} s`, { fatal: true }));
        }
        continue;
      }
      if (!c.isOpen) continue;
      c.checkBacklog(now);
      if (!c.isOpen) continue;
      const silent = now - c.lastHeard;
      if (silent > 2 * pingMs) {
        // Half-open: TCP keepalive may take minutes; the missing pong tells us sooner.
        this.log.info(`conn#${c.id} ${c.user ?? ''} silent for ${Math.round(silent / 1000)} s, dropping`);
        c.destroy();
        continue;
      }
      if (silent > pingMs && !c.pingSent) {
        c.pingSent = true;
        c.send({ type: 'ping' });
      }
      if (silent >= IDLE_MS) c.idle();
      open.push(c);
    }
    this.hub.sweepIdle(open);
    this.connectionLimiter.sweep();
    this.messageLimiter?.sweep();
    const refused = this.refusals.summary();
    if (refused) {
      const from = refused.sources.map(([address, n]) => `${address} ×${n}`).join(', ');
      const others = refused.count - refused.sources.reduce((sum, [, n]) => sum + n, 0);
      this.log.warn(`refused ${refused.count} more connection(s) over the per-address limits in the last ${refused.seconds} s (from ${from}${others > 0 ? `, ${others} from other addresses` : ''})`);
    }
  }

  /** Drops history older than --history-days; runs at start and then hourly. */
  private async trimHistory(): Promise<void> {
    if (this.config.historyDays <= 0) return;
    const run = async () => {
      const dropped = await this.hub.histories.trim(Date.now() - this.config.historyDays * 86400_000);
      if (dropped > 0) this.log.info(`history: dropped ${dropped} message(s) older than ${this.config.historyDays} days`);
    };
    await run();
    this.trimmer = setInterval(() => run().catch((err) => this.log.error(`history trim: ${(err as Error).message}`)), 3600_000);
    this.trimmer.unref();
  }

  /** Tells every client the server is going away, writes the store, and closes. */
  async stop(): Promise<void> {
    this.loopDelay?.disable();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.trimmer) clearInterval(this.trimmer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) {
      if (c.isOpen) {
        c.end('E_SERVER_SHUTDOWN', 'the server is shutting down');
        c.flush();
      } else c.destroy();
    }
    await this.hub.recordAll();
    await this.accounts.saveTouched();
    await this.store.flush();
    if (this.store.dir !== null) releaseStore(this.store.dir);
    setTimeout(() => {
      for (const c of this.connections) c.destroy();
    }, 200).unref();
    await closed;
  }
}
