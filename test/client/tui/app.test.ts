import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TuiApp, runTui } from '../../../src/client/tui/app.ts';
import { ParleyClient } from '../../../src/client/connection.ts';
import { PASSWORD, registered, startServer, tempDir, type TestServer } from '../../e2e/helpers.ts';
import { headless, KEYS, until, type Headless } from './headless.ts';

interface Run {
  term: Headless;
  app: TuiApp;
  client: ParleyClient;
  exits: number[];
  store: string;
  shows(text: string): boolean;
}

const dirs: Array<{ remove(): void }> = [];
const closers: Array<() => unknown> = [];

function newDir(prefix: string): string {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir.path;
}

async function server(): Promise<TestServer> {
  const s = await startServer({}, newDir('parley-tui-server-'));
  closers.push(() => s.stop());
  return s;
}

/** The full-screen client on a headless terminal, talking to a real server. */
function start(port: number, options: { user?: string; password?: () => Promise<string>; store?: string } = {}): Run {
  const term = headless(100, 30);
  const store = options.store ?? newDir('parley-tui-client-');
  const client = new ParleyClient({ host: '127.0.0.1', port, storeDir: store, backoffInitialMs: 50, backoffMaxMs: 200 });
  const exits: number[] = [];
  const app = new TuiApp(client, term.screen, { user: options.user, password: options.password, exit: (code) => exits.push(code) });
  closers.push(() => app.exit(0));
  void app.start();
  return { term, app, client, exits, store, shows: (text) => term.text().join('\n').includes(text) };
}

async function loginAs(run: Run, user: string, register: boolean): Promise<void> {
  await until(() => run.shows('Parley  connected'), 'the connection');
  await run.term.keys(...user, KEYS.tab, ...PASSWORD);
  if (register) await run.term.keys(KEYS.tab, ' ');
  await run.term.keys(KEYS.enter);
  await until(() => run.shows(register ? `logged in as ${user}` : `logged in as ${user}`), `${user} to log in`);
}

test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

test.after(() => {
  for (const dir of dirs) dir.remove();
});

test('register on the login screen, receive a private message, answer it, quit with Ctrl+C', async () => {
  const s = await server();
  const bob = await registered(s.port, 'bob');
  closers.push(() => bob.close());
  const received: string[] = [];
  bob.on('message', (m) => received.push(`${m.from}: ${m.text}`));

  const run = start(s.port);
  await until(() => run.shows('First connection to this server'), 'the first-use key note');
  await loginAs(run, 'alice', true);
  await until(() => run.shows('● bob'), 'bob in the online pane');

  await bob.sendPrivate('alice', 'hello alice 👋');
  await until(() => run.shows('2 ● bob'), 'a sidebar entry for bob');
  assert.ok(run.app.model.list()[1].highlight, 'highlighted while not focused');
  await run.term.keys(KEYS.alt(2));
  await until(() => run.shows('bob hello alice 👋'), 'the message in the chat pane');

  await run.term.keys(...'hi bob :tad', KEYS.tab, KEYS.enter);
  await until(() => received.length > 0, 'bob to receive the answer');
  assert.equal(received, ['alice: hi bob 🎉 ']);
  await until(() => run.shows('▸alice hi bob 🎉'), 'my own line');

  await run.term.keys('/who', KEYS.enter);
  await until(() => run.shows('online (2)'), 'the /who answer');

  await run.term.keys(KEYS.ctrlC);
  await until(() => run.exits.length > 0, 'the exit');
  assert.equal(run.exits, [0]);
  assert.is(run.client.state, 'closed');
  assert.ok(run.term.written().includes('\x1b[?1049l'), 'the terminal left the alternate screen');
});

