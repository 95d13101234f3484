/**
 * A light Parley protocol client for load generation, built from the project's own handshake,
 * channel, frame and record modules (like RawClient in test/e2e/raw-client.ts). It answers pings
 * and acknowledges every `msg`, pacing its `received` messages as ParleyClient does, but keeps
 * nothing on disk and skips zod, so that one generator core can drive thousands of them.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Channel, TAG_BYTES } from '../../src/crypto/channel.ts';
import { clientKeyExchange, parseHello } from '../../src/crypto/handshake.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.ts';
import { AckPacer } from '../../src/client/ack-pacer.ts';
import { HELLO_TIMEOUT_MS } from '../../src/client/connection.ts';
import { eachRecord, packJson, RECORD_JSON } from '../../src/protocol/records.ts';
import { Scratch } from '../../src/protocol/scratch.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { writeFrame } from '../../src/crypto/sealed-writes.ts';

/**
 * Where every client's socket reads (Node's `onread` option), as the server reads its sockets
 * (src/server/shared-reads.ts) and the IRC peers read (irc.ts): no array buffer per read for
 * the generator's collector. Its collections run on the generator's one core and stall every
 * client at once; in the relay with 1 in flight the server sits idle through them (a perf
 * timeline of both processes, BENCHMARKS.md). Reads run one at a time, and the decoder copies
 * what it keeps (`transient`).
 */
const sharedRead = Buffer.allocUnsafe(64 * 1024);
/** Where every client's frames are opened, for the same reason: each frame's records are read before the next frame is opened. */
const openedPlaintexts = new Scratch(1 << 24);

/** How the server writes a `msg` record (PrivateSend.writeTo and groupSend in src/server/hub.ts): these keys, in this order. */
const MSG_HEAD = '{"type":"msg","msgId":"';
const PRIVATE_SCOPE = '","scope":"private"';
const TEXT_KEY = '"text":"';
const QUOTE = 0x22;

/** What a member needs of a `msg`, and the record's text (for JSON.parse, when it is not one). */
export interface MsgFields {
  record: string;
  msgId: string;
  isPrivate: boolean;
  text: string;
}

/** readMsgRecord's answer, reused: records are read one at a time. */
const lastRecord: MsgFields = { record: '', msgId: '', isPrivate: false, text: '' };

/**
 * Decodes the record in `plaintext[start, end)` into `into.record` and, if it is a `msg`, reads
 * it as the IRC peers read their lines (irc.ts: indexOf and slices of the text), without parsing
 * it whole: its id, scope and text are all a member needs. In a fan-out to 1,000 this one core
 * reads every member's copy, and JSON.parse of each was a third of the generator's time
 * (docs/BENCHMARKS.md, twenty-eighth session). false for any other record, and for a `msg` with a
 * backslash before its text ends (something escaped): the caller then parses `into.record`.
 */
export function readMsgRecord(plaintext: Buffer, start: number, end: number, into: MsgFields): boolean {
  const record = (into.record = plaintext.toString('utf8', start, end));
  if (!record.startsWith(MSG_HEAD)) return false;
  const idEnd = record.indexOf('"', MSG_HEAD.length);
  const textKey = idEnd < 0 ? -1 : record.indexOf(TEXT_KEY, idEnd);
  const textStart = textKey + TEXT_KEY.length;
  const textEnd = textKey < 0 ? -1 : record.indexOf('"', textStart);
  if (textEnd < 0) return false;
  const escape = record.indexOf('\\', MSG_HEAD.length);
  if (escape >= 0 && escape < textEnd) return false;
  into.isPrivate = record.startsWith(PRIVATE_SCOPE, idEnd);
  // A private message's id waits in its one reader's AckPacer: it gets a string of its own, as a
  // slice of `record` would keep all of the record alive with it (where the id is ASCII, as ids
  // are, its bytes end where its characters do, at its closing quote). A group message's id is
  // kept once for all its readers (sharedId), so a slice costs one record.
  into.msgId =
    into.isPrivate && plaintext[start + idEnd] === QUOTE ? plaintext.toString('latin1', start + MSG_HEAD.length, start + idEnd) : record.slice(MSG_HEAD.length, idEnd);
  into.text = record.slice(textStart, textEnd);
  return true;
}

