/**
 * server/scavenges.ts: a minor collection every N steps of connection setup (admissions and
 * completed handshakes), and the collection it runs is V8's real one.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { minorCollection, ScavengePacer } from '../../src/server/scavenges.ts';

test('a pacer runs its collection once every N steps, and counts them', () => {
  let runs = 0;
  const pacer = new ScavengePacer(3, () => runs++);
  for (let i = 0; i < 2; i++) pacer.connectionAdmitted();
  assert.is(runs, 0, 'not before the third');
  pacer.connectionAdmitted();
  assert.is(runs, 1);
  for (let i = 0; i < 5; i++) pacer.connectionAdmitted();
  assert.is(runs, 2, 'the sixth, not the eighth');
  assert.is(pacer.count, 2);
});

test('a completed handshake is a step too: a connection takes two', () => {
  let runs = 0;
  const pacer = new ScavengePacer(4, () => runs++);
  pacer.connectionAdmitted();
  pacer.connectionKeyed();
  pacer.connectionAdmitted();
  assert.is(runs, 0);
  pacer.connectionKeyed();
  assert.is(runs, 1, 'two connections set up, four steps');
});

test('minorCollection runs a scavenge of the young generation, not a full collection', async () => {
  const kinds: number[] = [];
  const seen = new Promise<void>((resolve) => {
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) kinds.push((entry as PerformanceEntry & { detail: { kind: number } }).detail.kind);
      if (kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR)) {
        observer.disconnect();
        resolve();
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  });
  minorCollection()();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no minor GC seen, only ${kinds.join()}`)), 2000)));
  await Promise.race([seen, late]).finally(() => clearTimeout(timer));
  assert.not.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), 'no mark-compact');
  assert.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'no global gc for the rest of the server');
});

test.run();