test('login errors are shown in place: wrong password, name taken', async () => {
  const s = await server();
  (await registered(s.port, 'carol')).close();
  const run = start(s.port);
  await until(() => run.shows('Parley  connected'), 'the connection');
  await run.term.keys(...'carol', KEYS.tab, ...'wrong-password', KEYS.enter);
  await until(() => run.shows('Wrong username or password.'), 'the wrong-password error');
  assert.is(run.app.form.password.value, '');
  await run.term.keys(...PASSWORD, KEYS.tab, ' ', KEYS.enter);
  await until(() => run.shows("The name 'carol' is taken"), 'the name-taken error');
  assert.equal(run.exits, []);
});

test('Esc on the first contact aborts and forgets the server key', async () => {
  const s = await server();
  const run = start(s.port);
  await until(() => run.shows('First connection to this server'), 'the first-use note');
  const file = join(run.store, 'known_servers.json');
  assert.ok(readFileSync(file, 'utf8').includes('127.0.0.1'), 'the engine pinned it on first use');
  await run.term.keys('\x1b');
  await until(() => run.exits.length > 0, 'the exit');
  assert.equal(run.exits, [1]);
  assert.not.ok(readFileSync(file, 'utf8').includes('127.0.0.1'), 'the key is forgotten');
});

test('a changed server key shows the warning screen and refuses to continue', async () => {
  const s = await server();
  const store = newDir('parley-tui-client-');
  mkdirSync(store, { recursive: true });
  const old = 'SHA256:' + 'A'.repeat(43);
  writeFileSync(join(store, 'known_servers.json'), JSON.stringify({ [`127.0.0.1:${s.port}`]: old }));
  const run = start(s.port, { store });
  await until(() => run.shows('Press any key to exit.'), 'the warning');
  assert.ok(run.shows(`recorded key:  ${old}`));
  assert.ok(run.shows('presented key: SHA256:'));
  await run.term.keys('y');
  await until(() => run.exits.length > 0, 'the exit');
  assert.equal(run.exits, [1]);
  assert.ok(existsSync(join(store, 'known_servers.json')));
});

test('a server whose key changed while connected: the reconnect stops on the warning screen', async () => {
  const first = await startServer({}, newDir('parley-tui-server-'));
  const port = first.port;
  const run = start(port);
  await loginAs(run, 'gina', true);
  await first.stop();
  await until(() => run.shows('reconnecting'), 'the reconnect');
  // Same address, new key pair: another server, as far as the client can tell.
  const second = await startServer({ port }, newDir('parley-tui-server-'));
  closers.push(() => second.stop());
  await until(() => run.shows('Press any key to exit.'), 'the warning', 5000);
  assert.ok(run.shows('recorded key:'));
  await run.term.keys('q');
  await until(() => run.exits.length > 0, 'the exit');
  assert.equal(run.exits, [1]);
});

test('an unreachable server is reported in place; Enter tries again', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const run = start(port, { user: 'dave' });
  await until(() => run.shows('Cannot reach the server at'), 'the unreachable error');
  assert.ok(run.shows('[dave'), 'the --user name is filled in');
  await run.term.keys(...PASSWORD, KEYS.enter);
  await until(() => run.shows('Cannot reach the server at') && !run.app.form.busy, 'the second attempt');
  assert.equal(run.exits, []);
});

test('--user with a saved session skips the login screen; --password-file logs straight in', async () => {
  const s = await server();
  const store = newDir('parley-tui-client-');
  const first = new ParleyClient({ host: '127.0.0.1', port: s.port, storeDir: store });
  await first.connect();
  await first.register('erin', PASSWORD);
  first.close();
  const run = start(s.port, { user: 'erin', store });
  await until(() => run.shows('resumed your session as erin'), 'the resumed session');
  assert.ok(run.app.main.visible);
  run.app.exit(0);

  (await registered(s.port, 'frank')).close();
  const direct = start(s.port, { user: 'frank', password: async () => PASSWORD });
  await until(() => direct.shows('logged in as frank'), 'the direct login');
  const wrong = start(s.port, { user: 'frank', password: async () => 'not-the-password' });
  await until(() => wrong.shows('Wrong username or password.'), 'the error on the form');
});

