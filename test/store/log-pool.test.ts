/**
 * LogPool (src/store/log-pool.ts): idle logs past the pool's budget are closed, least recently
 * used first, weighed by the entries they hold; held logs stay open; a log closed with appends still on their way to disk reopens with
 * every entry and goes on counting from the right seq.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { ParleyError } from '../../src/protocol/errors.ts';
import { SEGMENT, SegmentedLog } from '../../src/store/log.ts';
import { LOG_WEIGHT, LogPool } from '../../src/store/log-pool.ts';
import { Store } from '../../src/store/store.ts';

const Entry = z.object({ n: z.number() });
type Entry = z.infer<typeof Entry>;
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pool-'));
  dirs.push(dir);
  return dir;
}
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Every entry of `collection` as a fresh store reads it from disk. */
async function onDisk(dir: string, collection: string): Promise<Array<{ seq: number; n: number }>> {
  const log = await SegmentedLog.open(await Store.open(dir), collection, Entry);
  return (await log.read(0, 1_000_000)).map(({ seq, entry }) => ({ seq, n: entry.n }));
}

test('past the budget the least recently used idle logs are closed; one used since the closer passed it is kept', async () => {
  const pool = new LogPool<Entry>(await Store.open(tempDir()), Entry, 2 * LOG_WEIGHT); // two empty logs
  for (const name of ['a', 'b']) await pool.with(name, () => undefined);
  assert.is(pool.size, 2);
  await pool.with('c', () => undefined);
  assert.is(pool.size, 2);
  assert.is(pool.peek('a'), undefined, 'the oldest idle log is closed');
  // b and c were both passed by the closer; b is used again, so c goes first.
  assert.ok(pool.peek('b'));
  await pool.with('d', () => undefined);
  assert.ok(pool.peek('b'));
  assert.is(pool.peek('c'), undefined);
  assert.ok(pool.peek('d'));
});

test('appends to idle logs count against the budget: past it the closer runs, with no hold or release', async () => {
  const pool = new LogPool<Entry>(await Store.open(tempDir()), Entry, 3 * LOG_WEIGHT + 20);
  for (const name of ['a', 'b', 'c']) await pool.with(name, () => undefined);
  for (let n = 0; n < 20; n++) pool.append(pool.peek(n % 2 ? 'b' : 'c')!, { n });
  assert.is(pool.size, 3, 'within the budget');
  const c = pool.peek('c')!;
  pool.append(c, { n: 20 });
  pool.append(c, { n: 21 });
  assert.is(pool.size, 3, 'nothing is closed under the appending caller');
  await Promise.resolve();
  assert.is(pool.peek('a'), undefined, 'the least recently used is closed');
  assert.is(pool.size, 2);
  // Held logs are weighed when released.
  const held = await pool.hold('b');
  for (let n = 0; n < 200; n++) pool.append(held, { n });
  assert.ok(pool.peek('c'));
  pool.release('b');
  assert.is(pool.peek('b'), undefined);
  assert.is(await pool.with('b', (log) => log.next), 210);
  assert.is(await pool.with('c', (log) => log.next), 12);
});

test('idle logs are weighed again as the closer passes them (appends it was not told of included)', async () => {
  const pool = new LogPool<Entry>(await Store.open(tempDir()), Entry, 4 * LOG_WEIGHT + 5);
  await pool.with('big', (log) => {
    for (let n = 0; n < 40; n++) log.append({ n });
  });
  assert.is(pool.peek('big'), undefined, 'alone past the budget');
  for (const name of ['a', 'b', 'c', 'd']) await pool.with(name, () => undefined);
  assert.is(pool.size, 4, 'four empty logs fit');
  // b grows behind the pool's back (the hot path appends without a hold)...
  for (let n = 0; n < 30; n++) pool.peek('b')!.append({ n });
  // ...and is weighed again as the closer passes it: closing a alone is not enough.
  await pool.with('e', () => undefined);
  assert.equal(['a', 'b', 'c', 'd', 'e'].map((name) => pool.peek(name) !== undefined), [false, false, true, true, true]);
  assert.is(await pool.with('b', (log) => log.next), 30);
});

