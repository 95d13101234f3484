/**
 * One client connection on the server: handshake, then sealed frames both ways.
 *
 *   bytes (read into one buffer all sockets share) → FrameDecoder → (handshake | Channel.open → records → parseClientMessage) → Hub
 *   Hub → send → outbox → once per event-loop pass: eachJsonBatch → Channel.sealFrame → one socket write a frame
 *
 * Framing and authentication failures close the connection with a coded error; anything wrong
 * with a single message gets a coded error reply and the connection carries on.
 */
import type { Socket } from 'node:net';
import { Channel } from '../crypto/channel.ts';
import type { Hellos } from '../crypto/handshake.ts';
import { ERROR_TEXT, ParleyError, toParleyError, type ErrorCode } from '../protocol/errors.ts';
import { encodeFrame, FrameDecoder, type FrameSink } from '../protocol/frame.ts';
import { putBytes, putShortJsonString, shortJsonStringBytesMax, type JsonBytes, type JsonOut } from '../protocol/json-bytes.ts';
import { MessageError, parseClientMessage, PROTOCOL_VERSION, TEXT_MAX, type ClientMessage, type ServerMessage } from '../protocol/messages.ts';
import { eachJsonBatch, eachRecord, RECORD_JSON } from '../protocol/records.ts';
import { Scratch } from '../protocol/scratch.ts';
import { TAG_BYTES } from '../crypto/channel.ts';
import { writeFrame } from '../crypto/sealed-writes.ts';
import { LaterReply, NO_REPLY, type Hub, type Replier } from './hub.ts';
import type { MessageGate, MessageLimiter } from './limits.ts';
import type { Logger } from './log.ts';
import type { SessionDeliveries } from './delivery.ts';
import type { Session } from './session.ts';
import { readIntoSharedBuffer, type SharedReader } from './shared-reads.ts';
import type { KeyUnwraps, UnwrapRequester } from './unwraps.ts';
import { KeptQueue } from './kept-queue.ts';

export interface ServerIdentity {
  name: string;
  /** the hellos this server sends (its public key, a fresh nonce each) */
  hellos: Hellos;
}

export interface ConnectionContext {
  identity: ServerIdentity;
  hub: Hub;
  log: Logger;
  maxFrame: number;
  maxQueuedBytes: number;
  /** announced in `welcome`, so that clients acknowledge well inside it */
  ackTimeoutMs: number;
  /** Flood control for user commands; null turns it off. */
  messageLimiter: MessageLimiter | null;
  /** Key unwraps (RSA) run through this: on the thread pool, or on the loop a few per pass. */
  unwraps: KeyUnwraps;
  /** Told when a connection's handshake completes (its channel made): scavenges are paced by it (scavenges.ts). */
  keyed(): void;
  /** Asks the server to call `flush` on this connection in this event-loop pass, or (`later`) in one of the next few (flushes.ts). */
  scheduleFlush(connection: ServerConnection, later: boolean): void;
  /** Told after each sealed frame is handled: in a long pass, what was queued so far may leave before it ends (flushes.ts). */
  frameHandled(): void;
  /** Counts what is written, for the server's stats. */
  sent: { frames: number; messages: number };
  now(): number;
}

type State = 'handshake' | 'unwrapping' | 'open' | 'closing' | 'closed';

/** Frames a client may send ahead while its key is being unwrapped (it may pipeline a login). */
const MAX_EARLY_FRAMES = 8;
/** How long a closing connection may take to drain before it is destroyed. */
const CLOSE_GRACE_MS = 2000;
/**
 * How long a client may sit past maxQueuedBytes without taking a byte before it is dropped as a
 * slow consumer. Being past the cap is not enough: a mailbox drain at login sends up to a window
 * of stored messages in one pass, and a client that reads them must not be dropped for it.
 */
const SLOW_CONSUMER_GRACE_MS = 2000;
/**
 * Bytes queued for one client past which it is dropped at once, reading or not (the memory
 * bound): 4x maxQueuedBytes, but never below a full mailbox-drain window of large messages
 * (1024 x ~24 KB of non-ASCII text).
 */
const HARD_QUEUE_FLOOR = 32 * 1024 * 1024;
/**
 * Where every connection's frames are opened: a frame's records are read into messages (the
 * inbox) before any of them is handled, so the plaintext is done with before the next frame is
 * opened, whichever connection it comes from. A fresh buffer a frame was an array buffer for the
 * scavenges to sweep. Frames over 1 MiB (a server may allow them) get a buffer of their own.
 */