test('a restarted client shows the conversations saved on this computer at once', async () => {
  const s = await server();
  const store = newDir('parley-tui-client-');
  const gina = new ParleyClient({ host: '127.0.0.1', port: s.port, storeDir: store });
  await gina.connect();
  await gina.register('gina', PASSWORD);
  const hank = await registered(s.port, 'hank');
  await hank.sendPrivate('gina', 'saved for later');
  await gina.sendPrivate('hank', 'my answer');
  await gina.data!.flush();
  gina.close();
  hank.close();
  const run = start(s.port, { user: 'gina', store });
  await until(() => run.shows('resumed your session as gina'), 'the resumed session');
  await until(() => run.shows('hank'), 'the restored conversation in the sidebar');
  await run.term.keys(KEYS.ctrlN);
  await until(() => run.shows('saved for later') && run.shows('my answer'), 'the restored conversation');
  assert.ok(run.shows('2 saved messages restored'));
});

test('runTui resolves once the user has left', async () => {
  const s = await server();
  const term = headless();
  const client = new ParleyClient({ host: '127.0.0.1', port: s.port, storeDir: newDir('parley-tui-client-') });
  const exits: number[] = [];
  const running = runTui(client, { screen: term.screen, exit: (code) => exits.push(code) });
  await until(() => term.text().join('\n').includes('Parley  connected'), 'the login screen');
  await term.keys(KEYS.ctrlC);
  await running;
  assert.equal(exits, [1], 'leaving before trusting a first-seen key counts as declining it');
});

test('groups: create one, a second user joins and writes; the entry, the message and the member list show', async () => {
  const s = await server();
  const run = start(s.port);
  await loginAs(run, 'ivy', true);
  await run.term.keys(...'/group create team', KEYS.enter);
  await until(() => run.shows('2 # team'), 'the group in the sidebar');
  await until(() => run.shows('#team ›') && run.shows('you created #team'), 'the group focused');
  await until(() => run.shows('Members 1/1') && run.shows('● ivy ★'), 'the member list in the right pane');

  const jack = await registered(s.port, 'jack');
  closers.push(() => jack.close());
  const received: string[] = [];
  jack.on('message', (m) => received.push(`${m.group}/${m.from}: ${m.text}`));
  await jack.request({ type: 'group_join', name: 'team' });
  await until(() => run.shows('jack joined') && run.shows('Members 2/2'), 'the join in the group and the member list');
  assert.ok(run.shows('● jack'), run.term.text().join('\n'));

  await jack.request({ type: 'status', status: 'busy' });
  await until(() => run.shows('⊘ jack'), 'jack busy in the member list');
  assert.ok(run.app.model.online.has('jack'), 'a status change is not a leave');

  await run.term.keys(KEYS.alt(1));
  await until(() => run.shows('Online (2)'), 'the lobby shows everyone online');
  await jack.groupSend('team', 'hello team');
  await until(() => run.term.text().some((row) => /^2 # team +1│/.test(row)), 'an unread count on the group entry');
  await run.term.keys(KEYS.alt(2));
  await until(() => run.shows('jack hello team'), 'the group message');
  await run.term.keys(...'hi jack', KEYS.enter);
  await until(() => run.shows('▸ivy hi jack ✓ 1 online'), 'my line with its mark');
  await until(() => received.includes('team/ivy: hi jack'), 'jack receives it');

  await run.term.keys(...'/group kick team jack', KEYS.enter);
  await until(() => run.shows('jack was removed by ivy') && run.shows('Members 1/1'), 'the kick in the group and the member list');
  await run.term.keys(...'/group leave team', KEYS.enter);
  await until(() => run.shows('team (left)'), 'the entry marked as left');
  assert.ok(run.shows('jack hello team'), 'the history stays');
});

test.run();
