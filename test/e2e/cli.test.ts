/**
 * The real programs: parley-server and parley --plain as child processes, the way a person (or
 * a script) runs them. Every child is killed at the end of its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { client, PASSWORD, record, registered, sleep, tempDir, waitFor } from './helpers.ts';

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: () => number | null;
}

const children: ChildProcess[] = [];

function run(bin: string, args: string[], stdinOpen = true): Running {
  const child = spawn(process.execPath, [join('bin', bin), ...args], {
    stdio: [stdinOpen ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  children.push(child);
  let out = '';
  let err = '';
  let code: number | null = null;
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  child.on('exit', (c) => (code = c ?? 128));
  return { child, out: () => out, err: () => err, exited: () => code };
}

test.after.each(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function startServerProcess(dir: string, extra: string[] = []): Promise<{ server: Running; port: number }> {
  const server = run('parley-server.js', ['--port', '0', '--keys', join(dir, 'keys'), '--store', join(dir, 'store'), ...extra], false);
  const match = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(server.out()), 15000, 'server start');
  return { server, port: Number(match[1]) };
}

test('two plain clients chat through a real server process', async () => {
  const dir = tempDir();
  try {
    const { server, port } = await startServerProcess(dir.path);
    assert.match(server.out(), /created server key pair/);
    assert.match(server.out(), /SHA256:[A-Za-z0-9+/]{43}/);
    const passwordFile = join(dir.path, 'password');
    writeFileSync(passwordFile, 'a good password\n', { mode: 0o600 });
    const common = ['--plain', '--port', String(port), '--password-file', passwordFile];
    const bob = run('parley.js', [...common, '--store', join(dir.path, 'bob')]);
    bob.child.stdin!.write('/register bob\n');
    await waitFor(() => bob.out().includes('logged in as bob'), 15000, 'bob registered');
    assert.match(bob.out(), /first connection to 127\.0\.0\.1:\d+; trusting its key SHA256:/);

    const alice = run('parley.js', [...common, '--store', join(dir.path, 'alice')]);
    alice.child.stdin!.write('/register alice\n/who\n@bob hi bob :wave:\n@nobody hello?\n/all hello everyone\n');
    await waitFor(() => bob.out().includes('[alice → all] hello everyone'), 15000, 'broadcast at bob');
    assert.match(bob.out(), /\* alice joined/);
    assert.match(bob.out(), /\[alice → you\] hi bob 👋/);
    assert.match(alice.out(), /Online \(2\):/);
    assert.match(alice.out(), /\[you → bob\] hi bob 👋 {2}\(✓✓ delivered #[A-Za-z0-9_-]+\)/);
    assert.match(alice.out(), /E_NO_SUCH_USER: no user named 'nobody'/);

    bob.child.stdin!.write('/msg alice hi alice\n/quit\n');
    await waitFor(() => alice.out().includes('[bob → you] hi alice'), 15000, 'answer at alice');
    await waitFor(() => bob.exited() !== null, 10000, 'bob exits');
    assert.is(bob.exited(), 0);
    await waitFor(() => alice.out().includes('* bob left'), 5000, 'leave notice');

    // the server window: connects, handshakes, logins, routed messages with sizes, never text
    const log = server.out();
    assert.match(log, /conn#\d+ connected from 127\.0\.0\.1:\d+/);
    assert.match(log, /handshake complete/);
    assert.match(log, /alice registered/);
    assert.match(log, /msg alice → bob \d+ B/);
    assert.match(log, /send refused: E_NO_SUCH_USER/);
    assert.not.match(log, /hi bob/);

    // end of input quits cleanly; the saved session resumes next time without a password
    alice.child.stdin!.end();
    await waitFor(() => alice.exited() !== null, 10000, 'alice exits at end of input');
    assert.is(alice.exited(), 0);
    const again = run('parley.js', ['--plain', '--port', String(port), '--store', join(dir.path, 'alice'), '--user', 'alice']);
    await waitFor(() => again.out().includes('resumed session as alice'), 15000, 'resume');
    again.child.stdin!.end('/logout\n');
    await waitFor(() => again.exited() !== null, 10000, 'logout exits');
    assert.match(again.out(), /logged out/);
  } finally {
    dir.remove();
  }
});

test('--password-stdin reads the password from the first line of input', async () => {
  const dir = tempDir();
  try {
    const { port } = await startServerProcess(dir.path);
    const c = run('parley.js', ['--port', String(port), '--store', join(dir.path, 'c'), '--password-stdin', '--json']);
    c.child.stdin!.end('a good password\n/register carol\n/who\n');
    await waitFor(() => c.exited() !== null, 15000, 'client exits');
    const events = c.out().trim().split('\n').map((line) => JSON.parse(line));
    assert.ok(events.some((e) => e.kind === 'login' && e.user === 'carol'));
    const who = events.find((e) => e.kind === 'who');
    assert.equal(who.users.map((u: { user: string }) => u.user), ['carol']);
  } finally {
    dir.remove();
  }
});

test('parley-server explains bad flags (exit 2), a busy port and a readable private key (exit 1)', async () => {
  const dir = tempDir();
  const blocker = createServer();
  try {
    const bad = run('parley-server.js', ['--port', 'seventy'], false);
    await waitFor(() => bad.exited() !== null, 15000, 'bad flag exit');
    assert.is(bad.exited(), 2);
    assert.match(bad.err(), /--port takes a number/);

    const unknown = run('parley-server.js', ['--frobnicate'], false);
    await waitFor(() => unknown.exited() !== null, 15000, 'unknown flag exit');
    assert.is(unknown.exited(), 2);
    assert.match(unknown.err(), /Usage: parley-server/);

    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as { port: number }).port;
    const busy = run('parley-server.js', ['--port', String(busyPort), '--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')], false);
    await waitFor(() => busy.exited() !== null, 15000, 'busy port exit');
    assert.is(busy.exited(), 1);
    assert.match(busy.err(), new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is already in use`));

    chmodSync(join(dir.path, 'keys', 'server.key'), 0o644);
    const exposed = run('parley-server.js', ['--port', '0', '--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')], false);
    await waitFor(() => exposed.exited() !== null, 15000, 'exposed key exit');
    assert.is(exposed.exited(), 1);
    assert.match(exposed.err(), /readable by others; fix it with: chmod 600/);
  } finally {
    blocker.close();
    dir.remove();
  }
});

test('one server per store: a second is refused naming the first; a killed server\'s store is taken over', async () => {
  const dir = tempDir();
  try {
    const { server: first } = await startServerProcess(dir.path);
    const pidFile = join(dir.path, 'store', 'server.pid');
    assert.is(readFileSync(pidFile, 'utf8').trim(), String(first.child.pid));
    const second = run('parley-server.js', ['--port', '0', '--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')], false);
    await waitFor(() => second.exited() !== null, 15000, 'second server exit');
    assert.is(second.exited(), 1);
    assert.match(second.err(), new RegExp(`store .* is in use by another Parley process \\(pid ${first.child.pid}`));
    const admin = run('parley-admin.js', ['unlock', 'anyone', '--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')], false);
    await waitFor(() => admin.exited() !== null, 15000, 'admin exit');
    assert.is(admin.exited(), 1);
    assert.match(admin.err(), new RegExp(`a server \\(pid ${first.child.pid}\\) is using`));
    assert.is(readFileSync(pidFile, 'utf8').trim(), String(first.child.pid), 'the refused ones leave the claim alone');

    first.child.kill('SIGKILL'); // no clean stop: its pid file stays behind
    await waitFor(() => first.exited() !== null, 15000, 'first server killed');
    const { server: third } = await startServerProcess(dir.path);
    assert.is(readFileSync(pidFile, 'utf8').trim(), String(third.child.pid));
    third.child.kill('SIGTERM');
    await waitFor(() => third.exited() !== null, 15000, 'third server stop');
    assert.not.ok(existsSync(pidFile), 'a clean stop gives the store up');
  } finally {
    dir.remove();
  }
});

test('a server stopped while it starts still stops cleanly: exit 0, its claim on the store given up', async () => {
  const dir = tempDir();
  try {
    const { server: first } = await startServerProcess(dir.path); // makes the keys
    first.child.kill('SIGTERM');
    await waitFor(() => first.exited() !== null, 15000, 'first stop');
    const pidFile = join(dir.path, 'store', 'server.pid');
    const server = run('parley-server.js', ['--port', '0', '--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')], false);
    await waitFor(() => existsSync(pidFile), 15000, 'the store claimed'); // mid-start: not listening yet
    server.child.kill('SIGTERM');
    await waitFor(() => server.child.exitCode !== null || server.child.signalCode !== null, 15000, 'server stop');
    assert.is(server.child.signalCode, null, 'not killed by the signal');
    assert.is(server.child.exitCode, 0);
    assert.not.ok(existsSync(pidFile), 'the store given up');
  } finally {
    dir.remove();
  }
});

test('parley-admin creates keys, prints the fingerprint, lists and unlocks users', async () => {
  const dir = tempDir();
  try {
    const keys = ['--keys', join(dir.path, 'keys'), '--store', join(dir.path, 'store')];
    const made = run('parley-admin.js', ['keys', ...keys], false);
    await waitFor(() => made.exited() !== null, 15000, 'keys');
    const fp = /fingerprint: (SHA256:\S+)/.exec(made.out())![1];
    const printed = run('parley-admin.js', ['fingerprint', ...keys], false);
    await waitFor(() => printed.exited() !== null, 15000, 'fingerprint');
    assert.is(printed.out().trim(), fp);
    const missing = run('parley-admin.js', ['unlock', 'nobody', ...keys], false);
    await waitFor(() => missing.exited() !== null, 15000, 'unlock');
    assert.is(missing.exited(), 1);
    assert.match(missing.err(), /no user named 'nobody'/);
  } finally {
    dir.remove();
  }
});

test('a client told to stop (SIGTERM) or whose terminal closes (SIGHUP) leaves as /quit does: nothing it was shown comes again', async () => {
  const dir = tempDir();
  const others = [];
  let server: Running | null = null;
  try {
    const started = await startServerProcess(dir.path);
    server = started.server;
    const port = started.port;
    const alice = await registered(port, 'alice');
    others.push(alice);
    await alice.request({ type: 'group_create', name: 'lab', visibility: 'open' });
    const passwordFile = join(dir.path, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    for (const [signal, user] of [['SIGTERM', 'bob'], ['SIGHUP', 'carol']] as const) {
      const member = run('parley.js', ['--plain', '--port', String(port), '--password-file', passwordFile, '--store', join(dir.path, user)]);
      member.child.stdin!.write(`/register ${user}\n/group join lab\n`);
      await waitFor(() => member.out().includes(`${user} joined`), 15000, `${user} joins`);
      await alice.groupSend('lab', `notes for ${user}`);
      await waitFor(() => member.out().includes(`notes for ${user}`), 15000, `${user} is shown the message`);
      // Its acknowledgement is still being paced (group messages: up to a second).
      member.child.kill(signal);
      await waitFor(() => member.exited() !== null, 10000, `${user} exits on ${signal}`);
      assert.is(member.exited(), 0, `${signal}: a clean exit, not death by signal`);

      // A new device with no memory of it: the server stored nothing to send again.
      const elsewhere = client(port);
      others.push(elsewhere);
      const shown = record(elsewhere, 'message');
      await elsewhere.connect();
      await elsewhere.login(user, PASSWORD);
      await sleep(300);
      assert.equal(shown.map((m) => m.text), [], `${signal}: acknowledged before leaving`);
    }
  } finally {
    for (const c of others) c.close();
    // The server may still be writing what the logouts changed: stopped first, then its files go.
    server?.child.kill('SIGKILL');
    if (server) await waitFor(() => server!.exited() !== null, 10000, 'server stops');
    dir.remove();
  }
});

test.run();