test('many logs in and out of the ring: within the budget, every entry kept, each log opened once at a time', async () => {
  const pool = new LogPool<Entry>(Store.memory(), Entry, 40 * LOG_WEIGHT);
  const counts = new Map<string, number>();
  const held: string[] = [];
  for (let step = 0; step < 6000; step++) {
    const name = `log${(step * 37) % 500}`;
    if (step % 7 === 0) {
      await pool.hold(name);
      held.push(name);
    }
    if (held.length > 20) pool.release(held.shift()!);
    const open = pool.peek(name);
    if (open) pool.append(open, { n: step });
    else await pool.with(name, (log) => pool.append(log, { n: step }));
    counts.set(name, (counts.get(name) ?? 0) + 1);
    assert.ok(pool.size <= 40 + held.length + 1, `${pool.size} open with ${held.length} held`);
  }
  for (const name of held) pool.release(name);
  for (const [name, count] of counts) assert.is(await pool.with(name, (log) => log.next), count, name);
});

test('a held log stays open however small the pool; it closes once the last hold ends', async () => {
  const pool = new LogPool<Entry>(await Store.open(tempDir()), Entry, 0);
  const log = await pool.hold('x');
  await pool.with('y', () => undefined);
  assert.is(pool.peek('y'), undefined, 'nobody holds y');
  assert.is(pool.peek('x'), log);
  pool.retain('x');
  pool.release('x');
  assert.is(pool.peek('x'), log, 'retained: still held once');
  assert.is(await pool.hold('x'), log, 'one instance per log');
  pool.release('x');
  pool.release('x');
  assert.is(pool.size, 0);
  assert.throws(() => pool.retain('x'), /nobody holds/);
});

test('a log closed with appends still on their way to disk reopens with all of them and goes on from the next seq', async () => {
  const dir = tempDir();
  const store = await Store.open(dir);
  const pool = new LogPool<Entry>(store, Entry, 0);
  const written: Array<Promise<void>> = [];
  let n = 0;
  let closed: SegmentedLog<Entry> | undefined;
  // Rounds of appends across segment boundaries, each closing the log before its batch is written.
  for (const count of [3, SEGMENT, 5, SEGMENT - 8, 1]) {
    const seqs = await pool.with('history/private/a.b', (log) => {
      closed = log;
      return Array.from({ length: count }, () => {
        const { seq, written: w } = log.append({ n: n++ });
        written.push(w);
        return seq;
      });
    });
    assert.is(pool.size, 0);
    assert.is(seqs[0], n - count, 'the reopened log counts on from where the closed one stopped');
  }
  // The closed instance refuses: it would give out seqs a second time.
  try {
    closed!.append({ n: -1 });
    assert.unreachable('a closed log appended');
  } catch (err) {
    assert.instance(err, ParleyError);
    assert.is((err as ParleyError).code, 'E_INTERNAL');
  }
  await Promise.all(written);
  await store.flush();
  const entries = await onDisk(dir, 'history/private/a.b');
  assert.equal(entries, Array.from({ length: n }, (_, i) => ({ seq: i, n: i })));
});

test('closing and reopening while a checkpoint writes the tail loses nothing', async () => {
  const dir = tempDir();
  const store = await Store.open(dir, { checkpointMs: 1 });
  const pool = new LogPool<Entry>(store, Entry, 0);
  let n = 0;
  for (let round = 0; round < 40; round++) {
    const writes = await pool.with('mailbox/bob', (log) => Array.from({ length: 13 }, () => log.append({ n: n++ }).written));
    if (round % 3 === 0) await Promise.all(writes);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  await store.flush();
  const entries = await onDisk(dir, 'mailbox/bob');
  assert.equal(entries, Array.from({ length: n }, (_, i) => ({ seq: i, n: i })));
});

test('a log that fails to open is not kept: the next hold tries again', async () => {
  const store = Store.memory();
  const pool = new LogPool<Entry>(store, Entry, 4);
  await store.put('c', 's000000000000', [{ seq: 0, entry: { n: 'not a number' } }]);
  await pool.hold('c').then(
    () => assert.unreachable('opened a damaged log'),
    (err: ParleyError) => assert.is(err.code, 'E_STORE_CORRUPT'),
  );
  assert.is(pool.size, 0);
  await store.put('c', 's000000000000', [{ seq: 0, entry: { n: 1 } }]);
  assert.is((await pool.with('c', (log) => log.next)), 1);
});

test.run();
