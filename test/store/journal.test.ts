/**
 * The store's write-ahead journal for log appends: appends go to `<dir>/journal/<n>.jsonl`, a
 * checkpoint writes the documents and deletes old journals, and a store opened after a "crash"
 * (the first store simply abandoned, unflushed) replays what was journaled.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { SEGMENT, SegmentedLog, segmentKey } from '../../src/store/log.ts';
import { Store } from '../../src/store/store.ts';
import { waitFor, within } from '../e2e/helpers.ts';
import { rejectsCode } from '../helpers/codes.ts';
import { collectGarbage } from '../helpers/gc.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-journal-'));
let n = 0;
const freshDir = () => join(root, `j${n++}`);
test.after(() => rmSync(root, { recursive: true, force: true }));

const Entry = z.object({ n: z.number() });
const Items = z.array(z.object({ seq: z.number(), entry: Entry }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A long checkpoint interval: an abandoned store must not checkpoint while a test looks. */
const NO_CHECKPOINT = { checkpointMs: 60_000 };

const journals = (dir: string) => (existsSync(join(dir, 'journal')) ? readdirSync(join(dir, 'journal')).sort() : []);
/** The text lines of every journal, in order. */
const journalTexts = (dir: string) =>
  journals(dir).flatMap((name) =>
    readFileSync(join(dir, 'journal', name), 'utf8')
      .split('\n')
      .filter((line) => line !== ''),
  );
/** The journaled entries, in order: a line is a batch's array of entries. */
/** A segment file's lines, each a JSON array of items (one written whole, then one per checkpoint append). */
const segmentLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Array<{ seq: number; entry: unknown }>);
/** The items a segment file holds. */
const itemsIn = (file: string) => segmentLines(file).flat();
const journalLines = (dir: string) => journalTexts(dir).flatMap((line) => JSON.parse(line) as Array<Record<string, unknown>>);

test('appends are journaled: one line per batch holding an entry per append, and the document file is not rewritten', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, NO_CHECKPOINT);
  await store.put('c', 's0', [{ seq: 0, entry: { n: 0 } }]);
  const file = join(dir, 'c', 's0.json');
  const before = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };
  const items = [{ seq: 0, entry: { n: 0 } }];
  const writes = [];
  for (let i = 1; i <= 3; i++) {
    items.push({ seq: i, entry: { n: i } });
    writes.push(store.append('c', 's0', items));
  }
  assert.is(writes[0], writes[2], 'one batch, one promise');
  await writes[0];
  assert.equal(journals(dir), ['0.jsonl']);
  assert.is((statSync(join(dir, 'journal')).mode & 0o777).toString(8), '700');
  assert.is((statSync(join(dir, 'journal', '0.jsonl')).mode & 0o777).toString(8), '600');
  assert.equal(journalLines(dir), [1, 2, 3].map((i) => ({ c: 'c', k: 's0', i: { seq: i, entry: { n: i } } })));
  assert.is(journalTexts(dir).length, 1, 'one batch, one line');
  assert.is(readFileSync(file, 'utf8'), before.text, 'document not rewritten');
  assert.is(statSync(file).mtimeMs, before.mtime);
  // the store itself serves the journaled document, and lists it
  assert.is((await store.get('c', 's0', Items))?.length, 4);
  store.evict('c', 's0');
  assert.is((await store.get('c', 's0', Items))?.length, 4, 'lazy documents are not evicted');
  await store.append('c', 's1', [{ seq: SEGMENT, entry: { n: SEGMENT } }]);
  assert.equal((await store.keys('c')).sort(), ['s0', 's1'], 'a journaled document not yet written is listed');
  assert.not.ok(existsSync(join(dir, 'c', 's1.json')));
});

test('a crash: a second store sees every awaited append exactly once, and the log goes on', async () => {
  const dir = freshDir();
  const first = await Store.open(dir, NO_CHECKPOINT);
  const log = await SegmentedLog.open(first, 'mailbox/bob', Entry);
  const total = SEGMENT * 2 + 7;
  for (let i = 0; i < total; i++) {
    const { written } = log.append({ n: i });
    if (i % 10 === 0) await written; // several batches, several lines each
  }
  await log.append({ n: total }).written;
  assert.ok(journals(dir).length > 0);
  // `first` is abandoned here: never flushed.
  const second = await Store.open(dir, NO_CHECKPOINT);
  assert.equal(journals(dir), [], 'replayed, then deleted');
  assert.equal(await second.collections('mailbox'), ['bob']);
  const reopened = await SegmentedLog.open(second, 'mailbox/bob', Entry);
  assert.is(reopened.next, total + 1);
  const all = await reopened.read(0, total + 1);
  assert.equal(all.map((e) => e.entry.n), Array.from({ length: total + 1 }, (_, i) => i));
  assert.equal(all.map((e) => e.seq), Array.from({ length: total + 1 }, (_, i) => i));
  assert.is(reopened.append({ n: -1 }).seq, total + 1);
  await second.flush();
  const third = await SegmentedLog.open(await Store.open(dir), 'mailbox/bob', Entry);
  assert.is(third.next, total + 2);
});

