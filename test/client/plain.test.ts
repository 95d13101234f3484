/**
 * Plain mode driven through streams against a real in-process server: the controller's commands
 * as a person types them, and the lines they print.
 */
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPlain } from '../../src/client/plain.ts';
import { client, PASSWORD, record, registered, startServer, waitFor, type TestServer } from '../e2e/helpers.ts';
import type { ParleyClient } from '../../src/client/connection.ts';

interface PlainSession {
  input: PassThrough;
  output: () => string;
  lines: () => string[];
  exitCode: () => number | null;
  client: ParleyClient;
  type(line: string): void;
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
}

async function plain(port: number, options: { json?: boolean; password?: string; user?: string } = {}): Promise<PlainSession> {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  let code: number | null = null;
  output.on('data', (chunk) => (text += chunk));
  const c = client(port);
  await runPlain(c, {
    input,
    output,
    json: options.json ?? false,
    password: options.password === undefined ? undefined : async () => options.password!,
    user: options.user,
    exit: (exitCode) => (code = exitCode),
  });
  return {
    input,
    output: () => text,
    lines: () => text.split('\n').filter(Boolean),
    exitCode: () => code,
    client: c,
    type: (line) => input.write(line + '\n'),
    waitFor: (pattern, ms = 3000) => waitFor(() => pattern.exec(text)?.[0], ms, `output matching ${pattern}`),
  };
}

let served: TestServer;
test.before(async () => {
  served = await startServer();
});
test.after(() => served.stop());

