import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatModel, LOBBY, conversationId, mentions, whoText, type ChatLine } from '../../../src/client/tui/model.ts';
import type { ViewEvent } from '../../../src/client/view.ts';

const T = Date.UTC(2024, 0, 1, 12, 0);

function loggedIn(user = 'alice'): ChatModel {
  const model = new ChatModel();
  model.apply({ kind: 'login', user, resumed: false, ts: T });
  return model;
}

const privateFrom = (from: string, text: string, msgId = `m-${Math.random()}`): ViewEvent => ({ kind: 'message', msgId, scope: 'private', from, to: 'alice', text, ts: T });
const broadcastFrom = (from: string, text: string): ViewEvent => ({ kind: 'message', msgId: `b-${Math.random()}`, scope: 'broadcast', from, text, ts: T });
const names = (model: ChatModel) => model.list().map((c) => conversationId(c.key));

test('starts with the lobby focused, which sends to everyone', () => {
  const model = new ChatModel();
  assert.equal(names(model), ['lobby:*']);
  assert.is(model.focusTarget(), '*');
  assert.is(model.focused.key.kind, 'lobby');
});

test('a private message opens a conversation with its sender, unread and highlighted, and rings once', () => {
  const model = loggedIn();
  const first = model.apply(privateFrom('bob', 'hello alice'));
  const second = model.apply(privateFrom('bob', 'are you there?'));
  assert.equal(names(model), ['lobby:*', 'private:bob']);
  const bob = model.list()[1];
  assert.is(bob.unread, 2);
  assert.ok(bob.highlight);
  assert.ok(first.bell, 'the first one rings');
  assert.not.ok(second.bell, 'and only the first, until it is read');
  assert.ok(model.online.has('bob'));
  assert.ok(model.knownUsers.has('bob'));
});

test('focusing a conversation clears its unread count and highlight, and makes it the target', () => {
  const model = loggedIn();
  model.apply(privateFrom('bob', 'hi'));
  model.focus({ kind: 'private', name: 'bob' });
  assert.is(model.focused.unread, 0);
  assert.not.ok(model.focused.highlight);
  assert.is(model.focusTarget(), 'bob');
  assert.not.ok(model.apply(privateFrom('bob', 'again')).bell, 'no bell in the focused conversation');
  assert.is(model.focused.unread, 0);
});

test('a broadcast goes to the lobby; it rings only when it mentions me', () => {
  const model = loggedIn();
  model.focus({ kind: 'private', name: 'carol' });
  assert.not.ok(model.apply(broadcastFrom('bob', 'lunch?')).bell);
  const lobby = model.list()[0];
  assert.is(lobby.unread, 1);
  assert.not.ok(lobby.highlight);
  assert.ok(model.apply(broadcastFrom('bob', 'Alice: lunch?')).bell);
  assert.ok(lobby.highlight);
  assert.equal((lobby.lines.at(-1) as Extract<ChatLine, { kind: 'message' }>).mention, true);
});

test('mentions match the name as a word, with or without @, in any case', () => {
  assert.ok(mentions('hi alice', 'alice'));
  assert.ok(mentions('@alice look', 'alice'));
  assert.ok(mentions('ALICE!', 'alice'));
  assert.not.ok(mentions('malice aforethought', 'alice'));
  assert.not.ok(mentions('alice_b is here', 'alice'));
  assert.not.ok(mentions('anything', null));
  assert.ok(mentions('hi a.b', 'a.b'), 'regex characters in names are literal');
  assert.not.ok(mentions('hi axb', 'a.b'));
});

test('my sent messages go to the recipient’s conversation, broadcasts to the lobby', () => {
  const model = loggedIn();
  model.apply({ kind: 'sent', msgId: 'p1', scope: 'private', to: 'bob', text: 'hi bob', ts: T, status: 'sent' });
  model.apply({ kind: 'sent', msgId: 'b1', scope: 'broadcast', text: 'hi all', ts: T, status: 'sent', recipients: 3 });
  const [lobby, bob] = model.list();
  assert.equal(bob.key, { kind: 'private', name: 'bob' });
  assert.is(bob.lines[0].kind, 'own');
  assert.is(bob.unread, 0, 'my own lines are never unread');
  const own = lobby.lines.at(-1) as Extract<ChatLine, { kind: 'own' }>;
  assert.is(own.text, 'hi all');
  assert.is(own.recipients, 3);
  assert.is(own.from, 'alice');
});

