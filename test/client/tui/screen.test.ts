import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MainScreen, layoutFor } from '../../../src/client/tui/main-screen.ts';
import { ChatModel } from '../../../src/client/tui/model.ts';
import { RenderScheduler } from '../../../src/client/tui/scheduler.ts';
import { TuiView } from '../../../src/client/tui/tui-view.ts';
import { showKeyWarning, keyWarningText } from '../../../src/client/tui/key-warning.ts';
import { LoginForm } from '../../../src/client/tui/login-form.ts';
import { LoginScreen } from '../../../src/client/tui/login-screen.ts';
import { KeyDecoder, type KeyInfo } from '../../../src/client/tui/keys.ts';
import { ParleyError } from '../../../src/protocol/errors.ts';
import type { StatusLine } from '../../../src/client/view.ts';
import { headless, KEYS, until, type Headless } from './headless.ts';

const T = Date.now();
const STATUS: StatusLine = { state: 'connected', detail: '', user: 'alice', address: '127.0.0.1:7513', fingerprint: 'SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', queued: 0 };

/** The chat screen on a headless terminal, wired like the app wires it. */
function chat(columns = 80, rows = 24) {
  const term = headless(columns, rows);
  const model = new ChatModel();
  const ran: string[] = [];
  let bells = 0;
  let quits = 0;
  const keys = new KeyDecoder();
  let main!: MainScreen;
  const scheduler = new RenderScheduler(() => {
    main.draw();
    term.screen.render();
  });
  main = new MainScreen(term.screen, model, { run: (line) => ran.push(line), quit: () => quits++, changed: () => scheduler.request(), bell: () => bells++ });
  term.screen.on('keypress', (ch: string | undefined, key: KeyInfo) => {
    const action = keys.decode(ch, key);
    if (action) main.handle(action);
  });
  term.screen.on('resize', () => {
    main.place();
    scheduler.request();
  });
  const view = new TuiView(model, { changed: () => scheduler.request(), bell: () => bells++, askSecret: (p) => main.askSecret(p), exit: () => undefined });
  view.status(STATUS);
  view.show({ kind: 'login', user: 'alice', resumed: false, ts: T });
  main.show();
  scheduler.flush();
  return { term, model, main, view, scheduler, ran, bells: () => bells, quits: () => quits, render: () => scheduler.flush() };
}

function done(term: Headless): void {
  term.screen.destroy();
}

test('layout: three panes at 80 columns, fewer when narrow', () => {
  assert.equal(layoutFor(80, 24), { sidebar: 14, users: 13, chat: 51, rows: 24 });
  assert.is(layoutFor(60, 20).users, 0);
  assert.is(layoutFor(40, 20).sidebar, 0);
  assert.is(layoutFor(40, 20).chat, 40);
});

test('the chat screen at 80x24: sidebar, header, chat, users, status bar and input line', () => {
  const { term, view, render } = chat();
  view.show({ kind: 'presence', user: 'bob', event: 'joined', ts: T });
  view.show({ kind: 'message', msgId: 'm1', scope: 'broadcast', from: 'bob', text: 'hello everyone', ts: T });
  render();
  const rows = term.text();
  assert.is(rows.length, 24);
  assert.match(rows[0], 'Conversations');
  assert.match(rows[0], '* lobby');
  assert.match(rows[0], 'Online (2)');
  assert.match(rows[1], '1 * lobby');
  assert.ok(rows.some((row) => row.includes('bob hello everyone')), 'the message shows');
  assert.ok(rows.some((row) => row.includes('● bob')), 'bob is in the online pane');
  assert.match(rows[22], '● connected │ alice │ in * lobby │ 127.0.0.1:7513 key abcdefghijkl');
  assert.match(rows[23], '* ›');
  done(term);
});

test('an emoji and CJK in a message keep the columns aligned', () => {
  const { term, view, render } = chat();
  view.show({ kind: 'message', msgId: 'm1', scope: 'broadcast', from: 'bob', text: 'party 🎉 中文 time', ts: T });
  render();
  const rows = (term.screen as unknown as { lines: [number, string][][] }).lines;
  const row = rows.findIndex((line) => line.some((cell) => cell[1] === '🎉'));
  assert.ok(row >= 0, 'the emoji is drawn');
  const cells = rows[row].map((cell) => cell[1]);
  const at = cells.indexOf('🎉');
  assert.is(cells[at + 1], '\x03', 'the emoji takes two cells (blessed marks the second, never draws it)');
  assert.is(cells[cells.indexOf('中') + 1], '\x03');
  // The right-hand rule is in the same column on every row of the body.
  const ruleColumn = 14 + 1 + 51;
  for (let y = 0; y < 22; y++) assert.is(rows[y][ruleColumn][1], '│', `row ${y}`);
  done(term);
});

