/**
 * The client's protocol engine: connect, handshake (trust on first use), register/login/resume,
 * request/response correlation, events, liveness pings, reconnect with backoff and session resume,
 * and a queue for what is sent while disconnected. It never imports a UI: plain mode and the
 * blessed UI both drive it through its methods and events.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Channel } from '../crypto/channel.ts';
import { clientKeyExchange, parseHello } from '../crypto/handshake.ts';
import { fingerprint } from '../crypto/keys.ts';
import { KnownServers, type TrustDecision } from '../crypto/known-servers.ts';
import { isErrorCode, ParleyError, toParleyError } from '../protocol/errors.ts';
import { DEFAULT_MAX_FRAME, encodeFrame, FrameDecoder, MAX_FRAME_LIMIT } from '../protocol/frame.ts';
import {
  normalizeUsername,
  parseServerMessage,
  type ClientRequest,
  type HistoryResult,
  type LoginResult,
  type SendResult,
  type ServerMessage,
  type ServerMessageOf,
  type WhoResult,
} from '../protocol/messages.ts';
import { eachJsonBatch, RECORD_JSON, unpackRecords } from '../protocol/records.ts';
import { TAG_BYTES } from '../crypto/channel.ts';
import { AckPacer } from './ack-pacer.ts';
import { LocalData, peerOf, type OutboxItem } from './local-data.ts';
import { SessionStore } from './session-store.ts';

export type ConnectionState = 'disconnected' | 'connecting' | 'handshaking' | 'connected' | 'reconnecting' | 'closed';

export interface ClientOptions {
  host: string;
  port: number;
  /** Directory for known_servers.json and sessions.json. */
  storeDir: string;
  /** Pin the server key up front (`--server-fingerprint`). */
  expectedFingerprint?: string;
  /** Reconnect after an unexpected drop (default true). */
  reconnect?: boolean;
  /** ms before a request without an answer fails with E_TIMEOUT */
  requestTimeoutMs?: number;
  /** ms of silence from the server before a ping; twice it drops the connection */
  pingIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * ms from the TCP connection to the server's hello before the try is given up (E_HANDSHAKE_TIMEOUT)
   * and, when reconnecting, made again. The server speaks first, as soon as it accepts; a
   * connection it never accepted (a listen queue that overflowed in a reconnect storm, with SYN
   * cookies the kernel forgets it) would otherwise wait for a hello that never comes.
   */
  helloTimeoutMs?: number;
  /** Local address to connect from (a multi-homed host; tests use other loopback addresses). */
  localAddress?: string;
}

export interface TrustEvent {
  address: string;
  fingerprint: string;
  decision: TrustDecision;
}

export interface ClientEvents {
  state: [state: ConnectionState, detail: string];
  trust: [event: TrustEvent];
  login: [info: { user: string; resumed: boolean }];
  message: [message: ServerMessageOf<'msg'>];
  presence: [event: ServerMessageOf<'presence'>];
  group_event: [event: ServerMessageOf<'group_event'>];
  /** The server ended the session and said why. */
  notice: [notice: ServerMessageOf<'notice'>];
  /** An error not tied to a request, or one that ended the connection. */
  error: [err: ParleyError];
  /** An edit or deletion of an earlier message. */
  update: [update: ServerMessageOf<'update'>];
  /** A message from the outbox of an earlier run of the client reached its final state. */
  outbox: [info: { item: OutboxItem; outcome: SendResult | ParleyError }];
}

interface PendingRequest {
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: ParleyError) => void;
  timer: NodeJS.Timeout;
}

interface SendWaiter {
  resolve: (result: SendResult) => void;
  reject: (err: ParleyError) => void;
}

/**
 * Default helloTimeoutMs. A server that accepted the connection sends its hello at once, even in a
 * reconnect storm (its queue of RSA unwraps comes after): 5 s is long past any pass of its loop.
 */
export const HELLO_TIMEOUT_MS = 5000;

/**
 * Errors after which a message is worth sending again: the server may never have seen it, or
 * asked us to slow down (E_RATE_LIMITED comes with `retryAfter` seconds).
 */
const TRANSIENT = new Set(['E_DISCONNECTED', 'E_TIMEOUT', 'E_RATE_LIMITED']);