test('replay is idempotent: items already in the document file are not added again', async () => {
  const dir = freshDir();
  const first = await Store.open(dir, NO_CHECKPOINT);
  const items = [];
  for (let i = 0; i < 5; i++) {
    items.push({ seq: i, entry: { n: i } });
    await first.append('c', 's0', items);
  }
  const journal = journals(dir).map((name) => [name, readFileSync(join(dir, 'journal', name), 'utf8')]);
  await first.flush(); // checkpoint: documents written, journals deleted...
  assert.equal(journals(dir), []);
  assert.equal(JSON.parse(readFileSync(join(dir, 'c', 's0.json'), 'utf8')), items);
  // ...but as if the kill came between the document writes and the journal deletion:
  for (const [name, text] of journal) writeFileSync(join(dir, 'journal', name), text);
  // and some lines are older than the document (a put wrote the document whole since)
  await (await Store.open(dir)).put('c', 's0', [...items, { seq: 5, entry: { n: 5 } }]);
  for (const [name, text] of journal) writeFileSync(join(dir, 'journal', name), text);
  const second = await Store.open(dir);
  assert.equal((await second.get('c', 's0', Items))?.map((item) => item.seq), [0, 1, 2, 3, 4, 5]);
  assert.equal(journals(dir), []);
});

test('a tombstone: a segment dropped after its appends is not brought back by a replay', async () => {
  const dir = freshDir();
  const first = await Store.open(dir, NO_CHECKPOINT);
  const log = await SegmentedLog.open(first, 'c', Entry);
  for (let i = 0; i < SEGMENT + 5; i++) log.append({ n: i });
  await log.append({ n: SEGMENT + 5 }).written;
  await log.dropBefore(SEGMENT); // the first segment goes (it only ever was in the journal)
  assert.ok(journalLines(dir).some((line) => line.k === segmentKey(0) && line.removed === true));
  const second = await Store.open(dir, NO_CHECKPOINT);
  assert.equal((await second.keys('c')).sort(), ['meta', segmentKey(1)]);
  const reopened = await SegmentedLog.open(second, 'c', Entry);
  assert.is(reopened.first, SEGMENT);
  assert.equal((await reopened.read(0, 100)).map((e) => e.seq), Array.from({ length: 6 }, (_, i) => SEGMENT + i));

  // dropping everything, then appending again to the same segment: the new entry stays
  const log2 = await SegmentedLog.open(second, 'd', Entry);
  for (let i = 0; i < 3; i++) log2.append({ n: i });
  await log2.dropBefore(3);
  await log2.append({ n: 3 }).written;
  const third = await Store.open(dir);
  const reopened2 = await SegmentedLog.open(third, 'd', Entry);
  assert.equal((await reopened2.read(0, 10)).map((e) => e.entry.n), [3]);
  assert.is(reopened2.next, 4);
});

test('a put after a tombstone is journaled whole, so a replay keeps it', async () => {
  const dir = freshDir();
  const first = await Store.open(dir, NO_CHECKPOINT);
  await first.append('c', 's0', [{ seq: 0, entry: { n: 0 } }]);
  await first.remove('c', 's0');
  await first.put('c', 's0', [{ seq: 7, entry: { n: 7 } }]);
  const second = await Store.open(dir);
  assert.equal(await second.get('c', 's0', Items), [{ seq: 7, entry: { n: 7 } }]);
});

test('lines of every size replay exactly: small batches around one past the reused encoding buffer, in non-ASCII text', async () => {
  const dir = freshDir();
  const first = await Store.open(dir, NO_CHECKPOINT);
  const Text = z.object({ t: z.string() });
  const log = await SegmentedLog.open(first, 'history/x', Text);
  // 2-3 bytes a character in UTF-8: the big batch's line is ~1.5 MB, past the 1 MB kept for reuse.
  const texts = ['é', '日本語'.repeat(200), '✓'.repeat(100_000), 'ok', 'ß'.repeat(500_000), '🙂 last', '\u2028 "quoted" \\ \u0000'];
  for (const t of texts) await log.append({ t }).written;
  const second = await Store.open(dir, NO_CHECKPOINT);
  const reopened = await SegmentedLog.open(second, 'history/x', Text);
  assert.equal((await reopened.read(0, 100)).map((e) => e.entry.t), texts);
});

