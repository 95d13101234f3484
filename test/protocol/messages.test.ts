import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clientSchemas,
  MessageError,
  normalizeUsername,
  parseClientMessage,
  parseServerMessage,
  RESERVED_NAMES,
  serverSchemas,
  TEXT_MAX,
  usernameProblem,
} from '../../src/protocol/messages.ts';

function fails(fn: () => unknown, code: string): MessageError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, MessageError);
    const e = err as MessageError;
    assert.is(e.code, code, e.message);
    return e;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const json = (value: unknown) => JSON.stringify(value);

const validClient: Record<string, Record<string, unknown>> = {
  register: { type: 'register', id: 'r1', user: 'alice', password: 'correct horse' },
  login: { type: 'login', id: 'r2', user: 'alice', password: 'correct horse' },
  resume: { type: 'resume', id: 'r3', user: 'alice', token: 'tok_123' },
  logout: { type: 'logout', id: 'r4' },
  quit: { type: 'quit', id: 'r5' },
  who: { type: 'who', id: 'r6', since: 30 },
  send: { type: 'send', id: 'r7', msgId: 'msg-0001', to: 'bob', text: 'hi bob 😄' },
  broadcast: { type: 'broadcast', id: 'r8', msgId: 'msg_0002', text: 'hi all', resend: true },
  received: { type: 'received', ids: ['msg-0001', 'upd1'] },
  history: { type: 'history', id: 'r9', with: 'bob', before: 10, limit: 50 },
  edit: { type: 'edit', id: 'r10', with: '*', msgId: 'msg-0001', text: 'fixed typo' },
  delete: { type: 'delete', id: 'r11', with: 'bob', msgId: 'msg-0001' },
  ping: { type: 'ping', id: 'p1' },
  pong: { type: 'pong' },
  group_create: { type: 'group_create', id: 'g1', name: 'rust', visibility: 'private' },
  group_join: { type: 'group_join', id: 'g2', name: 'interest:rust' },
  group_leave: { type: 'group_leave', id: 'g3', name: 'rust' },
  group_list: { type: 'group_list', id: 'g4' },
  group_members: { type: 'group_members', id: 'g5', name: 'rust' },
  group_invite: { type: 'group_invite', id: 'g6', name: 'rust', user: 'bob' },
  group_kick: { type: 'group_kick', id: 'g7', name: 'rust', user: 'bob' },
  group_send: { type: 'group_send', id: 'g8', msgId: 'msg-0003', group: 'rust', text: 'hello group' },
  block: { type: 'block', id: 'b1', user: 'mallory' },
  unblock: { type: 'unblock', id: 'b2', user: 'mallory' },
  blocked: { type: 'blocked', id: 'b3' },
  status: { type: 'status', id: 's1', status: 'busy', text: 'in a lecture' },
  profile: { type: 'profile', id: 'p2', location: '48.85,2.35', interests: ['rust', 'chess'] },
  communities: { type: 'communities', id: 'c1' },
};

test('the table of valid client messages covers every client type', () => {
  assert.equal(Object.keys(validClient).sort(), Object.keys(clientSchemas).sort());
});

test('parseClientMessage accepts every client message type with valid fields', () => {
  for (const [type, message] of Object.entries(validClient)) {
    assert.equal(parseClientMessage(json(message)), message, type);
  }
  assert.equal(parseClientMessage(json({ type: 'who', id: 'x' })), { type: 'who', id: 'x' });
  assert.equal(parseClientMessage(json({ type: 'ping' })), { type: 'ping' });
  const long = 'x'.repeat(TEXT_MAX);
  assert.is((parseClientMessage(json({ ...validClient.send, text: long })) as { text: string }).text.length, TEXT_MAX);
});

test('extra unknown fields are ignored', () => {
  const parsed = parseClientMessage(json({ ...validClient.send, color: 'red', nested: { a: 1 } }));
  assert.equal(parsed, validClient.send);
  assert.not.ok('color' in parsed);
});

