import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Accounts } from '../../src/server/accounts.ts';
import { Hub, LaterReply, NO_REPLY, type HandlerResult } from '../../src/server/hub.ts';
import { createLogger } from '../../src/server/log.ts';
import { RecordingSession } from '../../src/server/session.ts';
import { Store } from '../../src/store/store.ts';
import { jsonText, type JsonOut } from '../../src/protocol/json-bytes.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { rejectsCode } from '../helpers/codes.ts';
import type { ClientMessage, HistoryResult, SendResult, UserStatus } from '../../src/protocol/messages.ts';

const PASSWORD = 'correct horse battery';
const IDLE_MS = 30_000;
const START = 1_700_000_000_000;

async function setup(idleTimeoutMs = IDLE_MS, presenceToAll?: number) {
  let t = START;
  const now = () => t;
  const advance = (ms: number) => (t += ms);
  const store = Store.memory();
  const accounts = await Accounts.load(store, { maxLoginFailures: 3, blockDurationMs: 60_000, tokenTtlMs: 86_400_000, scrypt: { N: 1024, r: 8, p: 1 }, now });
  const hub = new Hub(accounts, createLogger('silent'), { idleTimeoutMs, now, store, presenceToAll });
  let n = 0;
  const id = () => `r${++n}`;
  const handle = async (session: RecordingSession, message: Record<string, unknown>): Promise<HandlerResult> =>
    hub.handle(session, { id: id(), ...message } as ClientMessage);
  /** A session logged in as `user` (registering it), with its sent list cleared. */
  const online = async (user: string): Promise<RecordingSession> => {
    const session = new RecordingSession();
    if (accounts.exists(user)) await handle(session, { type: 'login', user, password: PASSWORD });
    else await handle(session, { type: 'register', user, password: PASSWORD });
    session.sent.length = 0;
    return session;
  };
  return { hub, accounts, store, now, advance, handle, online };
}

/** Waits (a few event-loop turns, no timers) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), `timed out waiting for: ${what}`);
}

/** The reply a handler result stands for, waiting for a LaterReply. */
async function reply(result: HandlerResult | Promise<HandlerResult>): Promise<unknown> {
  const value = await result;
  return value instanceof LaterReply ? value.result : value;
}

let msgCounter = 0;
const msgId = () => `msg-${String(++msgCounter).padStart(6, '0')}`;

test('register attaches the user and the others see them join', async () => {
  const { hub, handle, online, now } = await setup();
  const bob = await online('bob');
  const alice = new RecordingSession();
  const result = (await handle(alice, { type: 'register', user: 'Alice', password: PASSWORD })) as Record<string, unknown>;
  assert.is(result.user, 'alice');
  assert.type(result.token, 'string');
  assert.type(result.expiresAt, 'number');
  assert.is(alice.user, 'alice');
  assert.is(alice.token, result.token);
  assert.is(alice.loginAt, now());
  assert.ok(hub.isOnline('alice'));
  assert.is(hub.onlineCount, 2);
  assert.equal(bob.of('presence'), [{ type: 'presence', user: 'alice', event: 'joined', at: now() }]);
  assert.equal(alice.of('presence'), [], 'no presence about yourself');
});