const openedPlaintexts = new Scratch(1024 * 1024);
/** Protocol housekeeping: never rate limited, or a busy client could not keep its link alive. */
const HOUSEKEEPING = new Set(['ping', 'pong', 'received']);

/** Whether `record` has no own keys (without the array Object.keys makes, once per reply). */
function isEmpty(record: Record<string, unknown>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return false;
  return true;
}

/** The `ok` answering request `ref`, without a `result` where there is nothing in it. */
function okMessage(ref: string, result: Record<string, unknown>): ServerMessage {
  return isEmpty(result) ? { type: 'ok', ref } : { type: 'ok', ref, result };
}

export class ServerConnection implements Session, FrameSink, SharedReader, UnwrapRequester, Replier {
  private static nextId = 1;
  readonly id = ServerConnection.nextId++;
  readonly remote: string;
  readonly openedAt: number;
  user: string | null = null;
  token: string | null = null;
  loginAt = 0;
  lastActive: number;
  presence: Session['presence'] = { status: 'available', autoAway: false };
  deliveryState: SessionDeliveries | null = null;
  /** Last frame received, for liveness (pings count here, unlike lastActive). */
  lastHeard: number;
  pingSent = false;

  private state: State = 'handshake';
  private readonly decoder: FrameDecoder;
  private channel: Channel | null = null;
  /** the nonce of the hello sent, until the key derivation has used it */
  private helloNonce: Buffer | null;
  private earlyFrames: Buffer[] = [];
  /** What this pass queued, written at its end. */
  private readonly outbox = new KeptQueue<JsonOut>();
  /** Whether a flush is asked for this pass ('now'), for a later one ('later': the outbox holds only answers that can wait), or not at all. */
  private flushAsked: 'no' | 'now' | 'later' = 'no';
  /** Messages (or why one could not be read) in arrival order: replies keep that order. */
  private readonly inbox = new KeptQueue<ClientMessage | MessageError>();
  private handling = false;
  private ended = false;
  private readonly gate: MessageGate | null;
  /** Slow-consumer watch: bytes the socket had handed on at the last check past the cap, and since when it has been stuck past it. */
  private handedOn = 0;
  private stuckSince: number | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.openedAt = this.lastActive = this.lastHeard = ctx.now();
    this.gate = ctx.messageLimiter?.gate() ?? null;
    this.decoder = new FrameDecoder(this, ctx.maxFrame);
    if (!readIntoSharedBuffer(socket, this)) socket.on('data', (chunk: Buffer) => this.socketOnData(chunk, false));
    socket.on('error', (err) => this.socketOnError(err));
    socket.on('close', () => this.socketOnClose());
    const hello = ctx.identity.hellos.next();
    this.helloNonce = hello.nonce;
    socket.write(encodeFrame(hello.payload));
    ctx.log.info(`conn#${this.id} connected from ${this.remote}`);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isHandshaking(): boolean {
    return this.state === 'handshake' || this.state === 'unwrapping';
  }

  /**
   * Still waiting for the client's key message: the handshake deadline runs only then. Once the
   * key has come, the wait is the server's own (a reconnect storm queues thousands of RSA
   * unwraps), and dropping clients for it made a storm fail instead of finishing late.
   */
  get isAwaitingKey(): boolean {
    return this.state === 'handshake';
  }

  /** `transient`: `chunk` is the shared read buffer's (shared-reads.ts), reused once this returns. */
  private socketOnData(chunk: Buffer, transient: boolean): void {
    this.lastHeard = this.ctx.now();
    this.pingSent = false;
    this.decoder.write(chunk, transient);
  }

  /** SharedReader: bytes read into the shared buffer. */
  onSharedRead(chunk: Buffer): void {
    this.socketOnData(chunk, true);
  }

  private socketOnError(err: NodeJS.ErrnoException): void {
    // Resets and broken pipes are how clients vanish; they are not server errors.
    this.ctx.log.debug(`conn#${this.id} socket error ${err.code ?? err.message}`);
  }

  private socketOnClose(): void {
    const wasUser = this.user;
    this.state = 'closed';
    this.outbox.clear();
    this.inbox.clear();
    this.ctx.hub.detach(this, 'connection closed');
    this.ctx.log.info(`conn#${this.id} disconnected${wasUser ? ` (${wasUser})` : ''}`);
  }

