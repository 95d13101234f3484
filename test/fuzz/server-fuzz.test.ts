/**
 * The server survives fast-check: a real server on 127.0.0.1 port 0, and for each case one
 * short-lived connection that sends arbitrary bytes, a mutated key exchange, or a valid
 * handshake followed by arbitrary sealed frames (arbitrary records, arbitrary JSON). Each time the
 * server answers with a coded error or stays usable; every message it sends is valid protocol; it
 * never reports E_INTERNAL; its heap does not grow with the number of cases; and at the end two
 * well-behaved clients can still register and chat.
 */
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel } from '../../src/crypto/channel.ts';
import { DEFAULT_CIPHER } from '../../src/crypto/aead.ts';
import { clientKeyExchange, parseHello } from '../../src/crypto/handshake.ts';
import { isErrorCode } from '../../src/protocol/errors.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.ts';
import { MessageError, parseClientMessage, parseServerMessage } from '../../src/protocol/messages.ts';
import { packJson, RECORD_JSON, unpackRecords } from '../../src/protocol/records.ts';
import { record, registered, startServer, waitFor, type TestServer } from '../e2e/helpers.ts';
import { collectGarbage } from '../helpers/gc.ts';
import { anyJson, mutatedText, shapedClientMessage } from './arbitraries.ts';
import { chunk, fuzzOptions, runs } from './settings.ts';

const MAX_FRAME = 16 * 1024;
const CLEAR_CODES = ['E_HANDSHAKE', 'E_PROTOCOL_VERSION', 'E_FRAME_TOO_LARGE'];

/** A hand-driven connection: raw frames in; once keyed, every frame is opened as it arrives. */
class RawClient {
  readonly socket: Socket;
  readonly frames: Buffer[] = [];
  readonly messages: Array<Record<string, unknown>> = [];
  /** What the server sent that is not valid protocol. */
  readonly violations: string[] = [];
  channel: Channel | null = null;
  closed = false;
  private readonly decoder = new FrameDecoder({ onFrame: (f) => this.onFrame(Buffer.from(f)), onFrameError: () => this.socket.destroy() }, 1 << 24);

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('data', (c) => this.decoder.write(c));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  private onFrame(frame: Buffer): void {
    if (!this.channel) {
      this.frames.push(frame);
      return;
    }
    // Everything the server seals must open, hold records, and be valid server messages.
    try {
      for (const r of unpackRecords(this.channel.open(frame))) {
        const text = r.body.toString('utf8');
        if (r.kind !== RECORD_JSON) throw new Error(`record kind ${r.kind}`);
        this.messages.push(JSON.parse(text) as Record<string, unknown>);
        parseServerMessage(text);
      }
    } catch (err) {
      this.violations.push(`${(err as Error).message} in ${JSON.stringify(this.messages.at(-1))}`);
    }
  }

  async nextFrame(ms = 3000): Promise<Buffer> {
    await waitFor(() => this.frames.length > 0 || this.closed, ms, 'a frame');
    const frame = this.frames.shift();
    if (!frame) throw new Error('connection closed without a frame');
    return frame;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sealed(plaintext: Uint8Array): Buffer {
    return encodeFrame(this.channel!.seal(plaintext));
  }
}

/** Bytes that complete `bytes` to end on a frame boundary (at least one frame), or none after an error. */
function completion(bytes: Uint8Array): Buffer {
  let stream = Buffer.from(bytes);
  let frames = 0;
  for (;;) {
    let offset = 0;
    for (;;) {
      if (stream.length - offset < 4) break;
      const length = stream.readUInt32BE(offset);
      if (length > MAX_FRAME) return stream.subarray(bytes.length); // the server will refuse it
      if (stream.length - offset - 4 < length) break;
      offset += 4 + length;
      frames++;
    }
    const missing = stream.length - offset === 0 ? (frames === 0 ? 4 : 0) : stream.length - offset < 4 ? 4 - (stream.length - offset) : 4 + stream.readUInt32BE(offset) - (stream.length - offset);
    if (missing === 0) return stream.subarray(bytes.length);
    stream = Buffer.concat([stream, Buffer.alloc(missing)]);
    frames = 0;
  }
}

// ---- what a case sends ------------------------------------------------------------------

const recordBody = fc.oneof(
  { weight: 6, arbitrary: shapedClientMessage },
  { weight: 2, arbitrary: mutatedText(shapedClientMessage) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);
const recordSpec = fc.record({ kind: fc.oneof({ weight: 8, arbitrary: fc.constant(RECORD_JSON) }, { weight: 1, arbitrary: fc.nat(255) }), body: recordBody });

type FrameSpec =
  | { as: 'records'; records: Array<{ kind: number; body: string | Uint8Array }> }
  | { as: 'plaintext'; bytes: Uint8Array }
  | { as: 'tampered'; records: Array<{ kind: number; body: string | Uint8Array }>; bit: number }
  | { as: 'garbage'; bytes: Uint8Array };

const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ as: fc.constant('records' as const), records: fc.array(recordSpec, { minLength: 1, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ as: fc.constant('plaintext' as const), bytes: fc.uint8Array({ maxLength: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ as: fc.constant('tampered' as const), records: fc.array(recordSpec, { minLength: 1, maxLength: 2 }), bit: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ as: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 300 }) }) },
);