test('login attaches the user and the others see them join', async () => {
  const { hub, handle, online, accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  const bob = await online('bob');
  const carol = await online('carol');
  bob.sent.length = 0;
  const alice = new RecordingSession();
  const result = (await handle(alice, { type: 'login', user: 'alice', password: PASSWORD })) as Record<string, unknown>;
  assert.is(result.user, 'alice');
  assert.is(alice.user, 'alice');
  assert.ok(hub.isOnline('alice'));
  for (const other of [bob, carol]) assert.equal(other.of('presence').map((p) => [p.user, p.event]), [['alice', 'joined']]);
});

test('a failed login leaves the session logged out and passes the code on', async () => {
  const { handle, accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  const session = new RecordingSession();
  await rejectsCode(handle(session, { type: 'login', user: 'alice', password: 'wrong password' }), 'E_BAD_CREDENTIALS');
  await rejectsCode(handle(session, { type: 'login', user: 'nobody', password: PASSWORD }), 'E_NO_SUCH_USER');
  await rejectsCode(handle(session, { type: 'register', user: 'alice', password: PASSWORD }), 'E_USER_EXISTS');
  assert.is(session.user, null);
});

test('a second login of the same user replaces the first, without a left/joined announcement', async () => {
  const { hub, handle, online } = await setup();
  const bob = await online('bob');
  const first = await online('alice');
  bob.sent.length = 0;
  const second = new RecordingSession();
  await handle(second, { type: 'login', user: 'alice', password: PASSWORD });
  assert.is(first.ended?.code, 'E_REPLACED');
  assert.ok(first.closed);
  assert.is(first.user, null);
  assert.is(second.user, 'alice');
  assert.is(hub.onlineCount, 2);
  // the old connection's close must not announce alice as gone
  hub.detach(first, 'replaced');
  assert.ok(hub.isOnline('alice'));
  assert.equal(bob.of('presence'), []);
  // messages now go to the new session
  await handle(bob, { type: 'send', msgId: msgId(), to: 'alice', text: 'hi' });
  await until(() => second.of('msg').length === 1, 'the msg reaches the new session');
  assert.is(first.of('msg').length, 0);
});

test('past presenceToAll online, presence goes only to group co-members and private contacts', async () => {
  const { hub, handle, online } = await setup(IDLE_MS, 2);
  const bob = await online('bob');
  const carol = await online('carol');
  const dave = await online('dave');
  const erin = await online('erin');
  const gina = await online('gina'); // keeps the count past the limit as others leave
  await reply(handle(carol, { type: 'group_create', name: 'lab' }));
  await reply(handle(dave, { type: 'group_join', name: 'lab' }));
  await handle(erin, { type: 'send', msgId: msgId(), to: 'bob', text: 'hi' }); // not waiting for bob's ack
  for (const s of [bob, carol, dave, erin, gina]) s.sent.length = 0;
  const leftOf = (s: RecordingSession) => s.of('presence').filter((p) => p.event === 'left').map((p) => p.user);
  hub.detach(dave, 'closed');
  assert.equal([leftOf(bob), leftOf(carol), leftOf(erin)], [[], ['dave'], []], 'dave: only his group');
  hub.detach(erin, 'closed');
  assert.equal([leftOf(bob), leftOf(carol), leftOf(gina)], [['erin'], ['dave'], []], 'erin: only bob, whom she wrote to');
  // Back within the limit (bob and frank online): everyone again.
  hub.detach(carol, 'closed');
  hub.detach(gina, 'closed');
  await online('frank');
  assert.equal(bob.of('presence').at(-1), { type: 'presence', user: 'frank', event: 'joined', at: START });
});

test('detach announces left to everyone else and takes the user offline', async () => {
  const { hub, online, now } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const carol = await online('carol');
  hub.detach(alice, 'closed');
  assert.not.ok(hub.isOnline('alice'));
  assert.is(alice.user, null);
  for (const other of [bob, carol]) assert.equal(other.of('presence').filter((p) => p.event === 'left'), [{ type: 'presence', user: 'alice', event: 'left', at: now() }]);
  // detaching again, or a session that never logged in, does nothing
  hub.detach(alice, 'again');
  hub.detach(new RecordingSession(), 'never logged in');
  assert.is(bob.of('presence').filter((p) => p.event === 'left').length, 1);
});

test('who lists the online users, sorted, with since and lastActive', async () => {
  const { handle, online, advance, now } = await setup();
  const carol = await online('carol');
  const t0 = now();
  advance(1000);
  const alice = await online('alice');
  const t1 = now();
  advance(1000);
  const bob = await online('bob');
  advance(5000);
  await handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text: 'hello' });
  const tActive = now();
  advance(2000);
  const result = (await handle(bob, { type: 'who' })) as { users: UserStatus[] };
  assert.equal(result.users.map((u) => u.user), ['alice', 'bob', 'carol']);
  assert.ok(result.users.every((u) => u.online));
  assert.equal(result.users[0], { user: 'alice', online: true, status: 'available', since: t1, lastActive: tActive });
  assert.equal(result.users[1].lastActive, now(), 'who itself is activity');
  assert.equal(result.users[2], { user: 'carol', online: true, status: 'available', since: t0, lastActive: t0 });
  void carol;
});

test('who since N includes recently departed users and excludes older ones', async () => {
  const { hub, handle, online, advance, now, accounts } = await setup();
  await accounts.register('dave', PASSWORD); // registered, never seen since
  advance(3600_000);
  const eve = await online('eve');
  hub.detach(eve, 'closed');
  const eveLeft = now();
  advance(120_000);
  const bob = await online('bob');
  hub.detach(bob, 'closed');
  const bobLeft = now();
  advance(10_000);
  const alice = await online('alice');

  let users = ((await handle(alice, { type: 'who' })) as { users: UserStatus[] }).users;
  assert.equal(users.map((u) => u.user), ['alice'], 'without since: online only');

  users = ((await handle(alice, { type: 'who', since: 60 })) as { users: UserStatus[] }).users;
  assert.equal(users.map((u) => [u.user, u.online]), [['alice', true], ['bob', false]]);
  assert.equal(users[1], { user: 'bob', online: false, since: bobLeft, lastActive: bobLeft });

  users = ((await handle(alice, { type: 'who', since: 600 })) as { users: UserStatus[] }).users;
  assert.equal(users.map((u) => u.user), ['alice', 'bob', 'eve']);
  assert.is(users[2].since, eveLeft);

  users = ((await handle(alice, { type: 'who', since: 0 })) as { users: UserStatus[] }).users;
  assert.equal(users.map((u) => u.user), ['alice']);
});