test('batch lines and the older one-entry lines replay alike; a torn batch is dropped whole, a bad entry is E_STORE_CORRUPT', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'journal'), { recursive: true });
  const entry = (seq: number) => ({ c: 'c', k: 's0', i: { seq, entry: { n: seq } } });
  const batch = (...seqs: number[]) => JSON.stringify(seqs.map(entry));
  writeFileSync(join(dir, 'journal', '0.jsonl'), `${JSON.stringify(entry(0))}\n${batch(1, 2)}\n${batch(3, 4).slice(0, -20)}`);
  const store = await Store.open(dir);
  assert.equal((await store.get('c', 's0', Items))?.map((item) => item.seq), [0, 1, 2], 'the torn batch (3, 4) is not half applied');

  const bad = freshDir();
  mkdirSync(join(bad, 'journal'), { recursive: true });
  writeFileSync(join(bad, 'journal', '0.jsonl'), `${JSON.stringify([entry(0), { c: 'c', k: 's0', i: 'no seq' }])}\n${batch(1)}\n`);
  await rejectsCode(Store.open(bad), 'E_STORE_CORRUPT');
  assert.not.ok(existsSync(join(bad, 'c', 's0.json')), 'nothing applied');
});

test('a torn last line is ignored; a bad line elsewhere is E_STORE_CORRUPT naming the journal', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'journal'), { recursive: true });
  const line = (seq: number) => JSON.stringify({ c: 'c', k: 's0', i: { seq, entry: { n: seq } } });
  writeFileSync(join(dir, 'journal', '3.jsonl'), `${line(0)}\n${line(1)}\n{"c":"c","k":"s0","i":{"se`);
  const store = await Store.open(dir);
  assert.equal((await store.get('c', 's0', Items))?.map((item) => item.seq), [0, 1]);
  assert.equal(journals(dir), []);

  const bad = freshDir();
  mkdirSync(join(bad, 'journal'), { recursive: true });
  const file = join(bad, 'journal', '0.jsonl');
  writeFileSync(file, `${line(0)}\nnot json\n${line(1)}\n`);
  const e = await rejectsCode(Store.open(bad), 'E_STORE_CORRUPT');
  assert.match(e.message, file);
  assert.ok(existsSync(file), 'the journal is kept');
  assert.not.ok(existsSync(join(bad, 'c', 's0.json')), 'nothing applied');

  const unsafe = freshDir();
  mkdirSync(join(unsafe, 'journal'), { recursive: true });
  writeFileSync(join(unsafe, 'journal', '0.jsonl'), `${JSON.stringify({ c: '../x', k: 's0', i: { seq: 0 } })}\n${line(0)}\n`);
  const u = await rejectsCode(Store.open(unsafe), 'E_STORE_CORRUPT');
  assert.match(u.message, 'unsafe');
  assert.not.ok(existsSync(join(unsafe, '..', 'x')));
});

test('checkpoints: lazy documents reach their files and old journals go; flush leaves no journal', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, { checkpointMs: 30 });
  const log = await SegmentedLog.open(store, 'c', Entry);
  await log.append({ n: 0 }).written;
  assert.equal(journals(dir), ['0.jsonl']);
  const file = join(dir, 'c', `${segmentKey(0)}.json`);
  assert.not.ok(existsSync(file));
  for (let i = 1; i < 20; i++) {
    await log.append({ n: i }).written;
    await sleep(5);
  }
  // over 100 ms of appends with a 30 ms interval: checkpoints happened on the way
  assert.not.ok(journals(dir).includes('0.jsonl'), 'the first journal is gone');
  assert.ok(itemsIn(file).length >= 2, 'the document was written');
  await sleep(80); // an idle store checkpoints too
  assert.equal(journals(dir), []);
  assert.is(itemsIn(file).length, 20);
  log.append({ n: 20 });
  log.append({ n: 21 });
  assert.ok(journals(dir).length <= 1);
  await store.flush();
  assert.equal(journals(dir), []);
  assert.equal(itemsIn(file).map((e) => e.seq), Array.from({ length: 22 }, (_, i) => i));
  // a new store reads the same without any journal
  const reopened = await SegmentedLog.open(await Store.open(dir), 'c', Entry);
  assert.is(reopened.next, 22);
});

