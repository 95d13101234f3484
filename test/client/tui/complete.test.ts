import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMAND_WORDS } from '../../../src/client/commands.ts';
import { Completer, candidates, emojiShortcodes, type CompletionSources } from '../../../src/client/tui/complete.ts';
import { LineEditor } from '../../../src/client/tui/editor.ts';

const sources: CompletionSources = { users: () => ['bob', 'bobby', 'carol'], groups: () => ['team', 'teapot', 'ops'], commands: COMMAND_WORDS };

function typed(value: string, cursor?: number): LineEditor {
  const e = new LineEditor();
  e.set(value, cursor);
  return e;
}

test('commands complete only as the first word', () => {
  assert.equal(candidates('/wh', true, sources), ['/who ']);
  assert.equal(candidates('/WH', true, sources), ['/who ']);
  assert.equal(candidates('/wh', false, sources), []);
});

test('usernames complete bare, after @, and as "name: " at the start of a line', () => {
  assert.equal(candidates('bo', false, sources), ['bob ', 'bobby ']);
  assert.equal(candidates('@ca', true, sources), ['@carol ']);
  assert.equal(candidates('ca', true, sources), ['carol: ']);
  assert.equal(candidates('', false, sources), [], 'nothing typed: nothing to complete');
  assert.equal(candidates('@', false, sources).length, 3);
});

test('group names complete after #, anywhere on the line; the new commands complete too', () => {
  assert.equal(candidates('#te', true, sources), ['#team ', '#teapot ']);
  assert.equal(candidates('#O', false, sources), ['#ops ']);
  assert.equal(candidates('#', false, sources).length, 3);
  assert.equal(candidates('#x', false, sources), []);
  assert.equal(candidates('te', false, sources, '/group join '), ['team ', 'teapot '], 'a bare group name after /group join');
  assert.equal(candidates('', false, sources, '/group leave  ').length, 3);
  assert.equal(candidates('bo', false, sources, '/group invite team '), ['bob ', 'bobby '], 'the user after the group is a name');
  assert.equal(candidates('#te', false, { users: () => [], commands: [] }), [], 'no group source: nothing');
  for (const word of ['/group ', '/block ', '/unblock ', '/blocked ', '/status ', '/profile ', '/communities ']) assert.ok(candidates(word.slice(0, 4), true, sources).includes(word), word);
});

test('emoji shortcodes complete after a colon, best match first', () => {
  assert.equal(candidates(':smi', false, sources)[0], ':smile: ');
  assert.equal(emojiShortcodes('tad'), [':tada:']);
  assert.equal(emojiShortcodes(''), []);
  assert.equal(candidates(':smile:', false, sources), [], 'a finished shortcode is left alone');
  assert.equal(candidates(':', false, sources), []);
  assert.ok(emojiShortcodes('xyzzy-nothing').length === 0);
});

test('Tab replaces the word before the cursor and keeps the rest of the line', () => {
  const completer = new Completer(sources);
  const e = typed('/msg ca hello', 7);
  assert.ok(completer.complete(e));
  assert.is(e.value, '/msg carol hello');
  assert.is(e.cursor, 10);
});

test('Tab again cycles through the matches; Shift+Tab goes back; another key starts over', () => {
  const completer = new Completer(sources);
  const e = typed('hi bo');
  completer.complete(e);
  assert.is(e.value, 'hi bob ');
  completer.complete(e);
  assert.is(e.value, 'hi bobby ');
  completer.complete(e);
  assert.is(e.value, 'hi bob ', 'wraps around');
  completer.complete(e, -1);
  assert.is(e.value, 'hi bobby ');
  completer.reset();
  e.insert('ca');
  completer.complete(e);
  assert.is(e.value, 'hi bobby carol ');
});

test('no match: nothing changes', () => {
  const completer = new Completer(sources);
  const e = typed('zz');
  assert.not.ok(completer.complete(e));
  assert.is(e.value, 'zz');
});

test.run();
