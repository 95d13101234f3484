/**
 * Histories (src/server/histories.ts): each message recorded once in its conversation, whichever of
 * its copies (a first send, a resend) arrives first.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsCode } from '../helpers/codes.ts';
import { conversationOf, Histories, RESENT_IDS, HistoryRecord } from '../../src/server/histories.ts';
import { MAILBOX_SEGMENT, SEGMENT, SegmentedLog, segmentKey } from '../../src/store/log.ts';
import { Mailboxes } from '../../src/server/mailboxes.ts';
import { LOG_WEIGHT } from '../../src/store/log-pool.ts';
import { Store } from '../../src/store/store.ts';

const record = (msgId: string, from: string, to: string): HistoryRecord => ({ msgId, scope: 'private', from, to, text: `text of ${msgId}`, ts: 1 });
const ids = async (histories: Histories, conversation: string) => (await histories.page(conversation, undefined, 100_000)).messages.map((m) => m.msgId);

/** Runs `use` with a fresh directory for a store on disk, removed afterwards. */
async function inTempDir(use: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-histories-'));
  try {
    await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a resend is recorded once, before or after its first send; one id in two conversations is two messages', async () => {
  const histories = new Histories(Store.memory());
  const ab = conversationOf('ann', 'bob');
  const ac = conversationOf('ann', 'cat');
  await histories.append(ab, record('m1', 'ann', 'bob'));
  await histories.append(ac, record('m1', 'ann', 'cat'));
  await histories.append(ab, record('m1', 'ann', 'bob'), true); // its resend after a reconnect
  await histories.append(ab, record('m2', 'ann', 'bob'), true); // a resend first (outbox race)...
  await histories.append(ab, record('m2', 'ann', 'bob')); // ...then its own first send
  await histories.append(ab, record('m2', 'ann', 'bob'), true); // and a second resend
  assert.equal(await ids(histories, ab), ['m1', 'm2']);
  assert.equal(await ids(histories, ac), ['m1']);
  // Without the flag a msgId sent again is another record: only resends are looked for.
  await histories.append(ab, record('m3', 'ann', 'bob'));
  await histories.append(ab, record('m3', 'ann', 'bob'));
  assert.equal(await ids(histories, ab), ['m1', 'm2', 'm3', 'm3']);
});

test('copies that arrive while the log is still being opened are recorded once, in either order', () =>
  inTempDir(async (dir) => {
    const store = await Store.open(dir);
    const histories = new Histories(store);
    const ab = conversationOf('ann', 'bob');
    // Not awaited one by one: all four wait for the log to open together.
    await Promise.all([
      histories.append(ab, record('m1', 'ann', 'bob')),
      histories.append(ab, record('m1', 'ann', 'bob'), true),
      histories.append(ab, record('m2', 'ann', 'bob'), true),
      histories.append(ab, record('m2', 'ann', 'bob')),
    ]);
    assert.equal(await ids(histories, ab), ['m1', 'm2']);
  }),
);

test('a resend is found in the log however many resends came since; the resent ids kept are the newest', () =>
  inTempDir(async (dir) => {
    let store = await Store.open(dir);
    let histories = new Histories(store);
    const ab = conversationOf('ann', 'bob');
    await histories.append(ab, record('old', 'ann', 'bob'));
    // Enough resends of new messages elsewhere to push any memory of ab out. Spread over 64
    // conversations, so that each resend's search of its log stays within the log's tail.
    const resendElsewhere = (id: string, i: number) => histories.append(conversationOf('cat', `p${i % 64}`), record(id, 'cat', `p${i % 64}`), true);
    await Promise.all(Array.from({ length: RESENT_IDS }, (_, i) => resendElsewhere(`n${i}`, i)));
    await histories.append(ab, record('old', 'ann', 'bob'), true);
    assert.equal(await ids(histories, ab), ['old'], 'the resend looked in the log');
    // After a restart nothing is remembered: the log still has it.
    await store.flush();
    store = await Store.open(dir);
    histories = new Histories(store);
    await histories.append(ab, record('old', 'ann', 'bob'), true);
    assert.equal(await ids(histories, ab), ['old'], 'found in the log after a restart');
    // A first send after its resend is dropped while the resend is among the newest RESENT_IDS.
    await histories.append(ab, record('late', 'ann', 'bob'), true);
    await Promise.all(Array.from({ length: RESENT_IDS - 1 }, (_, i) => resendElsewhere(`f${i}`, i)));
    await histories.append(ab, record('late', 'ann', 'bob'));
    assert.equal(await ids(histories, ab), ['old', 'late'], 'the resend is still remembered');
    await resendElsewhere('push', 0);
    await histories.append(ab, record('late', 'ann', 'bob'));
    assert.equal(await ids(histories, ab), ['old', 'late', 'late'], 'forgotten once RESENT_IDS newer resends came');
    await store.flush();
  }),
);