test('a long message wraps under its text, not under the timestamp', () => {
  const { term, view, render } = chat();
  view.show({ kind: 'message', msgId: 'm1', scope: 'broadcast', from: 'bob', text: 'this message is long enough that it has to wrap onto a second row of the pane', ts: T });
  render();
  const rows = term.text().map((row) => row.slice(15, 66));
  const first = rows.findIndex((row) => row.includes('bob this message'));
  assert.ok(first >= 0);
  assert.match(rows[first + 1], /^ {6}\S/, `continuation row: "${rows[first + 1]}"`);
  done(term);
});

test('escape sequences and blessed tags from a peer render as harmless text', () => {
  const { term, view, render } = chat();
  const before = term.written().length;
  view.show({ kind: 'message', msgId: 'm1', scope: 'broadcast', from: 'mallory', text: '\x1b[2J{bold}x{/bold}\x1b]0;owned\x07 {red-fg}red', ts: T });
  render();
  const rows = term.text();
  assert.ok(rows.some((row) => row.includes('mallory {bold}x{/bold} {red-fg}red')), rows.join('\n'));
  const written = term.written().slice(before);
  assert.not.ok(written.includes('\x1b[2J'), 'no clear-screen reached the terminal');
  assert.not.ok(written.includes('owned'), 'no title change reached the terminal');
  done(term);
});

test('typing an emoji shows it in the input line while typing, with the cursor after it', async () => {
  const { term, main, render } = chat();
  await term.keys('h', 'i', ' ', '😀', ' ', '中');
  render();
  assert.is(main.editor.value, 'hi 😀 中');
  const input = term.text()[23];
  assert.match(input, '* › hi 😀 中');
  assert.equal(main.cursor(), { row: 23, col: 4 + 3 + 2 + 1 + 2 });
  done(term);
});

test('Enter runs the line and keeps it in history; Up recalls it', async () => {
  const { term, main, ran } = chat();
  await term.keys('/', 'w', 'h', 'o', KEYS.enter);
  assert.equal(ran, ['/who']);
  assert.is(main.editor.value, '');
  await term.keys(KEYS.enter);
  assert.equal(ran, ['/who'], 'an empty line is not run');
  await term.keys(KEYS.up);
  assert.is(main.editor.value, '/who');
  await term.keys(KEYS.down);
  assert.is(main.editor.value, '');
  done(term);
});

test('Tab completes names; no match rings the bell', async () => {
  const { term, main, view, bells } = chat();
  view.show({ kind: 'presence', user: 'bob', event: 'joined', ts: T });
  await term.keys('@', 'b', KEYS.tab);
  assert.is(main.editor.value, '@bob ');
  await term.keys('z', 'q', KEYS.tab);
  assert.is(bells(), 1);
  done(term);
});

test('a private message elsewhere rings once and lights the sidebar; Alt+2 goes there', async () => {
  const { term, model, view, bells, render } = chat();
  view.show({ kind: 'message', msgId: 'p1', scope: 'private', from: 'bob', to: 'alice', text: 'psst', ts: T });
  view.show({ kind: 'message', msgId: 'p2', scope: 'private', from: 'bob', to: 'alice', text: 'psst again', ts: T });
  render();
  assert.is(bells(), 1);
  assert.ok(term.text()[2].includes('2 ● bob') && term.text()[2].includes('2'), term.text()[2]);
  await term.keys(KEYS.alt(2));
  assert.is(model.focusTarget(), 'bob');
  render();
  assert.match(term.text()[0], '@bob ● online');
  assert.match(term.text()[23], '@bob ›');
  await term.keys(KEYS.ctrlN);
  assert.is(model.focusTarget(), '*');
  await term.keys(KEYS.ctrlP);
  assert.is(model.focusTarget(), 'bob');
  await term.keys(KEYS.alt(9));
  assert.is(bells(), 2, 'no ninth conversation: a bell');
  done(term);
});