/** Notices after which reconnecting would be wrong: the session was ended on purpose. */
const FINAL_NOTICES = new Set(['E_REPLACED', 'E_IDLE_TIMEOUT']);

export function newMessageId(): string {
  return randomBytes(9).toString('base64url');
}

export class ParleyClient extends EventEmitter<ClientEvents> {
  readonly address: string;
  private readonly knownServers: KnownServers;
  readonly sessions: SessionStore;
  private readonly options: Required<Omit<ClientOptions, 'expectedFingerprint' | 'localAddress'>> & Pick<ClientOptions, 'expectedFingerprint' | 'localAddress'>;

  private socket: Socket | null = null;
  private channel: Channel | null = null;
  private decoder: FrameDecoder | null = null;
  private _state: ConnectionState = 'disconnected';
  private nextRequest = 1;
  private readonly pending = new Map<string, PendingRequest>();
  private outbox: string[] = [];
  private flushScheduled = false;
  /** Callers waiting for the final state of their messages, by msgId. */
  private readonly waiters = new Map<string, SendWaiter>();
  /** msgIds sent on the current connection and not answered yet. */
  private readonly inFlight = new Set<string>();
  /** Outbox messages sent at least once and not yet settled: any later copy is a resend. */
  private readonly sentOnce = new Set<string>();
  /** Delivery ids to acknowledge, sent together in paced `received` messages. */
  private readonly acks = new AckPacer((ids) => {
    for (let i = 0; i < ids.length; i += 4096) this.queue({ type: 'received', ids: ids.slice(i, i + 4096) });
  });
  /** The user's local data (outbox, seen ids, history); opened at login. */
  data: LocalData | null = null;
  private dataUser: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Set by E_RATE_LIMITED: the outbox goes out one message per answer until it is empty. */
  private paced = false;
  private welcomeWaiter: { resolve: () => void; reject: (err: ParleyError) => void } | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Runs from the TCP connection to the server's hello (helloTimeoutMs). */
  private helloTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private lastHeard = 0;
  private pingOutstanding = false;
  private wantReconnect: boolean;
  /**
   * Between a dropped connection and the next `welcome`: every failed try, in whatever state it
   * failed (refused, or closed in the handshake by a server killed or restarting), schedules the
   * next. Reading it from the state alone gave up for good on a try that reached the handshake.
   */
  private reconnecting = false;
  /** Set once logged in; a reconnect resumes this user's session. */
  user: string | null = null;
  private token: string | null = null;
  private authenticated = false;
  serverFingerprint: string | null = null;
  maxText = 8000;
  /** The largest frame the server accepts, from its welcome. */
  private serverMaxFrame = DEFAULT_MAX_FRAME;

  constructor(options: ClientOptions) {
    super();
    this.options = {
      reconnect: true,
      requestTimeoutMs: 15_000,
      pingIntervalMs: 30_000,
      backoffInitialMs: 500,
      backoffMaxMs: 15_000,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      ...options,
    };
    this.address = `${options.host}:${options.port}`;
    this.knownServers = new KnownServers(join(options.storeDir, 'known_servers.json'));
    this.sessions = new SessionStore(join(options.storeDir, 'sessions.json'));
    this.backoffMs = this.options.backoffInitialMs;
    this.wantReconnect = this.options.reconnect;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** Logged in on the current connection (not merely remembering who to resume as). */
  get loggedIn(): boolean {
    return this.authenticated && this._state === 'connected';
  }

  /** Messages typed while disconnected, waiting to be sent. */
  get queuedCount(): number {
    return this.data ? this.data.pending().length - this.inFlight.size : 0;
  }

  private setState(state: ConnectionState, detail = ''): void {
    this._state = state;
    this.emit('state', state, detail);
  }

  // ---- connecting ------------------------------------------------------------------------

  /** Connects and completes the handshake. Rejects with a coded error (E_UNREACHABLE, E_SERVER_KEY_CHANGED, ...). */
  connect(): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    this.wantReconnect = this.options.reconnect;
    return this.open('connecting');
  }

