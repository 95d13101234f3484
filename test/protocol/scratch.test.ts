import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Scratch } from '../../src/protocol/scratch.ts';

test('a scratch buffer is reused, grows by doubling up to its cap, and lends a buffer of its own past it', () => {
  const scratch = new Scratch(256 * 1024);
  const a = scratch.take(10);
  assert.is(a.length, 10);
  assert.is(a.buffer.byteLength, 64 * 1024, 'starts at 64 KiB');
  assert.is(scratch.take(64 * 1024).buffer, a.buffer, 'the same memory while it fits');
  const grown = scratch.take(64 * 1024 + 1);
  assert.is(grown.buffer.byteLength, 128 * 1024, 'doubled');
  assert.is(scratch.take(200 * 1024).buffer.byteLength, 256 * 1024, 'doubled, to the cap');
  const big = scratch.take(300 * 1024);
  assert.is(big.length, 300 * 1024);
  assert.is(scratch.take(1).buffer.byteLength, 256 * 1024, 'past the cap: not kept');
  assert.is.not(big.buffer, scratch.take(1).buffer);
});

test.run();