type Case =
  | { kind: 'raw'; bytes: Uint8Array; cuts: number[] }
  | { kind: 'key'; edits: Array<[number, number]>; field: 'none' | 'protocol' | 'type' | 'wrapped' | 'cipher'; value: unknown }
  | { kind: 'sealed'; frames: FrameSpec[]; cuts: number[] };

const rawCase = fc.record({
  kind: fc.constant('raw' as const),
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.array(fc.oneof(fc.uint8Array({ maxLength: 80 }).map((p) => encodeFrame(p)), fc.uint8Array({ maxLength: 8 }), anyJson.map((v) => encodeFrame(Buffer.from(JSON.stringify(v))))), { maxLength: 4 }).map((p) => Buffer.concat(p)),
  ),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
});
const keyCase = fc.record({
  kind: fc.constant('key' as const),
  edits: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
  field: fc.constantFrom('none' as const, 'protocol' as const, 'type' as const, 'wrapped' as const, 'cipher' as const),
  value: fc.oneof(fc.constantFrom<unknown>(0, 2, 1.5, 'key', 'hello', '', null, 'AAAA', 'aes-256-gcm', 'chacha20-poly1305'), anyJson),
});
const sealedCase = fc.record({ kind: fc.constant('sealed' as const), frames: fc.array(frameSpec, { minLength: 1, maxLength: 4 }), cuts: fc.array(fc.nat(), { maxLength: 4 }) });
const anyCase: fc.Arbitrary<Case> = fc.oneof({ weight: 2, arbitrary: rawCase }, { weight: 1, arbitrary: keyCase }, { weight: 5, arbitrary: sealedCase });

// ---- running a case ---------------------------------------------------------------------

function clearError(frame: Buffer): { code?: unknown } | null {
  try {
    const data = JSON.parse(frame.toString('utf8')) as { type?: unknown; code?: unknown };
    return data && data.type === 'error' ? data : null;
  } catch {
    return null;
  }
}

/** A raw case must end in a clear-text handshake error and a close. */
async function runRaw(c: RawClient, bytes: Uint8Array, cuts: number[]): Promise<void> {
  for (const piece of chunk(Buffer.concat([bytes, completion(bytes)]), cuts)) c.write(piece);
  const error = clearError(await c.nextFrame());
  assert.ok(error && CLEAR_CODES.includes(error.code as string), `expected a coded clear error, got ${JSON.stringify(error)}`);
  await waitFor(() => c.closed, 3000, 'the server to close');
}