  private open(state: 'connecting' | 'reconnecting'): Promise<void> {
    this.setState(state, this.address);
    return new Promise<void>((resolve, reject) => {
      this.welcomeWaiter = { resolve, reject };
      const { host, port, localAddress } = this.options;
      const socket = netConnect({ host, port, noDelay: true, ...(localAddress !== undefined && { localAddress }) });
      this.socket = socket;
      // The server's own frame limit is at most MAX_FRAME_LIMIT; it says which in `welcome`.
      this.decoder = new FrameDecoder({ onFrame: (payload) => this.onFrame(payload), onFrameError: (err) => this.fail(err) }, MAX_FRAME_LIMIT);
      socket.setKeepAlive(true, 30_000);
      socket.on('connect', () => {
        this.setState('handshaking', this.address);
        const seconds = this.options.helloTimeoutMs / 1000;
        this.helloTimer = setTimeout(() => {
          this.helloTimer = null;
          this.fail(new ParleyError('E_HANDSHAKE_TIMEOUT', `${this.address} took the connection but sent no hello within ${seconds} s (a server too busy to accept it)`, { fatal: true }));
        }, this.options.helloTimeoutMs);
      });
      socket.on('data', (chunk: Buffer) => {
        this.lastHeard = Date.now();
        this.pingOutstanding = false;
        this.decoder?.write(chunk);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (this._state === 'connecting' || this._state === 'reconnecting') {
          this.settleWelcome(new ParleyError('E_UNREACHABLE', `cannot reach ${this.address}: ${err.code ?? err.message}`));
        }
      });
      socket.on('close', () => this.onClose(socket));
    });
  }

  private settleWelcome(err?: ParleyError): void {
    const waiter = this.welcomeWaiter;
    this.welcomeWaiter = null;
    if (!waiter) return;
    if (err) waiter.reject(err);
    else waiter.resolve();
  }

  private onFrame(payload: Buffer): void {
    if (this.channel === null) {
      this.onHandshakeFrame(payload);
      return;
    }
    let records;
    try {
      records = unpackRecords(this.channel.open(payload));
    } catch (err) {
      // A server that fails here either lost our key or is not the server: read a clear error if any.
      this.fail(this.clearError(payload) ?? toParleyError(err));
      return;
    }
    for (const record of records) {
      if (record.kind !== RECORD_JSON) continue;
      let message: ServerMessage;
      try {
        message = parseServerMessage(record.body.toString('utf8'));
      } catch (err) {
        // A newer server's message types are ignored, as the protocol promises (PROTOCOL.md).
        if (!(err instanceof ParleyError && err.code === 'E_UNKNOWN_TYPE')) this.emit('error', toParleyError(err));
        continue;
      }
      this.onMessage(message);
    }
  }

  /** The server's clear-text `{type:"error"}` frame, sent when it fails before the channel exists. */
  private clearError(payload: Buffer): ParleyError | null {
    try {
      const data = JSON.parse(payload.toString('utf8'));
      if (data?.type === 'error' && typeof data.message === 'string') {
        return new ParleyError(isErrorCode(data.code) ? data.code : 'E_HANDSHAKE', `server: ${data.message}`.slice(0, 500), { fatal: true });
      }
    } catch {
      // not JSON: not an error frame
    }
    return null;
  }