  /** FrameSink: a whole frame arrived. */
  onFrame(payload: Buffer): void {
    switch (this.state) {
      case 'handshake':
        this.state = 'unwrapping';
        this.unwrap(payload);
        return;
      case 'unwrapping':
        if (this.earlyFrames.length >= MAX_EARLY_FRAMES) {
          this.fail(new ParleyError('E_HANDSHAKE', 'too many frames before the handshake finished', { fatal: true }));
          return;
        }
        this.earlyFrames.push(Buffer.from(payload));
        return;
      case 'open':
        this.onSealedFrame(payload);
        return;
      default:
        return; // closing: the peer's late frames are of no use
    }
  }

  /** FrameSink: the bytes are not frames (a length past the limit): the connection ends. */
  onFrameError(err: ParleyError): void {
    this.fail(err);
  }

  /** UnwrapRequester: still waiting for its key (not closed while queued). */
  get wantsUnwrap(): boolean {
    return this.state === 'unwrapping';
  }

  private unwrap(payload: Buffer): void {
    const { identity } = this.ctx;
    this.ctx.unwraps.unwrap(this, this.helloNonce!, Buffer.from(payload)).then(
      (keys) => {
        if (this.state !== 'unwrapping') return;
        this.channel = Channel.forServer(keys);
        this.helloNonce = null;
        this.state = 'open';
        this.ctx.keyed();
        this.ctx.log.info(`conn#${this.id} handshake complete`);
        // The first sealed frame proves the server holds the private key.
        this.send({ type: 'welcome', server: identity.name, protocol: PROTOCOL_VERSION, maxFrame: this.ctx.maxFrame, maxText: TEXT_MAX, ackTimeout: Math.round(this.ctx.ackTimeoutMs) });
        const early = this.earlyFrames;
        this.earlyFrames = [];
        for (const frame of early) if (this.state === 'open') this.onSealedFrame(frame);
      },
      (err) => this.fail(toParleyError(err)),
    );
  }

  private onSealedFrame(payload: Buffer): void {
    try {
      eachRecord(this.channel!.openInto(payload, openedPlaintexts), this.readRecord, this, payload.length - TAG_BYTES);
    } catch (err) {
      this.fail(toParleyError(err));
      return;
    }
    this.drainInbox();
    this.ctx.frameHandled();
  }

  /** Queues one record of a frame's plaintext as a message, or as the error that answers it. */
  private readRecord(plaintext: Buffer, kind: number, start: number, end: number): void {
    if (kind !== RECORD_JSON) {
      this.inbox.push(new MessageError('E_UNKNOWN_TYPE', `record kind ${kind} is not supported by this server`, undefined));
      return;
    }
    try {
      this.inbox.push(parseClientMessage(plaintext.toString('utf8', start, end)));
    } catch (err) {
      this.inbox.push(err instanceof MessageError ? err : new MessageError('E_INVALID', toParleyError(err).message, undefined));
    }
  }

  /**
   * Handles queued messages in order. While an asynchronous handler (login: scrypt) runs, the
   * socket is paused, so a client's messages are handled in the order it sent them.
   */
  private drainInbox(): void {
    while (!this.handling && this.inbox.size > 0 && this.state === 'open') {
      const message = this.inbox.shift()!;
      // Unreadable messages count too: garbage costs the server as much as a command.
      if (!this.admit(message)) continue;
      if (message instanceof MessageError) {
        this.replyError(message.ref, message);
        continue;
      }
      const ref = 'id' in message ? message.id : undefined;
      let outcome;
      try {
        outcome = this.ctx.hub.handle(this, message);
      } catch (err) {
        this.replyError(ref, toParleyError(err), message.type);
        continue;
      }
      if (outcome instanceof LaterReply) {
        outcome.replyTo(this, ref, message.type);
        continue;
      }
      if (!(outcome instanceof Promise)) {
        this.reply(ref, outcome);
        continue;
      }
      this.handling = true;
      this.socket.pause();
      outcome
        .then((result) => this.reply(ref, result as Record<string, unknown> | typeof NO_REPLY), (err) => this.replyError(ref, toParleyError(err), message.type))
        .finally(() => {
          this.handling = false;
          if (this.state === 'open') this.socket.resume();
          this.drainInbox();
        });
    }
  }

