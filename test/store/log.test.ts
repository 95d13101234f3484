import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { SEGMENT, SegmentedLog, segmentKey } from '../../src/store/log.ts';
import { Store } from '../../src/store/store.ts';

const Entry = z.object({ n: z.number() });
const dirs: string[] = [];
const stores: Store[] = [];
/** A store on `dir`, flushed before the directories go: a batch or checkpoint still due would make them again. */
async function storeIn(dir: string): Promise<Store> {
  const store = await Store.open(dir);
  stores.push(store);
  return store;
}
function tempStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-log-'));
  dirs.push(dir);
  return storeIn(dir);
}
test.after(async () => {
  await Promise.all(stores.map((store) => store.flush()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('appends get consecutive seqs and read back in order across segments', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'mailbox/alice', Entry);
  const total = SEGMENT * 2 + 5;
  for (let n = 0; n < total; n++) assert.is(log.append({ n }).seq, n);
  assert.is(log.size, total);
  const all = await log.read(0, total + 10);
  assert.equal(all.map((e) => e.entry.n), Array.from({ length: total }, (_, n) => n));
  assert.equal((await log.read(SEGMENT - 1, 3)).map((e) => e.seq), [SEGMENT - 1, SEGMENT, SEGMENT + 1]);
});

test('a new log names its segment files with their size; a log of unnamed 256-entry files keeps that size, and files of two sizes are refused', async () => {
  const store = await tempStore();
  const fresh = await SegmentedLog.open(store, 'history/private/n.m', Entry);
  for (let n = 0; n <= SEGMENT; n++) fresh.append({ n });
  await store.flush();
  assert.is(fresh.segmentSize, SEGMENT);
  assert.equal((await store.keys('history/private/n.m')).sort(), [`s${SEGMENT}-000000000000`, `s${SEGMENT}-000000000001`]);

  // Written before segment files named their size: seqs 0-255 in s000000000000, 256-299 in s000000000001.
  const dir = join(store.dir!, 'history/private/o.p');
  mkdirSync(dir, { recursive: true });
  const items = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ seq: from + i, entry: { n: from + i } }));
  writeFileSync(join(dir, 's000000000000.json'), JSON.stringify(items(0, 256)));
  writeFileSync(join(dir, 's000000000001.json'), JSON.stringify(items(256, 300)));
  const old = await SegmentedLog.open(store, 'history/private/o.p', Entry);
  assert.is(old.segmentSize, 256);
  assert.is(old.next, 300);
  for (let n = 300; n < 600; n++) assert.is(old.append({ n }).seq, n);
  await store.flush();
  assert.equal((await store.keys('history/private/o.p')).sort(), ['s000000000000', 's000000000001', 's000000000002']);
  assert.equal(JSON.parse(readFileSync(join(dir, 's000000000002.json'), 'utf8').trim().split('\n').at(-1)!).at(-1).seq, 599, 'seqs 512-599 went to the third 256-entry file');
  const reopened = await SegmentedLog.open(await storeIn(store.dir!), 'history/private/o.p', Entry);
  assert.equal((await reopened.read(0, 1000)).map((e) => e.entry.n), Array.from({ length: 600 }, (_, n) => n));
  assert.equal((await reopened.readBefore(600, 3)).map((e) => e.seq), [597, 598, 599]);

  // Not the name segmentKey gives a 256-entry segment: not one of this log's files.
  writeFileSync(join(dir, 's256-000000000002.json'), JSON.stringify(items(512, 513)));
  assert.equal((await (await SegmentedLog.open(await storeIn(store.dir!), 'history/private/o.p', Entry)).read(512, 2)).map((e) => e.seq), [512, 513]);
  writeFileSync(join(dir, `${segmentKey(1)}.json`), JSON.stringify(items(1024, 1025)));
  try {
    await SegmentedLog.open(await storeIn(store.dir!), 'history/private/o.p', Entry);
    assert.unreachable('opened a log with segment files of two sizes');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'E_STORE_CORRUPT');
  }
});