test('a queued message is updated in place when it is sent, or fails', () => {
  const model = loggedIn();
  model.focus({ kind: 'private', name: 'bob' });
  model.apply({ kind: 'sent', msgId: 'q1', scope: 'private', to: 'bob', text: 'later', ts: T, status: 'queued' });
  model.apply({ kind: 'sent', msgId: 'q2', scope: 'private', to: 'bob', text: 'later too', ts: T, status: 'queued' });
  model.apply({ kind: 'sent', msgId: 'q1', scope: 'private', to: 'bob', text: 'later', ts: T, status: 'delivered' });
  model.apply({ kind: 'sent', msgId: 'q2', scope: 'private', to: 'bob', text: 'later too', ts: T, status: 'failed', error: { code: 'E_NO_SUCH_USER', message: 'no such user' } });
  const lines = model.focused.lines as Extract<ChatLine, { kind: 'own' }>[];
  assert.is(lines.length, 2);
  assert.is(lines[0].status, 'delivered');
  assert.is(lines[1].status, 'failed');
  assert.is(lines[1].error, 'E_NO_SUCH_USER: no such user');
});

test('presence keeps the online set and notes joins in the lobby and the private conversation', () => {
  const model = loggedIn();
  model.apply(privateFrom('bob', 'hi'));
  model.apply({ kind: 'presence', user: 'bob', event: 'left', ts: T });
  assert.not.ok(model.online.has('bob'));
  model.apply({ kind: 'presence', user: 'carol', event: 'joined', ts: T });
  assert.ok(model.online.has('carol'));
  const [lobby, bob] = model.list();
  assert.equal(lobby.lines.filter((l) => l.kind === 'system' && l.tone === 'presence').map((l) => (l as { text: string }).text), ['bob left', 'carol joined']);
  assert.is(bob.lines.at(-1)!.kind, 'system');
  assert.is(bob.unread, 1, 'joins and leaves do not count as unread');
});

test('/who output replaces the online set and is noted in the focused conversation', () => {
  const model = loggedIn();
  model.online.add('ghost');
  model.apply({ kind: 'who', ts: T, users: [{ user: 'bob', online: true, since: T - 60_000, lastActive: T }, { user: 'alice', online: true, since: T, lastActive: T }] });
  assert.equal([...model.online].sort(), ['alice', 'bob']);
  assert.ok(model.knownUsers.has('bob'));
  assert.not.ok(model.knownUsers.has('alice'), 'I am not a completion for myself');
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'online (2): bob, alice');
  model.apply({ kind: 'who', since: 600, ts: T, users: [{ user: 'dan', online: false, since: T - 120_000, lastActive: T }] });
  assert.ok(model.online.has('bob'), 'a "since" answer only adds what it lists');
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'dan (offline, seen 2 min ago)');
});

test('whoText says nobody for an empty list', () => {
  assert.is(whoText([], undefined, T), 'online: nobody');
  assert.is(whoText([], 60, T), 'online in the last 60 s: nobody');
});

test('info, help, errors and notices go to the focused conversation, styled apart', () => {
  const model = loggedIn();
  model.focus({ kind: 'private', name: 'bob' });
  const events: ViewEvent[] = [
    { kind: 'info', text: 'note', ts: T },
    { kind: 'help', text: 'Commands:', ts: T },
    { kind: 'error', code: 'E_USAGE', message: 'usage: /msg USER TEXT', ts: T },
    { kind: 'notice', code: 'E_REPLACED', message: 'logged in elsewhere', ts: T },
    { kind: 'logout', ts: T },
  ];
  for (const event of events) model.apply(event);
  assert.equal(
    model.focused.lines.map((l) => (l.kind === 'system' ? l.tone : l.kind)),
    ['info', 'help', 'error', 'notice', 'info'],
  );
});

test('trust: a first-use key is noted, a known key (every reconnect) is not', () => {
  const model = new ChatModel();
  model.apply({ kind: 'trust', address: 'h:1', fingerprint: 'SHA256:abc', decision: 'first-use', ts: T });
  model.apply({ kind: 'trust', address: 'h:1', fingerprint: 'SHA256:abc', decision: 'known', ts: T });
  model.apply({ kind: 'trust', address: 'h:1', fingerprint: 'SHA256:abc', decision: 'pinned', ts: T });
  const texts = model.focused.lines.map((l) => (l as { text: string }).text);
  assert.is(texts.length, 2);
  assert.match(texts[0], 'first connection to h:1');
  assert.match(texts[1], 'expected key');
});

