/**
 * A hand-driven connection for the e2e tests that speak the wire protocol themselves
 * (wire.test.ts, flood.test.ts, hostile.test.ts): raw frames in and out, plus the channel once keyed.
 */
import { connect, type Socket } from 'node:net';
import * as assert from 'uvu/assert';
import { DEFAULT_CIPHER } from '../../src/crypto/aead.ts';
import { Channel, type DirectionKeys } from '../../src/crypto/channel.ts';
import { clientKeyExchange, parseHello } from '../../src/crypto/handshake.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.ts';
import { packJson, unpackRecords } from '../../src/protocol/records.ts';
import { waitFor } from './helpers.ts';

export interface RawClientOptions {
  /** The local address to connect from (hostile.test.ts gives each case its own 127.0.0.x). */
  localAddress?: string;
  /**
   * When sealed frames are opened.
   * - 'on-read' (the default): every frame queues in `frames`; nextMessages and expect open them
   *   one by one, and expect drops the messages before the one it returns.
   * - 'on-arrival': once keyed, each frame is opened as it arrives and its messages are appended
   *   to `messages`, which is never emptied; expect finds the first match there.
   */
  open?: 'on-read' | 'on-arrival';
}

export class RawClient {
  readonly socket: Socket;
  /** Frames not read yet: the clear-text ones, and with open 'on-read' the sealed ones too. */
  readonly frames: Buffer[] = [];
  /** With open 'on-arrival': every message of every sealed frame so far, in order. */
  readonly messages: Array<Record<string, any>> = [];
  /** The same messages as they came, as JSON texts. */
  readonly texts: string[] = [];
  channel: Channel | null = null;
  keys: DirectionKeys | null = null;
  closed = false;
  private nextId = 1;
  private readonly openOnArrival: boolean;
  private readonly decoder = new FrameDecoder(
    {
      onFrame: (f) => {
        if (!this.openOnArrival || !this.channel) {
          this.frames.push(Buffer.from(f));
          return;
        }
        for (const r of unpackRecords(this.channel.open(Buffer.from(f)))) {
          const text = r.body.toString('utf8');
          this.texts.push(text);
          this.messages.push(JSON.parse(text));
        }
      },
      onFrameError: () => undefined,
    },
    1 << 24,
  );

  constructor(port: number, options: RawClientOptions = {}) {
    this.openOnArrival = options.open === 'on-arrival';
    this.socket = connect({ host: '127.0.0.1', port, localAddress: options.localAddress });
    this.socket.on('data', (chunk) => this.decoder.write(chunk));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  /** The next queued frame, as bytes. */
  async nextFrame(ms = 2000): Promise<Buffer> {
    return this.takeFrame(ms, 'a frame');
  }

  /** The first clear-text frame, parsed: the server's hello, or its refusal. */
  async firstFrame(ms = 2000): Promise<Record<string, any>> {
    return JSON.parse((await this.takeFrame(ms, 'a frame')).toString('utf8'));
  }

  /** The next clear-text frame, parsed: the hello, a refusal, or the reason for a close. */
  async clearFrame(ms = 2000): Promise<Record<string, any>> {
    return JSON.parse((await this.takeFrame(ms, 'a clear-text frame')).toString('utf8'));
  }

  private async takeFrame(ms: number, what: string): Promise<Buffer> {
    await waitFor(() => this.frames.length > 0 || this.closed, ms, what);
    const frame = this.frames.shift();
    if (!frame) throw new Error('connection closed without a frame');
    return frame;
  }

  /**
   * Completes the handshake, up to the welcome; returns the key frame sent, for replay tests.
   * `legacy`: as a client from before the cipher choice, which names no cipher (and so gets
   * AES-256-GCM).
   */
  async handshake(options: { legacy?: boolean } = {}): Promise<Buffer> {
    let hello: Buffer;
    if (this.openOnArrival) {
      await waitFor(() => this.frames.length > 0, 2000, 'hello');
      hello = this.frames.shift()!;
    } else hello = await this.nextFrame();
    const parsed = parseHello(hello);
    const exchange = clientKeyExchange(options.legacy ? { ...parsed, ciphers: [DEFAULT_CIPHER] } : parsed);
    if (options.legacy) {
      const { cipher: _named, ...older } = JSON.parse(exchange.payload.toString());
      exchange.payload = Buffer.from(JSON.stringify(older));
    }
    const frame = encodeFrame(exchange.payload);
    this.socket.write(frame);
    this.keys = exchange.keys;
    this.channel = Channel.forClient(exchange.keys);
    if (this.openOnArrival) await this.expect((m) => m.type === 'welcome');
    else {
      const welcome = await this.nextMessages();
      assert.is(welcome[0].type, 'welcome');
    }
    return frame;
  }

  /** `messages` sealed in one frame, not sent. */
  sealed(messages: object[]): Buffer {
    return encodeFrame(this.channel!.seal(packJson(messages.map((m) => JSON.stringify(m)))));
  }

  /** Sends `messages` in one sealed frame. */
  send(messages: object[]): void {
    this.socket.write(this.sealed(messages));
  }

  /** Sends texts (JSON or not) as records of one sealed frame. */
  sendRaw(texts: string[]): void {
    this.sendPlaintext(packJson(texts));
  }

  /** Seals `plaintext` (records, or not) as one frame and sends it. */
  sendPlaintext(plaintext: Buffer): void {
    this.socket.write(encodeFrame(this.channel!.seal(plaintext)));
  }

  /** Sends one request and waits for its answer (`ok` or `error`). */
  async request(message: Record<string, unknown>, ms = 3000): Promise<Record<string, any>> {
    const id = `q${this.nextId++}`;
    this.socket.write(encodeFrame(this.channel!.seal(packJson([JSON.stringify({ ...message, id })]))));
    return this.expect((m) => m.ref === id, ms);
  }

  /** With open 'on-read': opens the next frame and returns its messages. */
  async nextMessages(ms = 2000): Promise<Array<Record<string, any>>> {
    const frame = await this.nextFrame(ms);
    return unpackRecords(this.channel!.open(frame)).map((r) => JSON.parse(r.body.toString('utf8')));
  }

  /** The first message that matches: see RawClientOptions.open for which messages are searched. */
  async expect(predicate: (m: Record<string, any>) => boolean, ms = 2000): Promise<Record<string, any>> {
    if (this.openOnArrival) return waitFor(() => this.messages.find(predicate), ms, 'a matching message');
    const deadline = Date.now() + ms;
    for (;;) {
      for (const m of await this.nextMessages(Math.max(10, deadline - Date.now()))) if (predicate(m)) return m;
    }
  }

  async closedWithin(ms = 2000): Promise<void> {
    await waitFor(() => this.closed, ms, 'the server to close the connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