  private onHandshakeFrame(payload: Buffer): void {
    this.stopHelloTimer();
    const serverError = this.clearError(payload);
    if (serverError) {
      this.fail(serverError);
      return;
    }
    try {
      const hello = parseHello(payload);
      const presented = fingerprint(hello.key);
      const decision = this.knownServers.check(this.address, presented, this.options.expectedFingerprint);
      this.serverFingerprint = presented;
      this.emit('trust', { address: this.address, fingerprint: presented, decision });
      const exchange = clientKeyExchange(hello);
      this.socket!.write(encodeFrame(exchange.payload));
      this.channel = Channel.forClient(exchange.keys);
    } catch (err) {
      const error = toParleyError(err);
      // A changed or refused key must not be retried in a loop: the user has to decide.
      if (error.code === 'E_SERVER_KEY_CHANGED' || error.code === 'E_SERVER_KEY_REFUSED' || error.code === 'E_PROTOCOL_VERSION') {
        this.wantReconnect = false;
      }
      this.fail(error.fatal ? error : new ParleyError(error.code, error.message, { fatal: true }));
    }
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.maxText = message.maxText;
        this.serverMaxFrame = message.maxFrame;
        if (message.ackTimeout !== undefined) this.acks.fitWithin(message.ackTimeout);
        this.backoffMs = this.options.backoffInitialMs;
        this.reconnecting = false;
        this.setState('connected', this.address);
        this.startPings();
        this.settleWelcome();
        return;
      case 'ok':
      case 'error': {
        const pending = message.ref !== undefined ? this.pending.get(message.ref) : undefined;
        if (!pending) {
          if (message.type === 'error') this.emit('error', this.toError(message));
          return;
        }
        this.pending.delete(message.ref!);
        clearTimeout(pending.timer);
        if (message.type === 'ok') pending.resolve(message.result ?? {});
        else pending.reject(this.toError(message));
        return;
      }
      case 'msg':
        // Only a private message's sender waits to see it `delivered`.
        this.acks.add(message.msgId, message.scope !== 'private', message.text.length);
        if (this.data && !this.data.markSeen(message.msgId)) return; // redelivered after a reconnect
        if (this.data && this.user) {
          const { type: _type, ...stored } = message;
          void this.data.record(peerOf(this.user, message), stored).catch(() => undefined);
        }
        this.emit('message', message);
        return;
      case 'update':
        this.acks.add(message.updId, true, message.text?.length ?? 0);
        if (this.data && !this.data.markSeen(message.updId)) return;
        if (this.data && this.user) {
          const { action, text, at } = message;
          void this.data
            .change(peerOf(this.user, message), message.msgId, (m) => (action === 'edit' ? { ...m, text: text ?? m.text, editedAt: at } : { ...m, text: '', deleted: true, editedAt: at }))
            .catch(() => undefined);
        }
        this.emit('update', message);
        return;
      case 'presence':
        this.emit('presence', message);
        return;
      case 'group_event':
        this.emit('group_event', message);
        return;
      case 'notice':
        if (FINAL_NOTICES.has(message.code)) {
          this.wantReconnect = false;
          // Only our own token: another terminal sharing this store may have saved a newer one.
          if (this.user && this.sessions.get(this.address, this.user)?.token === this.token) this.sessions.remove(this.address, this.user);
          this.user = null;
          this.token = null;
        }
        this.emit('notice', message);
        return;
      case 'ping':
        this.queue({ type: 'pong', id: message.id });
        return;
      case 'pong':
        return;
    }
  }

  private toError(message: ServerMessageOf<'error'>): ParleyError {
    return new ParleyError(isErrorCode(message.code) ? message.code : 'E_INTERNAL', message.message, { details: message.details });
  }

  private fail(err: ParleyError): void {
    if (!this.socket) return;
    this.settleWelcome(err);
    if (this._state === 'connected') this.emit('error', err);
    this.socket.destroy();
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.channel = null;
    this.decoder = null;
    this.outbox = [];
    this.authenticated = false;
    this.stopHelloTimer();
    this.stopPings();
    const wasConnected = this._state === 'connected';
    this.settleWelcome(new ParleyError('E_UNREACHABLE', `connection to ${this.address} closed during the handshake`));
    for (const [ref, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new ParleyError('E_DISCONNECTED', 'the connection dropped before the server answered'));
      this.pending.delete(ref);
    }
    if (this._state === 'closed') return;
    if (this.wantReconnect && (wasConnected || this.reconnecting)) {
      this.scheduleReconnect();
    } else {
      this.setState('disconnected', wasConnected ? 'connection closed' : 'could not connect');
    }
  }

  private scheduleReconnect(): void {
    this.reconnecting = true;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs);
    this.setState('reconnecting', `retrying in ${(delay / 1000).toFixed(1)} s`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open('reconnecting').then(
        () => this.afterReconnect(),
        // onClose schedules the next try; a changed or refused key stops them, and must be said
        (err: ParleyError) => {
          if (!this.wantReconnect && this._state !== 'closed') this.emit('error', err);
        },
      );
    }, delay);
  }

  private async afterReconnect(): Promise<void> {
    const user = this.user;
    const token = this.token;
    if (!user || !token) return;
    try {
      await this.resume(user, token);
    } catch (err) {
      const error = toParleyError(err);
      // A server killed or restarted mid-resume is not an error to report but one more try: a
      // dropped connection is being made again already, and one whose resume went unanswered is
      // dropped so that it is, rather than left connected and logged out with the outbox stuck.
      if (TRANSIENT.has(error.code)) {
        if (error.code !== 'E_DISCONNECTED') this.socket?.destroy();
        return;
      }
      this.emit('error', error);
    }
  }

  /**
   * Sends every outbox message not already on its way, in order. After the server asked us to
   * slow down, one at a time instead: each answer sends the next, so a long outbox drains at
   * the rate the server allows without being refused again and again.
   */
  private flushOutbox(): void {
    if (!this.data) return;
    if (this.paced && this.inFlight.size > 0) return;
    for (const item of this.data.pending()) {
      if (this.inFlight.has(item.msgId) || !this.loggedIn) continue;
      this.transmit(item, true);
      if (this.paced) return;
    }
    if (this.data.pending().length === 0) this.paced = false;
  }

  /** Sends one outbox message and settles it when the server gives its final answer. */
  private transmit(item: OutboxItem, resend: boolean): void {
    // Whatever the caller thinks, a message that went out before goes again as a resend, so that
    // the server looks for the first copy (it may have been recorded before a restart).
    const again = resend || this.sentOnce.has(item.msgId) ? { resend: true } : {};
    this.sentOnce.add(item.msgId);
    const request: ClientRequest =
      item.scope === 'private'
        ? { type: 'send', msgId: item.msgId, to: item.to!, text: item.text, ...again }
        : item.scope === 'group'
          ? { type: 'group_send', msgId: item.msgId, group: item.group!, text: item.text, ...again }
          : { type: 'broadcast', msgId: item.msgId, text: item.text, ...again };
    this.inFlight.add(item.msgId);
    this.request<SendResult>(request).then(
      (result) => this.settle(item, result),
      (err: ParleyError) => {
        this.inFlight.delete(item.msgId);
        // Not answered: it stays in the outbox and goes again after the reconnect, or, when the
        // connection is still up (a slow answer), after a pause.
        if (err.code === 'E_RATE_LIMITED') this.paced = true;
        if (!TRANSIENT.has(err.code)) this.settle(item, err);
        else if (err.code !== 'E_DISCONNECTED') this.retryLater(err);
      },
    );
  }

  /** Sends the outbox again after a pause: one timer, however many messages wait. */
  private retryLater(err: ParleyError): void {
    if (this.retryTimer) return;
    const seconds = typeof err.details.retryAfter === 'number' ? err.details.retryAfter : 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flushOutbox();
    }, Math.max(50, seconds * 1000));
    this.retryTimer.unref();
  }

  private settle(item: OutboxItem, outcome: SendResult | ParleyError): void {
    this.inFlight.delete(item.msgId);
    this.sentOnce.delete(item.msgId);
    const data = this.data;
    if (data) {
      void data.removeFromOutbox(item.msgId).catch(() => undefined);
      const status = outcome instanceof ParleyError ? 'failed' : outcome.status;
      if (this.user) void data.change(peerOf(this.user, { ...item, from: this.user }), item.msgId, (m) => ({ ...m, status })).catch(() => undefined);
    }
    if (this.paced && !this.retryTimer) this.flushOutbox();
    const waiter = this.waiters.get(item.msgId);
    this.waiters.delete(item.msgId);
    if (waiter) {
      if (outcome instanceof ParleyError) waiter.reject(outcome);
      else waiter.resolve(outcome);
    } else {
      this.emit('outbox', { item, outcome });
    }
  }

  private startPings(): void {
    this.stopPings();
    this.lastHeard = Date.now();
    const interval = this.options.pingIntervalMs;
    this.pingTimer = setInterval(() => {
      const silent = Date.now() - this.lastHeard;
      if (silent > 2 * interval) {
        this.socket?.destroy(); // half-open: the server is gone without a FIN
      } else if (silent > interval && !this.pingOutstanding) {
        this.pingOutstanding = true;
        this.queue({ type: 'ping' });
      }
    }, Math.max(50, interval / 2));
    this.pingTimer.unref();
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private stopHelloTimer(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  // ---- sending ---------------------------------------------------------------------------

  private queue(message: object): void {
    if (!this.channel) return;
    this.outbox.push(JSON.stringify(message));
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.channel || !this.socket || this.outbox.length === 0) return;
      const batch = this.outbox;
      this.outbox = [];
      const { socket, channel } = this;
      eachJsonBatch(batch, this.serverMaxFrame - TAG_BYTES, (plaintext) => socket.write(channel.sealFrame(plaintext)));
    });
  }

  /** Sends one request and resolves with the `ok` result, or rejects with the coded error. */
  request<T = Record<string, unknown>>(request: ClientRequest): Promise<T> {
    if (this._state !== 'connected' || !this.channel) {
      return Promise.reject(new ParleyError('E_DISCONNECTED', `not connected to ${this.address}`));
    }
    const id = String(this.nextRequest++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyError('E_TIMEOUT', `the server did not answer within ${this.options.requestTimeoutMs / 1000} s`));
      }, this.options.requestTimeoutMs);
      this.pending.set(id, { resolve: resolve as (r: Record<string, unknown>) => void, reject, timer });
      this.queue({ ...request, id });
    });
  }

  // ---- account -----------------------------------------------------------------------------

  /**
   * Opens the local data of the user about to log in, before the request goes out: deliveries
   * may follow the server's reply at once, and they must be checked against `seen`.
   */
  private async prepareData(user: string): Promise<void> {
    const name = normalizeUsername(user);
    if (this.data && this.dataUser === name) return;
    this.data = await LocalData.open(this.options.storeDir, this.address, name);
    this.dataUser = name;
  }

  private loggedInAs(result: LoginResult, resumed: boolean): LoginResult {
    this.user = result.user;
    this.token = result.token;
    this.authenticated = true;
    this.sessions.save(this.address, result.user, { token: result.token, expiresAt: result.expiresAt });
    this.emit('login', { user: result.user, resumed });
    this.flushOutbox();
    return result;
  }

  async register(user: string, password: string): Promise<LoginResult> {
    await this.prepareData(user);
    const result = await this.request<LoginResult>({ type: 'register', user, password });
    return this.loggedInAs(result, false);
  }

  async login(user: string, password: string): Promise<LoginResult> {
    await this.prepareData(user);
    const result = await this.request<LoginResult>({ type: 'login', user, password });
    return this.loggedInAs(result, false);
  }

  async resume(user: string, token: string): Promise<LoginResult> {
    await this.prepareData(user);
    try {
      const result = await this.request<Omit<LoginResult, 'token'>>({ type: 'resume', user, token });
      return this.loggedInAs({ ...result, token }, true);
    } catch (err) {
      if (err instanceof ParleyError && err.code === 'E_BAD_TOKEN') this.sessions.remove(this.address, normalizeUsername(user));
      throw err;
    }
  }

  /** Resumes the saved session of `user`, if there is one. False when none is saved or it expired. */
  async resumeSaved(user: string): Promise<boolean> {
    const name = normalizeUsername(user);
    const saved = this.sessions.get(this.address, name);
    if (!saved) return false;
    try {
      await this.resume(name, saved.token);
      return true;
    } catch (err) {
      if (err instanceof ParleyError && (err.code === 'E_BAD_TOKEN' || err.code === 'E_NO_SUCH_USER')) return false;
      throw err;
    }
  }

  /** Ends this session and revokes its token: the next start asks for the password. */
  async logout(): Promise<void> {
    const user = this.user;
    this.wantReconnect = false;
    this.acks.flush(); // ahead of the logout, so that nothing acknowledged late is sent again
    await this.request({ type: 'logout' });
    if (user) this.sessions.remove(this.address, user);
    this.user = null;
    this.token = null;
  }

  /** Leaves politely; the saved token stays, so the next start resumes. */
  async quit(): Promise<void> {
    this.wantReconnect = false;
    if (this._state === 'connected') {
      this.acks.flush(); // ahead of the quit, so that nothing acknowledged late is sent again
      await this.request({ type: 'quit' }).catch(() => undefined);
    }
    // Written before quit resolves: a client started next on the same store would otherwise
    // replay the journal while this one still writes the same files.
    await this.close();
  }

  /** Forgets this server's pinned key: for when the user declines a key trusted on first use. */
  forgetServerKey(): void {
    this.knownServers.forget(this.address);
  }

  /**
   * Closes the connection for good, without a word to the server. Resolves once the local store
   * is written (never rejects: what cannot be written is journaled for the next start).
   */
  close(): Promise<void> {
    this.wantReconnect = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopPings();
    this.setState('closed', 'closed');
    this.socket?.destroy();
    const written = this.data?.flush().catch(() => undefined); // what was seen must be remembered next time
    for (const [msgId, waiter] of this.waiters) {
      this.waiters.delete(msgId);
      waiter.reject(new ParleyError('E_DISCONNECTED', 'the client closed before the server confirmed this; it stays in the outbox and is sent at the next start'));
    }
    return written ?? Promise.resolve();
  }

  // ---- chat ------------------------------------------------------------------------------

  who(since?: number): Promise<WhoResult> {
    return this.request<WhoResult>(since === undefined ? { type: 'who' } : { type: 'who', since });
  }

  /**
   * Sends a private message. It goes into the persistent outbox first, so that it is sent again
   * after a reconnect or a restart until the server confirms it `stored` or `delivered`; the
   * promise settles with that final answer (or a final error such as E_NO_SUCH_USER).
   */
  sendPrivate(to: string, text: string, msgId = newMessageId()): Promise<SendResult> {
    return this.enqueue({ msgId, scope: 'private', to: normalizeUsername(to), text, createdAt: Date.now() });
  }

  broadcast(text: string, msgId = newMessageId()): Promise<SendResult> {
    return this.enqueue({ msgId, scope: 'broadcast', text, createdAt: Date.now() });
  }

  /** A message to every member of `group`; like private ones it goes through the outbox. */
  groupSend(group: string, text: string, msgId = newMessageId()): Promise<SendResult> {
    return this.enqueue({ msgId, scope: 'group', group: group.toLowerCase().replace(/^#/, ''), text, createdAt: Date.now() });
  }

  private async enqueue(item: OutboxItem): Promise<SendResult> {
    const data = this.data;
    if (!data || this.user === null) throw new ParleyError('E_NOT_LOGGED_IN', 'log in first: /login NAME or /register NAME');
    const result = new Promise<SendResult>((resolve, reject) => this.waiters.set(item.msgId, { resolve, reject }));
    result.catch(() => undefined); // it may settle while we still await the disk; the caller gets it below
    await data.addToOutbox(item);
    const status = this.loggedIn ? 'sent' : 'queued';
    const { createdAt, ...fields } = item;
    // The local history is a copy (the server keeps its own): a write it loses must not stop the client.
    void data.record(peerOf(this.user, { ...item, from: this.user }), { ...fields, from: this.user, ts: createdAt, status }).catch(() => undefined);
    // A login during the await above may already have sent it from the outbox, and even had its
    // answer (then it is settled: no waiter). Paced (rate-limited), it waits its turn in the outbox.
    if (this.loggedIn && !this.paced && !this.inFlight.has(item.msgId) && this.waiters.has(item.msgId)) this.transmit(item, false);
    return result;
  }

  /** A page of the conversation with `peer` (`*`: the lobby) from the server. */
  history(peer: string, before?: number, limit?: number): Promise<HistoryResult> {
    return this.request<HistoryResult>({ type: 'history', with: peer === '*' ? '*' : normalizeUsername(peer), ...(before !== undefined && { before }), ...(limit !== undefined && { limit }) });
  }

  /** Finds which conversation one of your messages is in (local history), for edit and delete. */
  async conversationOf(msgId: string): Promise<string | undefined> {
    if (!this.data) return undefined;
    for (const peer of await this.data.peers()) if (await this.data.find(peer, msgId)) return peer;
    return undefined;
  }

  edit(peer: string, msgId: string, text: string): Promise<{ msgId: string; at: number }> {
    return this.request({ type: 'edit', with: peer, msgId, text }).then(async (result) => {
      const at = (result as { at: number }).at;
      await this.data?.change(peer, msgId, (m) => ({ ...m, text, editedAt: at }));
      return { msgId, at };
    });
  }

  delete(peer: string, msgId: string): Promise<{ msgId: string; at: number }> {
    return this.request({ type: 'delete', with: peer, msgId }).then(async (result) => {
      const at = (result as { at: number }).at;
      await this.data?.change(peer, msgId, (m) => ({ ...m, text: '', deleted: true, editedAt: at }));
      return { msgId, at };
    });
  }
}