test('login records who I am; a resumed session says so', () => {
  const model = new ChatModel();
  model.knownUsers.add('alice');
  model.apply({ kind: 'login', user: 'alice', resumed: true, ts: T });
  assert.is(model.me, 'alice');
  assert.not.ok(model.knownUsers.has('alice'));
  assert.match((model.focused.lines[0] as { text: string }).text, 'resumed');
});

test('Alt+N focuses by index, Ctrl+N/P cycle with wrap-around', () => {
  const model = loggedIn();
  model.apply(privateFrom('bob', '1'));
  model.apply(privateFrom('carol', '2'));
  assert.ok(model.focusIndex(2));
  assert.is(model.focusTarget(), 'carol');
  assert.not.ok(model.focusIndex(5));
  assert.is(model.focusTarget(), 'carol', 'a missing index leaves focus alone');
  model.cycle(1);
  assert.is(model.focusTarget(), '*');
  model.cycle(-1);
  assert.is(model.focusTarget(), 'carol');
  model.cycle(-1);
  assert.is(model.focusTarget(), 'bob');
  assert.is(model.unreadElsewhere(), 0, 'visiting read them');
});

test('group keys are distinct conversations with no send target yet', () => {
  const model = new ChatModel();
  model.focus({ kind: 'group', name: 'team' });
  assert.is(model.focusTarget(), null);
  assert.is(names(model).length, 2);
});

test('scrolling stays within the lines and holds its place as new lines arrive', () => {
  const model = loggedIn();
  for (let i = 0; i < 20; i++) model.apply(broadcastFrom('bob', `line ${i}`));
  model.scrollBy(5);
  assert.is(model.focused.scroll, 5);
  model.apply(broadcastFrom('bob', 'new'));
  assert.is(model.focused.scroll, 6, 'the reader keeps seeing the same lines');
  model.scrollBy(1000);
  assert.is(model.focused.scroll, model.focused.lines.length - 1);
  model.scrollBy(-1000);
  assert.is(model.focused.scroll, 0);
});

test('scrollback is capped per conversation', () => {
  const model = new ChatModel(100);
  for (let i = 0; i < 1000; i++) model.apply(broadcastFrom('bob', `line ${i}`));
  const lines = model.focused.lines;
  assert.ok(lines.length <= 110, `kept ${lines.length}`);
  assert.is((lines.at(-1) as { text: string }).text, 'line 999');
});

test('edits and deletions change the message in place', () => {
  const model = loggedIn();
  model.apply(privateFrom('bob', 'teh typo', 'm1'));
  model.apply({ kind: 'sent', msgId: 'm2', scope: 'private', to: 'bob', text: 'mine', ts: T, status: 'sent' });
  model.apply({ kind: 'update', msgId: 'm1', scope: 'private', from: 'bob', to: 'alice', action: 'edit', text: 'the typo', ts: T });
  model.apply({ kind: 'update', msgId: 'm2', scope: 'private', from: 'alice', to: 'bob', action: 'delete', ts: T });
  model.apply({ kind: 'update', msgId: 'gone', scope: 'broadcast', from: 'bob', action: 'delete', ts: T });
  const [first, second] = model.conversation({ kind: 'private', name: 'bob' }).lines as Extract<ChatLine, { msgId: string }>[];
  assert.is(first.text, 'the typo');
  assert.ok(first.edited);
  assert.ok(second.deleted);
});

test('history merges older messages in time order, without duplicates', () => {
  const model = loggedIn();
  model.apply({ ...privateFrom('bob', 'newest', 'm3'), ts: T + 3000 } as ViewEvent);
  model.apply({
    kind: 'history',
    with: 'bob',
    more: true,
    local: false,
    ts: T + 4000,
    messages: [
      { seq: 1, msgId: 'm1', scope: 'private', from: 'bob', to: 'alice', text: 'first', ts: T + 1000 },
      { seq: 2, msgId: 'm2', scope: 'private', from: 'alice', to: 'bob', text: 'second', ts: T + 2000, editedAt: T + 2500 },
      { seq: 3, msgId: 'm3', scope: 'private', from: 'bob', to: 'alice', text: 'newest', ts: T + 3000 },
    ],
  });
  const lines = model.conversation({ kind: 'private', name: 'bob' }).lines;
  assert.equal(lines.map((l) => l.kind), ['message', 'own', 'message', 'system']);
  assert.ok((lines[1] as { edited?: boolean }).edited);
  assert.match((lines[3] as { text: string }).text, '2 earlier messages loaded (/history again for more)');
  model.apply({ kind: 'history', with: '*', more: false, local: true, ts: T, messages: [] });
  assert.match((model.conversation(LOBBY).lines.at(-1) as { text: string }).text, 'no earlier messages');
});

test.run();