test('send to an online user delivers a msg; the reply says delivered once the recipient acknowledges', async () => {
  const { hub, handle, online, now } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const carol = await online('carol');
  const id = msgId();
  const ts = now();
  const result = await handle(alice, { type: 'send', msgId: id, to: 'Bob', text: 'hi bob 😄' });
  assert.instance(result, LaterReply, 'the reply waits for the acknowledgement');
  await until(() => bob.of('msg').length === 1, 'bob receives the msg');
  assert.equal(bob.of('msg'), [{ type: 'msg', msgId: id, scope: 'private', from: 'alice', to: 'bob', text: 'hi bob 😄', ts }]);
  assert.is(hub.handle(bob, { type: 'received', ids: [id] }), NO_REPLY);
  assert.equal(await reply(result), { msgId: id, status: 'delivered', ts });
  assert.equal(carol.of('msg'), []);
  assert.equal(alice.of('msg'), []);
});

test('send to an offline registered user is stored and delivered at their next login, as the msg a live recipient gets', async () => {
  const { hub, handle, online, accounts, now } = await setup();
  const alice = await online('alice');
  await accounts.register('dave', PASSWORD);
  const id = msgId();
  const ts = now();
  const stored = (await reply(handle(alice, { type: 'send', msgId: id, to: 'dave', text: 'read this later' }))) as Record<string, unknown>;
  assert.is(stored.status, 'stored');
  assert.is(stored.msgId, id);
  const dave = new RecordingSession();
  await handle(dave, { type: 'login', user: 'dave', password: PASSWORD });
  await until(() => dave.of('msg').length === 1, 'the mailbox drains at login');
  // Same keys in the same order as a live msg (the mailbox stores the message the send makes then).
  const live = { type: 'msg', msgId: id, scope: 'private', from: 'alice', to: 'dave', text: 'read this later', ts };
  assert.is(JSON.stringify(dave.of('msg')[0]), JSON.stringify(live));
  hub.handle(dave, { type: 'received', ids: [id] });
});

test('a mailbox drain to one user holds back no one else, and once acknowledged that user gets messages live again', async () => {
  const { hub, handle, online, accounts } = await setup();
  const alice = await online('alice');
  const erin = await online('erin');
  await accounts.register('dave', PASSWORD);
  const first = msgId();
  assert.is(((await reply(handle(alice, { type: 'send', msgId: first, to: 'dave', text: 'while you were out' }))) as Record<string, unknown>).status, 'stored');
  const dave = new RecordingSession();
  await handle(dave, { type: 'login', user: 'dave', password: PASSWORD });
  await until(() => dave.of('msg').length === 1, 'the mailbox drains at login');
  const live = async (session: RecordingSession, to: string) => {
    const id = msgId();
    const result = await handle(alice, { type: 'send', msgId: id, to, text: `live to ${to}` });
    await until(() => session.of('msg').some((m) => m.msgId === id), `${to} receives it live`);
    hub.handle(session, { type: 'received', ids: [id] });
    assert.is(((await reply(result)) as Record<string, unknown>).status, 'delivered', to);
  };
  await live(erin, 'erin'); // while dave's drained entry waits for its acknowledgement
  hub.handle(dave, { type: 'received', ids: [first] });
  await live(dave, 'dave');
});

test('a recipient who leaves before acknowledging gets the message stored', async () => {
  const { hub, handle, online } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const id = msgId();
  const result = await handle(alice, { type: 'send', msgId: id, to: 'bob', text: 'hi' });
  await until(() => bob.of('msg').length === 1, 'bob receives the msg');
  hub.detach(bob, 'closed');
  assert.equal(((await reply(result)) as Record<string, unknown>).status, 'stored');
  // At the next login the stored copy is the msg as first sent.
  const again = new RecordingSession();
  await handle(again, { type: 'login', user: 'bob', password: PASSWORD });
  await until(() => again.of('msg').length === 1, 'the mailbox drains at login');
  assert.is(JSON.stringify(again.of('msg')[0]), JSON.stringify(bob.of('msg')[0]));
});

