import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AckPacer } from '../../src/client/ack-pacer.ts';
import { ACK_INTERVAL_MS, ACK_LAZY_MS, ACK_PROMPTLY, ACK_PROMPTLY_TEXT } from '../../src/protocol/messages.ts';

const nextPass = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A lazy wait short enough for a test, still well apart from the prompt interval. */
const LAZY_MS = 4 * ACK_INTERVAL_MS;

test('the protocol keeps lazy acknowledgements far inside the default ack timeout (5 s) and behind prompt ones', () => {
  assert.ok(ACK_LAZY_MS > ACK_INTERVAL_MS);
  assert.ok(ACK_LAZY_MS <= 5000 / 4);
});

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

test('a lazy acknowledgement waits for the lazy interval, not the prompt one', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids), ACK_INTERVAL_MS, LAZY_MS);
  pacer.add('g1', true);
  await nextPass();
  await sleep(ACK_INTERVAL_MS + 20);
  assert.equal(sent, [], 'a group message after a quiet spell is not hurried');
  pacer.add('g2', true);
  await sleep(LAZY_MS);
  assert.equal(sent, [['g1', 'g2']], 'due when the first of them is, together');
});

test('a prompt acknowledgement takes the lazy ones waiting along, in arrival order', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids), ACK_INTERVAL_MS, LAZY_MS);
  pacer.add('g1', true);
  pacer.add('p1');
  pacer.add('g2', true);
  await nextPass();
  assert.equal(sent, [['g1', 'p1', 'g2']]);
  await sleep(LAZY_MS + 20);
  assert.equal(sent.length, 1, 'nothing is left to send');
});

test('ACK_PROMPTLY waiting ids leave at once, even within the interval and lazy ones', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  pacer.add('first');
  await nextPass();
  const ids = Array.from({ length: ACK_PROMPTLY }, (_, i) => `m${i}`);
  for (const id of ids) pacer.add(id, true);
  await nextPass();
  assert.equal(sent, [['first'], ids]);
  pacer.cancel();
});

test('ACK_PROMPTLY_TEXT characters of long lazy messages leave at once (a mailbox drain waits for them)', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  const perMessage = 8000;
  const count = Math.ceil(ACK_PROMPTLY_TEXT / perMessage);
  assert.ok(count < ACK_PROMPTLY, 'the count alone would not hurry them');
  const ids = Array.from({ length: count }, (_, i) => `long${i}`);
  for (const id of ids.slice(0, -1)) pacer.add(id, true, perMessage);
  await nextPass();
  assert.equal(sent, [], 'one short of the threshold: they wait');
  pacer.add(ids.at(-1)!, true, perMessage);
  await nextPass();
  assert.equal(sent, [ids]);
  pacer.cancel();
});

test('flush sends what waits at once, and nothing is sent twice', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids), ACK_INTERVAL_MS, LAZY_MS);
  pacer.add('g', true);
  pacer.flush();
  assert.equal(sent, [['g']], 'sent synchronously, ahead of whatever is queued next (a quit)');
  pacer.flush();
  await sleep(LAZY_MS + 20);
  assert.equal(sent, [['g']]);
});

test('cancel forgets what waits', async () => {
  const sent: string[][] = [];
  const pacer = new AckPacer((ids) => sent.push(ids));
  pacer.add('x');
  pacer.add('y', true);
  pacer.cancel();
  await sleep(ACK_INTERVAL_MS + 20);
  assert.equal(sent, []);
});

test.run();
