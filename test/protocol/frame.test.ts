import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.ts';
import type { ParleyError } from '../../src/protocol/errors.ts';

function collect(maxFrame?: number) {
  const frames: string[] = [];
  const errors: ParleyError[] = [];
  const decoder = new FrameDecoder({ onFrame: (p) => frames.push(p.toString()), onFrameError: (e) => errors.push(e) }, maxFrame);
  return { decoder, frames, errors };
}

test('a sink may be an object with methods: the decoder calls them on it', () => {
  class Sink {
    readonly frames: string[] = [];
    readonly errors: string[] = [];
    onFrame(payload: Buffer): void {
      this.frames.push(payload.toString());
    }
    onFrameError(err: ParleyError): void {
      this.errors.push(err.code);
    }
  }
  const sink = new Sink();
  const decoder = new FrameDecoder(sink, 8);
  decoder.write(Buffer.concat([encodeFrame(Buffer.from('hi')), encodeFrame(Buffer.from('far too long'))]));
  assert.equal(sink.frames, ['hi']);
  assert.equal(sink.errors, ['E_FRAME_TOO_LARGE']);
});

const payloads = ['hello', '', 'x'.repeat(300), '{"type":"ping"}'];
const stream = Buffer.concat(payloads.map((p) => encodeFrame(Buffer.from(p))));

test('decodes frames written whole', () => {
  const { decoder, frames, errors } = collect();
  decoder.write(stream);
  assert.equal(frames, payloads);
  assert.is(errors.length, 0);
});

test('decodes frames written byte by byte', () => {
  const { decoder, frames } = collect();
  for (let i = 0; i < stream.length; i++) decoder.write(stream.subarray(i, i + 1));
  assert.equal(frames, payloads);
  assert.is(decoder.pendingBytes, 0);
});

test('decodes frames split at every boundary', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const { decoder, frames } = collect();
    decoder.write(stream.subarray(0, cut));
    decoder.write(stream.subarray(cut));
    assert.equal(frames, payloads, `split at ${cut}`);
  }
});

test('transient chunks: what a partial frame holds is copied, since the caller reuses the memory', () => {
  // As the server reads: every chunk lands in one buffer, overwritten by the next read.
  for (const size of [1, 3, 7, 64, 301]) {
    const { decoder, frames } = collect();
    const shared = Buffer.alloc(size);
    for (let at = 0; at < stream.length; at += size) {
      const n = stream.copy(shared, 0, at, at + size);
      decoder.write(shared.subarray(0, n), true);
      shared.fill(0xee);
    }
    assert.equal(frames, payloads, `reads of ${size}`);
    assert.is(decoder.pendingBytes, 0);
  }
});

test('transient chunks: whole frames are handed over in place, not copied', () => {
  const seen: Buffer[] = [];
  const decoder = new FrameDecoder({ onFrame: (p) => seen.push(p), onFrameError: (e) => assert.unreachable(e.message) });
  const chunk = Buffer.from(stream);
  decoder.write(chunk, true);
  assert.is(seen.length, payloads.length);
  for (const payload of seen) if (payload.length > 0) assert.is(payload.buffer, chunk.buffer);
});

test('refuses an oversize length before buffering its payload', () => {
  const { decoder, frames, errors } = collect(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0xffffffff);
  decoder.write(header);
  assert.is(errors.length, 1);
  assert.is(errors[0].code, 'E_FRAME_TOO_LARGE');
  assert.ok(errors[0].fatal);
  assert.is(decoder.pendingBytes, 0);
  decoder.write(encodeFrame(Buffer.from('late')));
  assert.equal(frames, []);
  assert.is(errors.length, 1, 'reports once, then ignores input');
});

test('accepts a frame of exactly the maximum size', () => {
  const { decoder, frames, errors } = collect(16);
  decoder.write(encodeFrame(Buffer.alloc(16, 97)));
  assert.equal(frames, ['a'.repeat(16)]);
  assert.is(errors.length, 0);
});

test.run();