test('an item text given with an append is copied into the journal line and, at the checkpoint, into the segment file', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, NO_CHECKPOINT);
  // A space JSON.stringify would not write, so a copied text can be told from a serialised item.
  const entryOf = (n: number) => `{"n": ${n}}`;
  const textOf = (seq: number, n: number) => `{"seq":${seq},"entry":${entryOf(n)}}`;
  const items = [{ seq: 0, entry: { n: 0 } }];
  await store.append('c', 's0', items, entryOf(0));
  items.push({ seq: 1, entry: { n: 1 } });
  await store.append('c', 's0', items, entryOf(1));
  const file = join(dir, 'c', 's0.json');
  assert.equal(journalTexts(dir), [`[{"c":"c","k":"s0","i":${textOf(0, 0)}}]`, `[{"c":"c","k":"s0","i":${textOf(1, 1)}}]`]);
  await store.flush(); // the checkpoint: a new file, its first line after a newline (createWith), the texts copied
  assert.is(readFileSync(file, 'utf8'), `\n[${textOf(0, 0)},${textOf(1, 1)}]\n`);
  // The next checkpoint appends only what the file lacks, from the texts.
  items.push({ seq: 2, entry: { n: 2 } });
  await store.append('c', 's0', items, entryOf(2));
  await store.flush();
  assert.is(readFileSync(file, 'utf8'), `\n[${textOf(0, 0)},${textOf(1, 1)}]\n[${textOf(2, 2)}]\n`);
  // An append without a text breaks the run: the checkpoint serialises what the file lacks.
  items.push({ seq: 3, entry: { n: 3 } });
  await store.append('c', 's0', items, entryOf(3));
  items.push({ seq: 4, entry: { n: 4 } });
  await store.append('c', 's0', items);
  assert.equal(journalLines(dir).at(-1), { c: 'c', k: 's0', i: items[4] }, 'no text: the journal serialises the item');
  await store.flush();
  assert.is(readFileSync(file, 'utf8').split('\n').at(-2), JSON.stringify(items.slice(3)));
  // An edit in place (a put of the same array) is not undone by an old text.
  items.push({ seq: 5, entry: { n: 5 } });
  await store.append('c', 's0', items, entryOf(5));
  items[5] = { seq: 5, entry: { n: 50 } };
  await store.put('c', 's0', items);
  await store.flush();
  assert.equal(itemsIn(file), [0, 1, 2, 3, 4, 50].map((n, seq) => ({ seq, entry: { n } })));
  // Replay reads what the journal holds, texts included.
  const replayed = freshDir();
  const abandoned = await Store.open(replayed, NO_CHECKPOINT);
  await abandoned.append('c', 's0', [{ seq: 0, entry: { n: 7 } }], entryOf(7));
  const reopened = await Store.open(replayed);
  assert.equal(await reopened.get('c', 's0', Items), [{ seq: 0, entry: { n: 7 } }]);
});

test('a checkpoint writes each segment as it is: appended to a reopened log, changed in place, emptied and appended to again', async () => {
  const dir = freshDir();
  const Text = z.object({ t: z.string() });
  const segmentFile = (store: Store) => join(store.dir!, 'history', 'y', `${segmentKey(0)}.json`);
  const onDisk = (store: Store) => readFileSync(segmentFile(store), 'utf8');
  const first = await Store.open(dir, NO_CHECKPOINT);
  const log = await SegmentedLog.open(first, 'history/y', Text);
  for (const t of ['a', 'é "b"', '🙂']) await log.append({ t }).written;
  await first.flush();
  const line = (texts: string[], from = 0) => `${JSON.stringify(texts.map((t, i) => ({ seq: from + i, entry: { t } })))}\n`;
  assert.is(onDisk(first), `\n${line(['a', 'é "b"', '🙂'])}`, 'a new segment: created, its items appended as its first line');
  // A reopened log appends to items read from the file (a copy the store has not serialised): the
  // file is written whole once, as the store does not know what it holds.
  const second = await Store.open(dir, NO_CHECKPOINT);
  const reopened = await SegmentedLog.open(second, 'history/y', Text);
  await reopened.append({ t: 'd' }).written;
  await second.flush();
  assert.is(onDisk(second), line(['a', 'é "b"', '🙂', 'd']));
  // An update changes an item in place (a put, written whole); the next checkpoint appends what came after.
  await reopened.update(1, () => ({ t: 'B' }));
  await reopened.append({ t: 'e' }).written;
  await second.flush();
  assert.is(onDisk(second), line(['a', 'B', '🙂', 'd']) + line(['e'], 4));
  // Emptied (its file deleted), then appended to again: a new array, in a file created anew.
  await reopened.dropBefore(5);
  await reopened.append({ t: 'f' }).written;
  await second.flush();
  assert.is(onDisk(second), `\n${line(['f'], 5)}`);
  const third = await SegmentedLog.open(await Store.open(dir), 'history/y', Text);
  assert.equal((await third.read(0, 10)).map((e) => e.entry.t), ['f']);
});

