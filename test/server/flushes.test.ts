import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FLUSH_AFTER_MS, FLUSHES_PER_PASS, Flushes, LATER_FLUSHES_PER_PASS } from '../../src/server/flushes.ts';

/** Connections that note when they are flushed, a clock the test moves, and passes the test runs. */
function rig() {
  const flushed: string[] = [];
  const passes: Array<() => void> = [];
  let now = 1000;
  const flushes = new Flushes(
    () => now,
    (pass) => passes.push(pass),
  );
  const connection = (name: string) => ({ flush: () => flushed.push(name) });
  /** Ends the event-loop pass: runs what was deferred to it (its check phase). */
  const endPass = () => {
    const due = passes.splice(0);
    for (const pass of due) pass();
  };
  return { flushes, flushed, passes, connection, endPass, advance: (ms: number) => (now += ms) };
}

test('what is asked for now leaves at the end of the pass, once a connection, in order', () => {
  const { flushes, flushed, passes, connection, endPass } = rig();
  const a = connection('a');
  const b = connection('b');
  flushes.ask(a, false);
  flushes.ask(b, false);
  flushes.ask(a, false);
  assert.equal(passes.length, 1, 'one pass end is scheduled, however many ask');
  assert.equal(flushed, []);
  endPass();
  assert.equal(flushed, ['a', 'b']);
  assert.equal(passes.length, 0, 'nothing left: no further pass');
});

test(`at most ${FLUSHES_PER_PASS} connections a pass; the rest in the next passes`, () => {
  const { flushes, flushed, connection, endPass } = rig();
  for (let i = 0; i < FLUSHES_PER_PASS + 3; i++) flushes.ask(connection(`c${i}`), false);
  endPass();
  assert.equal(flushed.length, FLUSHES_PER_PASS);
  endPass();
  assert.equal(flushed.length, FLUSHES_PER_PASS + 3);
  assert.equal(flushed.at(-1), `c${FLUSHES_PER_PASS + 2}`);
});

test(`what can wait leaves after the rest, ${LATER_FLUSHES_PER_PASS} connections a pass`, () => {
  const { flushes, flushed, connection, endPass } = rig();
  const waiting = Array.from({ length: LATER_FLUSHES_PER_PASS + 2 }, (_, i) => connection(`w${i}`));
  for (const c of waiting) flushes.ask(c, true);
  flushes.ask(connection('prompt'), false);
  endPass();
  assert.equal(flushed[0], 'prompt', 'the prompt one first');
  assert.equal(flushed.length, 1 + LATER_FLUSHES_PER_PASS);
  endPass();
  assert.equal(flushed.length, 3 + LATER_FLUSHES_PER_PASS);
});

test('a connection that can wait moves up when it is asked for now, and is flushed once', () => {
  const { flushes, flushed, connection, endPass } = rig();
  const waiting = Array.from({ length: LATER_FLUSHES_PER_PASS }, (_, i) => connection(`w${i}`));
  const last = connection('last');
  for (const c of waiting) flushes.ask(c, true);
  flushes.ask(last, true);
  flushes.ask(last, false);
  endPass();
  assert.equal(flushed[0], 'last');
  assert.equal(flushed.filter((name) => name === 'last').length, 1);
  assert.equal(flushed.length, 1 + LATER_FLUSHES_PER_PASS, 'all that waited fit in the pass');
  endPass();
  assert.equal(flushed.length, 1 + LATER_FLUSHES_PER_PASS, 'and none is flushed twice');
});

test(`in a long pass, a frame handled ${FLUSH_AFTER_MS} ms after the last flush flushes what waits; not before, and not what can wait`, () => {
  const { flushes, flushed, connection, endPass, advance } = rig();
  flushes.ask(connection('early'), false);
  flushes.ask(connection('patient'), true);
  flushes.frameHandled();
  assert.equal(flushed, ['early'], 'the first frame handled since the last flush long ago');
  flushes.ask(connection('next'), false);
  advance(FLUSH_AFTER_MS / 2);
  flushes.frameHandled();
  assert.equal(flushed, ['early'], 'too soon after the last flush');
  advance(FLUSH_AFTER_MS / 2);
  flushes.frameHandled();
  assert.equal(flushed, ['early', 'next']);
  flushes.frameHandled();
  assert.equal(flushed, ['early', 'next'], 'nothing waits: nothing to do');
  endPass();
  assert.equal(flushed, ['early', 'next', 'patient'], 'what can wait goes at the end of the pass');
});

test.run();
