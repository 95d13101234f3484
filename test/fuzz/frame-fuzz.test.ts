/**
 * FrameDecoder under fast-check: any chunking of valid frames, and arbitrary bytes against a
 * reference model of the framing rules.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../../src/protocol/frame.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { chunk, fuzzOptions } from './settings.ts';

const cuts = fc.array(fc.nat(), { maxLength: 24 });

/** What the decoder should make of `bytes`: complete frames, then an error or a remainder. */
function model(bytes: Uint8Array, maxFrame: number): { frames: Buffer[]; tooLarge: boolean; remainder: number } {
  const buf = Buffer.from(bytes);
  const frames: Buffer[] = [];
  let offset = 0;
  while (buf.length - offset >= FRAME_HEADER_BYTES) {
    const length = buf.readUInt32BE(offset);
    if (length > maxFrame) return { frames, tooLarge: true, remainder: 0 };
    // The decoder takes a header off as soon as it is whole; only the payload part waits.
    if (buf.length - offset - FRAME_HEADER_BYTES < length) return { frames, tooLarge: false, remainder: buf.length - offset - FRAME_HEADER_BYTES };
    frames.push(buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length));
    offset += FRAME_HEADER_BYTES + length;
  }
  return { frames, tooLarge: false, remainder: buf.length - offset };
}

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length);
  return b;
}

/** Byte streams that are mostly not frames, but often almost: real frames, lying headers, noise. */
const hostileStream = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc
    .array(
      fc.oneof(
        fc.uint8Array({ maxLength: 96 }).map((p) => encodeFrame(p)),
        fc.integer({ min: 0, max: 0xffffffff }).map(header),
        fc.integer({ min: 0, max: 160 }).map(header),
        fc.uint8Array({ maxLength: 40 }),
      ),
      { maxLength: 16 },
    )
    .map((parts) => Buffer.concat(parts)),
);

test('any sequence of valid frames, chunked any way, decodes to exactly its payloads', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.nat(64), cuts, (payloads, slack, cutPoints) => {
      const maxFrame = Math.max(0, ...payloads.map((p) => p.length)) + slack;
      const frames: Buffer[] = [];
      const errors: ParleyError[] = [];
      const decoder = new FrameDecoder({ onFrame: (f) => frames.push(Buffer.from(f)), onFrameError: (e) => errors.push(e) }, maxFrame);
      for (const piece of chunk(Buffer.concat(payloads.map((p) => encodeFrame(p))), cutPoints)) decoder.write(piece);
      assert.equal(errors, []);
      assert.equal(frames, payloads.map((p) => Buffer.from(p)));
      assert.is(decoder.pendingBytes, 0);
    }),
    fuzzOptions(),
  );
});

test('read into one reused buffer (transient writes, as the server reads): the same frames, intact, whatever the chunking', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), cuts, (payloads, cutPoints) => {
      const frames: Buffer[] = [];
      const decoder = new FrameDecoder({ onFrame: (f) => frames.push(Buffer.from(f)), onFrameError: (e) => assert.unreachable(e.message) }, 1024);
      const shared = Buffer.alloc(8192);
      for (const piece of chunk(Buffer.concat(payloads.map((p) => encodeFrame(p))), cutPoints)) {
        piece.copy(shared);
        decoder.write(shared.subarray(0, piece.length), true);
        shared.fill(0xa5, 0, piece.length); // the next read lands here
      }
      assert.equal(frames, payloads.map((p) => Buffer.from(p)));
      assert.is(decoder.pendingBytes, 0);
    }),
    fuzzOptions(),
  );
});

test('arbitrary bytes never throw, stay within maxFrame + 4 buffered, and yield frames or one E_FRAME_TOO_LARGE', () => {
  fc.assert(
    fc.property(hostileStream, fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(1024 * 1024)), cuts, (bytes, maxFrame, cutPoints) => {
      const events: Array<Buffer | ParleyError> = [];
      const decoder = new FrameDecoder({ onFrame: (f) => events.push(Buffer.from(f)), onFrameError: (e) => events.push(e) }, maxFrame);
      for (const piece of chunk(bytes, cutPoints)) {
        decoder.write(piece);
        assert.ok(decoder.pendingBytes <= maxFrame + FRAME_HEADER_BYTES, `buffered ${decoder.pendingBytes} > ${maxFrame} + 4`);
      }
      const expected = model(bytes, maxFrame);
      const frames = events.filter((e): e is Buffer => Buffer.isBuffer(e));
      const errors = events.filter((e): e is ParleyError => !Buffer.isBuffer(e));
      assert.equal(frames, expected.frames);
      if (expected.tooLarge) {
        assert.is(errors.length, 1, 'exactly one error');
        assert.instance(errors[0], ParleyError);
        assert.is(errors[0].code, 'E_FRAME_TOO_LARGE');
        assert.ok(errors[0].fatal);
        assert.is(events[events.length - 1], errors[0], 'nothing after the error');
        assert.is(decoder.pendingBytes, 0, 'a failed decoder holds nothing');
        decoder.write(encodeFrame(Buffer.from('late')));
        assert.is(events.length, frames.length + 1, 'input after the error is ignored');
      } else {
        assert.equal(errors, []);
        assert.is(decoder.pendingBytes, expected.remainder);
      }
    }),
    fuzzOptions(),
  );
});

test.run();
