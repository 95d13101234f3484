import { test } from 'uvu';
import * as assert from 'uvu/assert';
import blessed from 'blessed';
import { codePointWidth, graphemeWidth, graphemes, padCells, patchBlessedWidths, stringWidth, truncate } from '../../../src/client/tui/width.ts';

test('code point widths: Latin 1, CJK and emoji 2, marks and controls 0', () => {
  assert.is(codePointWidth('a'.codePointAt(0)!), 1);
  assert.is(codePointWidth('é'.codePointAt(0)!), 1);
  assert.is(codePointWidth('中'.codePointAt(0)!), 2);
  assert.is(codePointWidth('한'.codePointAt(0)!), 2);
  assert.is(codePointWidth('😀'.codePointAt(0)!), 2);
  assert.is(codePointWidth('🎉'.codePointAt(0)!), 2);
  assert.is(codePointWidth(0x301), 0);
  assert.is(codePointWidth(0xfe0f), 0);
  assert.is(codePointWidth(0), 0);
  assert.is(codePointWidth(0x1b), 0);
  assert.is(codePointWidth('→'.codePointAt(0)!), 1);
});

test('grapheme widths: emoji sequences are one wide glyph', () => {
  assert.is(graphemeWidth('👍🏽'), 2);
  assert.is(graphemeWidth('❤️'), 2);
  assert.is(graphemeWidth('🇫🇷'), 2);
  assert.is(graphemeWidth('é'), 1);
  assert.equal(graphemes('a👍🏽b'), ['a', '👍🏽', 'b']);
});

test('string width, truncation and padding count cells', () => {
  assert.is(stringWidth('hi 😀 中文'), 10);
  assert.is(truncate('hello world', 6), 'hello…');
  assert.is(truncate('中文中文', 5), '中文…');
  assert.is(truncate('short', 10), 'short');
  assert.is(padCells('中', 4), '中  ');
  assert.is(padCells('abcdef', 4), 'abc…');
});

test('patching blessed makes it count emoji as two cells, as terminals draw them', () => {
  const unicode = (blessed as unknown as { unicode: Parameters<typeof patchBlessedWidths>[0] & { strWidth(s: string): number } }).unicode;
  patchBlessedWidths(unicode);
  patchBlessedWidths(unicode); // idempotent
  assert.is(unicode.strWidth('a😀中'), 5);
  assert.is(unicode.charWidth('\t', 0) > 0, true, 'tabs keep blessed’s rule');
  assert.is(unicode.charWidth(0x1f600), 2);
  assert.is('x😀y'.replace(unicode.chars.all, '$1\x03'), 'x😀\x03y');
  assert.is('中'.replace(unicode.chars.all, '$1\x03'), '中\x03');
});

test.run();
