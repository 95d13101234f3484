/**
 * End to end over real TCP: a server on port 0 and several clients, written as a conversation.
 */
import { createServer, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, PASSWORD, record, registered, rejection, sleep, startServer, tempDir, waitFor } from './helpers.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import type { ParleyClient } from '../../src/client/connection.ts';
import type { Session } from '../../src/server/session.ts';

test('alice, bob and carol register, see each other, chat privately and broadcast', async () => {
  const { port, stop, lines } = await startServer();
  const alice = await registered(port, 'alice');
  const alicePresence = record(alice, 'presence');
  const bob = await registered(port, 'Bob'); // names are case-insensitive
  const carol = await registered(port, 'carol');
  try {
    assert.is(bob.user, 'bob');
    await waitFor(() => alicePresence.length === 2, 2000, 'join notices');
    assert.equal(alicePresence.map((p) => `${p.user} ${p.event}`), ['bob joined', 'carol joined']);

    const who = await carol.who();
    assert.equal(who.users.map((u) => u.user), ['alice', 'bob', 'carol']);
    assert.ok(who.users.every((u) => u.online && u.since > 0));

    const bobInbox = record(bob, 'message');
    const carolInbox = record(carol, 'message');
    const sent = await alice.sendPrivate('bob', 'hi bob 👋');
    assert.is(sent.status, 'delivered', "bob's client acknowledged it");
    await waitFor(() => bobInbox.length === 1, 2000, 'bob receives');
    assert.is(bobInbox[0].from, 'alice');
    assert.is(bobInbox[0].to, 'bob');
    assert.is(bobInbox[0].text, 'hi bob 👋');
    assert.is(bobInbox[0].msgId, sent.msgId);

    // bob answers with /msg-style addressing in capitals: routing is case-insensitive
    const aliceInbox = record(alice, 'message');
    await bob.sendPrivate('ALICE', 'hello alice');
    await waitFor(() => aliceInbox.length === 1, 2000, 'alice receives');
    assert.is(aliceInbox[0].text, 'hello alice');
    assert.is(carolInbox.length, 0, 'carol sees no private messages');

    const unknown = await rejection(alice.sendPrivate('dave', 'anyone?'));
    assert.is(unknown.code, 'E_NO_SUCH_USER');
    assert.is(unknown.message, "no user named 'dave'");

    const shout = await carol.broadcast('hello everyone');
    assert.is(shout.recipients, 2);
    await waitFor(() => aliceInbox.length === 2 && bobInbox.length === 2, 2000, 'broadcast');
    assert.is(aliceInbox[1].scope, 'broadcast');
    assert.is(bobInbox[1].from, 'carol');

    await carol.quit();
    await waitFor(() => alicePresence.length === 3, 2000, 'leave notice');
    assert.equal(alicePresence[2].user, 'carol');
    assert.equal(alicePresence[2].event, 'left');

    const offline = await alice.sendPrivate('carol', 'are you there?');
    assert.is(offline.status, 'stored', 'kept in the mailbox of the offline user');

    const recent = await alice.who(60);
    assert.equal(recent.users.map((u) => `${u.user}:${u.online}`), ['alice:true', 'bob:true', 'carol:false']);

    // the server window shows who sent to whom and the size, never the text
    assert.ok(lines.some((l) => /msg alice → bob \d+ B/.test(l)));
    assert.not.ok(lines.some((l) => l.includes('hi bob')));
  } finally {
    alice.close();
    bob.close();
    carol.close();
    await stop();
  }
});

test('registration refuses taken names, bad names and short passwords', async () => {
  const { port, stop } = await startServer();
  const alice = await registered(port, 'alice');
  const other = client(port);
  await other.connect();
  try {
    assert.is((await rejection(other.register('ALICE', PASSWORD))).code, 'E_USER_EXISTS');
    assert.is((await rejection(other.register('9lives', PASSWORD))).code, 'E_BAD_USERNAME');
    assert.is((await rejection(other.register('all', PASSWORD))).code, 'E_BAD_USERNAME');
    assert.is((await rejection(other.register('dora', 'short'))).code, 'E_WEAK_PASSWORD');
    assert.is((await rejection(other.who())).code, 'E_NOT_LOGGED_IN');
    await other.register('dora', PASSWORD);
    assert.is((await rejection(other.login('alice', PASSWORD))).code, 'E_ALREADY_LOGGED_IN');
  } finally {
    alice.close();
    other.close();
    await stop();
  }
});