test('a checkpoint appends to a segment file only what it lacks; a line torn by a kill is dropped, its items replayed from the journal', async () => {
  const dir = freshDir();
  const file = join(dir, 'h', `${segmentKey(0)}.json`);
  const first = await Store.open(dir, NO_CHECKPOINT);
  const log = await SegmentedLog.open(first, 'h', Entry);
  for (let n = 0; n < 3; n++) await log.append({ n }).written;
  await first.flush(); // never on disk: the file is created with this line
  for (let n = 3; n < 5; n++) await log.append({ n }).written;
  await first.flush(); // the file holds 0-2 as written here: 3-4 appended as a line
  await log.append({ n: 5 }).written;
  await first.flush();
  const item = (n: number) => ({ seq: n, entry: { n } });
  assert.equal(segmentLines(file), [[0, 1, 2].map(item), [3, 4].map(item), [item(5)]]);
  // A kill in the middle of the next checkpoint's append: item 6 is journaled, its line torn.
  await log.append({ n: 6 }).written;
  writeFileSync(file, readFileSync(file, 'utf8') + JSON.stringify([item(6)]).slice(0, 12), { flag: 'w' });
  const reopened = await SegmentedLog.open(await Store.open(dir), 'h', Entry);
  assert.equal((await reopened.read(0, 10)).map((e) => e.entry.n), [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(segmentLines(file), [[0, 1, 2, 3, 4, 5, 6].map(item)], 'the replay wrote the segment whole again');
  // A kill in the middle of a new segment's first write (createWith): the file holds its leading
  // newline and part of the line. That is a torn last line too, not a file that is not JSON.
  for (const torn of ['\n', `\n${JSON.stringify([item(0)]).slice(0, 9)}`]) {
    const crashed = freshDir();
    const abandoned = await SegmentedLog.open(await Store.open(crashed, NO_CHECKPOINT), 'h', Entry);
    await abandoned.append({ n: 0 }).written;
    await abandoned.append({ n: 1 }).written;
    mkdirSync(join(crashed, 'h'), { recursive: true });
    writeFileSync(join(crashed, 'h', `${segmentKey(0)}.json`), torn);
    const recovered = await SegmentedLog.open(await Store.open(crashed), 'h', Entry);
    assert.equal((await recovered.read(0, 10)).map((e) => e.entry.n), [0, 1], `torn as ${JSON.stringify(torn)}`);
  }
  // A file written before segments were appended to (one JSON array, no newline) is read, and written whole once.
  writeFileSync(file, JSON.stringify([0, 1].map(item)));
  const older = await Store.open(dir, NO_CHECKPOINT);
  const legacy = await SegmentedLog.open(older, 'h', Entry);
  await legacy.append({ n: 2 }).written;
  await older.flush();
  assert.equal(segmentLines(file), [[0, 1, 2].map(item)]);
});

/**
 * Makes the next checkpoint's write of `collection`'s first segment wait until `release` is
 * called. The segment gets its file first (one item appended and flushed, returned); the file is
 * then replaced by a FIFO, so the checkpoint's next append to it (the store knows the file holds
 * that item, so it appends) waits in its opening for a reader.
 */
async function stallCheckpointOf(store: Store, log: SegmentedLog<{ n: number }>): Promise<{ fifo: string; release(): Promise<string>; abandon(): void }> {
  await log.append({ n: 0 }).written;
  await store.flush();
  const fifo = join(store.dir!, log.collection, `${segmentKey(0)}.json`);
  rmSync(fifo);
  execFileSync('mkfifo', [fifo]);
  let released = false;
  return {
    fifo,
    /**
     * Reads what the checkpoint writes (the FIFO stays at the segment's path: write the segment
     * again before reading its file). Not readFileSync: the writer's steps after its open run on
     * this thread.
     */
    release() {
      released = true;
      return readFile(fifo, 'utf8');
    },
    /** Unblocks a writer, if any, without waiting for one (a failed test must not hang). */
    abandon() {
      if (!released) closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    },
  };
}

/**
 * Appends to `log` until an append lands in a second journal: the checkpoint timer has fired and
 * the checkpoint retired the one journal there was. Each append must resolve within 2 s.
 */
async function appendUntilCheckpoint(dir: string, log: SegmentedLog<{ n: number }>): Promise<number> {
  for (let n = 0; n < 200; n++) {
    await within(log.append({ n }).written, 2000, 'an append while a checkpoint runs');
    if (journals(dir).length === 2) return n + 1;
    await sleep(10);
  }
  throw new assert.Assertion({ message: 'no checkpoint started', operator: 'appendUntilCheckpoint', expects: 'a second journal', actual: journals(dir) });
}

const itemOf = (n: number) => ({ seq: n, entry: { n } });

test('a running checkpoint holds up no batch: appends go to a new journal, and the old one goes when the checkpoint is done', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, { checkpointMs: 40 });
  const slow = await SegmentedLog.open(store, 'slow', Entry);
  const other = await SegmentedLog.open(store, 'other', Entry);
  const stall = await stallCheckpointOf(store, slow);
  try {
    await slow.append({ n: 1 }).written;
    const [retired, ...none] = journals(dir);
    assert.equal(none, []);
    // The checkpoint starts and is stuck writing slow's segment; appends go on meanwhile.
    const appended = await appendUntilCheckpoint(dir, other);
    for (let n = appended; n < appended + 3; n++) await within(other.append({ n }).written, 2000, 'an append while the checkpoint is stuck');
    assert.is(journals(dir).length, 2);
    assert.ok(journals(dir).includes(retired), 'the appends went to a new journal, the retired one stays');
    assert.equal(await store.keys('slow'), [segmentKey(0)], 'a segment being checkpointed is still listed');
    assert.equal(JSON.parse(await stall.release()), [itemOf(1)], 'the checkpoint appends only the item the file lacks');
    await waitFor(() => !journals(dir).includes(retired), 5000, 'the checkpoint to delete the journal it retired');
    // The FIFO stays at the segment's path: make it the file the real appends would have left.
    const segment = join(dir, 'slow', `${segmentKey(0)}.json`);
    rmSync(segment);
    writeFileSync(segment, `\n${JSON.stringify([itemOf(0)])}\n${JSON.stringify([itemOf(1)])}\n`);
    await slow.append({ n: 2 }).written;
    await store.flush();
    assert.equal(journals(dir), []);
    assert.equal(segmentLines(segment), [[itemOf(0)], [itemOf(1)], [itemOf(2)]], 'appended as a line of its own');
    assert.equal(itemsIn(join(dir, 'other', `${segmentKey(0)}.json`)), Array.from({ length: appended + 3 }, (_, n) => itemOf(n)));
  } finally {
    stall.abandon();
  }
});