test('a full segment is forgotten once written: a read loads it again from its file', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'history/private/a.b', Entry);
  for (let n = 0; n <= SEGMENT; n++) log.append({ n });
  await store.flush();
  // Change the full segment's file behind the store's back: a cached copy would hide this.
  const file = join(store.dir!, 'history/private/a.b', `${segmentKey(0)}.json`);
  const items = JSON.parse(readFileSync(file, 'utf8')) as Array<{ seq: number; entry: { n: number } }>;
  items[0].entry.n = -1;
  writeFileSync(file, JSON.stringify(items));
  assert.is((await log.read(0, 1))[0].entry.n, -1);
  // The tail (still being appended to) stays in memory and keeps its entries.
  assert.equal((await log.read(SEGMENT, 5)).map((e) => e.entry.n), [SEGMENT]);
});

test('an old segment an update rewrote is forgotten once written, as one only read is', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'history/private/a.b', Entry);
  for (let n = 0; n <= SEGMENT; n++) log.append({ n });
  await store.flush();
  await log.update(3, () => ({ n: 33 }));
  const file = join(store.dir!, 'history/private/a.b', `${segmentKey(0)}.json`);
  const items = JSON.parse(readFileSync(file, 'utf8')) as Array<{ seq: number; entry: { n: number } }>;
  assert.is(items[3].entry.n, 33, 'written');
  items[0].entry.n = -1;
  writeFileSync(file, JSON.stringify(items));
  assert.is((await log.read(0, 1))[0].entry.n, -1, 'read again from its file, not kept');
});

test('many appends in one tick all land (none overwrites another)', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'c', Entry);
  const writes = Array.from({ length: 50 }, (_, n) => log.append({ n }).written);
  await Promise.all(writes);
  const reopened = await SegmentedLog.open(await storeIn(store.dir!), 'c', Entry);
  assert.is((await reopened.read(0, 100)).length, 50);
});

test('a reopened log keeps its partly filled tail segment and appends after it', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'c', Entry);
  for (let n = 0; n < 10; n++) log.append({ n });
  await store.flush();
  const second = await storeIn(store.dir!);
  const reopened = await SegmentedLog.open(second, 'c', Entry);
  assert.is(reopened.next, 10);
  await reopened.append({ n: 10 }).written;
  const third = await SegmentedLog.open(await storeIn(store.dir!), 'c', Entry);
  assert.equal((await third.read(0, 100)).map((e) => e.entry.n), Array.from({ length: 11 }, (_, n) => n));
});

test('readBefore pages backwards, oldest first within a page', async () => {
  const log = await SegmentedLog.open(Store.memory(), 'c', Entry);
  for (let n = 0; n < SEGMENT + 20; n++) log.append({ n });
  const last = await log.readBefore(log.next, 5);
  assert.equal(last.map((e) => e.seq), [SEGMENT + 15, SEGMENT + 16, SEGMENT + 17, SEGMENT + 18, SEGMENT + 19]);
  const across = await log.readBefore(SEGMENT + 2, 4);
  assert.equal(across.map((e) => e.seq), [SEGMENT - 2, SEGMENT - 1, SEGMENT, SEGMENT + 1]);
  assert.equal(await log.readBefore(0, 5), []);
});

test('dropBefore deletes whole segments and moves the start', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'c', Entry);
  for (let n = 0; n < SEGMENT * 3; n++) log.append({ n });
  await store.flush();
  await log.dropBefore(SEGMENT + 3);
  await store.flush();
  assert.is(log.first, SEGMENT + 3);
  assert.is(log.size, SEGMENT * 3 - SEGMENT - 3);
  const keys = await store.keys('c');
  assert.not.ok(keys.includes(segmentKey(0)), 'the first segment file is gone');
  assert.ok(keys.includes(segmentKey(1)), 'a partly dropped segment stays');
  assert.is((await log.read(0, 1))[0].seq, SEGMENT + 3);
  assert.is((await log.readBefore(SEGMENT + 5, 10))[0].seq, SEGMENT + 3);
  const reopened = await SegmentedLog.open(await storeIn(store.dir!), 'c', Entry);
  assert.is(reopened.first, SEGMENT + 3);
});

