import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatModel, LOBBY, type ChatLine } from '../../../src/client/tui/model.ts';
import { NAME_PALETTE, wrapTagged, conversationTitle, escapeTags, formatLine, headerText, nameColour, safe, sidebarLines, statusText, userLines, visibleLines } from '../../../src/client/tui/format.ts';
import type { StatusLine } from '../../../src/client/view.ts';

const T = new Date(2024, 0, 1, 9, 5).getTime();
/** The text a tagged string shows: tags removed, escapes turned back into braces. */
const shown = (tagged: string) => tagged.replace(/\{(open|close)\}|\{[^{}]*\}/g, (_match, esc) => (esc === 'open' ? '{' : esc === 'close' ? '}' : ''));

const status = (over: Partial<StatusLine> = {}): StatusLine => ({ state: 'connected', detail: '', user: 'alice', address: '127.0.0.1:7513', fingerprint: 'SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', queued: 0, ...over });

test('escapeTags turns braces into blessed escapes', () => {
  assert.is(escapeTags('{red-fg}x{/}'), '{open}red-fg{close}x{open}/{close}');
});

test('safe strips escape sequences and controls, then escapes tags', () => {
  assert.is(safe('\x1b[2J{bold}x\x07'), '{open}bold{close}x');
  assert.is(safe('a\nb', true), 'a\nb');
  assert.is(safe('a\nb'), 'a b');
});

test('name colours are stable and from the palette', () => {
  assert.is(nameColour('bob'), nameColour('bob'));
  assert.ok(NAME_PALETTE.includes(nameColour('carol')));
  const spread = new Set(['alice', 'bob', 'carol', 'dan', 'erin', 'frank', 'grace', 'heidi'].map(nameColour));
  assert.ok(spread.size >= 4, `names spread over ${spread.size} colours`);
});

test('a message line: time, coloured name, sanitized text; continuation lines indented', () => {
  const line: ChatLine = { kind: 'message', ts: T, msgId: 'm', from: 'bob', text: 'hi\x1b]0;pwned\x07 {red-fg}\nsecond', mention: false };
  const text = formatLine(line);
  assert.ok(text.includes(`{${nameColour('bob')}-fg}`));
  assert.is(shown(text), '09:05 bob hi {red-fg}\n      second');
});

test('a mention is highlighted; a deleted or edited message says so', () => {
  assert.match(formatLine({ kind: 'message', ts: T, msgId: 'm', from: 'bob', text: 'alice!', mention: true }), '{yellow-fg}{bold}alice!');
  assert.is(shown(formatLine({ kind: 'message', ts: T, msgId: 'm', from: 'bob', text: 'x', mention: false, deleted: true })), '09:05 bob (message deleted)');
  assert.is(shown(formatLine({ kind: 'message', ts: T, msgId: 'm', from: 'bob', text: 'x', mention: false, edited: true })), '09:05 bob x (edited)');
});

test('my own lines are marked and show what became of them', () => {
  const own = (over: Partial<Extract<ChatLine, { kind: 'own' }>>): string =>
    shown(formatLine({ kind: 'own', ts: T, msgId: 'm', from: 'alice', text: 'hi', status: 'sent', ...over }));
  assert.is(own({ status: 'queued' }), '09:05 ▸alice hi … queued');
  assert.is(own({ status: 'sent' }), '09:05 ▸alice hi ✓');
  assert.is(own({ status: 'sent', recipients: 2 }), '09:05 ▸alice hi ✓ 2 online');
  assert.is(own({ status: 'stored' }), '09:05 ▸alice hi ✓ stored');
  assert.is(own({ status: 'delivered' }), '09:05 ▸alice hi ✓✓');
  assert.is(own({ status: 'failed', error: 'E_NO_SUCH_USER: no such user' }), '09:05 ▸alice hi ✗ E_NO_SUCH_USER: no such user');
  assert.is(own({ deleted: true }), '09:05 ▸alice (message deleted)');
});

test('system lines are styled by tone; /help is reflowed for narrow panes', () => {
  const sys = (tone: 'info' | 'presence' | 'error' | 'notice' | 'help', text: string) => formatLine({ kind: 'system', ts: T, text, tone });
  assert.match(sys('presence', 'bob joined'), '{grey-fg}-- bob joined');
  assert.match(sys('info', 'x'), '{cyan-fg}');
  assert.match(sys('error', 'E_X: bad'), '{red-fg}!! E_X: bad');
  assert.match(sys('notice', 'E_REPLACED: elsewhere'), '{yellow-fg}');
  const help = shown(sys('help', 'Commands:\n  /all TEXT      send to everyone\nEmoji: :smile:'));
  assert.is(help, 'Commands:\n  /all TEXT — send to everyone\nEmoji: :smile:');
});