test('repeated wrong passwords lock the account, which unlocks after the block duration', async () => {
  const { port, stop } = await startServer({ maxLoginFailures: 3, blockDuration: 0.6 });
  (await registered(port, 'alice')).close();
  const c = client(port);
  await c.connect();
  try {
    const first = await rejection(c.login('alice', 'wrong password'));
    assert.is(first.code, 'E_BAD_CREDENTIALS');
    assert.match(first.message, /2 tries left/);
    assert.is((await rejection(c.login('alice', 'wrong again'))).code, 'E_BAD_CREDENTIALS');
    const locked = await rejection(c.login('alice', 'third strike'));
    assert.is(locked.code, 'E_LOCKED');
    assert.match(locked.message, /try again in 1 s/);
    assert.is((await rejection(c.login('alice', PASSWORD))).code, 'E_LOCKED', 'even the right password waits');
    await sleep(700);
    const ok = await c.login('alice', PASSWORD);
    assert.is(ok.user, 'alice');
  } finally {
    c.close();
    await stop();
  }
});

test('an idle user is logged out with a notice saying why, and does not come back by itself', async () => {
  const { port, stop } = await startServer({ timeout: 0.4 });
  const alice = await registered(port, 'alice');
  const bob = await registered(port, 'bob');
  const notices = record(alice, 'notice');
  const bobPresence = record(bob, 'presence');
  try {
    // bob keeps talking, alice says nothing
    const chatter = setInterval(() => void bob.who().catch(() => undefined), 100);
    await waitFor(() => notices.length === 1, 3000, 'idle notice');
    clearInterval(chatter);
    assert.is(notices[0].code, 'E_IDLE_TIMEOUT');
    assert.match(notices[0].message, /without activity/);
    await waitFor(() => alice.state === 'disconnected', 2000, 'alice disconnected');
    assert.is(alice.user, null);
    await waitFor(() => bobPresence.some((p) => p.user === 'alice' && p.event === 'left'), 2000, 'left notice');
    assert.ok(bob.loggedIn, 'an active user stays');
    // the timed-out session's token no longer resumes
    assert.not.ok(await alice.connect().then(() => alice.resumeSaved('alice')));
  } finally {
    alice.close();
    bob.close();
    await stop();
  }
});

test('a second login replaces the first session, which is told why and stays closed', async () => {
  const { port, stop } = await startServer();
  const first = await registered(port, 'alice');
  const watcher = await registered(port, 'bob');
  const notices = record(first, 'notice');
  const presence = record(watcher, 'presence');
  const second = client(port);
  try {
    await second.connect();
    await second.login('alice', PASSWORD);
    await waitFor(() => notices.length === 1, 2000, 'replaced notice');
    assert.is(notices[0].code, 'E_REPLACED');
    await waitFor(() => first.state === 'disconnected', 2000, 'first closed');
    assert.equal(presence, [], 'alice never appeared to leave');
    const who = await watcher.who();
    assert.equal(who.users.map((u) => u.user), ['alice', 'bob']);
  } finally {
    first.close();
    second.close();
    watcher.close();
    await stop();
  }
});

