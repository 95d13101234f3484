/**
 * Crash safety: the server process is killed with SIGKILL while a stream of messages flows, and
 * restarted. Every message the sender sent must be shown exactly once at the recipient, and the
 * store the killed server left behind must load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SendResult } from '../../src/protocol/messages.ts';
import { client, PASSWORD, record, sleep, tempDir, waitFor, within } from './helpers.ts';

function startServerProcess(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  // The stream below sends far faster than a person types: flood control would refuse most of it.
  const flags = ['--rate-per-second', '0'];
  const child = spawn(process.execPath, ['bin/parley-server.js', '--port', String(port), '--keys', join(dir, 'keys'), '--store', join(dir, 'store'), ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  return waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 15000, `server start (${out})`).then((m) => ({ child, port: Number(m[1]) }));
}

test('SIGKILL and restart mid-stream: every message arrives exactly once', async () => {
  const dir = tempDir();
  let server = await startServerProcess(dir.path, 0);
  const port = server.port;
  const alice = client(port, undefined, { requestTimeoutMs: 3000 });
  const bob = client(port, undefined, { requestTimeoutMs: 3000 });
  try {
    await alice.connect();
    await alice.register('alice', PASSWORD);
    await bob.connect();
    await bob.register('bob', PASSWORD);
    const inbox = record(bob, 'message');
    // Recorded, so that one raised fails this test instead of stopping the process (unheard, an
    // 'error' event is thrown). A resume the next kill cuts off is retried, not reported.
    const errors = { alice: record(alice, 'error'), bob: record(bob, 'error') };

    const total = 300;
    const kills = new Set([60, 150, 230]); // three crashes, at different points of the stream
    // Each outcome is caught at once: a send refused while the loop still runs would otherwise be
    // an unhandled rejection, which stops the whole test process instead of failing this test.
    const results: Array<Promise<SendResult | Error>> = [];
    for (let i = 0; i < total; i++) {
      results.push(alice.sendPrivate('bob', `message ${i}`).catch((err: Error) => err));
      if (kills.has(i)) {
        server.child.kill('SIGKILL');
        await new Promise((resolve) => server.child.once('exit', resolve));
        await sleep(100);
        server = await startServerProcess(dir.path, port); // the store it left must load
      }
      await sleep(2);
    }
    // Bounded: a client that stopped reconnecting would otherwise leave this waiting for ever.
    const outcomes = await within(Promise.all(results), 30_000, () => `sends (alice ${alice.state}, bob ${bob.state})`);
    const refused = outcomes.flatMap((r, i) => (r instanceof Error ? [`message ${i}: ${r.message}`] : []));
    assert.equal(refused, [], 'every send answered delivered or stored');
    assert.equal([...errors.alice, ...errors.bob].map((e) => `${e.code}: ${e.message}`), [], 'no client reported an error');
    assert.ok(outcomes.every((r) => !(r instanceof Error) && (r.status === 'delivered' || r.status === 'stored')));
    await waitFor(() => new Set(inbox.map((m) => m.text)).size === total, 15000, 'all messages at bob');
    await sleep(300); // a late duplicate would show up here
    const counts = new Map<string, number>();
    for (const m of inbox) counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 1);
    assert.equal(repeated, [], 'no message shown twice');
    assert.is(inbox.length, total);
    // the server's history holds each message once too
    const seen = new Set<string>();
    let before: number | undefined;
    for (;;) {
      const page = await bob.history('alice', before, 500);
      for (const m of page.messages) {
        assert.not.ok(seen.has(m.msgId), `history repeats ${m.text}`);
        seen.add(m.msgId);
      }
      if (!page.more) break;
      before = page.messages[0].seq;
    }
    assert.is(seen.size, total);
  } finally {
    alice.close();
    bob.close();
    server.child.kill('SIGKILL');
    dir.remove();
  }
});

test.run();
