import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sanitize } from '../../src/client/sanitize.ts';

const ESC = '\x1b';

test('CSI sequences are stripped (colours, cursor moves, clear screen)', () => {
  assert.is(sanitize(`${ESC}[31mred${ESC}[0m`), 'red');
  assert.is(sanitize(`a${ESC}[2Jb${ESC}[H`), 'ab');
  assert.is(sanitize(`x${ESC}[10;20Hy`), 'xy');
  assert.is(sanitize(`${ESC}[?25lhidden cursor${ESC}[?25h`), 'hidden cursor');
  assert.is(sanitize(`8-bit\x9b31mCSI`), '8-bitCSI');
});

test('OSC sequences are stripped (window title, hyperlinks), with BEL or ST', () => {
  assert.is(sanitize(`${ESC}]0;pwned${'\x07'}text`), 'text');
  assert.is(sanitize(`${ESC}]2;title${ESC}\\text`), 'text');
  assert.is(sanitize(`${ESC}]8;;http://evil${ESC}\\click${ESC}]8;;${ESC}\\`), 'click');
});

test('other ESC sequences and DCS/PM/APC strings are stripped', () => {
  assert.is(sanitize(`a${ESC}cb`), 'ab');
  assert.is(sanitize(`a${ESC}7b${ESC}8c`), 'abc');
  assert.is(sanitize(`a${ESC}Pq#0;2;0;0;0${ESC}\\b`), 'ab');
  assert.is(sanitize(`a${ESC}_apc${ESC}\\b`), 'ab');
  assert.is(sanitize(`a${ESC}(Bb${ESC}[m`), 'ab', 'charset selection, as tput sgr0 prints');
  assert.is(sanitize(`a${ESC}=b${ESC}>c`), 'abc');
  assert.is(sanitize(`trailing${ESC}`), 'trailing');
});

test('C0 and C1 controls and DEL are removed', () => {
  assert.is(sanitize('a\x00b\x07c\x08d\x7fe'), 'abcde');
  assert.is(sanitize('a\x0bb\x0cc\x1fd'), 'abcd');
  assert.is(sanitize('a\x80b\x85c\x9fd'), 'abcd');
  let all = '';
  for (let c = 0; c < 0x20; c++) if (c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x1b) all += String.fromCharCode(c);
  for (let c = 0x7f; c <= 0x9f; c++) if (c !== 0x9b) all += String.fromCharCode(c);
  assert.is(sanitize(`[${all}]`), '[]');
  assert.is(sanitize(`[${all}]`, true), '[]');
});

test('bidirectional overrides and isolates are removed', () => {
  assert.is(sanitize('abc\u202edcba'), 'abcdcba');
  for (const c of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']) {
    assert.is(sanitize(`x${c}y`), 'xy', c.codePointAt(0)!.toString(16));
  }
});

test('emoji, CJK and accented text are kept', () => {
  const text = 'héllo 日本語 한국어 😄 👨‍👩‍👧 🇫🇷 👍🏽';
  assert.is(sanitize(text), text);
  assert.is(sanitize(text, true), text);
});

test('newlines are kept only in multiline mode', () => {
  assert.is(sanitize('one\ntwo'), 'one two');
  assert.is(sanitize('one\r\ntwo\n\nthree'), 'one two three');
  assert.is(sanitize('one\rtwo'), 'one two');
  assert.is(sanitize('one\ntwo', true), 'one\ntwo');
  assert.is(sanitize('one\r\ntwo\rthree\n\nfour', true), 'one\ntwo\nthree\n\nfour');
});

test('tabs become spaces', () => {
  assert.is(sanitize('a\tb'), 'a    b');
  assert.is(sanitize('\t', true), '    ');
});

test('plain text is untouched', () => {
  const text = 'Hello, world! [brackets] ~tilde~ `code` 100% $5 @bob #tag';
  assert.is(sanitize(text), text);
});

test.run();
