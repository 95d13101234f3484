/**
 * LiveQueue: one session's live deliveries, taken off the front as acknowledgements come in the
 * order sent, out of order only near the front.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LiveQueue } from '../../src/server/delivery.ts';

const record = (sentAt: number) => ({ message: { n: sentAt }, sentAt, waiter: null });
function filled(count: number): { queue: LiveQueue; records: Array<ReturnType<typeof record>> } {
  const queue = new LiveQueue();
  const records = Array.from({ length: count }, (_, i) => record(i));
  records.forEach((r, i) => queue.push(`m${i}`, r));
  return { queue, records };
}

test('acknowledged in the order sent: each comes off the front', () => {
  const { queue, records } = filled(3);
  assert.is(queue.size, 3);
  assert.is(queue.take('m0'), records[0]);
  assert.is(queue.take('m1'), records[1]);
  assert.is(queue.take('m2'), records[2]);
  assert.is(queue.size, 0);
  assert.is(queue.take('m2'), undefined, 'once only');
});

test('a busy queue, never empty, holds no acknowledged id or record while its front catches up', () => {
  const { queue } = filled(2);
  const held = () => {
    const { ids, records } = queue as unknown as { ids: string[]; records: unknown[] };
    return ids.filter((id, i) => id !== '' || records[i] !== null).length;
  };
  for (let i = 2; i < 600; i++) {
    queue.push(`m${i}`, record(i));
    assert.ok(queue.take(`m${i - 2}`));
  }
  assert.is(queue.size, 2);
  assert.is(held(), 2, 'only the two in flight; every slot behind the front let go');
  assert.ok(queue.take('m599')); // out of order: the front stays at m598
  assert.is(held(), 1);
});

test('a burst\'s big ring is let go once emptied; a small one is kept for the next messages', () => {
  const slots = (queue: LiveQueue) => (queue as unknown as { ids: string[] }).ids.length;
  const { queue } = filled(5000);
  assert.ok(slots(queue) >= 5000);
  for (let i = 0; i < 5000; i++) queue.take(`m${i}`);
  assert.is(slots(queue), 0, 'the burst\'s ring let go');
  const small = filled(10).queue;
  for (let i = 0; i < 10; i++) small.take(`m${i}`);
  assert.is(slots(small), 16, 'kept');
});

test('out of order near the front: found, and the front moves past it later', () => {
  const { queue, records } = filled(4);
  assert.is(queue.take('m2'), records[2]);
  assert.is(queue.size, 3);
  assert.is(queue.take('m0'), records[0]);
  assert.is(queue.take('m1'), records[1]);
  const left: string[] = [];
  queue.takeAll((ackId) => left.push(ackId));
  assert.equal(left, ['m3'], 'the acknowledged one is not handed on again');
});

test('an id far past the front, or made up, is not found and changes nothing', () => {
  const { queue, records } = filled(70);
  assert.is(queue.take('m65'), undefined, 'beyond the window of 64');
  assert.is(queue.take('nonsense'), undefined);
  assert.is(queue.size, 70);
  for (let i = 0; i < 10; i++) assert.is(queue.take(`m${i}`), records[i]);
  assert.is(queue.take('m65'), records[65], 'within reach once the front has moved');
});

test('the same id sent twice is acknowledged twice, oldest first', () => {
  const queue = new LiveQueue();
  const [a, b] = [record(1), record(2)];
  queue.push('x', a);
  queue.push('x', b);
  assert.is(queue.take('x'), a);
  assert.is(queue.take('x'), b);
});

test('takeOlderThan hands on the entries sent up to the cutoff, oldest first; takeAll the rest', () => {
  const { queue } = filled(5);
  queue.take('m1');
  const timedOut: string[] = [];
  queue.takeOlderThan(2, (ackId, r) => timedOut.push(`${ackId}@${r.sentAt}`));
  assert.equal(timedOut, ['m0@0', 'm2@2']);
  assert.is(queue.size, 2);
  const rest: string[] = [];
  queue.takeAll((ackId) => rest.push(ackId));
  assert.equal(rest, ['m3', 'm4']);
  assert.is(queue.size, 0);
  queue.push('again', record(9));
  assert.is(queue.size, 1, 'usable after emptying');
});

test('a long queue drops its acknowledged front as it goes and keeps the rest in order', () => {
  const { queue, records } = filled(1100);
  for (let i = 0; i < 1050; i++) assert.is(queue.take(`m${i}`), records[i]);
  assert.is(queue.size, 50);
  queue.take('m1060');
  const rest: number[] = [];
  queue.takeAll((_ackId, r) => rest.push(r.sentAt));
  assert.equal(rest, [...Array.from({ length: 10 }, (_, i) => 1050 + i), ...Array.from({ length: 39 }, (_, i) => 1061 + i)]);
});


test('against a list, over many fillings and emptyings (slots reused), acknowledgements in and out of order, and timeouts', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const queue = new LiveQueue();
  let model: Array<{ id: string; sentAt: number }> = [];
  let clock = 0;
  for (let step = 0; step < 20_000; step++) {
    const roll = random();
    if (roll < 0.5 || model.length === 0) {
      const entry = { id: `m${step}`, sentAt: clock++ };
      queue.push(entry.id, { message: entry, sentAt: entry.sentAt, waiter: null });
      model.push(entry);
    } else if (roll < 0.9) {
      // mostly the oldest, sometimes one a little later (within the window), sometimes unknown
      const pick = random() < 0.8 ? 0 : Math.floor(random() * Math.min(model.length, 64));
      const id = random() < 0.05 ? 'unknown' : model[pick].id;
      const taken = queue.take(id);
      if (id === 'unknown') assert.is(taken, undefined);
      else {
        assert.is(taken?.message, model[pick], `step ${step}`);
        model.splice(pick, 1);
      }
    } else {
      const cutoff = clock - Math.floor(random() * 10);
      const out: string[] = [];
      queue.takeOlderThan(cutoff, (id) => out.push(id));
      // the oldest run sent by the cutoff goes, up to the first younger one
      const young = model.findIndex((e) => e.sentAt > cutoff);
      const gone = young === -1 ? model.length : young;
      assert.equal(out, model.slice(0, gone).map((e) => e.id), `step ${step}`);
      model = model.slice(gone);
    }
    assert.is(queue.size, model.length);
  }
  const rest: string[] = [];
  queue.takeAll((id) => rest.push(id));
  assert.equal(rest, model.map((e) => e.id));
});

test.run();