test('visibleLines formats only the window that shows, honouring the scroll position', () => {
  const model = new ChatModel();
  for (let i = 0; i < 50; i++) model.note(`line ${i}`);
  const conversation = model.focused;
  assert.equal(visibleLines(conversation, 3).map(shown).map((l) => l.slice(9)), ['line 47', 'line 48', 'line 49']);
  model.scrollBy(10);
  assert.equal(visibleLines(conversation, 2).map(shown).map((l) => l.slice(9)), ['line 38', 'line 39']);
});

test('long lines wrap at spaces with a hanging indent; tags take no room', () => {
  const line = '{grey-fg}09:05{/grey-fg} {cyan-fg}-- one two three four five six seven{/cyan-fg}';
  assert.is(wrapTagged(line, 24), '{grey-fg}09:05{/grey-fg} {cyan-fg}-- one two three\n      four five six\n      seven{/cyan-fg}');
  assert.is(shown(wrapTagged('09:05 bob ' + 'x'.repeat(30), 20)), '09:05 bob\n      xxxxxxxxxxxxxx\n      xxxxxxxxxxxxxx\n      xx', 'a word longer than the row is cut');
  assert.is(wrapTagged('09:05 中文中文中文中文中文', 16), '09:05 中文中文中\n      文中文中文');
  assert.is(wrapTagged('09:05 👍🏽👍🏽👍🏽👍🏽👍🏽👍🏽', 16), '09:05 👍🏽👍🏽👍🏽👍🏽👍🏽\n      👍🏽', 'an emoji with a skin tone stays whole');
  assert.is(wrapTagged('09:05 {open}{open}{open}', 16), '09:05 {open}{open}{open}', 'escaped braces take one cell each');
  assert.is(wrapTagged('a b c d e f g h i j', 10), 'a b c d e f g h i j', 'too narrow to indent: left to blessed');
  assert.is(wrapTagged('09:05 short\n      second', 40), '09:05 short\n      second');
});

test('sidebar: numbers, presence, unread counts, focus and highlight', () => {
  const model = new ChatModel();
  model.apply({ kind: 'login', user: 'alice', resumed: false, ts: T });
  model.apply({ kind: 'message', msgId: '1', scope: 'private', from: 'bob', text: 'hi', ts: T });
  model.apply({ kind: 'presence', user: 'bob', event: 'left', ts: T });
  model.apply({ kind: 'message', msgId: '2', scope: 'private', from: 'carol', text: 'hi', ts: T });
  model.conversation({ kind: 'group', name: 'team' });
  const lines = sidebarLines(model, 16);
  // Groups come right after the lobby, private conversations after them.
  assert.equal(lines.map(shown), ['Conversations', '1 * lobby       ', '2 # team        ', '3 ○ bob        1', '4 ● carol      1']);
  assert.match(lines[1], '{inverse}');
  assert.match(lines[3], '{yellow-fg}{bold}');
  model.list()[2].highlight = false;
  assert.match(sidebarLines(model, 16)[3], '{bold}');
  assert.equal(model.list().map(conversationTitle), ['* lobby', '#team', '@bob', '@carol']);
});

test('sidebar: away and busy users have their own markers; a group you left is dimmed', () => {
  const model = new ChatModel();
  model.apply({ kind: 'login', user: 'alice', resumed: false, ts: T });
  model.apply({ kind: 'message', msgId: '1', scope: 'private', from: 'bob', text: 'hi', ts: T });
  model.apply({ kind: 'message', msgId: '2', scope: 'private', from: 'carol', text: 'hi', ts: T });
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'away', ts: T });
  model.apply({ kind: 'presence', user: 'carol', event: 'status', status: 'busy', statusText: 'in a meeting', ts: T });
  model.apply({ kind: 'group', group: 'team', event: 'joined', user: 'alice', ts: T });
  model.apply({ kind: 'group', group: 'old', event: 'joined', user: 'alice', ts: T });
  model.apply({ kind: 'group', group: 'old', event: 'left', user: 'alice', ts: T });
  model.focus({ kind: 'private', name: 'bob' });
  const lines = sidebarLines(model, 16);
  assert.equal(lines.map(shown), ['Conversations', '1 * lobby       ', '2 # team        ', '3 # old (left)  ', '4 ◐ bob         ', '5 ⊘ carol      1']);
  assert.match(lines[3], '{grey-fg}');
  assert.match(lines[4], '{inverse}');
  assert.match(lines[5], '{red-fg}⊘');  model.group('old')!.unread = 3;
  assert.is(shown(sidebarLines(model, 14)[3]), '3 # old      3', 'no room for "(left)": the name alone, dimmed');
});

test('users pane lists who is online, me included once connected', () => {
  const model = new ChatModel();
  model.me = 'alice';
  model.status = status();
  model.online.add('bob');
  assert.equal(userLines(model, 14).map(shown), ['Online (2)', '● alice', '● bob']);
  model.apply({ kind: 'presence', user: 'carol', event: 'status', status: 'away', ts: T });
  model.apply({ kind: 'presence', user: 'bob', event: 'status', status: 'busy', ts: T });
  model.myStatus = { status: 'away' };
  assert.equal(userLines(model, 14).map(shown), ['Online (3)', '◐ alice', '⊘ bob', '◐ carol']);
});

