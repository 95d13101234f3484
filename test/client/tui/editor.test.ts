import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { History, LineEditor } from '../../../src/client/tui/editor.ts';

function editor(value: string, cursor?: number): LineEditor {
  const e = new LineEditor();
  e.set(value, cursor);
  return e;
}

test('typing inserts at the cursor; emoji and CJK are one step each', () => {
  const e = new LineEditor();
  for (const ch of ['h', 'i', ' ', '😀', '中']) e.apply({ type: 'insert', text: ch });
  assert.is(e.value, 'hi 😀中');
  assert.is(e.cursor, 5);
  e.apply({ type: 'left' });
  e.apply({ type: 'backspace' });
  assert.is(e.value, 'hi 中', 'Backspace removes the whole emoji, not half a surrogate pair');
  e.apply({ type: 'home' });
  e.apply({ type: 'insert', text: '>' });
  assert.is(e.value, '>hi 中');
});

test('a skin tone or accent joins the character before it', () => {
  const e = editor('👍');
  e.insert('🏽');
  assert.is(e.cursor, 1);
  const f = editor('e');
  f.insert('\u0301');
  assert.is(f.cursor, 1);
  f.apply({ type: 'backspace' });
  assert.is(f.value, '');
});

test('cursor movement stays within the line', () => {
  const e = editor('ab', 0);
  e.apply({ type: 'left' });
  assert.is(e.cursor, 0);
  e.apply({ type: 'backspace' });
  assert.is(e.value, 'ab', 'Backspace at the start does nothing');
  e.apply({ type: 'end' });
  e.apply({ type: 'right' });
  assert.is(e.cursor, 2);
  e.apply({ type: 'delete' });
  assert.is(e.value, 'ab', 'Delete at the end does nothing');
  e.apply({ type: 'home' });
  e.apply({ type: 'delete' });
  assert.is(e.value, 'b');
});

test('Ctrl+W, Ctrl+U and Ctrl+K cut like a shell', () => {
  const e = editor('/msg bob  hello there');
  e.apply({ type: 'kill-word' });
  assert.is(e.value, '/msg bob  hello ');
  e.apply({ type: 'kill-word' });
  assert.is(e.value, '/msg bob  ');
  e.apply({ type: 'kill-word' });
  assert.is(e.value, '/msg ');
  const u = editor('abc def', 3);
  u.apply({ type: 'kill-end' });
  assert.is(u.value, 'abc');
  u.apply({ type: 'kill-start' });
  assert.is(u.value, '');
  assert.not.ok(u.apply({ type: 'enter' } as never), 'not an edit');
});

test('view scrolls a long line so the cursor stays visible, counting wide characters as two cells', () => {
  const e = editor('abcdefghij');
  assert.equal(e.view(20), { text: 'abcdefghij', cursor: 10 });
  const tail = e.view(5);
  assert.is(tail.text, 'ghij');
  assert.is(tail.cursor, 4);
  e.set('abcdefghij', 0);
  assert.equal(e.view(5), { text: 'abcde', cursor: 0 });
  const wide = editor('中文中文');
  assert.equal(wide.view(20), { text: '中文中文', cursor: 8 });
  const narrow = wide.view(5);
  assert.ok(narrow.cursor <= 4);
  assert.is(narrow.text, '中文');
});

test('view masks a password, one mark per character', () => {
  assert.equal(editor('pä😀').view(10, '•'), { text: '•••', cursor: 3 });
});

test('history: Up recalls older lines, Down comes back to the draft', () => {
  const h = new History();
  h.push('one');
  h.push('two');
  h.push('two');
  h.push('   ');
  assert.is(h.previous('draft'), 'two');
  assert.is(h.previous('two'), 'one', 'duplicates and blank lines are not recorded');
  assert.is(h.previous('one'), null);
  assert.is(h.next(), 'two');
  assert.is(h.next(), 'draft');
  assert.is(h.next(), null);
});

test('history keeps at most its limit', () => {
  const h = new History(3);
  for (const line of ['a', 'b', 'c', 'd']) h.push(line);
  assert.is(h.previous(''), 'd');
  assert.is(h.previous(''), 'c');
  assert.is(h.previous(''), 'b');
  assert.is(h.previous(''), null);
});

test.run();