/** A mutated key message: refused in clear with a handshake code, or (still valid) a working channel. */
async function runKey(c: RawClient, hello: Buffer, k: Extract<Case, { kind: 'key' }>): Promise<void> {
  const exchange = clientKeyExchange(parseHello(hello));
  let payload = exchange.payload;
  if (k.field !== 'none') payload = Buffer.from(JSON.stringify({ ...JSON.parse(payload.toString()), [k.field]: k.value }));
  const bytes = [...payload];
  for (const [at, value] of k.edits) bytes[at % bytes.length] = value;
  c.write(encodeFrame(Buffer.from(bytes)));
  const reply = await c.nextFrame();
  const error = clearError(reply);
  if (error) {
    assert.ok(['E_HANDSHAKE', 'E_PROTOCOL_VERSION'].includes(error.code as string), `clear error ${JSON.stringify(error)}`);
    await waitFor(() => c.closed, 3000, 'the server to close');
    return;
  }
  // Still a valid key message. An edit that dropped or changed the cipher's name left the server
  // with other keys (the cipher is part of them): its welcome must not open with the client's.
  const sent = JSON.parse(Buffer.from(bytes).toString('utf8')) as { cipher?: string };
  if ((sent.cipher ?? DEFAULT_CIPHER) !== exchange.keys.cipher) {
    assert.throws(() => Channel.forClient(exchange.keys).open(reply), (err: Error & { code?: string }) => err.code === 'E_DECRYPT');
    return;
  }
  // An unknown field, a harmless edit: the server proves its key.
  c.channel = Channel.forClient(exchange.keys);
  c.frames.unshift(reply);
  for (const f of c.frames.splice(0)) (c as unknown as { onFrame(f: Buffer): void }).onFrame(f);
  await waitFor(() => c.messages.some((m) => m.type === 'welcome'), 3000, 'welcome');
  await pingPong(c);
}

async function pingPong(c: RawClient): Promise<void> {
  c.write(c.sealed(packJson([JSON.stringify({ type: 'ping', id: 'fuzz-end' })])));
  await waitFor(() => c.messages.some((m) => m.type === 'pong' && m.id === 'fuzz-end'), 3000, 'the final pong');
}

/** A valid handshake, then arbitrary sealed frames; the outcome is predicted from what was sent. */
async function runSealed(c: RawClient, hello: Buffer, frames: FrameSpec[], cuts: number[]): Promise<void> {
  const exchange = clientKeyExchange(parseHello(hello));
  c.write(encodeFrame(exchange.payload));
  c.channel = Channel.forClient(exchange.keys);
  await waitFor(() => c.messages.some((m) => m.type === 'welcome'), 3000, 'welcome');

  const wire: Buffer[] = [];
  const expectedErrors: Array<{ code: string; ref?: string }> = [];
  let fatal: string | null = null;
  let mayClose = false; // a valid quit or logout may end the connection first
  const toBody = (b: string | Uint8Array) => (typeof b === 'string' ? Buffer.from(b) : Buffer.from(b));
  const plaintextOf = (records: Array<{ kind: number; body: string | Uint8Array }>) =>
    Buffer.concat(records.map((r) => { const body = toBody(r.body); const h = Buffer.alloc(5); h.writeUInt8(r.kind); h.writeUInt32BE(body.length, 1); return Buffer.concat([h, body]); }));
  for (const f of frames) {
    if (f.as === 'garbage') {
      wire.push(encodeFrame(f.bytes));
      fatal = 'E_DECRYPT';
      break;
    }
    if (f.as === 'tampered') {
      const sealed = c.channel.seal(plaintextOf(f.records));
      sealed[(f.bit >> 3) % sealed.length] ^= 1 << (f.bit & 7);
      wire.push(encodeFrame(sealed));
      fatal = 'E_DECRYPT';
      break;
    }
    const plaintext = f.as === 'records' ? plaintextOf(f.records) : Buffer.from(f.bytes);
    wire.push(c.sealed(plaintext));
    if (wire[wire.length - 1].length - 4 > MAX_FRAME) {
      fatal = 'E_FRAME_TOO_LARGE';
      break;
    }
    let records;
    try {
      records = unpackRecords(plaintext);
    } catch {
      fatal = 'E_BAD_FRAME';
      break;
    }
    for (const r of records) {
      if (mayClose) break;
      if (r.kind !== RECORD_JSON) {
        expectedErrors.push({ code: 'E_UNKNOWN_TYPE' });
        continue;
      }
      try {
        const m = parseClientMessage(r.body.toString('utf8'));
        if (m.type === 'quit' || m.type === 'logout' || m.type === 'login' || m.type === 'register' || m.type === 'resume') mayClose = true;
      } catch (err) {
        const e = err as MessageError;
        expectedErrors.push({ code: e.code, ...(e.ref !== undefined && { ref: e.ref }) });
      }
    }
  }
  for (const piece of chunk(Buffer.concat(wire), cuts)) c.write(piece);
  if (fatal === null) {
    if (!c.closed) c.write(c.sealed(packJson([JSON.stringify({ type: 'ping', id: 'fuzz-end' })])));
    await waitFor(() => c.messages.some((m) => m.type === 'pong' && m.id === 'fuzz-end') || (mayClose && c.closed), 3000, 'the final pong');
  } else {
    await waitFor(() => c.messages.some((m) => m.type === 'notice') || (mayClose && c.closed), 3000, `notice ${fatal}`);
    const notice = c.messages.find((m) => m.type === 'notice');
    if (notice && !mayClose) assert.is(notice.code, fatal);
    await waitFor(() => c.closed, 3000, 'the server to close');
  }
  // Every message it could not read got a coded reply, in order, with the request id.
  const errors = c.messages.filter((m) => m.type === 'error');
  let at = 0;
  for (const want of expectedErrors) {
    while (at < errors.length && !(errors[at].code === want.code && errors[at].ref === want.ref)) at++;
    assert.ok(at < errors.length, `no ${want.code} reply (ref ${want.ref}) among ${JSON.stringify(errors.map((e) => [e.code, e.ref]))}`);
    at++;
  }
}