test('a segment deleted while a checkpoint is writing it is not brought back when that write lands', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, { checkpointMs: 40 });
  const log = await SegmentedLog.open(store, 'gone', Entry);
  const stall = await stallCheckpointOf(store, log);
  try {
    await log.append({ n: 1 }).written;
    await appendUntilCheckpoint(dir, await SegmentedLog.open(store, 'probe', Entry)); // the checkpoint is stuck writing the segment
    const dropped = log.dropBefore(2); // everything: the segment's file is to be deleted
    await sleep(50);
    assert.equal(JSON.parse(await stall.release()), [itemOf(1)]); // the checkpoint's append lands, and only then the deletion
    await dropped;
    await store.flush();
    assert.not.ok(existsSync(join(dir, 'gone', `${segmentKey(0)}.json`)), 'the deleted segment stays deleted');
    assert.equal(journals(dir), []);
    const reopened = await SegmentedLog.open(await Store.open(dir), 'gone', Entry);
    assert.is(reopened.next, 2);
    assert.equal(await reopened.read(0, 10), []);
  } finally {
    stall.abandon();
  }
});

/** The error code `promise` rejects with (a file system error's), or null when it resolves. */
async function failsWith(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'no code';
  }
}

test('a checkpoint that cannot write a segment loses nothing: flush reports it, the journal stays, and the next checkpoint writes it', async () => {
  /** A store whose log `h` has three items journaled, and a directory where its segment's file goes: neither created (it exists) nor renamed over. */
  const blocked = async () => {
    const dir = freshDir();
    const store = await Store.open(dir, NO_CHECKPOINT);
    const log = await SegmentedLog.open(store, 'h', Entry);
    for (let n = 0; n < 3; n++) await log.append({ n }).written;
    const file = join(dir, 'h', `${segmentKey(0)}.json`);
    mkdirSync(file, { recursive: true });
    return { dir, store, log, file };
  };
  const killed = await blocked();
  assert.ok(await failsWith(killed.store.flush()), 'flush reports the failed checkpoint');
  assert.equal(journals(killed.dir).length, 1, 'the journal holding the items stays');
  // A kill now: a new store replays the journal into the segment once the way is clear.
  rmSync(killed.file, { recursive: true });
  const replayed = await SegmentedLog.open(await Store.open(killed.dir, NO_CHECKPOINT), 'h', Entry);
  assert.equal((await replayed.read(0, 10)).map((e) => e.entry.n), [0, 1, 2]);
  // Or no kill: the same store's next checkpoint writes the segment and drops the journal.
  const live = await blocked();
  assert.ok(await failsWith(live.store.flush()));
  rmSync(live.file, { recursive: true });
  await live.log.append({ n: 3 }).written;
  await live.store.flush();
  assert.equal(journals(live.dir), []);
  assert.equal(itemsIn(live.file).map((e) => e.seq), [0, 1, 2, 3]);
});

