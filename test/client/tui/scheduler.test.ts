import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RenderScheduler } from '../../../src/client/tui/scheduler.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('many requests in one pass cost one render', async () => {
  let renders = 0;
  const scheduler = new RenderScheduler(() => renders++);
  for (let i = 0; i < 1000; i++) scheduler.request();
  assert.is(renders, 0, 'never renders synchronously');
  await tick();
  assert.is(renders, 1);
  assert.is(scheduler.renders, 1);
});

test('during a burst, renders wait for the next frame', async () => {
  let renders = 0;
  const scheduler = new RenderScheduler(() => renders++, 30);
  scheduler.request();
  await tick();
  scheduler.request();
  await tick();
  assert.is(renders, 1, 'the second render waits for the frame');
  await sleep(45);
  assert.is(renders, 2);
});

test('flush renders now; cancel drops a pending render', async () => {
  let renders = 0;
  const scheduler = new RenderScheduler(() => renders++);
  scheduler.request();
  scheduler.flush();
  assert.is(renders, 1);
  scheduler.request();
  scheduler.cancel();
  scheduler.cancel();
  await sleep(30);
  assert.is(renders, 1);
});

test.run();
