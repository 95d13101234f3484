import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AckPacer } from '../../src/client/ack-pacer.ts';
import { ACK_INTERVAL_MS, ACK_PROMPTLY } from '../../src/protocol/messages.ts';

const nextPass = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the first acknowledgement leaves in the next pass, later ones wait for the interval, all of them together', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  pacer.add('a');
  pacer.add('b');
  await nextPass();
  assert.equal(sent, [['a', 'b']]);
  pacer.add('c');
  await nextPass();
  assert.equal(sent.length, 1, 'within the interval: held');
  pacer.add('d');
  await sleep(ACK_INTERVAL_MS + 20);
  assert.equal(sent, [['a', 'b'], ['c', 'd']]);
});

test('ACK_PROMPTLY waiting ids leave at once, even within the interval', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  pacer.add('first');
  await nextPass();
  const ids = Array.from({ length: ACK_PROMPTLY }, (_, i) => `m${i}`);
  for (const id of ids) pacer.add(id);
  await nextPass();
  assert.equal(sent, [['first'], ids]);
  pacer.cancel();
});

test('cancel forgets what waits', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  pacer.add('x');
  pacer.cancel();
  await sleep(ACK_INTERVAL_MS + 20);
  assert.equal(sent, []);
});

test.run();
