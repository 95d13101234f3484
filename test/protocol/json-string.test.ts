import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapedJsonString } from '../../src/protocol/json-string.ts';

/** The JSON of `text` as the writers make it: escaped, or in quotes as it is. */
const jsonString = (text: string) => escapedJsonString(text) ?? `"${text}"`;
import { fuzzOptions } from '../fuzz/settings.ts';
import { anyUtf16 } from '../helpers/utf16.ts';

test('a string escaped where it might need it, else in quotes as it is, is JSON.stringify of it: plain texts, each character JSON escapes, emoji, lone surrogates', () => {
  const cases = [
    '',
    'hello, world',
    'a "quoted" word',
    'back\\slash',
    'tab\tnewline\ncarriage\r',
    '\u0000\u0001\u001f',
    '\u007f delete is not escaped',
    '\u2028\u2029 line separators are not escaped',
    'emoji 😄 (a surrogate pair)',
    'a lone \ud800 high surrogate',
    'a lone \udc00 low surrogate',
    'reversed \udc00\ud800 pair',
    '</script>',
    'é, ß, 中文',
  ];
  for (const text of cases) assert.is(jsonString(text), JSON.stringify(text), JSON.stringify(text));
});

test('escaped or quoted as it is, any string is JSON.stringify of it', () => {
  fc.assert(
    fc.property(fc.oneof(anyUtf16, fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
      assert.is(jsonString(text), JSON.stringify(text));
    }),
    fuzzOptions(3),
  );
});

test.run();
