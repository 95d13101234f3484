/**
 * Flood control over real TCP: a client that sends faster than the rate is answered
 * E_RATE_LIMITED and its excess goes nowhere, one that keeps flooding is put out, and one
 * address that opens connections too fast is turned away before any handshake, while
 * everyone else chats on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, record, registered, rejection, sleep, startServer, tempDir, waitFor, PASSWORD, type TestServer } from './helpers.ts';
import { RawClient } from './raw-client.ts';

const dir = tempDir(); // one key pair for every server below
const sends = (n: number, to: string, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ type: 'send', id: `${tag}${i}`, msgId: `${tag}msg${String(i).padStart(4, '0')}`, to, text: `${tag} ${i}` }));

let chat: TestServer;

test.before(async () => {
  chat = await startServer({ rateBurst: 5, ratePerSecond: 10, rateStrikes: 15 }, dir.path);
});
test.after(async () => {
  await chat.stop();
  dir.remove();
});

test('a client faster than the rate gets E_RATE_LIMITED with retryAfter; its excess is not delivered; a normal client chats on', async () => {
  const bob = await registered(chat.port, 'bob');
  const bobInbox = record(bob, 'message');
  const carol = await registered(chat.port, 'carol');
  const alice = new RawClient(chat.port, { open: 'on-arrival' });
  // Closed in finally: a failed assertion must not leave bob and carol reconnecting to the stopped server (the file would hang).
  try {
    await alice.handshake();
    // register + 9 sends + pings in one frame. register is paid from the connection's own
    // bucket (nobody is logged in yet); the sends from alice's, whose burst of 5 covers 5 of them
    alice.send([{ type: 'register', id: 'r', user: 'alice', password: PASSWORD }, ...sends(9, 'bob', 'a'), { type: 'ping', id: 'p1' }, { type: 'received', ids: ['nothing'] }, { type: 'ping', id: 'p2' }]);
    await alice.expect((m) => m.type === 'pong' && m.id === 'p2');
    await waitFor(() => alice.messages.filter((m) => m.ref?.startsWith('a')).length === 9, 2000, 'an answer to every send');
    // sends answer when delivered, so refusals may come first: order the answers by request
    const answers = alice.messages.filter((m) => m.ref?.startsWith('a')).sort((x, y) => Number(x.ref.slice(1)) - Number(y.ref.slice(1)));
    assert.equal(answers.map((m) => m.type), ['ok', 'ok', 'ok', 'ok', 'ok', 'error', 'error', 'error', 'error']);
    for (const refused of answers.filter((m) => m.type === 'error')) {
      assert.is(refused.code, 'E_RATE_LIMITED');
      assert.ok(refused.details.retryAfter > 0 && refused.details.retryAfter <= 0.1, `retryAfter ${refused.details.retryAfter}`);
      assert.match(refused.message, /at most 10 messages per second/);
    }
    assert.ok(alice.messages.some((m) => m.type === 'pong' && m.id === 'p1'), 'pings are never limited');

    // the normal client is not slowed by alice's flood
    const fromCarol = await carol.sendPrivate('bob', 'still here?');
    assert.is(fromCarol.status, 'delivered');
    await waitFor(() => bobInbox.some((m) => m.text === 'still here?'), 2000, 'carol reaches bob');
    await sleep(100);
    assert.equal(bobInbox.filter((m) => m.from === 'alice').map((m) => m.text), ['a 0', 'a 1', 'a 2', 'a 3', 'a 4'], 'the refused sends went nowhere');
    const history = await bob.history('alice');
    assert.is(history.messages.length, 5, 'and were not stored');

    // after retryAfter, alice may send again
    await sleep(150);
    alice.send(sends(1, 'bob', 'later'));
    assert.is((await alice.expect((m) => m.ref === 'later0')).type, 'ok');
    assert.not.ok(alice.closed);
  } finally {
    alice.destroy();
    bob.close();
    carol.close();
  }
});

test('a client that keeps flooding is disconnected with an E_RATE_LIMITED notice', async () => {
  const dave = await registered(chat.port, 'dave');
  const eve = new RawClient(chat.port, { open: 'on-arrival' });
  try {
    await eve.handshake();
    eve.send([{ type: 'register', id: 'r', user: 'eve', password: PASSWORD }, ...sends(100, 'dave', 'e')]);
    const notice = await eve.expect((m) => m.type === 'notice');
    assert.is(notice.code, 'E_RATE_LIMITED');
    assert.match(notice.message, /flooding/);
    await waitFor(() => eve.closed, 3000, 'the server to close the flood');
    const refused = eve.messages.filter((m) => m.type === 'error');
    assert.is(refused.length, 15, 'the strikes, then the notice, then nothing');
    assert.ok(refused.every((m) => m.code === 'E_RATE_LIMITED'));
    assert.ok(chat.lines.some((l) => /flooding: 15 requests refused in a row/.test(l)));
    assert.ok(chat.lines.filter((l) => /rate limited/.test(l)).length <= 2, 'one log line per run of refusals, not one per request');
    assert.ok(dave.loggedIn, 'dave is fine');
    assert.not.ok((await dave.who()).users.some((u) => u.user === 'eve'), 'eve is gone');
  } finally {
    eve.destroy();
    dave.close();
  }
});

test('a logged-in user has one bucket across connections: reconnecting does not refill it', async () => {
  const slow = await startServer({ rateBurst: 3, ratePerSecond: 0.2 }, dir.path); // a token every 5 s
  try {
    const first = new RawClient(slow.port, { open: 'on-arrival' });
    await first.handshake();
    first.send([{ type: 'register', id: 'r', user: 'frank', password: PASSWORD }, ...Array.from({ length: 3 }, (_, i) => ({ type: 'who', id: `w${i}` }))]);
    await waitFor(() => first.messages.filter((m) => m.ref?.startsWith('w')).length === 3, 2000, 'answers');
    first.destroy();
    const second = new RawClient(slow.port, { open: 'on-arrival' });
    await second.handshake();
    second.send([{ type: 'login', id: 'l', user: 'frank', password: PASSWORD }, { type: 'who', id: 'again' }]);
    // the login is paid from the new connection's own bucket; who from frank's, still spent
    assert.is((await second.expect((m) => m.ref === 'l')).type, 'ok');
    const who = await second.expect((m) => m.ref === 'again');
    assert.is(who.code, 'E_RATE_LIMITED');
    assert.ok(who.details.retryAfter > 4 && who.details.retryAfter <= 5, `retryAfter ${who.details.retryAfter}`);
    second.destroy();
  } finally {
    await slow.stop();
  }
});

test('connections beyond the per-address rate are refused with E_TOO_MANY_CONNECTIONS; existing ones are unaffected; after the window they work again', async () => {
  const served = await startServer({ connBurst: 3, connPerMinute: 150, connMaxPerIp: 0 }, dir.path); // one token per 400 ms
  try {
    const grace = await registered(served.port, 'grace', { reconnect: false }); // 1st
    const accepted = [new RawClient(served.port, { open: 'on-arrival' }), new RawClient(served.port, { open: 'on-arrival' })]; // 2nd, 3rd
    for (const raw of accepted) assert.is((await raw.firstFrame()).type, 'hello');
    const storm = Array.from({ length: 200 }, () => new RawClient(served.port, { open: 'on-arrival' }));
    const replies = await Promise.all(storm.map((raw) => raw.firstFrame()));
    const refused = replies.filter((r) => r.type === 'error');
    // a token comes back every 400 ms: a slow machine may let one or two of the storm in
    const admitted = replies.filter((r) => r.type === 'hello').length;
    assert.is(refused.length + admitted, 200);
    assert.ok(admitted <= 5, `${admitted} of the storm admitted`);
    assert.is(refused[0]!.code, 'E_TOO_MANY_CONNECTIONS');
    assert.match(refused[0]!.message, /too many new connections from 127\.0\.0\.1/);
    assert.ok(refused[0]!.details.retryAfter >= 1);
    await waitFor(() => storm.every((raw) => raw.closed || raw.frames.length === 0), 2000, 'refused sockets closed');
    assert.ok(storm.filter((raw) => raw.closed).length >= refused.length, 'the server closed the refused sockets');
    assert.ok(served.server.connectionCount <= 3 + admitted, 'and made no connection objects for them');

    // the reference client surfaces the code
    const late = client(served.port, undefined, { reconnect: false });
    const err = await rejection(late.connect());
    assert.is(err.code, 'E_TOO_MANY_CONNECTIONS');
    late.close();

    // the client that was already connected chats on
    assert.is((await grace.who()).users.find((u) => u.user === 'grace')?.online, true);
    // a storm is a few log lines, not one per refusal
    assert.ok(served.lines.filter((l) => /refused/.test(l)).length <= 2, served.lines.filter((l) => /refused/.test(l)).join('\n'));

    await sleep(450); // one token back
    const again = new RawClient(served.port, { open: 'on-arrival' });
    assert.is((await again.firstFrame()).type, 'hello', 'connecting works again after the window');
    for (const raw of [...accepted, ...storm, again]) raw.destroy();
    grace.close();
  } finally {
    await served.stop();
  }
});

test('an address may hold at most --conn-max-per-ip connections open; closing one makes room', async () => {
  const served = await startServer({ connBurst: 100, connPerMinute: 6000, connMaxPerIp: 2 }, dir.path);
  try {
    const a = new RawClient(served.port, { open: 'on-arrival' });
    const b = new RawClient(served.port, { open: 'on-arrival' });
    assert.is((await a.firstFrame()).type, 'hello');
    assert.is((await b.firstFrame()).type, 'hello');
    const c = new RawClient(served.port, { open: 'on-arrival' });
    const refusal = await c.firstFrame();
    assert.is(refusal.code, 'E_TOO_MANY_CONNECTIONS');
    assert.match(refusal.message, /at most 2 may be open at once/);
    a.destroy();
    await waitFor(() => served.server.connectionCount === 1, 2000, 'the server to see the close');
    const d = new RawClient(served.port, { open: 'on-arrival' });
    assert.is((await d.firstFrame()).type, 'hello');
    for (const raw of [b, c, d]) raw.destroy();
  } finally {
    await served.stop();
  }
});

test.run();