test('a log segment whose entries come with their texts is held only as the texts, and a full one waiting for its checkpoint too: reads parse them, the checkpoint writes them', async () => {
  const Texted = z.object({ n: z.number(), t: z.string() });
  // Key order differs from JSON.stringify's, so a copied text can be told from a serialised item.
  const textOf = (n: number) => `{"t":"${'é'.repeat(n % 3)}","n":${n}}`;
  const appendAll = (log: SegmentedLog<{ n: number; t: string }>, count: number) => {
    for (let n = 0; n < count; n++) void log.append({ n, t: 'é'.repeat(n % 3) }, textOf(n));
  };
  const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ seq: from + i, entry: { n: from + i, t: 'é'.repeat((from + i) % 3) } }));

  // Read back before the checkpoint: parsed from the texts.
  const dir = freshDir();
  const store = await Store.open(dir, NO_CHECKPOINT);
  const log = await SegmentedLog.open(store, 'h', Texted);
  let first: { n: number; t: string } | undefined = { n: 0, t: '' };
  const firstItem = new WeakRef(first);
  void log.append(first, textOf(0));
  first = undefined;
  let written: Promise<void> = Promise.resolve();
  for (let n = 1; n < 10; n++) written = log.append({ n, t: 'é'.repeat(n % 3) }, textOf(n)).written;
  await written; // the batch, which holds the items it journals, is done
  await sleep(0); // a WeakRef's target is kept for the rest of the job that made it
  collectGarbage();
  assert.is(firstItem.deref(), undefined, 'the tail segment\'s entries are not held as objects');
  assert.equal(await log.readBefore(10, 3), expected(7, 10), 'the tail, parsed from its texts');
  assert.is((await log.findLast((entry) => entry.n === 2))?.seq, 2);
  for (let n = 10; n < SEGMENT + 2; n++) written = log.append({ n, t: 'é'.repeat(n % 3) }, textOf(n)).written;
  await written;
  assert.equal(await log.read(0, 3), expected(0, 3));
  assert.equal((await log.read(SEGMENT - 2, 4)).map((e) => e.seq), [SEGMENT - 2, SEGMENT - 1, SEGMENT, SEGMENT + 1]);
  await store.flush();
  const file = join(dir, 'h', `${segmentKey(0)}.json`);
  assert.is(readFileSync(file, 'utf8'), `\n[${Array.from({ length: SEGMENT }, (_, n) => `{"seq":${n},"entry":${textOf(n)}}`).join(',')}]\n`, 'the texts, copied');
  assert.equal(journals(dir), []);

  // Not read before the checkpoint: written from the texts alone, then read from the file.
  const other = freshDir();
  const otherStore = await Store.open(other, NO_CHECKPOINT);
  appendAll(await SegmentedLog.open(otherStore, 'h', Texted), SEGMENT + 1);
  await otherStore.flush();
  assert.is(readFileSync(join(other, 'h', `${segmentKey(0)}.json`), 'utf8'), readFileSync(file, 'utf8'));
  const reopened = await SegmentedLog.open(await Store.open(other), 'h', Texted);
  assert.equal(await reopened.read(0, SEGMENT + 1), expected(0, SEGMENT + 1));

  // A file already where the segment goes (left by a failed write): the texts are parsed back
  // and the segment written whole over it.
  const inTheWay = freshDir();
  const inTheWayStore = await Store.open(inTheWay, NO_CHECKPOINT);
  appendAll(await SegmentedLog.open(inTheWayStore, 'h', Texted), SEGMENT + 1);
  await sleep(20);
  writeFileSync(join(inTheWay, 'h', `${segmentKey(0)}.json`), '\n[{"seq":0,"entry":{"n":0,"t":""}}]\n[{"seq":1,');
  await inTheWayStore.flush();
  assert.equal(itemsIn(join(inTheWay, 'h', `${segmentKey(0)}.json`)), expected(0, SEGMENT));

  // A kill before the checkpoint: the journal has it all.
  const killed = freshDir();
  appendAll(await SegmentedLog.open(await Store.open(killed, NO_CHECKPOINT), 'h', Texted), SEGMENT + 1);
  await sleep(20); // the batch's journal line is written
  const replayed = await SegmentedLog.open(await Store.open(killed), 'h', Texted);
  assert.equal(await replayed.read(0, SEGMENT + 1), expected(0, SEGMENT + 1));
});