test('send to an unknown user or yourself is refused', async () => {
  const { handle, online } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const e = await rejectsCode(() => handle(alice, { type: 'send', msgId: msgId(), to: 'carol', text: 'hi' }), 'E_NO_SUCH_USER');
  assert.is(e.message, "no user named 'carol'");
  await rejectsCode(() => handle(alice, { type: 'send', msgId: msgId(), to: 'alice', text: 'hi' }), 'E_SELF');
  await rejectsCode(() => handle(alice, { type: 'send', msgId: msgId(), to: 'ALICE', text: 'hi' }), 'E_SELF');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(bob.of('msg'), []);
});

test('commands before login are E_NOT_LOGGED_IN', async () => {
  const { handle } = await setup();
  const session = new RecordingSession();
  for (const message of [
    { type: 'who' },
    { type: 'who', since: 10 },
    { type: 'send', msgId: msgId(), to: 'bob', text: 'hi' },
    { type: 'broadcast', msgId: msgId(), text: 'hi' },
    { type: 'logout' },
  ]) {
    await rejectsCode(() => handle(session, message), 'E_NOT_LOGGED_IN');
  }
  assert.not.ok(session.closed);
});

test('login, register or resume twice on one session is E_ALREADY_LOGGED_IN', async () => {
  const { handle, online, accounts } = await setup();
  const alice = await online('alice');
  const { token } = await accounts.login('alice', PASSWORD);
  await rejectsCode(() => handle(alice, { type: 'login', user: 'alice', password: PASSWORD }), 'E_ALREADY_LOGGED_IN');
  await rejectsCode(() => handle(alice, { type: 'login', user: 'bob', password: PASSWORD }), 'E_ALREADY_LOGGED_IN');
  await rejectsCode(() => handle(alice, { type: 'register', user: 'zed', password: PASSWORD }), 'E_ALREADY_LOGGED_IN');
  await rejectsCode(() => handle(alice, { type: 'resume', user: 'alice', token }), 'E_ALREADY_LOGGED_IN');
  assert.not.ok(accounts.exists('zed'));
  assert.is(alice.user, 'alice');
});