// ---- heap measurement -------------------------------------------------------------------

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
  }
  return process.memoryUsage().heapUsed;
}

let served: TestServer;

test.before(async () => {
  served = await startServer({
    maxFrame: MAX_FRAME,
    handshakeTimeout: 3,
    // Hundreds of connections from 127.0.0.1 in seconds: the per-address limits would refuse them.
    connPerMinute: 0,
    connMaxPerIp: 0,
    // Flood control stays on, but loose enough that its replies do not replace the ones predicted.
    rateBurst: 100_000,
    ratePerSecond: 100_000,
  });
});
test.after(() => served.stop());

test('the server survives arbitrary bytes, mutated handshakes and arbitrary sealed frames', async () => {
  const total = runs(2 / 3);
  const warmUp = Math.min(50, Math.floor(total / 4));
  let count = 0;
  let baseline: number | null = null;
  const lines = served.lines;
  await fc.assert(
    fc.asyncProperty(anyCase, async (spec) => {
      if (++count === warmUp + 1) baseline = await settledHeap();
      const c = new RawClient(served.port);
      try {
        const hello = await c.nextFrame();
        if (spec.kind === 'raw') await runRaw(c, spec.bytes, spec.cuts);
        else if (spec.kind === 'key') await runKey(c, hello, spec);
        else await runSealed(c, hello, spec.frames, spec.cuts);
        assert.equal(c.violations, [], 'the server sent invalid protocol');
        for (const m of c.messages) {
          if (m.type === 'error' || m.type === 'notice') {
            assert.ok(isErrorCode(m.code), `uncoded error ${JSON.stringify(m)}`);
            assert.is.not(m.code, 'E_INTERNAL', `internal error: ${JSON.stringify(m)}`);
          }
        }
      } finally {
        c.socket.destroy();
      }
      // The log keeps every line in memory for this test: keep it from looking like a leak.
      lines.length = 0;
    }),
    fuzzOptions(2 / 3, { timeout: 15_000 }),
  );
  await waitFor(() => served.server.connectionCount === 0, 5000, 'every fuzz connection to close');

  if (baseline !== null) {
    const growth = (await settledHeap()) - baseline;
    // Accounts, mailboxes and history the cases created are real state; a leak per connection
    // (decoder buffers, sessions, timers) would grow with every case instead.
    const allowance = 8 * 1024 * 1024 + (total - warmUp) * 4 * 1024;
    console.log(`server-fuzz: ${total} cases, heap ${(growth / 1048576).toFixed(1)} MB after the first ${warmUp} (allowed ${(allowance / 1048576).toFixed(1)} MB)`);
    assert.ok(growth < allowance, `heap grew ${(growth / 1048576).toFixed(1)} MB over ${total - warmUp} cases (allowed ${(allowance / 1048576).toFixed(1)} MB)`);
  }

  // After all that, two well-behaved people can still register and chat.
  const alice = await registered(served.port, 'fuzzwitness1');
  const bob = await registered(served.port, 'fuzzwitness2');
  try {
    const inbox = record(bob, 'message');
    await alice.sendPrivate('fuzzwitness2', 'still here?');
    await waitFor(() => inbox.some((m) => m.text === 'still here?'), 3000, 'the message after the fuzzing');
  } finally {
    alice.close();
    bob.close();
  }
});

test.run();