test('a focused group shows its members: online first, owner starred, status markers', () => {
  const model = new ChatModel();
  model.apply({ kind: 'login', user: 'alice', resumed: false, ts: T });
  model.status = status();
  model.online.add('zed');
  model.focus({ kind: 'group', name: 'team' });
  assert.equal(userLines(model, 16).map(shown), ['Members', 'loading…'], 'until the list arrives');
  model.setMembers('team', 'bob', [
    { user: 'alice', online: true, owner: false },
    { user: 'bob', online: true, owner: true, status: 'away' },
    { user: 'carol', online: false, owner: false },
    { user: 'dave', online: true, owner: false, status: 'busy' },
  ]);
  assert.equal(userLines(model, 16).map(shown), ['Members 3/4', '● alice', '◐ bob ★', '⊘ dave', '○ carol']);
  assert.match(shown(headerText(model)), '#team — group, 4 members');
  model.apply({ kind: 'presence', user: 'carol', event: 'joined', ts: T });
  model.apply({ kind: 'presence', user: 'bob', event: 'left', ts: T });
  assert.equal(userLines(model, 16).map(shown), ['Members 3/4', '● alice', '● carol', '⊘ dave', '○ bob ★']);
  model.focus(LOBBY);
  assert.equal(userLines(model, 16).map(shown)[0], 'Online (4)', 'the lobby shows everyone online');
});

test('status bar: state, user, short key, conversation, queue and unread', () => {
  const model = new ChatModel();
  model.status = status({ state: 'reconnecting', queued: 2 });
  model.statusDetail = 'retrying in 1.0 s';
  model.apply({ kind: 'message', msgId: '1', scope: 'private', from: 'bob', text: 'hi', ts: T });
  const text = shown(statusText(model, 200));
  assert.match(text, '◌ reconnecting (retrying in 1.0 s) │ alice │ in * lobby │ 2 queued │ 1 unread │ 127.0.0.1:7513 key abcdefghijkl');
  assert.is(shown(statusText(model, 70)), ' ◌ reconnecting (retrying in 1.0 s) │ alice │ in * lobby │ 2 queued', 'what does not fit is left out');
  assert.match(text, /\/help · Tab · Alt\+1-9$/);
  assert.not.match(shown(statusText(model, 100)), '/help', 'the hint goes when there is no room');
  const before = new ChatModel();
  assert.is(shown(statusText(before, 80)).trim().startsWith('in * lobby'), true);
});

test('header says where a message goes', () => {
  const model = new ChatModel();
  assert.match(shown(headerText(model)), 'everyone online');
  model.focus({ kind: 'private', name: 'bob' });
  assert.match(shown(headerText(model)), '@bob ○ offline');
  model.online.add('bob');
  assert.match(shown(headerText(model)), '● online');
  model.focus({ kind: 'group', name: 'team' });
  assert.is(shown(headerText(model)), '#team — group');
  model.me = 'alice';
  model.apply({ kind: 'group', group: 'team', event: 'kicked', user: 'alice', by: 'bob', ts: T });
  assert.is(shown(headerText(model)), '#team — you are no longer in this group');
});

test('status bar: away and busy show after your name', () => {
  const model = new ChatModel();
  model.apply({ kind: 'login', user: 'alice', resumed: false, ts: T });
  model.status = status();
  assert.not.match(shown(statusText(model, 120)), 'busy');
  model.apply({ kind: 'status', status: 'busy', text: 'focus time', ts: T });
  assert.match(shown(statusText(model, 160)), 'alice ⊘ busy (no bell) focus time │ in * lobby');
  model.apply({ kind: 'status', status: 'away', ts: T });
  assert.match(shown(statusText(model, 160)), 'alice ◐ away │');
});

test('multi-line notes (member lists, group lists) keep one entry per row, indented', () => {
  const model = new ChatModel();
  model.apply({ kind: 'login', user: 'alice', resumed: false, ts: T });
  model.apply({ kind: 'groups', groups: [{ name: 'team', visibility: 'open', owner: 'bob', members: 2, member: true, invited: false, community: false }, { name: 'ops', visibility: 'private', owner: 'carol', members: 1, member: false, invited: true, community: false }], ts: T });
  const rows = visibleLines(model.focused, 10, 60).join('\n').split('\n').map(shown);
  const at = rows.findIndex((row) => row.includes('Groups (2):'));
  assert.ok(at >= 0);
  assert.match(rows[at + 1], /^ {6}  #team  2 members \(open, member\), owner bob$/);
  assert.match(rows[at + 2], /^ {6}  #ops  1 member/);
});

test.run();