test('register, chat, see delivery marks, page history, edit and delete the last message', async () => {
  const bob = await registered(served.port, 'bob');
  const updates = record(bob, 'update');
  const alice = await plain(served.port, { password: PASSWORD });
  try {
    alice.type('/register alice');
    await alice.waitFor(/logged in as alice/);
    alice.type('@bob first :tada:');
    await alice.waitFor(/\[you → bob\] first 🎉 {2}\(✓✓ delivered #[\w-]+\)/);
    alice.type('/msg bob second');
    await alice.waitFor(/second {2}\(✓✓ delivered/);
    alice.type('/history bob 1');
    await alice.waitFor(/History with bob:\n.*\[alice → bob\] second/);
    alice.type('/history');
    await alice.waitFor(/\[alice → bob\] first 🎉[^\n]*\n {2}\(start of the conversation\)/);
    alice.type('/edit last second, edited');
    await alice.waitFor(/\* edited message #[\w-]+/);
    await waitFor(() => updates.length === 1, 2000, 'bob sees the edit');
    assert.is(updates[0].text, 'second, edited');
    alice.type('/delete last');
    await alice.waitFor(/\* deleted message #/);
    await waitFor(() => updates.length === 2, 2000, 'bob sees the deletion');
    alice.type('/history bob');
    await alice.waitFor(/\(message deleted\)/);
    alice.type('/edit nosuchid whatever');
    await alice.waitFor(/E_NOT_FOUND/);
    // bob writes; alice cannot edit bob's message
    const sent = await bob.sendPrivate('alice', 'from bob');
    await alice.waitFor(/\[bob → you\] from bob/);
    alice.type(`/delete ${sent.msgId}`);
    await alice.waitFor(/E_FORBIDDEN/);
    alice.type('/who');
    await alice.waitFor(/Online \(2\):/);
    alice.type('/help edit');
    await alice.waitFor(/\/edit ID\|last TEXT — change one of your messages/);
    alice.type('/all hello lobby');
    await alice.waitFor(/\[you → all\] hello lobby {2}\(✓ 1 online/);
    alice.type('/history *');
    await alice.waitFor(/History with everyone:/);
    alice.type('plain words');
    await alice.waitFor(/E_USAGE: to send a message: @USER TEXT/);
    alice.type('/quit');
    await waitFor(() => alice.exitCode() === 0, 3000, 'exit 0');
  } finally {
    alice.client.close();
    bob.close();
  }
});

test('a message to an offline user is marked stored; offline, /history reads the saved copy', async () => {
  (await registered(served.port, 'carol')).close();
  const dave = await plain(served.port, { password: PASSWORD });
  try {
    dave.type('/register dave');
    await dave.waitFor(/logged in as dave/);
    dave.type('@carol are you there?');
    await dave.waitFor(/are you there\? {2}\(✓ stored for offline user/);
    dave.client.close(); // offline now
    dave.type('/history carol');
    await dave.waitFor(/History with carol \(saved on this computer; offline\):\n.*are you there\?/);
  } finally {
    dave.client.close();
  }
});

test('--json prints one JSON object per event; wrong passwords and unknown commands are explained', async () => {
  const erin = await plain(served.port, { json: true, password: 'wrong password' });
  try {
    (await registered(served.port, 'erin')).close();
    erin.type('/login erin');
    await erin.waitFor(/E_BAD_CREDENTIALS/);
    erin.type('/frobnicate');
    await erin.waitFor(/unknown command/);
    const events = erin.lines().map((line) => JSON.parse(line));
    const error = events.find((e) => e.code === 'E_BAD_CREDENTIALS');
    assert.is(error.kind, 'error');
    assert.match(error.message, /tries left/);
    assert.ok(events.some((e) => e.kind === 'status' && e.state === 'connected'));
    erin.input.end();
    await waitFor(() => erin.exitCode() === 0, 3000, 'end of input quits');
  } finally {
    erin.client.close();
  }
});

test('groups, blocking, status, profile and communities from plain mode', async () => {
  const kim = await registered(served.port, 'kim');
  const lee = await plain(served.port, { password: PASSWORD });
  try {
    lee.type('/register lee');
    await lee.waitFor(/logged in as lee/);
    lee.type('/group create study private');
    await lee.waitFor(/#study: lee created the group/);
    lee.type('/group invite study kim');
    await lee.waitFor(/#study: kim was invited by lee/);
    await kim.request({ type: 'group_join', name: 'study' });
    await lee.waitFor(/#study: kim joined/);
    lee.type('#study meet at 5 :coffee:');
    await lee.waitFor(/\[you → #study\] meet at 5 ☕ {2}\(✓ 1 online/);
    await kim.groupSend('study', 'ok!');
    await lee.waitFor(/\[kim → #study\] ok!/);
    lee.type('/group members study');
    await lee.waitFor(/Members of #study \(2\):\n.*● kim\n.*● lee \(owner\)/);
    lee.type('/group list');
    await lee.waitFor(/#study {2}2 members \(private, member\), owner lee/);
    lee.type('/history #study');
    await lee.waitFor(/History with #study:/);
    lee.type('/block kim');
    await lee.waitFor(/blocked kim/);
    await kim.groupSend('study', 'you should not see this');
    lee.type('/blocked');
    await lee.waitFor(/You block: kim/);
    assert.not.match(lee.output(), /you should not see this/, 'a blocked member is hidden in groups');
    lee.type('/unblock kim');
    await lee.waitFor(/unblocked kim/);
    lee.type('/status busy writing a report');
    await lee.waitFor(/your status: busy \(writing a report\)/);
    lee.type('/profile interests Rust, chess');
    await lee.waitFor(/interests: rust, chess/);
    lee.type('/communities');
    await lee.waitFor(/interest:rust {2}1 user interested, 0 in the group — \/group join interest:rust/);
    lee.type('/group join interest:rust');
    lee.type('/group leave study');
    await lee.waitFor(/#study: lee left/);
    lee.type('/profile clear');
    await lee.waitFor(/Your profile is empty/);
    lee.type('/group frobnicate');
    await lee.waitFor(/usage: \/group create NAME/);
  } finally {
    lee.client.close();
    kim.close();
  }
});

test('an unreachable server ends plain mode with exit code 1 and says why', async () => {
  const lost = await plain(1); // nothing listens on port 1 on this machine's loopback
  await waitFor(() => lost.exitCode() === 1, 3000, 'exit 1');
  assert.match(lost.output(), /E_UNREACHABLE: cannot reach 127\.0\.0\.1:1/);
});

test.run();