test('a group at 80x24: #entry in the sidebar, members on the right, #team prompt, member list note readable', async () => {
  const { term, model, view, bells, render } = chat();
  view.show({ kind: 'presence', user: 'bob', event: 'joined', ts: T });
  view.show({ kind: 'presence', user: 'carol', event: 'joined', ts: T });
  view.show({ kind: 'presence', user: 'carol', event: 'status', status: 'busy', ts: T });
  view.show({ kind: 'group', group: 'team', event: 'created', user: 'alice', ts: T });
  model.setMembers('team', 'alice', [
    { user: 'alice', online: true, owner: true },
    { user: 'bob', online: true, owner: false, status: 'away' },
    { user: 'dave', online: false, owner: false },
  ]);
  view.show({ kind: 'message', msgId: 'g1', scope: 'group', from: 'bob', group: 'team', text: 'hello team', ts: T });
  render();
  let rows = term.text();
  assert.match(rows[2], '2 # team');
  assert.match(rows[0], '#team — group, 3 members');
  assert.match(rows[0], 'Members 2/3');
  assert.match(rows[1], '● alice ★');
  assert.match(rows[2], '◐ bob');
  assert.match(rows[3], '○ dave');
  assert.ok(rows.some((row) => row.includes('bob hello team')));
  assert.match(rows[23], '#team ›');
  await term.keys('#', 't', KEYS.tab);
  assert.is(term.text()[23].includes('#team ›'), true);
  // A member list typed out (/group members) reads one member per row.
  view.show({ kind: 'members', group: 'team', owner: 'alice', members: [{ user: 'alice', online: true, owner: true }, { user: 'dave', online: false, owner: false }], ts: T });
  render();
  rows = term.text();
  const at = rows.findIndex((row) => row.includes('-- Members of #team (2):'));
  assert.ok(at > 0, rows.join('\n'));
  assert.match(rows[at + 1], /│ {6} {2}● alice \(owner\) +│/);
  assert.match(rows[at + 2], /│ {6} {2}○ dave +│/);
  // The lobby shows everyone online, with their markers.
  await term.keys(KEYS.alt(1));
  render();
  rows = term.text();
  assert.match(rows[0], 'Online (3)');
  assert.ok(rows.some((row) => row.includes('⊘ carol')), 'busy carol');
  // A group message elsewhere rings only when it mentions me.
  view.show({ kind: 'message', msgId: 'g2', scope: 'group', from: 'bob', group: 'team', text: 'no mention', ts: T });
  assert.is(bells(), 0);
  view.show({ kind: 'message', msgId: 'g3', scope: 'group', from: 'bob', group: 'team', text: 'alice: look', ts: T });
  assert.is(bells(), 1);
  done(term);
});

test('PageUp and PageDown scroll; Esc returns to the newest line', async () => {
  const { term, model, view, render } = chat();
  for (let i = 0; i < 100; i++) view.show({ kind: 'message', msgId: `m${i}`, scope: 'broadcast', from: 'bob', text: `line ${i}`, ts: T });
  render();
  assert.ok(term.text().some((row) => row.includes('line 99')));
  await term.keys(KEYS.pageUp);
  render();
  assert.ok(model.focused.scroll > 0);
  assert.not.ok(term.text().some((row) => row.includes('line 99')));
  assert.match(term.text()[22], 'scrolled up', term.text()[22]);
  await term.keys(KEYS.pageDown, KEYS.pageDown);
  assert.is(model.focused.scroll, 0);
  await term.keys(KEYS.pageUp, '\x1b');
  await new Promise((resolve) => setTimeout(resolve, 80)); // a lone Esc is told apart from Alt+key by time
  assert.is(model.focused.scroll, 0);
  done(term);
});

test('a secret is asked in the input line, masked, and Ctrl+C asks to quit', async () => {
  const { term, main, quits, render } = chat();
  const answer = main.askSecret('password for bob: ');
  await term.keys('s', '3', 'c', 'r', '3', 't');
  render();
  assert.match(term.text()[23], 'password for bob: ••••••');
  assert.not.match(term.text()[23], 's3cr3t');
  await term.keys(KEYS.tab, KEYS.up);
  await term.keys(KEYS.enter);
  assert.is(await answer, 's3cr3t');
  const cancelled = main.askSecret('again: ');
  await term.keys('x', '\x1b');
  assert.is(await cancelled, '', 'Esc cancels');
  await term.keys(KEYS.ctrlC);
  assert.is(quits(), 1);
  done(term);
});

