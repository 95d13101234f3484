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

test('a group is its own conversation; text typed there goes to #name', () => {
  const model = new ChatModel();
  model.focus({ kind: 'group', name: 'team' });
  assert.is(model.focusTarget(), '#team');
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

// ---- groups, status, members ----------------------------------------------------------------

const groupFrom = (group: string, from: string, text: string): ViewEvent => ({ kind: 'message', msgId: `g-${Math.random()}`, scope: 'group', from, group, text, ts: T });
const groupEvent = (group: string, event: 'joined' | 'left' | 'invited' | 'kicked' | 'created', user: string, by?: string): ViewEvent => ({ kind: 'group', group, event, user, ...(by && { by }), ts: T });
const texts = (lines: ChatLine[]) => lines.filter((l) => l.kind === 'system').map((l) => (l as { text: string }).text);

test('creating or joining a group gives it a sidebar entry after the lobby and focuses it', () => {
  const model = loggedIn();
  model.apply(privateFrom('bob', 'hi'));
  model.apply(groupEvent('team', 'created', 'alice'));
  assert.equal(names(model), ['lobby:*', 'group:team', 'private:bob']);
  assert.is(model.focusTarget(), '#team');
  model.apply(groupEvent('ops', 'joined', 'alice'));
  assert.equal(names(model), ['lobby:*', 'group:team', 'group:ops', 'private:bob'], 'groups stay together; Alt+N follows this order');
  assert.ok(model.focusIndex(3));
  assert.is(model.focusTarget(), 'bob');
  assert.equal(texts(model.group('team')!.lines), ['you created #team']);
  assert.ok(model.knownGroups.has('ops'));
});

test('a group message in an unfocused group counts unread and rings only when it mentions me', () => {
  const model = loggedIn();
  model.apply(groupEvent('team', 'joined', 'alice'));
  model.focus(LOBBY);
  assert.not.ok(model.apply(groupFrom('team', 'bob', 'deploy at 5')).bell);
  const team = model.group('team')!;
  assert.is(team.unread, 1);
  assert.not.ok(team.highlight);
  assert.ok(model.apply(groupFrom('team', 'bob', '@alice can you check?')).bell);
  assert.ok(team.highlight);
  assert.is(model.conversation(LOBBY).unread, 0, 'nothing lands in the lobby');
});

test('my group messages appear in the group with their mark', () => {
  const model = loggedIn();
  model.apply({ kind: 'sent', msgId: 's1', scope: 'group', group: 'team', text: 'hi team', ts: T, status: 'sent', recipients: 3 });
  const line = model.group('team')!.lines.at(-1) as Extract<ChatLine, { kind: 'own' }>;
  assert.is(line.kind, 'own');
  assert.is(line.recipients, 3);
  assert.equal(names(model), ['lobby:*', 'group:team']);
});

test('group events go to that group, not the focused conversation; leaving or removal marks the entry', () => {
  const model = loggedIn();
  model.apply(groupEvent('team', 'joined', 'alice'));
  model.focus({ kind: 'private', name: 'carol' });
  model.apply(groupEvent('team', 'joined', 'bob'));
  model.apply(groupEvent('team', 'invited', 'dave', 'bob'));
  model.apply(groupEvent('team', 'kicked', 'erin', 'bob'));
  model.apply(groupEvent('team', 'left', 'bob'));
  assert.equal(texts(model.focused.lines), [], 'nothing in the focused conversation');
  const team = model.group('team')!;
  assert.equal(texts(team.lines), ['you joined #team', 'bob joined', 'dave was invited by bob', 'erin was removed by bob', 'bob left']);
  assert.is(team.unread, 0, 'group news is not unread chat');
  model.apply(groupEvent('team', 'kicked', 'alice', 'bob'));
  assert.ok(team.left);
  assert.is(team.lines.length, 6, 'the history stays');
  model.apply(groupEvent('team', 'joined', 'alice'));
  assert.not.ok(team.left, 'joining again lifts the mark');
  model.apply(groupEvent('team', 'left', 'alice'));
  assert.ok(team.left);
});

test('an invitation to a group I am not in is a notice where I am, and rings', () => {
  const model = loggedIn();
  const effects = model.apply(groupEvent('secret', 'invited', 'alice', 'bob'));
  assert.ok(effects.bell);
  assert.equal(names(model), ['lobby:*'], 'no entry until I join');
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'you were invited to #secret by bob: /group join secret');
  assert.ok(model.knownGroups.has('secret'));
});

test('the server group list: joined groups get entries, saved ones I am no longer in are marked left', () => {
  const model = loggedIn();
  model.apply({ kind: 'history', with: '#old', more: false, local: true, ts: T, messages: [{ seq: 0, msgId: 'h1', scope: 'group', from: 'bob', group: 'old', text: 'saved', ts: T - 1000 }] as never });
  model.setGroups([
    { name: 'team', visibility: 'open', owner: 'bob', members: 2, member: true, invited: false, community: false },
    { name: 'public', visibility: 'open', owner: 'carol', members: 5, member: false, invited: false, community: false },
  ]);
  assert.equal(names(model), ['lobby:*', 'group:old', 'group:team']);
  assert.ok(model.group('old')!.left);
  assert.not.ok(model.group('team')!.left);
  assert.ok(model.knownGroups.has('public'), 'other groups complete after #');
  model.apply({ kind: 'history', with: '#gone', more: false, local: true, ts: T, messages: [] });
  assert.ok(model.group('gone')!.left, 'a saved group the server did not list');
});

test('a status change does not mark anyone offline; away and busy are remembered; a new session is available', () => {
  const model = loggedIn();
  model.apply({ kind: 'presence', user: 'bob', event: 'joined', ts: T });
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'away', ts: T });
  assert.ok(model.online.has('bob'));
  assert.is(model.presenceOf('bob'), 'away');
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'busy', statusText: 'deploying', ts: T });
  assert.equal(model.statuses.get('bob'), { status: 'busy', text: 'deploying' });
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'available', ts: T });
  assert.is(model.presenceOf('bob'), 'available');
  assert.not.ok(model.statuses.has('bob'));
  model.apply({ kind: 'presence', user: 'carol', event: 'status', status: 'away', ts: T });
  assert.ok(model.online.has('carol'), 'a status change says the user is online');
  model.apply({ kind: 'presence', user: 'carol', event: 'left', ts: T });
  assert.is(model.presenceOf('carol'), 'offline');
  model.apply({ kind: 'presence', user: 'carol', event: 'joined', ts: T });
  assert.is(model.presenceOf('carol'), 'available');
  assert.equal(texts(model.conversation(LOBBY).lines).filter((t) => t.includes('carol') || t.includes('bob')), ['bob joined', 'carol left', 'carol joined'], 'status changes do not flood the lobby');
});