test('a conversation keeps 1,024 messages a file; a mailbox 256, in files named as before', () =>
  inTempDir(async (dir) => {
    const store = await Store.open(dir);
    const histories = new Histories(store);
    const mailboxes = new Mailboxes(store, 10_000);
    const ab = conversationOf('ann', 'bob');
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i <= SEGMENT; i++) writes.push(histories.append(ab, record(`m${i}`, 'ann', 'bob')));
    for (let i = 0; i <= MAILBOX_SEGMENT; i++) writes.push(mailboxes.put('bob', { ackId: `m${i}`, message: { type: 'msg', msgId: `m${i}` } }));
    await Promise.all(writes);
    await store.flush();
    assert.equal((await store.keys(ab)).sort(), [segmentKey(0), segmentKey(1)]);
    assert.equal((await store.keys('mailbox/bob')).sort(), ['s000000000000', 's000000000001']);
  }),
);

test('past the memory budget idle conversations are closed; they reopen with every message, in order, each seq once', () =>
  inTempDir(async (dir) => {
    const store = await Store.open(dir);
    const histories = new Histories(store, 2 * LOG_WEIGHT + 20);
    const peers = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const expected = new Map<string, string[]>(peers.map((peer) => [peer, []]));
    let closedSome = false;
    // Bursts across all conversations in one tick (appends to open logs go straight in, the
    // others wait for their log to open), then one at a time.
    for (let round = 0; round < 6; round++) {
      const writes = [];
      for (let i = 0; i < 60; i++) {
        const peer = peers[(i * 7 + round) % peers.length];
        const id = `r${round}m${i}`;
        expected.get(peer)!.push(id);
        const write = histories.append(conversationOf('ann', peer), record(id, 'ann', peer));
        writes.push(write);
        if (round % 2 === 1) await write;
      }
      await Promise.all(writes);
      assert.ok(histories.openLogs <= 2, `${histories.openLogs} logs open`);
      closedSome ||= histories.openLogs < 2;
    }
    for (const peer of peers) {
      const page = await histories.page(conversationOf('ann', peer), undefined, 1000);
      assert.equal(page.messages.map((m) => m.msgId), expected.get(peer));
      assert.equal(page.messages.map((m) => m.seq), [...page.messages.keys()]);
    }
    assert.ok(closedSome, 'logs with messages weigh more than empty ones');
    await store.flush();
  }),
);


test('a record cut from its msg text is the record, in every scope and for any text; a text that is no msg is refused', () =>
  inTempDir(async (dir) => {
    const texts = ['plain', 'quote " and \\ backslash', 'line\nbreak \u2028 \u0000', 'emoji 🎉 and é', '{"type":"msg",'];
    const records: HistoryRecord[] = texts.flatMap((text) => [
      { msgId: 'm1', scope: 'private', from: 'ann', to: 'bob', text, ts: 1 },
      { msgId: 'm2', scope: 'broadcast', from: 'ann', text, ts: 2 },
      { msgId: 'm3', scope: 'group', from: 'ann', group: 'lab', text, ts: 3 },
    ]);
    const store = await Store.open(dir, { checkpointMs: 60_000 });
    const histories = new Histories(store);
    for (const r of records) await histories.append('history/lobby', r, false, JSON.stringify({ type: 'msg', ...r }));
    const journaled = readFileSync(join(dir, 'journal', '0.jsonl'), 'utf8').trim().split('\n').flatMap((line) => JSON.parse(line) as Array<{ i: unknown }>);
    assert.equal(journaled.map((entry) => entry.i), records.map((entry, seq) => ({ seq, entry })));
    await rejectsCode(histories.append('history/lobby', records[0], false, JSON.stringify({ type: 'update', ...records[0] })), 'E_INTERNAL');
    await store.flush();
    const log = await SegmentedLog.open(await Store.open(dir), 'history/lobby', HistoryRecord);
    assert.equal((await log.read(0, 100)).map((item) => item.entry), records);
  }),
);

test('messages recorded with their texts are journaled as their records, and read back the same after a crash', () =>
  inTempDir(async (dir) => {
    const store = await Store.open(dir, { checkpointMs: 60_000 });
    const histories = new Histories(store);
    const conversation = conversationOf('ann', 'bob');
    const sent = [record('m1', 'ann', 'bob'), { ...record('m2', 'bob', 'ann'), text: 'a "quoted" \\ reply 🎉' }];
    for (const r of sent) await histories.append(conversation, r, false, JSON.stringify({ type: 'msg', ...r }));
    // Not flushed: the records are in the journal only, as a killed server leaves them.
    const journaled = readFileSync(join(dir, 'journal', '0.jsonl'), 'utf8').trim().split('\n').flatMap((line) => JSON.parse(line) as Array<{ i: unknown }>);
    assert.equal(journaled.map((entry) => entry.i), sent.map((entry, seq) => ({ seq, entry })));
    const log = await SegmentedLog.open(await Store.open(dir), conversation, HistoryRecord);
    assert.equal((await log.read(0, 10)).map((item) => item.entry), sent);
  }),
);
test.run();