test('two logins racing on one session attach once', async () => {
  const { hub, handle, accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  await accounts.register('bob', PASSWORD);
  const session = new RecordingSession();
  const results = await Promise.allSettled([
    handle(session, { type: 'login', user: 'alice', password: PASSWORD }),
    handle(session, { type: 'login', user: 'bob', password: PASSWORD }),
  ]);
  assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.is((failed?.reason as ParleyError).code, 'E_ALREADY_LOGGED_IN');
  assert.is(hub.onlineCount, 1);
});

test('resume with a token attaches the user', async () => {
  const { hub, handle, accounts } = await setup();
  const { token } = await accounts.register('alice', PASSWORD);
  const session = new RecordingSession();
  const result = (await handle(session, { type: 'resume', user: 'alice', token })) as Record<string, unknown>;
  assert.is(result.user, 'alice');
  assert.is(result.token, token);
  assert.is(session.token, token);
  assert.ok(hub.isOnline('alice'));
  await rejectsCode(handle(new RecordingSession(), { type: 'resume', user: 'alice', token: 'bogus' }), 'E_BAD_TOKEN');
});

test('broadcast reaches every other online session once, not the sender', async () => {
  const { handle, online, now } = await setup();
  const alice = await online('alice');
  const others = [await online('bob'), await online('carol'), await online('dave')];
  const id = msgId();
  const result = await reply(handle(alice, { type: 'broadcast', msgId: id, text: 'hello all' }));
  assert.equal(result, { msgId: id, status: 'sent', ts: now(), recipients: 3 });
  for (const other of others) {
    assert.equal(other.of('msg'), [{ type: 'msg', msgId: id, scope: 'broadcast', from: 'alice', text: 'hello all', ts: now() }]);
  }
  assert.equal(alice.of('msg'), []);
});

test('a broadcast, and its edit, skip those who block the sender; the sender is not told who', async () => {
  const { handle, online } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const carol = await online('carol');
  await reply(handle(bob, { type: 'block', user: 'alice' }));
  const id = msgId();
  const result = (await reply(handle(alice, { type: 'broadcast', msgId: id, text: 'hello all' }))) as Record<string, unknown>;
  assert.is(result.recipients, 1, 'counted as `who` shows them: bob is not listed to alice');
  assert.equal(bob.of('msg'), []);
  assert.equal(carol.of('msg').map((m) => m.msgId), [id]);
  await reply(handle(alice, { type: 'edit', with: '*', msgId: id, text: 'hello everyone' }));
  assert.equal(bob.of('update'), []);
  assert.equal(carol.of('update').map((u) => u.text), ['hello everyone']);
  // bob's own broadcasts still reach alice: a block is one-way.
  await reply(handle(bob, { type: 'broadcast', msgId: msgId(), text: 'hi' }));
  assert.equal(alice.of('msg').map((m) => m.from), ['bob']);
});

test('broadcast with nobody else online reaches zero recipients', async () => {
  const { handle, online } = await setup();
  const alice = await online('alice');
  const result = (await reply(handle(alice, { type: 'broadcast', msgId: msgId(), text: 'anyone?' }))) as Record<string, unknown>;
  assert.is(result.recipients, 0);
});

test('ping is answered with pong and the same id, with no reply; pong is ignored', async () => {
  const { hub, advance } = await setup();
  const session = new RecordingSession();
  session.lastActive = 5;
  advance(1000);
  assert.is(hub.handle(session, { type: 'ping', id: 'p-1' }), NO_REPLY);
  assert.equal(session.sent, [{ type: 'pong', id: 'p-1' }]);
  assert.is(hub.handle(session, { type: 'pong', id: 'x' }), NO_REPLY);
  assert.is(session.sent.length, 1);
  assert.is(session.lastActive, 5, 'pings are not activity');
});

test('quit closes the session', async () => {
  const { hub, handle, online } = await setup();
  const alice = await online('alice');
  const result = await handle(alice, { type: 'quit' });
  assert.equal(result, {});
  assert.ok(alice.closed);
  assert.is(alice.ended, null, 'a quit is not a notice');
  // the token stays valid: quit is not logout
  await hub.handle(new RecordingSession(), { type: 'resume', id: 'r', user: 'alice', token: alice.token! });
  const anonymous = new RecordingSession();
  await handle(anonymous, { type: 'quit' });
  assert.ok(anonymous.closed);
});

test('logout revokes the token and closes', async () => {
  const { handle, online } = await setup();
  const alice = await online('alice');
  const token = alice.token!;
  const result = await handle(alice, { type: 'logout' });
  assert.equal(result, {});
  assert.ok(alice.closed);
  assert.is(alice.token, null);
  await rejectsCode(handle(new RecordingSession(), { type: 'resume', user: 'alice', token }), 'E_BAD_TOKEN');
});

test('sweepIdle ends sessions idle past the timeout and revokes their tokens, leaving active ones', async () => {
  const { hub, handle, online, advance, store } = await setup();
  const idle = await online('alice');
  const idleToken = idle.token!;
  const anonymous = new RecordingSession();
  await handle(anonymous, { type: 'ping' }); // pings do not count as activity
  advance(IDLE_MS / 2);
  const active = await online('bob');
  advance(IDLE_MS / 2 + 1);
  await handle(active, { type: 'who' });
  hub.sweepIdle([idle, active, anonymous]);
  assert.is(idle.ended?.code, 'E_IDLE_TIMEOUT');
  assert.match(idle.ended!.message, '30 s');
  assert.is(anonymous.ended?.code, 'E_IDLE_TIMEOUT');
  assert.is(active.ended, null);
  assert.not.ok(active.closed);
  await store.flush();
  await rejectsCode(handle(new RecordingSession(), { type: 'resume', user: 'alice', token: idleToken }), 'E_BAD_TOKEN');
  // exactly at the limit is not yet idle
  advance(IDLE_MS);
  hub.sweepIdle([active]);
  assert.is(active.ended, null);
  advance(1);
  hub.sweepIdle([active]);
  assert.is(active.ended?.code, 'E_IDLE_TIMEOUT');
});

test('history pages a conversation; edit and delete reach the other side and are for the author only', async () => {
  const { hub, handle, online, store, now } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const ids = [msgId(), msgId(), msgId()];
  for (const id of ids) {
    const pending = handle(alice, { type: 'send', msgId: id, to: 'bob', text: `text ${id}` });
    await until(() => bob.of('msg').some((m) => m.msgId === id), 'bob receives');
    hub.handle(bob, { type: 'received', ids: [id] });
    await reply(pending);
  }
  await store.flush();
  type Page = { with: string; messages: Array<{ seq: number; msgId: string; from: string; text: string; editedAt?: number; deleted?: boolean }>; more: boolean };
  const page = (await reply(handle(bob, { type: 'history', with: 'Alice' }))) as Page;
  assert.is(page.with, 'alice');
  assert.equal(page.messages.map((m) => m.msgId), ids);
  assert.is(page.more, false);
  const older = (await reply(handle(alice, { type: 'history', with: 'bob', limit: 2 }))) as Page;
  assert.equal(older.messages.map((m) => m.msgId), ids.slice(1));
  assert.is(older.more, true);
  const oldest = (await reply(handle(alice, { type: 'history', with: 'bob', before: older.messages[0].seq }))) as Page;
  assert.equal(oldest.messages.map((m) => m.msgId), ids.slice(0, 1));
  await rejectsCode(() => reply(handle(alice, { type: 'history', with: 'nobody' })), 'E_NO_SUCH_USER');

  bob.sent.length = 0;
  const edited = (await reply(handle(alice, { type: 'edit', with: 'bob', msgId: ids[0], text: 'fixed' }))) as Record<string, unknown>;
  assert.equal(edited, { msgId: ids[0], action: 'edit', at: now() });
  await until(() => bob.of('update').length === 1, 'bob hears of the edit');
  assert.equal(
    bob.of('update').map((u) => [u.msgId, u.action, u.text, u.from, u.to, u.scope]),
    [[ids[0], 'edit', 'fixed', 'alice', 'bob', 'private']],
  );
  hub.handle(bob, { type: 'received', ids: [bob.of('update')[0].updId] });
  await rejectsCode(() => reply(handle(bob, { type: 'edit', with: 'alice', msgId: ids[1], text: 'mine now' })), 'E_FORBIDDEN');
  await rejectsCode(() => reply(handle(bob, { type: 'delete', with: 'alice', msgId: ids[1] })), 'E_FORBIDDEN');
  await rejectsCode(() => reply(handle(alice, { type: 'edit', with: 'bob', msgId: 'msg-unknown', text: 'x' })), 'E_NOT_FOUND');
  const deleted = (await reply(handle(alice, { type: 'delete', with: 'bob', msgId: ids[1] }))) as Record<string, unknown>;
  assert.is(deleted.action, 'delete');
  await until(() => bob.of('update').length === 2, 'bob hears of the deletion');
  assert.is(bob.of('update')[1].action, 'delete');
  await rejectsCode(() => reply(handle(alice, { type: 'delete', with: 'bob', msgId: ids[1] })), 'E_NOT_FOUND');
  await store.flush();
  const after = (await reply(handle(alice, { type: 'history', with: 'bob' }))) as Page;
  assert.equal(after.messages.map((m) => [m.text, m.editedAt !== undefined, m.deleted ?? false]), [
    ['fixed', true, false],
    ['', true, true],
    [`text ${ids[2]}`, false, false],
  ]);
});

test('broadcasts go to the lobby history, and their edits reach everyone online', async () => {
  const { handle, online, store } = await setup();
  const alice = await online('alice');
  const bob = await online('bob');
  const carol = await online('carol');
  const id = msgId();
  await reply(handle(alice, { type: 'broadcast', msgId: id, text: 'hello all' }));
  await store.flush();
  const page = (await reply(handle(carol, { type: 'history', with: '*' }))) as { with: string; messages: Array<{ msgId: string; scope: string }> };
  assert.is(page.with, '*');
  assert.equal(page.messages.map((m) => [m.msgId, m.scope]), [[id, 'broadcast']]);
  await reply(handle(alice, { type: 'edit', with: '*', msgId: id, text: 'hello everyone' }));
  for (const other of [bob, carol]) assert.equal(other.of('update').map((u) => [u.msgId, u.text, u.scope]), [[id, 'hello everyone', 'broadcast']]);
  assert.equal(alice.of('update'), []);
});

test('sweepIdle does nothing when the timeout is 0', async () => {
  const { hub, online, advance } = await setup(0);
  const alice = await online('alice');
  advance(365 * 86_400_000);
  hub.sweepIdle([alice]);
  assert.is(alice.ended, null);
});

test('every history record goes to the store with its text, cut from the message sent (one serialisation)', async () => {
  const { store, handle, online } = await setup();
  const recorded: Array<{ collection: string; item: unknown; entryText: string; leaveOut: number }> = [];
  const appendText = store.appendText.bind(store);
  store.appendText = (collection, key, item, entryText, leaveOut = 0) => {
    if (collection.startsWith('history/')) recorded.push({ collection, item, entryText: jsonText(entryText), leaveOut });
    return appendText(collection, key, item, entryText, leaveOut);
  };
  const alice = await online('alice');
  const bob = await online('bob');
  const raw: string[] = [];
  for (const session of [alice, bob]) {
    const sendSerialized = session.sendSerialized.bind(session);
    session.sendSerialized = (json) => {
      raw.push(jsonText(json));
      sendSerialized(json);
    };
  }
  await reply(handle(alice, { type: 'group_create', name: 'lab' }));
  await reply(handle(bob, { type: 'group_join', name: 'lab' }));
  // Texts JSON must escape: quotes, backslashes, control characters, a lone surrogate; and emoji.
  const texts = ['a "quoted" \\ hello 😄', 'tab\there\u0001 and \ud800 alone', '</script>\u2028', 'nothing to escape, é 中'];
  for (const text of texts) await handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text });
  await reply(handle(alice, { type: 'broadcast', msgId: msgId(), text: 'to all\n' }));
  await reply(handle(bob, { type: 'group_send', msgId: msgId(), group: 'lab', text: 'to the lab' }));
  await until(() => recorded.length === texts.length + 2, 'every record');
  // Private messages are recorded after the pass's writes (Hub.recordLater), so across conversations the order may differ.
  const privately = recorded.filter((r) => r.collection === 'history/private/alice.bob');
  assert.equal(privately.map((r) => (r.item as { entry: { text: string } }).entry.text), texts, "a conversation's records in the order sent");
  assert.equal(recorded.filter((r) => !privately.includes(r)).map((r) => r.collection), ['history/lobby', 'history/group/lab']);
  for (const { item, entryText, leaveOut } of recorded) {
    assert.ok(raw.includes(entryText), 'the text is the message as sent');
    assert.is(`{${entryText.slice(1 + leaveOut)}`, JSON.stringify((item as { entry: object }).entry), 'the record is the message less its type');
  }
  assert.equal(bob.of('msg').slice(0, texts.length).map((msg) => msg.text), texts);
  for (const json of raw) assert.is(json, JSON.stringify(JSON.parse(json)), 'sent as JSON.stringify writes it');
});