test('status from /who: others’ markers and my own', () => {
  const model = loggedIn();
  model.apply({ kind: 'who', ts: T, users: [
    { user: 'alice', online: true, status: 'busy', statusText: 'focus', since: T, lastActive: T },
    { user: 'bob', online: true, status: 'away', since: T, lastActive: T },
    { user: 'carol', online: true, status: 'available', since: T, lastActive: T },
  ] });
  assert.is(model.presenceOf('bob'), 'away');
  assert.is(model.presenceOf('carol'), 'available');
  assert.equal(model.myStatus, { status: 'busy', text: 'focus' });
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'online (3): alice (busy: focus), bob (away), carol');
});

test('while I am busy nothing rings, but entries still light up', () => {
  const model = loggedIn();
  model.apply({ kind: 'status', status: 'busy', ts: T });
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'your status: busy');
  assert.not.ok(model.apply(privateFrom('bob', 'ping')).bell);
  assert.ok(model.list()[1].highlight);
  model.apply(groupEvent('team', 'joined', 'alice'));
  model.focus(LOBBY);
  assert.not.ok(model.apply(groupFrom('team', 'carol', 'alice?')).bell);
  model.apply({ kind: 'status', status: 'available', ts: T });
  assert.ok(model.apply(privateFrom('dave', 'hello')).bell, 'available again: the bell is back');
  model.apply({ kind: 'status', status: 'away', ts: T });
  assert.ok(model.apply(privateFrom('erin', 'hello')).bell, 'away still rings');
});

test('member lists: fetched lists, /group members, and kept current by presence and group events', () => {
  const model = loggedIn();
  model.apply(groupEvent('team', 'joined', 'alice'));
  assert.is(model.focusedMembers(), null, 'not fetched yet');
  model.setMembers('team', 'bob', [
    { user: 'alice', online: true, owner: false },
    { user: 'bob', online: true, owner: true, status: 'away' },
  ]);
  assert.equal(model.focusedMembers(), { group: 'team', owner: 'bob', members: [{ user: 'alice', online: true, owner: false }, { user: 'bob', online: true, owner: true, status: 'away' }] });
  assert.is(model.presenceOf('bob'), 'away', 'member statuses feed the markers');
  model.apply(groupEvent('team', 'joined', 'carol'));
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'busy', ts: T });
  let members = model.focusedMembers()!.members;
  assert.equal(members.map((m) => `${m.user}:${m.online}:${m.status ?? ''}`), ['alice:true:', 'bob:true:busy', 'carol:true:']);
  model.apply({ kind: 'presence', user: 'bob', event: 'left', ts: T });
  model.apply(groupEvent('team', 'left', 'carol'));
  members = model.focusedMembers()!.members;
  assert.equal(members.map((m) => `${m.user}:${m.online}:${m.status ?? ''}`), ['alice:true:', 'bob:false:']);
  model.apply({ kind: 'members', group: 'ops', owner: 'dave', members: [{ user: 'dave', online: true, owner: true }], ts: T });
  assert.ok(model.members.has('ops'), '/group members fills the cache too');
  assert.match((model.focused.lines.at(-1) as { text: string }).text, 'Members of #ops (1):\n  ● dave (owner)');
  model.apply(groupEvent('team', 'left', 'alice'));
  assert.is(model.focusedMembers(), null, 'a group I left shows no member list');
});

test.run();
