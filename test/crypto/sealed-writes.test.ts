/**
 * writeFrame (src/crypto/sealed-writes.ts): frames for sockets that take them at once share one
 * buffer; a frame a socket keeps (the kernel took only part of it) must never be written over.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel, deriveKeys } from '../../src/crypto/channel.ts';
import { FrameDecoder } from '../../src/protocol/frame.ts';
import { writeFrame } from '../../src/crypto/sealed-writes.ts';

const keys = deriveKeys(Buffer.alloc(32, 1), Buffer.alloc(32, 2), 'chacha20-poly1305');

/**
 * A socket that records the buffers it is given, as Node's does (no copy). With `keeps` it acts
 * as one whose kernel buffer is full: what it is given stays queued, by reference.
 */
class FakeSocket {
  readonly given: Buffer[] = [];
  /** a copy of each buffer's bytes when it was given */
  readonly asGiven: Buffer[] = [];
  writableLength = 0;
  keeps = false;

  write(frame: Buffer): boolean {
    this.given.push(frame);
    this.asGiven.push(Buffer.from(frame));
    if (this.keeps) this.writableLength += frame.length;
    return !this.keeps;
  }
}

/** The plaintexts of `frames`, opened in order as the client would. */
function opened(frames: Buffer[]): string[] {
  const client = Channel.forClient(keys);
  const out: string[] = [];
  const decoder = new FrameDecoder({ onFrame: (payload) => out.push(client.open(Buffer.from(payload)).toString()), onFrameError: (err) => assert.unreachable(err.message) }, 1 << 24);
  for (const frame of frames) decoder.write(frame);
  return out;
}

test('frames for sockets that take them at once share one buffer', () => {
  const a = new FakeSocket();
  const b = new FakeSocket();
  const serverA = Channel.forServer(keys);
  const serverB = Channel.forServer(keys);
  writeFrame(a, serverA, Buffer.from('to a'));
  writeFrame(b, serverB, Buffer.from('to b'));
  assert.is(a.given[0].buffer, b.given[0].buffer, 'the same memory');
  assert.equal(opened(b.asGiven), ['to b']);
});

test('a frame a socket keeps is not written over by the frames sealed after it, for it or for others', () => {
  const slow = new FakeSocket();
  const quick = new FakeSocket();
  const toSlow = Channel.forServer(keys);
  const toQuick = Channel.forServer(keys);
  slow.keeps = true; // its kernel buffer is full: this frame stays queued by reference
  writeFrame(slow, toSlow, Buffer.from('kept '.repeat(1000)));
  for (let i = 0; i < 5; i++) writeFrame(quick, toQuick, Buffer.from(`quick ${i} `.repeat(2000))); // longer than the kept frame
  writeFrame(slow, toSlow, Buffer.from('queued behind it'));
  slow.given.forEach((frame, i) => assert.equal(frame, slow.asGiven[i], `frame ${i} to the slow socket is as it was given`));
  assert.equal(opened(slow.given), ['kept '.repeat(1000), 'queued behind it']);
  assert.is.not(slow.given[1].buffer, slow.given[0].buffer, 'a socket with a queue gets a frame of its own');
  // What a socket that takes its frames at once sent is what it was given then: the shared
  // buffer has been sealed into again since.
  assert.equal(opened(quick.asGiven), Array.from({ length: 5 }, (_, i) => `quick ${i} `.repeat(2000)));
});

test.run();