test('a private message is sent on before it is recorded, and a history read, an edit or a stop in the same pass still finds it', async () => {
  const { hub, store, handle, online } = await setup();
  const events: string[] = [];
  // A log's tail appends through one or the other (appendText may hand on to append), as it holds its items or the store does.
  let inside = false;
  const recorded = <T>(collection: string, entryText: JsonOut | undefined, append: () => T): T => {
    if (collection.startsWith('history/private/') && !inside) events.push(`recorded ${(JSON.parse(jsonText(entryText!)) as { text: string }).text}`);
    const outer = inside;
    inside = true;
    try {
      return append();
    } finally {
      inside = outer;
    }
  };
  const appendText = store.appendText.bind(store);
  store.appendText = (collection, key, item, entryText, leaveOut = 0) => recorded(collection, entryText, () => appendText(collection, key, item, entryText, leaveOut));
  const append = store.append.bind(store);
  store.append = (collection, key, items, entryText, leaveOut = 0) => recorded(collection, entryText, () => append(collection, key, items, entryText, leaveOut));
  const alice = await online('alice');
  const bob = await online('bob');
  const sendSerialized = bob.sendSerialized.bind(bob);
  bob.sendSerialized = (json) => {
    events.push(`sent ${(JSON.parse(jsonText(json)) as { text: string }).text}`);
    sendSerialized(json);
  };
  // Until bob's mailbox is open and has nothing in flight, messages to him go through it.
  handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text: 'zero' });
  await until(() => bob.of('msg').length === 1, 'bob gets the first from his mailbox');
  hub.handle(bob, { type: 'received', ids: [bob.of('msg')[0].msgId] });
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  events.length = 0;
  const one = reply(handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text: 'one' }));
  assert.equal(events, ['sent one'], 'sent on, recorded later');
  const page = reply(handle(alice, { type: 'history', with: 'bob' }));
  assert.equal(events, ['sent one', 'recorded one'], 'a history read records what waits first');
  assert.equal(((await page) as HistoryResult).messages.map((m) => m.text), ['zero', 'one']);
  const second = msgId();
  const two = reply(handle(alice, { type: 'send', msgId: second, to: 'bob', text: 'two' }));
  const edited = reply(handle(alice, { type: 'edit', with: 'bob', msgId: second, text: 'TWO' }));
  assert.equal(events.slice(2), ['sent two', 'recorded two'], 'an edit records what waits first');
  await edited;
  handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text: 'three' });
  await until(() => events.includes('recorded three'), 'recorded once the pass is over, with nothing asking');
  handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text: 'four' });
  const all = hub.recordAll(); // what the server does before it writes the store and stops
  assert.equal(events.slice(4), ['sent TWO', 'sent three', 'recorded three', 'sent four', 'recorded four'], 'the edit went out; then each message sent on, then recorded');
  await all;
  await handle(bob, { type: 'received', ids: bob.of('msg').map((m) => m.msgId) });
  for (const ok of [one, two]) assert.is(((await ok) as SendResult).status, 'delivered', 'answered once both delivered and recorded');
  const texts = ((await reply(handle(alice, { type: 'history', with: 'bob' }))) as HistoryResult).messages.map((m) => m.text);
  assert.equal(texts, ['zero', 'one', 'TWO', 'three', 'four']);
});