test('a burst of 1,000 messages is batched into a few renders and does not freeze', async () => {
  const { term, view, scheduler } = chat();
  const rendersBefore = scheduler.renders;
  const started = Date.now();
  for (let i = 0; i < 1000; i++) view.show({ kind: 'message', msgId: `b${i}`, scope: 'broadcast', from: `user${i % 7}`, text: `burst ${i} 🎉`, ts: T });
  const applied = Date.now() - started;
  await until(() => term.text().some((row) => row.includes('burst 999')), 'the last message');
  const elapsed = Date.now() - started;
  assert.ok(scheduler.renders - rendersBefore <= 3, `${scheduler.renders - rendersBefore} renders`);
  assert.ok(applied < 500, `applying took ${applied} ms`);
  assert.ok(elapsed < 2000, `showing took ${elapsed} ms`);
  done(term);
});

test('resizing relays the panes out; 60 columns drops the users pane', async () => {
  const { term } = chat();
  term.resize(60, 20);
  await until(() => term.text().length === 20, 'the resize');
  await new Promise((resolve) => setTimeout(resolve, 30));
  const rows = term.text();
  assert.not.match(rows[0], 'Online');
  assert.match(rows[18], 'connected');
  assert.is(rows[0].length <= 60, true);
  done(term);
});

test('the login screen shows the server, the first-use key warning, masked password and errors', () => {
  const term = headless();
  const form = new LoginForm('alice');
  for (const ch of 'hunter22') form.handle({ type: 'insert', text: ch });
  form.error = 'Wrong username or password.';
  const login = new LoginScreen(term.screen, form, () => ({ address: '127.0.0.1:7513', connection: 'connected', trust: { address: '127.0.0.1:7513', fingerprint: STATUS.fingerprint!, decision: 'first-use' } }));
  login.show();
  login.draw();
  term.screen.render();
  const text = term.text().join('\n');
  assert.match(text, 'Server      127.0.0.1:7513');
  assert.match(text, STATUS.fingerprint!);
  assert.match(text, 'First connection to this server');
  assert.match(text, '[alice');
  assert.match(text, '••••••••');
  assert.not.match(text, 'hunter22');
  assert.match(text, 'Wrong username or password.');
  assert.ok(login.cursor(), 'the cursor is in the password field');
  form.field = 'register';
  login.draw();
  term.screen.render();
  assert.match(term.text().join('\n'), 'Space toggles');
  assert.is(login.cursor(), null, 'no cursor on the switch');
  done(term);
});

test('the changed-key warning shows both keys and waits for a key', async () => {
  const term = headless();
  const message = 'WARNING: the key of server h:1 changed!\n  recorded: SHA256:old\n  presented: SHA256:new\nSomeone may be intercepting the connection.\nIf the server\'s owner confirms the new key, re-pin it: parley --server-fingerprint SHA256:new\n(or remove the line)';
  const error = new ParleyError('E_SERVER_KEY_CHANGED', message, { details: { recorded: 'SHA256:old', presented: 'SHA256:new' } });
  const warning = keyWarningText(error, 'h:1');
  assert.match(warning, 'recorded key:  {bold}SHA256:old');
  assert.match(warning, 'start parley once with\n  --server-fingerprint SHA256:new', 'the flag on a line of its own');
  assert.match(warning, '(or remove the line)');
  assert.not.match(warning, 're-pin it');
  assert.not.match(warning, 'WARNING: the key', 'the engine’s repeat of the keys is left out');
  let pressed = false;
  const waiting = showKeyWarning(term.screen, error, 'h:1').then(() => (pressed = true));
  const text = term.text().join('\n');
  assert.match(text, 'recorded key:  SHA256:old');
  assert.match(text, 'presented key: SHA256:new');
  assert.match(text, 'Press any key to exit.');
  assert.match(text, 'WARNING: the server key changed');
  assert.not.ok(pressed);
  await term.keys('x');
  await waiting;
  assert.ok(pressed);
  const refused = new ParleyError('E_SERVER_KEY_REFUSED', 'server presented another key');
  assert.not.match(keyWarningText(refused, 'h:1'), 'recorded key');
  done(term);
});

test.run();
