/**
 * Histories (src/server/histories.ts): each message recorded once in its conversation, with the
 * recent-id memory that catches a message's second copy, whichever arrives first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conversationOf, Histories, RECENT_IDS, type HistoryRecord } from '../../src/server/histories.ts';
import { LOG_WEIGHT } from '../../src/store/log-pool.ts';
import { Store } from '../../src/store/store.ts';

const record = (msgId: string, from: string, to: string): HistoryRecord => ({ msgId, scope: 'private', from, to, text: `text of ${msgId}`, ts: 1 });
const ids = async (histories: Histories, conversation: string) => (await histories.page(conversation, undefined, 100_000)).messages.map((m) => m.msgId);

test('one id in two conversations is two messages; a second copy in one conversation is not', async () => {
  const histories = new Histories(Store.memory());
  const ab = conversationOf('ann', 'bob');
  const ac = conversationOf('ann', 'cat');
  await histories.append(ab, record('m1', 'ann', 'bob'));
  await histories.append(ac, record('m1', 'ann', 'cat'));
  await histories.append(ab, record('m1', 'ann', 'bob')); // a first send again (outbox race)
  await histories.append(ab, record('m1', 'ann', 'bob'), true); // and a resend
  assert.equal(await ids(histories, ab), ['m1']);
  assert.equal(await ids(histories, ac), ['m1']);
});

test('past the recent ids a resend is still found in the log; the memory keeps the newest ids, across conversations', async () => {
  const histories = new Histories(Store.memory());
  const ab = conversationOf('ann', 'bob');
  await histories.append(ab, record('old', 'ann', 'bob'));
  // Enough others, in two other conversations, to push `old` out of the recent ids.
  const writes = [];
  for (let i = 0; i < RECENT_IDS; i++) writes.push(histories.append(conversationOf('cat', i % 2 ? 'dan' : 'eve'), record(`n${i}`, 'cat', i % 2 ? 'dan' : 'eve')));
  await Promise.all(writes);
  await histories.append(ab, record('old', 'ann', 'bob'), true);
  assert.equal(await ids(histories, ab), ['old'], 'the resend looked in the log');
  await histories.append(ab, record('old', 'ann', 'bob'));
  assert.equal(await ids(histories, ab), ['old'], 'and is remembered again');
  // Forgotten for good: only resends are looked for in the log, so a first send is recorded
  // again. The memory is bounded; the ids it keeps are the newest, whatever their conversation.
  await histories.append(ab, record('older', 'ann', 'bob'));
  for (let i = 0; i < RECENT_IDS; i++) await histories.append(conversationOf('cat', 'dan'), record(`f${i}`, 'cat', 'dan'));
  await histories.append(ab, record('older', 'ann', 'bob'));
  assert.equal(await ids(histories, ab), ['old', 'older', 'older']);
  // The newest ids are still remembered: their second copies are dropped without a log search.
  await histories.append(conversationOf('cat', 'dan'), record(`f${RECENT_IDS - 1}`, 'cat', 'dan'));
  assert.is((await ids(histories, conversationOf('cat', 'dan'))).length, RECENT_IDS / 2 + RECENT_IDS);
});

test('past the memory budget idle conversations are closed; they reopen with every message, in order, each seq once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-histories-'));
  try {
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