  /**
   * Charges a user command to the sender's bucket. Refused: an E_RATE_LIMITED reply instead of
   * running it (nothing is stored or delivered); refused too often in a row: the connection ends.
   */
  private admit(message: ClientMessage | MessageError): boolean {
    if (this.gate === null || (!(message instanceof MessageError) && HOUSEKEEPING.has(message.type))) return true;
    const verdict = this.gate.check(this.user);
    if (verdict.ok) return true;
    const { burst, perSecond, strikes } = this.ctx.messageLimiter!.limits;
    const seconds = Math.ceil(verdict.retryAfterMs / 100) / 10;
    const type = message instanceof MessageError ? 'message' : message.type;
    if (verdict.inARow === 1) this.ctx.log.info(`conn#${this.id} ${this.user ?? '-'} rate limited (${type}, retry in ${seconds} s)`);
    const ref = message instanceof MessageError ? message.ref : 'id' in message ? message.id : undefined;
    this.replyError(
      ref,
      new ParleyError('E_RATE_LIMITED', `slow down: at most ${perSecond} messages per second (bursts of ${burst}); try again in ${seconds} s`, { details: { retryAfter: seconds } }),
      type,
    );
    if (verdict.disconnect) {
      this.ctx.log.warn(`conn#${this.id} ${this.remote} ${this.user ?? '-'} flooding: ${strikes} requests refused in a row, disconnecting`);
      this.end('E_RATE_LIMITED', `disconnected for flooding: ${strikes} requests in a row were sent faster than ${perSecond} per second; wait for retryAfter before sending again`);
    }
    return false;
  }

  /**
   * A LaterReply's outcome, as the reply to its request. Its `ok` already waited for the store or
   * for another client, and goes out with sendSerializedLater; an error goes at once.
   */
  replySettled(reply: LaterReply): void {
    if (reply.err !== null) this.replyError(reply.ref, toParleyError(reply.err), reply.requestType);
    else if (reply.ref === undefined) return;
    // JSON.stringify({ type: 'ok', ref, result }) around a result that writes itself.
    else if (reply.json !== null) this.sendSerializedLater(new OkJson(reply.ref, reply.json));
    else this.sendSerializedLater(JSON.stringify(okMessage(reply.ref, reply.value!)));
  }

  private reply(ref: string | undefined, result: Record<string, unknown> | typeof NO_REPLY): void {
    if (result === NO_REPLY || ref === undefined) return;
    this.send(okMessage(ref, result));
  }

  private replyError(ref: string | undefined, err: ParleyError, requestType = 'message'): void {
    if (err.code === 'E_INTERNAL') this.ctx.log.error(`conn#${this.id} internal error: ${err.message}`);
    // A flood would write one line per refused request: the run's first is logged in admit.
    else if (err.code === 'E_RATE_LIMITED') this.ctx.log.debug(`conn#${this.id} ${this.user ?? '-'} ${requestType} refused: ${err.code}`);
    else this.ctx.log.info(`conn#${this.id} ${this.user ?? '-'} ${requestType} refused: ${err.code}`);
    const message = err.code === 'E_INTERNAL' ? ERROR_TEXT.E_INTERNAL : err.message;
    const details = Object.keys(err.details).length ? err.details : undefined;
    this.send({ type: 'error', ...(ref !== undefined && { ref }), code: err.code, message, ...(details && { details }) });
  }

  // ---- sending ---------------------------------------------------------------------------

  send(message: ServerMessage): void {
    this.sendSerialized(JSON.stringify(message));
  }

  sendSerialized(json: JsonOut): void {
    if (this.state !== 'open' && this.state !== 'closing') return;
    if (this.flushAsked !== 'now') this.askFlush('now');
    this.outbox.push(json);
  }

  /**
   * Queues a message nobody waits for this very millisecond (an `ok` that waited for the store
   * and the recipient's acknowledgement), to be written within a few event-loop passes, after
   * the messages of each pass: replies that settle together (every send of a store batch) then
   * cost the messages in flight a few connections' writes a pass, not all of them at once
   * (docs/BENCHMARKS.md, twenty-seventh session). Anything else queued before then takes it along.
   */
  sendSerializedLater(json: JsonOut): void {
    if (this.state !== 'open' && this.state !== 'closing') return;
    if (this.flushAsked === 'no') this.askFlush('later');
    this.outbox.push(json);
  }

  /** Nothing heard for a while: the queues give up the room they kept (kept-queue.ts). */
  idle(): void {
    this.inbox.letGo();
    this.outbox.letGo();
  }

