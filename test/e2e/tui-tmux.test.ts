/**
 * The real full-screen client, driven in tmux like a person would: alice registers on the login
 * screen, bob (an in-process client) says hello, alice reads it and answers, then leaves with
 * Ctrl+C. Reads the screen with capture-pane. Skipped (with a note) when tmux is not installed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSWORD, registered, startServer, tempDir, waitFor } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;

/** A private tmux server (its own socket), so the test never touches anyone's sessions. */
function tmuxServer() {
  const socket = `parley-e2e-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', timeout: 5000 });
  return {
    tmux,
    capture: () => tmux('capture-pane', '-p', '-t', 'parley').stdout ?? '',
    /** Literal text, then named keys (Enter, Tab, M-2, C-c, ...). */
    type: (text: string) => tmux('send-keys', '-t', 'parley', '-l', text),
    press: (...keys: string[]) => tmux('send-keys', '-t', 'parley', ...keys),
    running: () => tmux('has-session', '-t', 'parley').status === 0,
    /** Stops the tmux server and removes its socket file, which tmux leaves behind. */
    kill: () => {
      tmux('kill-server');
      rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, socket), { force: true });
    },
  };
}

async function screenShows(t: ReturnType<typeof tmuxServer>, text: string, ms = 10_000): Promise<string> {
  return waitFor(() => (t.capture().includes(text) ? t.capture() : null), ms, `"${text}" on the screen`).catch((err: Error) => {
    throw new Error(`${err.message}; the screen was:\n${t.capture()}`);
  });
}

if (!hasTmux) {
  console.log('tmux not installed, skipping test/e2e/tui-tmux.test.ts');
} else {
  test('in tmux: log in on the login screen, receive a message, answer it, quit', async () => {
    const serverDir = tempDir('parley-tmux-server-');
    const clientDir = tempDir('parley-tmux-client-');
    const server = await startServer({}, serverDir.path);
    const bob = await registered(server.port, 'bob');
    const received: string[] = [];
    bob.on('message', (m) => received.push(`${m.from}: ${m.text}`));
    const t = tmuxServer();
    try {
      const command = `${process.execPath} bin/parley.js --port ${server.port} --store ${clientDir.path}`;
      const started = t.tmux('new-session', '-d', '-s', 'parley', '-x', '100', '-y', '30', '-c', ROOT, command);
      assert.is(started.status, 0, started.stderr);

      await screenShows(t, 'Welcome to Parley  connected');
      await screenShows(t, 'First connection to this server');
      t.type('alice');
      t.press('Tab');
      t.type(PASSWORD);
      t.press('Tab', 'Space', 'Enter');
      await screenShows(t, 'logged in as alice');
      await screenShows(t, '● bob');

      await bob.sendPrivate('alice', 'hello alice');
      await screenShows(t, '2 ● bob');
      t.press('M-2');
      const chat = await screenShows(t, 'bob hello alice');
      assert.match(chat, '@bob ● online');

      t.type('hi bob, got it 👍');
      t.press('Enter');
      await waitFor(() => received.length > 0, 10_000, 'bob to receive the answer');
      assert.equal(received, ['alice: hi bob, got it 👍']);
      await screenShows(t, '▸alice hi bob, got it 👍');

      t.press('C-c');
      await waitFor(() => !t.running(), 10_000, 'the client to exit and its tmux session to end');
    } finally {
      t.kill();
      bob.close();
      await server.stop();
      serverDir.remove();
      clientDir.remove();
    }
  });
}

test.run();
