import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyDecoder } from '../../../src/client/tui/keys.ts';

const decode = (ch: string | undefined, full: string, extra: Record<string, unknown> = {}) => new KeyDecoder().decode(ch, { full, name: full, ...extra });

test('named keys map to actions', () => {
  assert.equal(decode('\r', 'enter'), { type: 'enter' });
  assert.is(decode('\r', 'return'), null, 'blessed reports Enter twice; one is ignored');
  assert.equal(decode('\t', 'tab'), { type: 'tab' });
  assert.equal(decode(undefined, 'S-tab'), { type: 'backtab' });
  assert.equal(decode('\x0e', 'C-n', { ctrl: true }), { type: 'next' });
  assert.equal(decode('\x10', 'C-p', { ctrl: true }), { type: 'previous' });
  assert.equal(decode(undefined, 'pageup'), { type: 'page-up' });
  assert.equal(decode(undefined, 'pagedown'), { type: 'page-down' });
  assert.equal(decode('\x03', 'C-c', { ctrl: true }), { type: 'quit' });
  assert.equal(decode('\x17', 'C-w', { ctrl: true }), { type: 'kill-word' });
  assert.equal(decode('\x1b', 'escape'), { type: 'escape' });
});

test('Alt+1..9 switch conversations', () => {
  assert.equal(new KeyDecoder().decode(undefined, { full: 'M-1', name: '1', meta: true }), { type: 'switch', index: 0 });
  assert.equal(new KeyDecoder().decode(undefined, { full: 'M-9', name: '9', meta: true }), { type: 'switch', index: 8 });
  assert.is(new KeyDecoder().decode(undefined, { full: 'M-x', name: 'x', meta: true }), null);
});

test('printable characters are inserted, including CJK and accented letters', () => {
  assert.equal(decode('a', 'a'), { type: 'insert', text: 'a' });
  assert.equal(new KeyDecoder().decode('中', { full: '中' }), { type: 'insert', text: '中' });
  assert.equal(new KeyDecoder().decode(' ', { full: 'space', name: 'space' }), { type: 'insert', text: ' ' });
});

test('an emoji delivered as two halves becomes one insert', () => {
  const keys = new KeyDecoder();
  assert.is(keys.decode('\ud83d', { full: '\ud83d' }), null);
  assert.equal(keys.decode('\ude00', { full: '\ude00' }), { type: 'insert', text: '😀' });
  assert.is(keys.decode('\ude00', { full: '\ude00' }), null, 'a lone low half is dropped');
});

test('unbound control keys insert nothing', () => {
  assert.is(decode('\x1b[15~', 'f5'), null);
  assert.is(decode('\x07', 'C-g', { ctrl: true }), null);
  assert.is(decode(undefined, 'f1'), null);
  assert.is(decode('', 'x'), null);
});

test.run();
