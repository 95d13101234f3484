/**
 * LogPool under fast-check: any interleaving of holds, releases, appends to open and closed logs
 * (with their texts or without), edits, reads, event-loop turns and checkpoints, with any budget, on a
 * real store. Whatever the pool closed and reopened on the way, and whatever segments the store
 * shelved as texts (src/store/item-texts.ts), every read sees the log as the model has it, and a
 * fresh store afterwards reads every log back so: each entry once, in order, each seq given once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { SEGMENT, SegmentedLog } from '../../src/store/log.ts';
import { LOG_WEIGHT, LogPool } from '../../src/store/log-pool.ts';
import { Store } from '../../src/store/store.ts';
import { fuzzOptions } from './settings.ts';

const Entry = z.object({ n: z.number() });
type Entry = z.infer<typeof Entry>;
const LOGS = 5;

type Step =
  | { kind: 'append'; log: number; count: number; texts: boolean }
  | { kind: 'read'; log: number }
  | { kind: 'edit'; log: number; back: number }
  | { kind: 'hold'; log: number }
  | { kind: 'release' }
  | { kind: 'turn' }
  | { kind: 'written' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), log: fc.nat(LOGS - 1), count: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(SEGMENT)), texts: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), log: fc.nat(LOGS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('edit' as const), log: fc.nat(LOGS - 1), back: fc.oneof(fc.nat(3), fc.nat(2 * SEGMENT)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), log: fc.nat(LOGS - 1) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'release' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'turn' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'written' as const }) },
);

test('whatever the pool closes and reopens, every entry is on disk once, in order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 6 * LOG_WEIGHT + 2 * SEGMENT }), fc.array(step, { maxLength: 40 }), async (budget, steps) => {
      const dir = mkdtempSync(join(tmpdir(), 'parley-pool-fuzz-'));
      try {
        const store = await Store.open(dir, { checkpointMs: 1 });
        const pool = new LogPool<Entry>(store, Entry, budget);
        const model: number[][] = Array.from({ length: LOGS }, () => []);
        const held: number[] = [];
        const writes: Array<Promise<void>> = [];
        const edits: Array<Promise<void>> = [];
        let n = 0;
        for (const s of steps) {
          if (s.kind === 'append') {
            const name = `c${s.log}`;
            for (let i = 0; i < s.count; i++) model[s.log].push(n++);
            const first = n - s.count;
            const appendAll = (log: SegmentedLog<Entry>) => {
              for (let i = 0; i < s.count; i++) writes.push(pool.append(log, { n: first + i }, s.texts ? `{"n":${first + i}}` : undefined).written);
            };
            const open = pool.peek(name);
            if (open) appendAll(open);
            else await pool.with(name, appendAll);
          } else if (s.kind === 'read') {
            await Promise.all(edits); // a read does not wait for an edit under way
            const entries = await pool.with(`c${s.log}`, (log) => log.read(0, 100_000));
            assert.equal(entries.map((e) => e.entry.n), model[s.log], `c${s.log} read while running`);
          } else if (s.kind === 'edit') {
            // Not awaited: appends go on while the segment is rewritten.
            const seq = model[s.log].length - 1 - s.back;
            if (seq < 0) continue;
            const value = -1 - n++;
            model[s.log][seq] = value;
            edits.push(pool.with(`c${s.log}`, (log) => log.update(seq, () => ({ n: value }))));
          } else if (s.kind === 'hold') {
            await pool.hold(`c${s.log}`);
            held.push(s.log);
          } else if (s.kind === 'release') {
            if (held.length > 0) pool.release(`c${held.shift()!}`);
          } else if (s.kind === 'turn') {
            await new Promise((resolve) => setImmediate(resolve));
          } else {
            await Promise.all(writes);
          }
        }
        for (const log of held) pool.release(`c${log}`);
        await Promise.all([...writes, ...edits]);
        await store.flush();
        const fresh = await Store.open(dir);
        for (let log = 0; log < LOGS; log++) {
          const reopened = await SegmentedLog.open(fresh, `c${log}`, Entry);
          const entries = await reopened.read(0, 100_000);
          assert.equal(entries.map((e) => e.entry.n), model[log], `log c${log}`);
          assert.equal(entries.map((e) => e.seq), [...model[log].keys()], `seqs of c${log}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    fuzzOptions(0.3),
  );
});

test.run();
