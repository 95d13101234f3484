import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMAND_WORDS, COMMANDS, findCommand, helpText, parseInput, withEmoji, type Command } from '../../src/client/commands.ts';

function invalid(line: string, ...mentions: string[]): string {
  const result = parseInput(line);
  assert.is(result.command, 'invalid', `${line} → ${JSON.stringify(result)}`);
  const message = (result as Extract<Command, { command: 'invalid' }>).message;
  for (const m of mentions) assert.match(message, m, `${line} → ${message}`);
  return message;
}

test('/msg and its aliases, and @user, parse to msg', () => {
  const expected = { command: 'msg', to: 'bob', text: 'hello there' };
  for (const line of ['/msg bob hello there', '/m bob hello there', '/tell bob hello there', '@bob hello there', '/msg @bob hello there', '/MSG bob hello there', '/msg   bob   hello there']) {
    assert.equal(parseInput(line), expected, line);
  }
  // the text keeps its inner spacing
  assert.equal(parseInput('/msg bob a  b'), { command: 'msg', to: 'bob', text: 'a  b' });
  // a trailing newline is not part of the text
  assert.equal(parseInput('@bob hi\n'), { command: 'msg', to: 'bob', text: 'hi' });
});

test('/msg without a user or text is invalid with the usage', () => {
  invalid('/msg', 'usage: /msg USER TEXT');
  invalid('/msg bob', 'usage: /msg USER TEXT');
  invalid('/msg bob    ', 'usage');
  invalid('/m', 'usage: /msg USER TEXT');
  invalid('@bob', 'usage: @USER TEXT');
  invalid('@', 'usage: @USER TEXT');
  invalid('@ hi', 'usage');
});

test('/all and its aliases parse to all', () => {
  for (const line of ['/all hello everyone', '/broadcast hello everyone', '/shout hello everyone']) {
    assert.equal(parseInput(line), { command: 'all', text: 'hello everyone' }, line);
  }
  invalid('/all', 'usage: /all TEXT');
  invalid('/all    ', 'usage: /all TEXT');
});

test('/who, /who since N and /who N', () => {
  assert.equal(parseInput('/who'), { command: 'who' });
  assert.equal(parseInput('/w'), { command: 'who' });
  assert.equal(parseInput('/online'), { command: 'who' });
  assert.equal(parseInput('/who since 30'), { command: 'who', since: 30 });
  assert.equal(parseInput('/who 30'), { command: 'who', since: 30 });
  assert.equal(parseInput('/who  since   0 '), { command: 'who', since: 0 });
  for (const bad of ['/who since', '/who since x', '/who -5', '/who 1.5', '/who since 30 40', '/who 30 40', '/who 1234567890', '/who until 30']) {
    invalid(bad, 'usage: /who [since SECONDS]');
  }
});

test('/register and /login take exactly one user', () => {
  assert.equal(parseInput('/register alice'), { command: 'register', user: 'alice' });
  assert.equal(parseInput('/reg alice'), { command: 'register', user: 'alice' });
  assert.equal(parseInput('/login alice'), { command: 'login', user: 'alice' });
  assert.equal(parseInput('/l alice'), { command: 'login', user: 'alice' });
  invalid('/register', 'usage: /register USER');
  invalid('/login', 'usage: /login USER');
  invalid('/login alice secret', 'usage: /login USER');
});

test('/logout, /quit and its aliases', () => {
  assert.equal(parseInput('/logout'), { command: 'logout' });
  for (const line of ['/quit', '/q', '/exit', '/bye', '/Q']) assert.equal(parseInput(line), { command: 'quit' }, line);
});

test('/help with and without a topic', () => {
  assert.equal(parseInput('/help'), { command: 'help' });
  assert.equal(parseInput('/h'), { command: 'help' });
  assert.equal(parseInput('/?'), { command: 'help' });
  assert.equal(parseInput('/help msg'), { command: 'help', topic: 'msg' });
  assert.equal(parseInput('/help /msg'), { command: 'help', topic: 'msg' });
});

test('/history, /edit and /delete', () => {
  assert.equal(parseInput('/history'), { command: 'history' });
  assert.equal(parseInput('/history bob'), { command: 'history', with: 'bob' });
  assert.equal(parseInput('/hist @bob 50'), { command: 'history', with: 'bob', limit: 50 });
  assert.equal(parseInput('/log 20 *'), { command: 'history', with: '*', limit: 20 });
  assert.equal(parseInput('/history 999'), { command: 'history', limit: 500 });
  invalid('/history a b c', 'usage: /history');
  invalid('/history bob carol', 'usage: /history');
  assert.equal(parseInput('/edit last fixed :smile:'), { command: 'edit', target: 'last', text: 'fixed 😄' });
  assert.equal(parseInput('/e #msg-0001 new text'), { command: 'edit', target: 'msg-0001', text: 'new text' });
  invalid('/edit last', 'usage: /edit');
  invalid('/edit', 'usage: /edit');
  assert.equal(parseInput('/delete last'), { command: 'delete', target: 'last' });
  assert.equal(parseInput('/rm #msg-0001'), { command: 'delete', target: 'msg-0001' });
  invalid('/delete', 'usage: /delete');
  invalid('/del last now', 'usage: /delete');
});