test('a document appended to with texts from its first item is shelved when evicted: its items let go, read back and written from the texts', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, NO_CHECKPOINT);
  const entryOf = (n: number) => `{"n": ${n}}`; // not as JSON.stringify writes it
  const textOf = (n: number) => `{"seq":${n},"entry":${entryOf(n)}}`;
  let items: Array<{ seq: number; entry: { n: number } }> | undefined = [];
  const firstItem = new WeakRef(itemOf(0));
  for (let n = 0; n < 3; n++) {
    items.push(n === 0 ? firstItem.deref()! : itemOf(n));
    await store.append('c', 's0', items, entryOf(n));
  }
  items = undefined;
  store.evict('c', 's0'); // still to be written: kept, as its texts
  await sleep(0);
  collectGarbage();
  assert.is(firstItem.deref(), undefined, 'its items are not held');
  assert.equal(await store.get('c', 's0', Items), [0, 1, 2].map(itemOf));
  await store.flush();
  assert.is(readFileSync(join(dir, 'c', 's0.json'), 'utf8'), `\n[${[0, 1, 2].map(textOf).join(',')}]\n`);
});

test('a segment shelved while its first write is under way keeps its texts, and the next checkpoint writes the rest from them', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, NO_CHECKPOINT);
  const Texted = z.object({ n: z.number() });
  // Every thread of libuv's pool stuck opening a FIFO: the target segment's first write (creating
  // its file) waits in the pool's queue meanwhile.
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const stalls = [];
  const blockers = [];
  for (let i = 0; i < poolSize; i++) {
    const blocker = await SegmentedLog.open(store, `blocker${i}`, Entry);
    stalls.push(await stallCheckpointOf(store, blocker));
    blockers.push(blocker);
  }
  for (const blocker of blockers) void blocker.append({ n: 1 });
  const readers: number[] = [];
  try {
    const log = await SegmentedLog.open(store, 'target', Texted);
    void log.append({ n: 0 }, '{"n":0}');
    const firstCheckpoint = store.flush(); // the blockers' appends take the pool; target's write queues
    await sleep(20);
    // The segment fills and the log moves on: the store shelves it, its first write still queued.
    for (let n = 1; n <= SEGMENT; n++) void log.append({ n }, `{"n":${n}}`);
    // Opened for reading here, not with readFile: that would wait in the pool's queue too. Kept
    // open until the blockers' lines are written (into the pipe's buffer).
    for (const stall of stalls) readers.push(openSync(stall.fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    await firstCheckpoint;
    await store.flush();
  } finally {
    for (const fd of readers) closeSync(fd);
  }
  const file = join(dir, 'target', `${segmentKey(0)}.json`);
  assert.equal(segmentLines(file).map((line) => line.length), [1, SEGMENT - 1], 'the first write, then the rest from the texts');
  assert.equal(itemsIn(file), Array.from({ length: SEGMENT }, (_, n) => ({ seq: n, entry: { n } })));
  assert.equal(journals(dir), []);
});

test('the memory twin: append is a put', async () => {
  const store = Store.memory();
  await store.append('c', 's0', [{ seq: 0 }]);
  assert.equal(await store.get('c', 's0', z.array(z.object({ seq: z.number() }))), [{ seq: 0 }]);
  await store.flush();
});

test.run();