test('an unknown type is E_UNKNOWN_TYPE, with ref when the id is a string', () => {
  let e = fails(() => parseClientMessage(json({ type: 'dance', id: 'req-9' })), 'E_UNKNOWN_TYPE');
  assert.is(e.ref, 'req-9');
  assert.match(e.message, 'dance');
  e = fails(() => parseClientMessage(json({ type: 'dance', id: 7 })), 'E_UNKNOWN_TYPE');
  assert.is(e.ref, undefined);
  e = fails(() => parseClientMessage(json({ id: 'a' })), 'E_UNKNOWN_TYPE');
  assert.is(e.ref, 'a');
  assert.match(e.message, 'missing');
  // a server-only type is unknown to the server
  fails(() => parseClientMessage(json({ type: 'welcome', id: 'a' })), 'E_UNKNOWN_TYPE');
  // inherited property names are not types
  fails(() => parseClientMessage(json({ type: 'toString', id: 'a' })), 'E_UNKNOWN_TYPE');
});

test('bad JSON is E_BAD_JSON', () => {
  for (const text of ['', '{', '{"type":"ping"', 'nope', '{type:"ping"}']) {
    const e = fails(() => parseClientMessage(text), 'E_BAD_JSON');
    assert.is(e.ref, undefined);
  }
});

test('non-object JSON is E_INVALID', () => {
  for (const text of ['null', '42', '"ping"', '[]', '[{"type":"ping"}]', 'true']) fails(() => parseClientMessage(text), 'E_INVALID');
});

test('wrong field types, missing fields, too-long text and bad msgIds are E_INVALID naming the field', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...validClient.login, password: 5 }, 'password'],
    [{ ...validClient.login, user: undefined }, 'user'],
    [{ ...validClient.login, user: '' }, 'user'],
    [{ ...validClient.register, id: 12 }, 'id'],
    [{ type: 'logout' }, 'id'],
    [{ ...validClient.resume, token: '' }, 'token'],
    [{ ...validClient.who, since: -1 }, 'since'],
    [{ ...validClient.who, since: 1.5 }, 'since'],
    [{ ...validClient.who, since: '30' }, 'since'],
    [{ ...validClient.send, text: 'x'.repeat(TEXT_MAX + 1) }, 'text'],
    [{ ...validClient.send, text: '' }, 'text'],
    [{ ...validClient.send, to: undefined }, 'to'],
    [{ ...validClient.send, msgId: 'short' }, 'msgId'],
    [{ ...validClient.send, msgId: 'has space!' }, 'msgId'],
    [{ ...validClient.send, msgId: 'x'.repeat(65) }, 'msgId'],
    [{ ...validClient.broadcast, msgId: undefined }, 'msgId'],
    [{ ...validClient.broadcast, text: ['a'] }, 'text'],
    [{ type: 'ping', id: 3 }, 'id'],
    [{ ...validClient.send, resend: 'yes' }, 'resend'],
    [{ type: 'received', ids: [] }, 'ids'],
    [{ type: 'received', ids: [''] }, 'ids'],
    [{ type: 'received', ids: 'msg-0001' }, 'ids'],
    [{ ...validClient.history, limit: 0 }, 'limit'],
    [{ ...validClient.history, limit: 501 }, 'limit'],
    [{ ...validClient.history, before: -1 }, 'before'],
    [{ ...validClient.history, with: undefined }, 'with'],
    [{ ...validClient.edit, text: 'x'.repeat(TEXT_MAX + 1) }, 'text'],
    [{ ...validClient.edit, text: undefined }, 'text'],
    [{ ...validClient.delete, msgId: 'bad id' }, 'msgId'],
  ];
  for (const [message, field] of cases) {
    const e = fails(() => parseClientMessage(json(message)), 'E_INVALID');
    assert.match(e.message, field, `${json(message).slice(0, 80)} → ${e.message}`);
    assert.match(e.message, String(message.type));
    if (typeof message.id === 'string') assert.is(e.ref, message.id);
  }
});

test('an id longer than 64 characters is not echoed as ref', () => {
  const e = fails(() => parseClientMessage(json({ type: 'dance', id: 'i'.repeat(65) })), 'E_UNKNOWN_TYPE');
  assert.is(e.ref, undefined);
});

// Found by test/fuzz/server-fuzz.test.ts: the server echoed ref "" and its own error failed the client's validation.
test('an empty id is not echoed as ref either', () => {
  assert.is(fails(() => parseClientMessage(json({ type: 'dance', id: '' })), 'E_UNKNOWN_TYPE').ref, undefined);
  assert.is(fails(() => parseClientMessage(json({ type: 'login', id: '', user: 'alice' })), 'E_INVALID').ref, undefined);
});