test('an unknown command is invalid with a hint, and "Did you mean" for near misses', () => {
  const plain = invalid('/dance', 'unknown command /dance', '/help');
  assert.not.match(plain, 'Did you mean');
  invalid('/wh', 'Did you mean /who?');
  invalid('/regi', 'Did you mean /register?');
  invalid('/quitt', 'Did you mean /quit?');
  invalid('/logo', 'Did you mean /logout?');
  invalid('/logou', 'Did you mean /logout?');
  invalid('/broad', 'Did you mean /all?');
});

test('plain text is say; //text says /text; empty lines are empty', () => {
  assert.equal(parseInput('hello world'), { command: 'say', text: 'hello world' });
  assert.equal(parseInput('  leading spaces kept'), { command: 'say', text: '  leading spaces kept' });
  assert.equal(parseInput('//text'), { command: 'say', text: '/text' });
  assert.equal(parseInput('//who'), { command: 'say', text: '/who' });
  assert.equal(parseInput('a /who in the middle'), { command: 'say', text: 'a /who in the middle' });
  for (const empty of ['', '   ', '\n', '\t', '\r\n']) assert.equal(parseInput(empty), { command: 'empty' }, JSON.stringify(empty));
});

test('emoji shortcodes become emoji in message text', () => {
  assert.equal(parseInput('/msg bob :smile:'), { command: 'msg', to: 'bob', text: '😄' });
  assert.equal(parseInput('@bob great :tada: :+1:'), { command: 'msg', to: 'bob', text: 'great 🎉 👍' });
  assert.equal(parseInput('/all :smile: all'), { command: 'all', text: '😄 all' });
  assert.equal(parseInput('hi :smile:'), { command: 'say', text: 'hi 😄' });
  assert.equal(parseInput('//smile :smile:'), { command: 'say', text: '/smile 😄' });
  assert.is(withEmoji(':not_an_emoji_code:'), ':not_an_emoji_code:');
  assert.is(withEmoji('time 10:30:45'), 'time 10:30:45');
  // names are not emojified
  assert.equal(parseInput('/msg :smile: hi'), { command: 'msg', to: ':smile:', text: 'hi' });
});

test('helpText lists every command; a topic shows one', () => {
  const text = helpText();
  assert.match(text, 'Commands:');
  assert.match(text, '@USER TEXT');
  for (const spec of COMMANDS) {
    assert.match(text, spec.usage);
    assert.match(text, spec.summary);
  }
  for (const name of ['/register', '/login', '/msg', '/all', '/who', '/logout', '/quit', '/help']) assert.match(text, name);
  assert.match(helpText('msg'), '/msg USER TEXT');
  assert.match(helpText('msg'), '/m, /tell');
  assert.match(helpText('q'), '/quit');
  assert.not.match(helpText('logout'), 'also');
  assert.match(helpText('dance'), 'no command /dance');
});

test('findCommand and COMMAND_WORDS', () => {
  assert.is(findCommand('M')?.name, 'msg');
  assert.is(findCommand('nope'), undefined);
  assert.equal(COMMAND_WORDS, COMMANDS.map((c) => `/${c.name}`));
  assert.ok(COMMAND_WORDS.includes('/who'));
});

// Found by test/fuzz/commands-fuzz.test.ts.
test('a bare @ or # names no one: usage, not a command aimed at ""', () => {
  for (const line of ['/msg @ hi', '@@ hi', '/block @', '/unblock @', '/history @', '/edit # hi', '/delete #', '/group join #', '/group create #', '/group invite club @', '/group # hi']) {
    assert.is(parseInput(line).command, 'invalid', line);
  }
  assert.equal(parseInput('/msg @bob hi'), { command: 'msg', to: 'bob', text: 'hi' });
  assert.equal(parseInput('/group invite #club @bob'), { command: 'group', action: 'invite', name: 'club', user: 'bob' });
});

test('many line breaks before text are trimmed in linear time', () => {
  const started = performance.now();
  assert.equal(parseInput('\n'.repeat(50_000) + 'x\r\n'), { command: 'say', text: '\n'.repeat(50_000) + 'x' });
  assert.ok(performance.now() - started < 500, 'was quadratic: seconds for 50k line breaks');
});

test.run();