test('a dropped connection resumes with the token, and what was typed meanwhile is sent', async () => {
  const dir = tempDir();
  let served = await startServer({}, dir.path, false);
  const port = served.port;
  const alice = await registered(port, 'alice');
  const bobStore = tempDir('parley-client-').path;
  const bob = client(port, bobStore);
  await bob.connect();
  await bob.register('bob', PASSWORD);
  const states = record(alice, 'state');
  const logins = record(alice, 'login');
  const bobInbox = record(bob, 'message');
  try {
    await served.stop(); // the server goes away: clients see the connection drop
    await waitFor(() => states.includes('reconnecting'), 2000, 'reconnecting');
    const queued = alice.sendPrivate('bob', 'sent while the server was down');
    assert.ok(alice.queuedCount >= 1);
    served = await startServer({ port }, dir.path, false);
    await waitFor(() => logins.some((l) => l.resumed), 5000, 'alice resumes');
    await waitFor(() => bob.loggedIn, 5000, 'bob resumes');
    // bob may resume after alice's queued message went out; then it waited in his mailbox
    const outcome = await queued.then((r) => r.status, (e: ParleyError) => e.code);
    assert.ok(outcome === 'delivered' || outcome === 'stored', `queued send settled: ${outcome}`);
    await waitFor(() => bobInbox.some((m) => m.text === 'sent while the server was down'), 3000, 'the queued message arrives');
    await alice.sendPrivate('bob', 'after the restart');
    await waitFor(() => bobInbox.some((m) => m.text === 'after the restart'), 2000, 'delivery after resume');
    assert.ok(served.lines.some((l) => /alice resumed/.test(l)), 'the server saw a resume, not a login');
  } finally {
    alice.close();
    bob.close();
    await served.stop();
    dir.remove();
  }
});

test('a reconnect that dies in the handshake is tried again: the client does not give up', async () => {
  const dir = tempDir();
  let served = await startServer({}, dir.path, false);
  const port = served.port;
  const alice = await registered(port, 'alice');
  const logins = record(alice, 'login');
  const states = record(alice, 'state');
  // What answers meanwhile accepts the connection and closes it before any hello: a server
  // killed, or restarting, while the client's reconnect was in its handshake.
  const closer = createServer((socket) => socket.destroy());
  try {
    await served.stop();
    await new Promise<void>((resolve) => closer.listen(port, '127.0.0.1', resolve));
    await waitFor(() => states.includes('handshaking'), 2000, 'a reconnect reaches the handshake');
    await sleep(300); // several such tries (backoff here: 50-200 ms)
    await new Promise<void>((resolve) => closer.close(() => resolve()));
    served = await startServer({ port }, dir.path, false);
    await waitFor(() => logins.some((l) => l.resumed), 5000, `alice resumes (state ${alice.state})`);
  } finally {
    closer.close();
    alice.close();
    await served.stop();
    dir.remove();
  }
});

test('a resume cut off by the connection dropping or going unanswered is tried again, with no error raised', async () => {
  const served = await startServer({}, undefined, true);
  const alice = await registered(served.port, 'alice', { requestTimeoutMs: 300 });
  const bob = await registered(served.port, 'bob');
  const logins = record(alice, 'login');
  // Without a listener an 'error' event is thrown: the test process would stop, as a
  // program using the client without one would.
  const errors = record(alice, 'error');
  const inbox = record(bob, 'message');
  // The first resume loses its connection before the answer (a server killed mid-resume), the
  // second gets no answer in time (a server too busy or restarting); the third goes through.
  const hub = served.server.hub as unknown as { resume: (session: Session, message: unknown) => Promise<unknown> };
  const resume = hub.resume.bind(hub);
  let tries = 0;
  hub.resume = async (session, message) => {
    tries++;
    if (tries === 1) session.close();
    if (tries === 2) await sleep(600);
    return resume(session, message);
  };
  try {
    (alice as unknown as { socket: Socket }).socket.destroy(); // the connection drops
    await waitFor(() => logins.some((l) => l.resumed), 5000, 'alice resumes');
    assert.is(tries, 3);
    assert.equal(errors, [], 'a resume that will be tried again is no error');
    assert.is((await alice.sendPrivate('bob', 'back again')).status, 'delivered');
    assert.equal(inbox.map((m) => m.text), ['back again']);
  } finally {
    alice.close();
    bob.close();
    await served.stop();
  }
});