const validServer: Record<string, Record<string, unknown>> = {
  welcome: { type: 'welcome', server: 'parley', protocol: 1, maxFrame: 1048576, maxText: TEXT_MAX },
  ok: { type: 'ok', ref: 'r1', result: { user: 'alice', token: 't', expiresAt: 5 } },
  error: { type: 'error', ref: 'r2', code: 'E_NO_SUCH_USER', message: "no user named 'carol'", details: { user: 'carol' } },
  msg: { type: 'msg', msgId: 'msg-0001', scope: 'private', from: 'alice', to: 'bob', text: 'hi', ts: 1700000000000, editedAt: 1700000000500 },
  update: { type: 'update', updId: 'u1', msgId: 'msg-0001', scope: 'private', from: 'alice', to: 'bob', action: 'edit', text: 'new', at: 1700000001000 },
  presence: { type: 'presence', user: 'bob', event: 'joined', at: 1700000000000 },
  group_event: { type: 'group_event', group: 'rust', event: 'invited', user: 'bob', by: 'alice', at: 1700000000000 },
  notice: { type: 'notice', code: 'E_IDLE_TIMEOUT', message: 'bye' },
  ping: { type: 'ping', id: 'p' },
  pong: { type: 'pong', id: 'p' },
};

test('parseServerMessage accepts every server message type', () => {
  assert.equal(Object.keys(validServer).sort(), Object.keys(serverSchemas).sort());
  for (const [type, message] of Object.entries(validServer)) assert.equal(parseServerMessage(json(message)), message, type);
  assert.equal(parseServerMessage(json({ type: 'ok', ref: 'x' })), { type: 'ok', ref: 'x' });
  assert.equal(parseServerMessage(json({ type: 'error', code: 'E_X', message: 'm' })), { type: 'error', code: 'E_X', message: 'm' });
  const broadcast = { type: 'msg', msgId: 'abcdef', scope: 'broadcast', from: 'a', text: 't', ts: 0 };
  assert.equal(parseServerMessage(json({ ...broadcast, extra: true })), broadcast);
});

test('parseServerMessage rejects what is wrong, with codes', () => {
  fails(() => parseServerMessage('{'), 'E_BAD_JSON');
  fails(() => parseServerMessage('[1]'), 'E_INVALID');
  const unknown = fails(() => parseServerMessage(json({ type: 'send', id: 'q' })), 'E_UNKNOWN_TYPE');
  assert.is(unknown.ref, 'q');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...validServer.msg, scope: 'everyone' }, 'scope'],
    [{ ...validServer.group_event, event: 'exploded' }, 'event'],
    [{ ...validServer.msg, ts: -1 }, 'ts'],
    [{ ...validServer.msg, text: 'x'.repeat(TEXT_MAX + 1) }, 'text'],
    [{ ...validServer.presence, event: 'danced' }, 'event'],
    [{ ...validServer.welcome, maxFrame: 0 }, 'maxFrame'],
    [{ ...validServer.error, code: undefined }, 'code'],
    [{ ...validServer.notice, message: 'm'.repeat(1001) }, 'message'],
    [{ ...validServer.ok, ref: undefined }, 'ref'],
    [{ ...validServer.update, action: 'undo' }, 'action'],
    [{ ...validServer.update, updId: '' }, 'updId'],
  ];
  for (const [message, field] of cases) {
    const e = fails(() => parseServerMessage(json(message)), 'E_INVALID');
    assert.match(e.message, field, e.message);
  }
});

test('normalizeUsername trims and lower-cases', () => {
  assert.is(normalizeUsername('  Alice '), 'alice');
  assert.is(normalizeUsername('BOB_2'), 'bob_2');
});

test('usernameProblem: length 2-24, a letter first, allowed characters, reserved names', () => {
  for (const ok of ['al', 'alice', 'bob_2', 'x-y', 'a'.repeat(24), 'z9']) assert.is(usernameProblem(ok), null, ok);
  for (const short of ['', 'a']) assert.match(usernameProblem(short) ?? '', '2 to 24');
  assert.match(usernameProblem('a'.repeat(25)) ?? '', '2 to 24');
  for (const bad of ['1abc', '_abc', '-abc', 'al ice', 'alice!', 'Alice', 'ålice', 'ali.ce', 'al😄']) {
    assert.match(usernameProblem(bad) ?? '', 'start with a letter', bad);
  }
  for (const reserved of ['all', 'admin', 'server', 'me', 'everyone']) {
    assert.ok(RESERVED_NAMES.has(reserved));
    assert.match(usernameProblem(reserved) ?? '', 'reserved', reserved);
  }
});

test.run();