test('update rewrites one entry; findLast searches from the newest within a window', async () => {
  const log = await SegmentedLog.open(Store.memory(), 'c', Entry);
  for (let n = 0; n < SEGMENT + 10; n++) log.append({ n });
  await log.update(3, () => ({ n: -1000 }));
  await log.update(SEGMENT + 1, () => ({ n: -2000 }));
  assert.is((await log.read(3, 1))[0].entry.n, -1000);
  assert.is((await log.read(SEGMENT + 1, 1))[0].entry.n, -2000);
  assert.is((await log.findLast((e) => e.n === -1000))?.seq, 3);
  assert.is(await log.findLast((e) => e.n === -1000, 20), undefined, 'outside the window');
  assert.is(await log.findLast((e) => e.n === -1), undefined);
});

test('a segment whose entries come with their texts (the store holds them) reads, updates and empties as one of entries does', async () => {
  for (const store of [await tempStore(), Store.memory()]) {
    const log = await SegmentedLog.open(store, 'c', Entry);
    const add = (n: number) => log.append({ n }, JSON.stringify({ n }));
    for (let n = 0; n < SEGMENT + 10; n++) add(n);
    // Appends that come while an edit of the tail is under way are not lost by its rewrite.
    const edited = log.update(SEGMENT + 1, () => ({ n: 2000 }));
    let queued = Promise.resolve();
    for (let n = SEGMENT + 10; n < SEGMENT + 14; n++) queued = queued.then(() => void add(n));
    await Promise.all([edited, queued]);
    add(SEGMENT + 14);
    const expected = Array.from({ length: SEGMENT + 15 }, (_, n) => (n === SEGMENT + 1 ? 2000 : n));
    assert.equal((await log.read(0, SEGMENT * 2)).map((e) => e.entry.n), expected);
    assert.equal((await log.readBefore(log.next, 3)).map((e) => e.seq), [SEGMENT + 12, SEGMENT + 13, SEGMENT + 14]);
    assert.is((await log.findLast((e) => e.n === 2000))?.seq, SEGMENT + 1);
    await store.flush();
    if (store.dir !== null) {
      const reopened = await SegmentedLog.open(await storeIn(store.dir), 'c', Entry);
      assert.equal((await reopened.read(0, SEGMENT * 2)).map((e) => e.entry.n), expected);
    }
    // Emptied, then appended to again.
    await log.dropBefore(log.next);
    add(-1);
    await store.flush();
    assert.equal((await log.read(0, SEGMENT * 2)).map((e) => e.entry.n), [-1]);
    if (store.dir !== null) {
      const reopened = await SegmentedLog.open(await storeIn(store.dir), 'c', Entry);
      assert.equal((await reopened.read(0, SEGMENT * 2)).map((e) => e.entry.n), [-1]);
    }
  }
});

test('the next seq comes from the entries themselves, so a stale or missing meta cannot cause reuse', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'c', Entry);
  for (let n = 0; n < SEGMENT + 3; n++) log.append({ n });
  await log.dropBefore(2);
  await store.flush();
  await store.remove('c', 'meta'); // as if the kill came before the meta was written
  await store.flush();
  const reopened = await SegmentedLog.open(await storeIn(store.dir!), 'c', Entry);
  assert.is(reopened.next, SEGMENT + 3);
  assert.is(reopened.append({ n: -1 }).seq, SEGMENT + 3);
});

test('dropping everything removes every segment file and keeps counting from there', async () => {
  const store = await tempStore();
  const log = await SegmentedLog.open(store, 'c', Entry);
  for (let n = 0; n < 10; n++) log.append({ n });
  await log.dropBefore(10);
  await store.flush();
  assert.equal(await store.keys('c'), ['meta']);
  const reopened = await SegmentedLog.open(await storeIn(store.dir!), 'c', Entry);
  assert.is(reopened.size, 0);
  assert.is(reopened.append({ n: 10 }).seq, 10);
  assert.equal((await reopened.read(0, 5)).map((e) => e.entry.n), [10]);
});

test.run();