test('a server with one core to run on unwraps on its event loop: clients connect, log in and chat as usual', async () => {
  const served = await startServer({}, undefined, true, { cores: () => 1 });
  const clients: ParleyClient[] = [];
  try {
    const alice = await registered(served.port, 'alice', { reconnect: false });
    clients.push(alice);
    const bob = await registered(served.port, 'bob', { reconnect: false });
    clients.push(bob);
    const inbox = record(bob, 'message');
    assert.is((await alice.sendPrivate('bob', 'unwrapped on the loop')).status, 'delivered');
    assert.equal(inbox.map((m) => m.text), ['unwrapped on the loop']);
  } finally {
    for (const c of clients) c.close();
    await served.stop();
  }
});

test('a server that takes the connection but never says hello: connect() fails with E_HANDSHAKE_TIMEOUT, and the socket is closed', async () => {
  // A connection the server never accepted looks like this: the kernel completed the TCP
  // handshake (SYN cookies) and then dropped it on a full listen queue.
  const held = new Set<Socket>();
  const silent = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const c = client(port, undefined, { helloTimeoutMs: 200, reconnect: false });
  try {
    const started = Date.now();
    const stillWaiting = sleep(3000).then(() => Promise.reject(new Error('still waiting for a hello after 3 s')));
    const err = await rejection(Promise.race([c.connect(), stillWaiting]));
    assert.is(err.code, 'E_HANDSHAKE_TIMEOUT', err.message);
    assert.ok(Date.now() - started < 2000, 'given up at the hello deadline, not later');
    await waitFor(() => held.size === 0, 2000, 'the client closed its side');
  } finally {
    c.close();
    for (const socket of held) socket.destroy();
    silent.close();
  }
});

test('a reconnect the server took but never greeted is given up at the hello deadline and made again', async () => {
  const dir = tempDir();
  let served = await startServer({}, dir.path, false);
  const port = served.port;
  const alice = await registered(port, 'alice', { helloTimeoutMs: 200 });
  const logins = record(alice, 'login');
  const held = new Set<Socket>(); // every connection the silent server took
  const silent = createServer((socket) => held.add(socket));
  try {
    await served.stop();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    // Without the deadline the first try would wait for its hello for good.
    await waitFor(() => held.size >= 2, 3000, 'the client gave up a silent try and made another');
    await new Promise<void>((resolve) => {
      silent.close(() => resolve());
      for (const socket of held) socket.destroy();
    });
    served = await startServer({ port }, dir.path, false);
    await waitFor(() => logins.some((l) => l.resumed), 5000, `alice resumes (state ${alice.state})`);
  } finally {
    silent.close();
    for (const socket of held) socket.destroy();
    alice.close();
    await served.stop();
    dir.remove();
  }
});

test('a client shown a different server key refuses to continue', async () => {
  const first = await startServer();
  const port = first.port;
  const store = tempDir('parley-client-').path;
  const c = client(port, store);
  const trust = record(c, 'trust');
  await c.connect();
  assert.is(trust[0].decision, 'first-use');
  c.close();
  await first.stop();
  const impostor = await startServer({ port }); // a fresh key pair on the same address
  const again = client(port, store);
  try {
    const err = await rejection(again.connect());
    assert.is(err.code, 'E_SERVER_KEY_CHANGED');
    assert.ok(err.message.includes(trust[0].fingerprint), 'names the recorded key');
    assert.ok(err.message.includes(impostor.server.keys.fingerprint), 'names the presented key');
    assert.match(err.message, /--server-fingerprint/);
    await sleep(200);
    assert.is(again.state, 'disconnected', 'no reconnect loop');
    // the user re-pins explicitly
    const pinned = client(port, store, { expectedFingerprint: impostor.server.keys.fingerprint });
    await pinned.connect();
    pinned.close();
    const after = client(port, store);
    await after.connect();
    after.close();
  } finally {
    again.close();
    await impostor.stop();
  }
});

test('--server-fingerprint refuses a server whose key does not match', async () => {
  const { port, stop } = await startServer();
  const c = client(port, undefined, { expectedFingerprint: 'SHA256:' + 'A'.repeat(43) });
  try {
    const err = await rejection(c.connect());
    assert.is(err.code, 'E_SERVER_KEY_REFUSED');
  } finally {
    c.close();
    await stop();
  }
});

test.run();
