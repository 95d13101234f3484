import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onQuitSignals, politeQuit } from '../../src/client/signals.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Listeners are called as the signal would call them, without sending one to the test runner.
const signal = (name: 'SIGHUP' | 'SIGTERM') => process.emit(name as 'SIGTERM', name as 'SIGTERM');

test('the first SIGHUP or SIGTERM quits politely, a second one exits at once', () => {
  const calls: string[] = [];
  const unlisten = onQuitSignals(politeQuit(() => calls.push('quit'), () => calls.push('exit'), 60_000));
  try {
    signal('SIGHUP');
    assert.equal(calls, ['quit']);
    signal('SIGTERM');
    assert.equal(calls, ['quit', 'exit']);
  } finally {
    unlisten();
  }
});

test('no answer within the grace: it exits anyway', async () => {
  const calls: string[] = [];
  const request = politeQuit(() => calls.push('quit'), () => calls.push('exit'), 30);
  request();
  assert.equal(calls, ['quit']);
  await sleep(80);
  assert.equal(calls, ['quit', 'exit']);
});

test('once undone, signals reach it no more', () => {
  const calls: string[] = [];
  const count = () => [process.listenerCount('SIGHUP'), process.listenerCount('SIGTERM')];
  const before = count();
  const unlisten = onQuitSignals(politeQuit(() => calls.push('quit'), () => calls.push('exit'), 60_000));
  assert.equal(count(), [before[0] + 1, before[1] + 1]);
  unlisten();
  assert.equal(count(), before);
  assert.equal(calls, []);
});

test.run();