test('a private message whose recording throws fails alone: its sender hears why, the others are recorded', async () => {
  const { hub, handle, online } = await setup();
  const alice = await online('alice');
  await online('bob');
  const appendFor = hub.histories.appendFor.bind(hub.histories);
  hub.histories.appendFor = (conversation, record, resend, waiter, msgText) => {
    if (record.text === 'bad') throw new ParleyError('E_INTERNAL', 'the log is closed');
    appendFor(conversation, record, resend, waiter, msgText);
  };
  const sent = ['good', 'bad', 'also good'].map((text) => reply(handle(alice, { type: 'send', msgId: msgId(), to: 'bob', text })));
  await rejectsCode(sent[1], 'E_INTERNAL');
  hub.histories.appendFor = appendFor;
  const page = (await reply(handle(alice, { type: 'history', with: 'bob' }))) as HistoryResult;
  assert.equal(page.messages.map((m) => m.text), ['good', 'also good']);
});

test('a group message reaches each member\'s session of the moment, through logins, replacements, departures, joins, leaves and kicks', async () => {
  const { hub, handle, online, now } = await setup();
  const alice = await online('alice');
  let bob = await online('bob');
  let carol = await online('carol');
  const dave = await online('dave');
  await reply(handle(alice, { type: 'group_create', name: 'lab' }));
  await reply(handle(bob, { type: 'group_join', name: 'lab' }));
  await reply(handle(carol, { type: 'group_join', name: 'lab' }));
  const got = (text: string) => Object.entries({ alice, bob, carol, dave }).filter(([, session]) => session.of('msg').some((msg) => msg.text === text)).map(([name]) => name);
  /** What the last `send` returned (its LaterReply). */
  let lastReply: HandlerResult | Promise<HandlerResult> = NO_REPLY;
  /** alice sends `text` to #lab; who (of the sessions now) has it as the send returns: members online get it live. */
  const send = (text: string): string[] => {
    lastReply = hub.handle(alice, { type: 'group_send', id: `r-${text}`, msgId: msgId(), group: 'lab', text });
    return got(text);
  };
  /**
   * The same, for a member who has just logged in (`session`): a fan-out waits behind their
   * mailbox's drain, which ends once they acknowledge what it brought.
   */
  const sendAfterLogin = async (text: string, expected: string[], session: RecordingSession): Promise<string[]> => {
    send(text);
    await until(() => got(text).join() === expected.join(), `${text} reaches ${expected.join(', ')}`);
    hub.handle(session, { type: 'received', ids: session.of('msg').map((msg) => msg.msgId) });
    return got(text);
  };
  assert.equal(send('one'), ['bob', 'carol']);
  assert.equal(send('two'), ['bob', 'carol'], 'the same members again');

  const gone = bob;
  hub.detach(bob, 'closed');
  assert.equal(send('three'), ['carol'], 'bob is offline');
  assert.equal(await reply(lastReply), { msgId: `msg-${String(msgCounter).padStart(6, '0')}`, status: 'sent', ts: now(), recipients: 1, stored: 1 }, 'one online, one stored');
  bob = await online('bob');
  assert.equal(await sendAfterLogin('four', ['bob', 'carol'], bob), ['bob', 'carol'], 'bob is back, on his new session');
  assert.equal(send('five'), ['bob', 'carol'], 'and gets the next one live');
  assert.not.ok(gone.of('msg').some((msg) => msg.text === 'four' || msg.text === 'five'), 'nothing on his old session');

  const replaced = carol;
  carol = new RecordingSession();
  await handle(carol, { type: 'login', user: 'carol', password: PASSWORD });
  assert.equal(await sendAfterLogin('six', ['bob', 'carol'], carol), ['bob', 'carol'], 'carol on the connection that replaced hers');
  assert.equal(send('seven'), ['bob', 'carol']);
  assert.not.ok(replaced.of('msg').some((msg) => msg.text === 'six' || msg.text === 'seven'));

  await reply(handle(dave, { type: 'group_join', name: 'lab' }));
  assert.equal(send('eight'), ['bob', 'carol', 'dave'], 'dave joined');
  await reply(handle(carol, { type: 'group_leave', name: 'lab' }));
  assert.equal(send('nine'), ['bob', 'dave'], 'carol left');
  await reply(handle(alice, { type: 'group_kick', name: 'lab', user: 'dave' }));
  assert.equal(send('ten'), ['bob'], 'dave was kicked');
});

test.run();