  private askFlush(when: 'now' | 'later'): void {
    this.flushAsked = when;
    this.ctx.scheduleFlush(this, when === 'later');
  }

  /** Seals everything queued into as few frames as the frame limit allows, and writes them. */
  flush(): void {
    this.flushAsked = 'no';
    if (this.state === 'closed') return;
    if (this.outbox.size > 0 && this.channel !== null) this.writeQueued();
    if (this.state === 'closing' && !this.ended) {
      this.ended = true;
      this.socket.end();
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  private writeQueued(): void {
    const { outbox } = this;
    const count = outbox.size;
    this.ctx.sent.messages += count;
    // Sealing and writing queue nothing (a socket reports errors and drains later), so the
    // outbox is as it was until it is written.
    eachJsonBatch(outbox.contents(), this.ctx.maxFrame - TAG_BYTES, this.writeSealed, this, count);
    outbox.clear();
    this.checkBacklog();
  }

  /** Seals a packed plaintext into a frame and writes it. */
  private writeSealed(plaintext: Buffer): void {
    writeFrame(this.socket, this.channel!, plaintext);
    this.ctx.sent.frames++;
  }

  /**
   * Drops a client that stays past maxQueuedBytes: it took nothing for SLOW_CONSUMER_GRACE_MS,
   * or its queue passed the hard bound. Called after each write and by the server's sweeper.
   */
  checkBacklog(now?: number): void {
    if (this.state !== 'open' && this.state !== 'closing') return;
    const queued = this.socket.writableLength;
    if (queued <= this.ctx.maxQueuedBytes) {
      this.stuckSince = null;
      return;
    }
    // The clock only past the cap: this runs after every write.
    now ??= this.ctx.now();
    // Read only past the cap: Node's bytesWritten copies the socket's queue into an array each time.
    const handedOn = this.socket.bytesWritten - queued;
    const progressed = handedOn > this.handedOn;
    this.handedOn = handedOn;
    if (progressed || this.stuckSince === null) this.stuckSince = now;
    const hard = Math.max(4 * this.ctx.maxQueuedBytes, HARD_QUEUE_FLOOR);
    if (queued <= hard && now - this.stuckSince < SLOW_CONSUMER_GRACE_MS) return;
    // It does not read what it is sent; its messages wait in its mailbox for the next login.
    this.ctx.log.warn(`conn#${this.id} ${this.user ?? ''} not reading: ${queued} B queued, disconnecting`);
    this.state = 'closed';
    this.socket.destroy();
  }

  // ---- closing ---------------------------------------------------------------------------

  end(code: ErrorCode, message: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.send({ type: 'notice', code, message });
    this.close();
  }

  /** Ends the connection after this pass's flush, so queued replies still go out. */
  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.askFlush('now');
  }

  /** Closes on a framing, handshake or authentication failure, telling the peer the code. */
  fail(err: ParleyError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.ctx.log.warn(`conn#${this.id} ${this.remote} closed: ${err.code} ${err.message}`);
    if (this.channel && this.state === 'open') {
      this.end(err.code, err.message);
      return;
    }
    // Before the channel exists the reason can only go in clear; it holds nothing secret.
    this.socket.write(encodeFrame(Buffer.from(JSON.stringify({ type: 'error', code: err.code, message: err.message }))));
    this.state = 'closing';
    this.flush();
  }

  /** Closes at once without a word (server shutdown after notices, half-open peers). */
  destroy(): void {
    this.state = 'closed';
    this.socket.destroy();
  }
}

const OK_HEAD = Buffer.from('{"type":"ok","ref":');
const RESULT_KEY = Buffer.from(',"result":');

/**
 * JSON.stringify({ type: 'ok', ref, result }) for a result that writes itself (a 1:1 send's, one
 * a message): written around it, with no string made for the line.
 */
class OkJson implements JsonBytes {
  readonly maxBytes: number;

  constructor(
    private readonly ref: string,
    private readonly result: JsonBytes,
  ) {
    this.maxBytes = OK_HEAD.length + shortJsonStringBytesMax(ref) + RESULT_KEY.length + result.maxBytes + 1;
  }

  writeTo(out: Buffer, at: number): number {
    at = this.result.writeTo(out, putBytes(out, putShortJsonString(out, putBytes(out, at, OK_HEAD), this.ref), RESULT_KEY));
    out[at] = 0x7d; // }
    return at + 1;
  }
}