/**
 * One string for each group message's id, whichever member read it: each client keeps the ids it
 * is yet to acknowledge (up to 256, or a second of group messages, as ParleyClient's AckPacer
 * keeps them), and in a fan-out to 1,000 that was a thousand copies of each id, a quarter of a
 * million strings alive on this one core, copied and promoted by every scavenge: 5-8 ms every
 * ~55 ms (`--trace-gc`), with every member's deliveries waiting (docs/BENCHMARKS.md,
 * twenty-eighth session). Real clients keep their own few. A private message has one reader, so
 * its id is not kept here. Emptied when it holds SHARED_IDS_MAX (a fan-out has a few hundred in
 * flight).
 */
const sharedIds = new Map<string, string>();
const SHARED_IDS_MAX = 4_096;

function sharedId(id: string): string {
  const shared = sharedIds.get(id);
  if (shared !== undefined) return shared;
  if (sharedIds.size >= SHARED_IDS_MAX) sharedIds.clear();
  sharedIds.set(id, id);
  return id;
}

export type Json = Record<string, any>;

/** Where a client reports the messages it receives (msgId, text, time of the socket read). */
export interface Sink {
  delivered(msgId: string, text: string, at: number): void;
}

export interface LightClientOptions {
  host?: string;
  port: number;
  /** source address, e.g. 127.0.0.2, to open more than 64k connections to one server port */
  localAddress?: string;
  /** ms a request may wait for its reply */
  requestLimitMs?: number;
  /** acknowledgement pacing (default: the protocol's ACK_INTERVAL_MS, as ParleyClient) */
  ackIntervalMs?: number;
  /** how long a lazy acknowledgement (group messages) may wait (default: the protocol's ACK_LAZY_MS) */
  ackLazyMs?: number;
  /** false: group messages are acknowledged as promptly as private ones (the pacing before ACK_LAZY_MS) */
  lazyAcks?: boolean;
  /** ms from the TCP connection to the hello before giving up, as ParleyClient (HELLO_TIMEOUT_MS) */
  helloTimeoutMs?: number;
}

