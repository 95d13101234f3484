/**
 * Messages that are never lost: offline mailboxes, acknowledgements, the client's persistent
 * outbox, history, edit and delete, over real TCP.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParleyError } from '../../src/protocol/errors.ts';
import { client, PASSWORD, record, registered, rejection, sleep, startServer, tempDir, waitFor } from './helpers.ts';

test('messages to an offline user are stored, then delivered in order with their timestamps at login', async () => {
  const { port, stop } = await startServer();
  const alice = await registered(port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(port, bobStore);
  await bob.connect();
  await bob.register('bob', PASSWORD);
  await bob.quit();
  try {
    const sent = [];
    for (let i = 0; i < 30; i++) sent.push(await alice.sendPrivate('bob', `message ${i}`));
    assert.ok(sent.every((r) => r.status === 'stored'), 'each send is confirmed stored');

    const back = client(port, bobStore);
    const inbox = record(back, 'message');
    await back.connect();
    await back.login('bob', PASSWORD);
    await waitFor(() => inbox.length === 30, 3000, 'mailbox delivered');
    assert.equal(inbox.map((m) => m.text), sent.map((_, i) => `message ${i}`));
    assert.equal(inbox.map((m) => m.ts), sent.map((r) => r.ts), 'original timestamps');
    // acknowledged: a later login gets nothing again
    await back.quit();
    const third = client(port, bobStore);
    const again = record(third, 'message');
    await third.connect();
    await third.login('bob', PASSWORD);
    await sleep(200);
    assert.is(again.length, 0);
    third.close();
  } finally {
    alice.close();
    await stop();
  }
});

test('a recipient that never acknowledges: the message falls back to the mailbox and comes again', async () => {
  const { port, stop } = await startServer({ ackTimeout: 0.2 });
  const alice = await registered(port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(port, bobStore);
  await bob.connect();
  await bob.register('bob', PASSWORD);
  // bob's client receives but its acknowledgements never leave (a crash between the two)
  (bob as unknown as { acks: { add: (id: string) => void } }).acks.add = () => undefined;
  const seen = record(bob, 'message');
  try {
    const result = await alice.sendPrivate('bob', 'are you reading?');
    assert.is(result.status, 'stored');
    assert.is(seen.length, 1, 'shown once although it was sent live and from the mailbox');
    bob.close();
    const back = client(port, bobStore);
    const inbox = record(back, 'message');
    await back.connect();
    await back.login('bob', PASSWORD);
    await sleep(200);
    assert.equal(inbox.length, 0, 'the restarted client remembers it has seen it');
    back.close();
  } finally {
    alice.close();
    await stop();
  }
});

test("a full mailbox refuses with E_MAILBOX_FULL and says whose", async () => {
  const { port, stop } = await startServer({ mailboxCap: 3 });
  const alice = await registered(port, 'alice');
  (await registered(port, 'bob')).close();
  try {
    for (let i = 0; i < 3; i++) assert.is((await alice.sendPrivate('bob', `m${i}`)).status, 'stored');
    const full = await rejection(alice.sendPrivate('bob', 'one too many'));
    assert.is(full.code, 'E_MAILBOX_FULL');
    assert.match(full.message, /bob's mailbox is full \(3 messages waiting\)/);
  } finally {
    alice.close();
    await stop();
  }
});

test('the outbox keeps what could not be sent and sends it after a restart of the client', async () => {
  const dir = tempDir();
  let served = await startServer({}, dir.path, false);
  const port = served.port;
  (await registered(port, 'bob')).close();
  const aliceStore = tempDir('parley-client-').path;
  const alice = client(port, aliceStore);
  await alice.connect();
  await alice.register('alice', PASSWORD);
  await served.stop();
  await waitFor(() => alice.state === 'reconnecting', 2000, 'alice notices');
  const pending = alice.sendPrivate('bob', 'written while the server was down');
  assert.is(alice.queuedCount, 1);
  alice.close(); // the client is closed before it could send
  assert.is((await rejection(pending)).code, 'E_DISCONNECTED');
  served = await startServer({ port }, dir.path, false);
  try {
    const restarted = client(port, aliceStore);
    const outbox = record(restarted, 'outbox');
    await restarted.connect();
    assert.ok(await restarted.resumeSaved('alice'));
    await waitFor(() => outbox.length === 1, 3000, 'outbox sent');
    assert.is(outbox[0].item.text, 'written while the server was down');
    assert.is((outbox[0].outcome as { status: string }).status, 'stored');
    assert.is(restarted.queuedCount, 0);
    restarted.close();
    const bob = client(port);
    const inbox = record(bob, 'message');
    await bob.connect();
    await bob.login('bob', PASSWORD);
    await waitFor(() => inbox.length === 1, 3000, 'bob gets it');
    bob.close();
  } finally {
    await served.stop();
    dir.remove();
  }
});

test('history pages backwards; edit and delete reach online and offline recipients; only the author may', async () => {
  const { port, stop } = await startServer();
  const alice = await registered(port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(port, bobStore);
  await bob.connect();
  await bob.register('bob', PASSWORD);
  const updates = record(bob, 'update');
  try {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await alice.sendPrivate('bob', `line ${i}`)).msgId);
    const page1 = await bob.history('alice', undefined, 10);
    assert.equal(page1.messages.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `line ${15 + i}`));
    assert.ok(page1.more);
    const page2 = await bob.history('alice', page1.messages[0].seq, 10);
    assert.equal(page2.messages[0].text, 'line 5');
    const page3 = await bob.history('alice', page2.messages[0].seq, 10);
    assert.equal(page3.messages.map((m) => m.text), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    assert.not.ok(page3.more);

    // live edit
    await alice.edit('bob', ids[24], 'line 24, corrected');
    await waitFor(() => updates.length === 1, 2000, 'edit reaches bob');
    assert.is(updates[0].action, 'edit');
    assert.is(updates[0].text, 'line 24, corrected');
    // bob may not change alice's words
    assert.is((await rejection(bob.edit('alice', ids[24], 'ha'))).code, 'E_FORBIDDEN');
    assert.is((await rejection(bob.delete('alice', ids[23]))).code, 'E_FORBIDDEN');
    assert.is((await rejection(alice.edit('bob', 'nosuchmessage', 'x'))).code, 'E_NOT_FOUND');

    // offline delete, delivered at login
    await bob.quit();
    await alice.delete('bob', ids[23]);
    const back = client(port, bobStore);
    const later = record(back, 'update');
    await back.connect();
    await back.login('bob', PASSWORD);
    await waitFor(() => later.length === 1, 2000, 'delete at login');
    assert.is(later[0].action, 'delete');
    assert.is(later[0].msgId, ids[23]);

    const latest = await back.history('alice', undefined, 2);
    assert.is(latest.messages[0].deleted, true);
    assert.is(latest.messages[0].text, '');
    assert.is(latest.messages[1].text, 'line 24, corrected');
    assert.ok(latest.messages[1].editedAt! > 0);
    // the client's own copy followed along, for reading offline
    let local = await back.data!.recent('alice', 2);
    for (let tries = 0; !local[0].deleted && tries < 100; tries++) {
      await sleep(10);
      local = await back.data!.recent('alice', 2);
    }
    assert.is(local[0].deleted, true);
    assert.is(local[1].text, 'line 24, corrected');
    back.close();
  } finally {
    alice.close();
    await stop();
  }
});

test('while a backlog drains, new messages and edits queue behind it: everything arrives in order', async () => {
  const { port, stop } = await startServer({ ratePerSecond: 0 }); // 2,000 messages at once: no flood control
  const alice = await registered(port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(port, bobStore);
  await bob.connect();
  await bob.register('bob', PASSWORD);
  await bob.quit();
  try {
    for (let i = 0; i < 2000; i++) void alice.sendPrivate('bob', `old ${i}`);
    const last = await alice.sendPrivate('bob', 'old last');
    assert.is(last.status, 'stored');
    const back = client(port, bobStore);
    const inbox = record(back, 'message');
    const updates = record(back, 'update');
    await back.connect();
    await back.login('bob', PASSWORD);
    const fresh = await alice.sendPrivate('bob', 'new');
    await alice.edit('bob', fresh.msgId, 'new, edited');
    await waitFor(() => updates.length === 1, 5000, 'the edit');
    assert.is(inbox.length, 2002, 'the edit came after every message, its own included');
    assert.equal(inbox.slice(-2).map((m) => m.text), ['old last', 'new']);
    assert.ok(inbox.slice(0, 2000).every((m, i) => m.text === `old ${i}`), 'in order');
    back.close();
  } finally {
    alice.close();
    await stop();
  }
});

test('with every idle history and mailbox closed at once, nothing is lost: mailboxes, history, edits, a restart', async () => {
  const dir = tempDir().path;
  let server = await startServer({ cachedMessages: 0, ratePerSecond: 0 }, dir, false);
  const alice = await registered(server.port, 'alice');
  const peers = ['bob', 'carol', 'dave'];
  const stores = new Map(peers.map((peer) => [peer, tempDir('parley-client-').path]));
  for (const peer of peers) {
    const c = client(server.port, stores.get(peer));
    await c.connect();
    await c.register(peer, PASSWORD);
    await c.quit();
  }
  try {
    // Round the three conversations and mailboxes, a message at a time and several at once.
    const sent = new Map<string, string[]>(peers.map((peer) => [peer, []]));
    const ids = new Map<string, string[]>(peers.map((peer) => [peer, []]));
    for (let i = 0; i < 30; i++) {
      const peer = peers[i % 3];
      const text = `to ${peer} ${i}`;
      sent.get(peer)!.push(text);
      const result = i % 5 === 0 ? await alice.sendPrivate(peer, text) : alice.sendPrivate(peer, text);
      void Promise.resolve(result).then((r) => ids.get(peer)!.push(r.msgId));
    }
    await waitFor(() => peers.every((peer) => ids.get(peer)!.length === 10), 5000, 'every send answered');
    assert.is(server.server.hub.histories.openLogs, 0, 'no conversation log is kept open');
    assert.is(server.server.hub.mailboxes.openLogs, 1, "only alice's, which her session holds");
    await alice.edit('bob', ids.get('bob')![0], 'to bob 0, edited');

    // A restart on the same store: what the closed logs held is all on disk.
    alice.close();
    await server.stop();
    server = await startServer({ cachedMessages: 0, ratePerSecond: 0 }, dir, false);
    for (const peer of peers) {
      const c = client(server.port, stores.get(peer));
      const inbox = record(c, 'message');
      const updates = record(c, 'update');
      await c.connect();
      await c.login(peer, PASSWORD);
      await waitFor(() => inbox.length === 10, 3000, `${peer}'s mailbox`);
      assert.equal(inbox.map((m) => m.text), sent.get(peer));
      if (peer === 'bob') await waitFor(() => updates.length === 1, 3000, "bob's edit");
      assert.is(server.server.hub.mailboxes.openLogs, 1, "the session holds its user's mailbox");
      const history = await c.history('alice', undefined, 100);
      assert.equal(history.messages.map((m) => m.seq), [...Array(10).keys()], `${peer}: one seq each, none given twice`);
      assert.equal(history.messages.map((m) => m.text), peer === 'bob' ? ['to bob 0, edited', ...sent.get(peer)!.slice(1)] : sent.get(peer));
      await c.quit();
      await waitFor(() => server.server.hub.mailboxes.openLogs === 0, 2000, 'the mailbox closed after logout');
    }
    assert.is(server.server.hub.histories.openLogs, 0);
  } finally {
    alice.close();
    await server.stop();
  }
});

test('a server stopped in the very pass that accepted a message has it in history after a restart', async () => {
  const dir = tempDir().path;
  let server = await startServer({}, dir, false);
  const bob = await registered(server.port, 'bob');
  const alice = await registered(server.port, 'alice');
  // The stop starts in the pass that handles the send, before the pass's deferred recording (Hub.recordLater).
  const { hub } = server.server;
  const handle = hub.handle.bind(hub);
  let stopped: Promise<void> | null = null;
  let reader: ReturnType<typeof client> | undefined;
  hub.handle = (session, message) => {
    const outcome = handle(session, message);
    if (message.type === 'send') stopped ??= server.stop();
    return outcome;
  };
  try {
    void alice.sendPrivate('bob', 'last words').catch(() => undefined);
    await waitFor(() => stopped, 3000, 'the stop');
    await stopped;
    alice.close();
    bob.close();
    server = await startServer({}, dir, false);
    reader = client(server.port);
    await reader.connect();
    await reader.login('bob', PASSWORD);
    assert.equal((await reader.history('alice')).messages.map((m) => m.text), ['last words']);
  } finally {
    alice.close();
    bob.close();
    reader?.close();
    await server.stop();
  }
});

test('a message sent twice is recorded in history once, whichever copy comes first', async () => {
  // A reconnecting client resends its outbox; a message it was still writing to its disk could
  // then also go out as a first send, after its own resend. The server keeps one copy either way.
  const { port, stop } = await startServer();
  const alice = await registered(port, 'alice');
  const bob = await registered(port, 'bob');
  try {
    const first = await alice.request<{ status: string }>({ type: 'send', msgId: 'fixed-id-1', to: 'bob', text: 'first, then its resend' });
    assert.is(first.status, 'delivered');
    await alice.request({ type: 'send', msgId: 'fixed-id-1', to: 'bob', text: 'first, then its resend', resend: true });
    await alice.request({ type: 'send', msgId: 'fixed-id-2', to: 'bob', text: 'resend, then the first', resend: true });
    await alice.request({ type: 'send', msgId: 'fixed-id-2', to: 'bob', text: 'resend, then the first' });
    const page = await bob.history('alice');
    assert.equal(page.messages.map((m) => m.msgId), ['fixed-id-1', 'fixed-id-2']);
  } finally {
    alice.close();
    bob.close();
    await stop();
  }
});

test('the client sends a message as a first send once: answered from the outbox while its disk write ran, it is not sent again', async () => {
  const { port, stop } = await startServer();
  const alice = await registered(port, 'alice');
  const bob = await registered(port, 'bob');
  // Reaching inside the client to hold the race open: the outbox write is slow, and meanwhile a
  // login sends the outbox (flushOutbox, as a login does) and the server answers.
  const inside = alice as unknown as {
    data: { addToOutbox(item: unknown): Promise<void> };
    flushOutbox(): void;
    inFlight: Set<string>;
    request(message: Record<string, unknown>): Promise<unknown>;
  };
  try {
    const sends: Array<Record<string, unknown>> = [];
    const request = inside.request.bind(alice);
    inside.request = (message) => {
      if (message.type === 'send') sends.push(message);
      return request(message);
    };
    const addToOutbox = inside.data.addToOutbox.bind(inside.data);
    let release: (() => void) | null = null;
    inside.data.addToOutbox = async (item) => {
      await addToOutbox(item);
      await new Promise<void>((resolve) => (release = resolve));
    };
    const result = alice.sendPrivate('bob', 'once');
    await waitFor(() => release !== null, 3000, 'the outbox write');
    inside.flushOutbox();
    await waitFor(() => sends.length === 1 && inside.inFlight.size === 0, 5000, 'the outbox send answered');
    release!();
    assert.is((await result).status, 'delivered');
    await sleep(100);
    assert.is(sends.length, 1, 'not sent again once answered');
    assert.equal((await bob.history('alice')).messages.map((m) => m.text), ['once']);
  } finally {
    alice.close();
    bob.close();
    await stop();
  }
});

test('a corrupted store file stops the server at start, naming the file', async () => {
  const dir = tempDir();
  try {
    const served = await startServer({}, dir.path, false);
    const alice = await registered(served.port, 'alice');
    (await registered(served.port, 'bob')).close();
    await alice.sendPrivate('bob', 'kept');
    alice.close();
    await served.stop();
    const mailbox = join(dir.path, 'store', 'mailbox', 'bob');
    mkdirSync(mailbox, { recursive: true });
    writeFileSync(join(mailbox, 'meta.json'), '{"first": 0, "next": ');
    const err = await rejection(startServer({}, dir.path, false));
    assert.is(err.code, 'E_STORE_CORRUPT');
    assert.ok(err.message.includes(join('mailbox', 'bob', 'meta.json')), err.message);
    writeFileSync(join(dir.path, 'store', 'accounts', 'alice.json'), '{"name":"alice"}');
    writeFileSync(join(mailbox, 'meta.json'), '{"first":0,"next":1}');
    const bad = await rejection(startServer({}, dir.path, false));
    assert.is(bad.code, 'E_STORE_CORRUPT');
    assert.ok(bad.message.includes(join('accounts', 'alice.json')), bad.message);
  } finally {
    dir.remove();
  }
});

test('delivered messages a failing disk cannot drop from the mailbox stay there; the server goes on', async () => {
  const dir = tempDir();
  const served = await startServer({}, dir.path, false);
  const alice = await registered(served.port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(served.port, bobStore);
  try {
    await bob.connect();
    await bob.register('bob', PASSWORD);
    await bob.quit();
    for (const text of ['one', 'two']) assert.is((await alice.sendPrivate('bob', text)).status, 'stored');
    // The mailbox's start cannot be written: its file's name is taken by a directory with a file in it.
    mkdirSync(join(dir.path, 'store', 'mailbox', 'bob', 'meta.json', 'in-the-way'), { recursive: true });
    const back = client(served.port, bobStore);
    const inbox = record(back, 'message');
    await back.connect();
    await back.login('bob', PASSWORD);
    await waitFor(() => inbox.length === 2, 3000, 'mailbox delivered');
    // Acknowledged, so the server drops them: that write fails (after the writer's retries, ~1 s).
    await waitFor(() => served.lines.some((l) => /mailbox of bob: delivered messages not dropped/.test(l)), 5000, 'the failure logged');
    assert.is((await back.sendPrivate('alice', 'still here')).status, 'delivered');
    back.close();
  } finally {
    alice.close();
    bob.close();
    await served.stop();
    dir.remove();
  }
});

test('a client whose local history with the peer is unreadable still sends; the server keeps the history', async () => {
  const { port, stop } = await startServer();
  const storeDir = tempDir('parley-client-').path;
  (await registered(port, 'bob')).close();
  const conversation = join(storeDir, 'data', `127.0.0.1-${port}`, 'alice', 'history', 'private', 'bob');
  mkdirSync(conversation, { recursive: true });
  writeFileSync(join(conversation, 'meta.json'), '{"first": ');
  const alice = await registered(port, 'alice', { storeDir });
  try {
    // Recording the local copy fails (E_STORE_CORRUPT); that must neither stop the process nor the send.
    const sent = await alice.sendPrivate('bob', 'still sent');
    assert.is(sent.status, 'stored');
    await sleep(50); // an unhandled rejection of the local write would stop the test process here
    const page = await alice.history('bob');
    assert.equal(page.messages.map((m) => m.text), ['still sent']);
  } finally {
    alice.close();
    await stop();
  }
});

test('sending before login is refused with a clear error', async () => {
  const { port, stop } = await startServer();
  const c = client(port);
  try {
    await c.connect();
    const err = await rejection(c.sendPrivate('bob', 'hi'));
    assert.ok(err instanceof ParleyError);
    assert.is(err.code, 'E_NOT_LOGGED_IN');
  } finally {
    c.close();
    await stop();
  }
});

test.run();
