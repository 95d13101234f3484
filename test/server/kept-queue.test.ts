/**
 * KeptQueue: a connection's inbox and outbox, first in first out, keeping its array from one use
 * to the next and letting go of what it held.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KEPT_SLOTS, KeptQueue } from '../../src/server/kept-queue.ts';

test('first in, first out, across emptyings', () => {
  const queue = new KeptQueue<string>();
  assert.is(queue.shift(), undefined);
  queue.push('a');
  queue.push('b');
  assert.is(queue.size, 2);
  assert.is(queue.shift(), 'a');
  queue.push('c');
  assert.equal([queue.shift(), queue.shift(), queue.shift()], ['b', 'c', undefined]);
  assert.is(queue.size, 0);
  queue.push('d');
  assert.is(queue.shift(), 'd');
});

test('contents: the queued items as the first `size` of one array, kept from use to use', () => {
  const queue = new KeptQueue<string>();
  queue.push('a');
  queue.push('b');
  const first = queue.contents();
  assert.equal(first.slice(0, queue.size), ['a', 'b']);
  queue.clear();
  assert.is(queue.size, 0);
  assert.equal([...first], [undefined, undefined], 'cleared items are let go');
  queue.push('c');
  assert.is(queue.contents(), first, 'the same array again');
  assert.equal(first.slice(0, queue.size), ['c']);
  // Items left after a shift are moved to the start.
  queue.push('d');
  queue.push('e');
  assert.is(queue.shift(), 'c');
  const moved = queue.contents();
  assert.equal(moved.slice(0, queue.size), ['d', 'e']);
  assert.is(moved[2], undefined, 'nothing left behind the queued items');
  assert.is(queue.shift(), 'd');
  assert.is(queue.shift(), 'e');
  assert.equal([...queue.contents()], [undefined, undefined, undefined], 'shifted items are let go');
});

test('a store grown by a burst is let go once the queue empties; letGo gives up the kept one when empty', () => {
  const queue = new KeptQueue<number>();
  for (let i = 0; i < KEPT_SLOTS + 1; i++) queue.push(i);
  const burst = queue.contents();
  for (let i = 0; i <= KEPT_SLOTS; i++) assert.is(queue.shift(), i);
  queue.push(1);
  assert.is.not(queue.contents(), burst);
  const kept = queue.contents();
  queue.letGo();
  assert.is(queue.contents(), kept, 'not while it holds something');
  queue.clear();
  queue.letGo();
  const none = queue.contents();
  assert.is.not(none, kept);
  assert.is(none.length, 0);
  queue.letGo();
  assert.is(queue.contents(), none, 'nothing kept: no new array');
});

test.run();