export class LightClient {
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private channel: Channel | null = null;
  private readonly pending = new Map<string, { resolve: (r: Json) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextRef = 0;
  /** Paced as ParleyClient paces them. */
  private readonly acks: AckPacer;
  private outbox: string[] = [];
  private receivedAt = 0;
  private ready!: { resolve: () => void; reject: (e: Error) => void };
  private readonly requestLimitMs: number;
  private readonly lazyAcks: boolean;
  /** Resolves at `welcome`: the handshake is done and requests may go. */
  readonly opened: Promise<void>;
  /** Resolves when the socket has closed. */
  readonly ended: Promise<void>;
  closed = false;
  /** How far its handshake got: where a storm's unfinished clients wait (bench/connections). */
  stage: 'connecting' | 'awaiting hello' | 'awaiting welcome' | 'open' = 'connecting';
  /** Gave up at the hello deadline: the server never took the connection (see ParleyClient's helloTimeoutMs). */
  helloTimedOut = false;
  private helloTimer: NodeJS.Timeout | null = null;
  notice: string | null = null;
  sink: Sink | null = null;
  /** Messages that arrived with no sink set (stray or duplicate deliveries). */
  strays = 0;

  constructor(options: LightClientOptions) {
    this.requestLimitMs = options.requestLimitMs ?? 60_000;
    this.lazyAcks = options.lazyAcks ?? true;
    this.acks = new AckPacer((ids) => {
      for (let i = 0; i < ids.length; i += 4096) this.send({ type: 'received', ids: ids.slice(i, i + 4096) });
    }, options.ackIntervalMs, options.ackLazyMs);
    this.opened = new Promise((resolve, reject) => (this.ready = { resolve, reject }));
    this.opened.catch(() => undefined);
    this.decoder = new FrameDecoder({ onFrame: (f) => this.onFrame(f), onFrameError: (e) => this.fail(e) }, 1 << 24);
    this.socket = connect({
      host: options.host ?? '127.0.0.1',
      port: options.port,
      noDelay: true,
      ...(options.localAddress && { localAddress: options.localAddress }),
      onread: { buffer: sharedRead, callback: (bytes: number, buffer: Uint8Array) => this.socketOnRead(buffer as Buffer, bytes) },
    });
    const helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.socket.on('connect', () => {
      this.stage = 'awaiting hello';
      this.helloTimer = setTimeout(() => {
        this.helloTimedOut = true;
        this.fail(new Error(`no hello within ${helloTimeoutMs / 1000} s`));
        this.socket.destroy();
      }, helloTimeoutMs);
    });
    this.socket.on('error', (e) => this.fail(e));
    this.ended = new Promise((resolve) =>
      this.socket.on('close', () => {
        if (this.helloTimer) clearTimeout(this.helloTimer);
        this.closed = true;
        this.fail(new Error(`connection closed${this.notice ? `: ${this.notice}` : ''}`));
        resolve();
      }),
    );
  }

  /** true: keep reading (false would pause the socket) */
  private socketOnRead(buffer: Buffer, bytes: number): boolean {
    this.receivedAt = performance.now();
    this.decoder.write(buffer.subarray(0, bytes), true);
    return true;
  }

  private onFrame(payload: Buffer): void {
    if (this.channel === null) {
      if (this.helloTimer) clearTimeout(this.helloTimer);
      let hello;
      try {
        hello = parseHello(Buffer.from(payload)); // the payload is a view of the shared read buffer
      } catch (err) {
        // A refusal before the handshake comes in clear.
        const text = payload.toString('utf8').slice(0, 300);
        this.fail(new Error(text.startsWith('{') ? text : (err as Error).message));
        return;
      }
      const exchange = clientKeyExchange(hello);
      this.socket.write(encodeFrame(exchange.payload));
      this.channel = Channel.forClient(exchange.keys);
      this.stage = 'awaiting welcome';
      return;
    }
    try {
      eachRecord(this.channel.openInto(payload, openedPlaintexts), this.onRecord, this, payload.length - TAG_BYTES);
    } catch (err) {
      // A frame that does not open or hold whole records ends the connection; anything else thrown
      // while its records are handled is the generator's own bug, and stops the run as it would
      // have before records were handled inside this try.
      if (!(err instanceof ParleyError)) throw err;
      this.fail(err);
      this.socket.destroy();
    }
  }

  private onRecord(plaintext: Buffer, kind: number, start: number, end: number): void {
    if (kind !== RECORD_JSON) return;
    if (readMsgRecord(plaintext, start, end, lastRecord)) return this.onMsg(lastRecord.msgId, lastRecord.isPrivate, lastRecord.text);
    const m = JSON.parse(lastRecord.record) as Json;
    switch (m.type) {
      case 'msg':
        this.onMsg(m.msgId, m.scope === 'private', m.text);
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
        if (m.ackTimeout !== undefined) this.acks.fitWithin(m.ackTimeout);
        this.stage = 'open';
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

  private onMsg(received: string, isPrivate: boolean, text: string): void {
    const msgId = isPrivate ? received : sharedId(received);
    this.acks.add(msgId, this.lazyAcks && !isPrivate, text.length);
    if (this.sink) this.sink.delivered(msgId, text, this.receivedAt);
    else this.strays++;
  }

  private fail(err: Error): void {
    this.ready.reject(err);
    for (const [ref, waiter] of this.pending) {
      this.pending.delete(ref);
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  /** Queues a message; what is queued in one event-loop pass leaves in one sealed frame, as ParleyClient sends. */
  send(message: Json): void {
    if (this.closed || this.channel === null) return;
    if (this.outbox.length === 0) setImmediate(() => this.flush());
    this.outbox.push(JSON.stringify(message));
  }

  private flush(): void {
    const texts = this.outbox;
    this.outbox = [];
    if (this.closed || this.channel === null || texts.length === 0) return;
    writeFrame(this.socket, this.channel, packJson(texts));
  }

  request(message: Json): Promise<Json> {
    const id = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${message.type}: no reply within ${this.requestLimitMs / 1000} s`));
      }, this.requestLimitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...message, id });
    });
  }

  /** Sends the acknowledgements that wait (group messages wait up to ACK_LAZY_MS) now. */
  flushAcks(): void {
    this.acks.flush();
  }

  close(): void {
    this.acks.cancel();
    this.socket.destroy();
  }
}
