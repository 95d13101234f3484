import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_TEXT, isErrorCode, ParleyError, toParleyError } from '../../src/protocol/errors.ts';

test('a ParleyError carries code, name, default message, fatal and details', () => {
  const e = new ParleyError('E_LOCKED');
  assert.instance(e, Error);
  assert.is(e.name, 'ParleyError');
  assert.is(e.code, 'E_LOCKED');
  assert.is(e.message, ERROR_TEXT.E_LOCKED);
  assert.is(e.fatal, false);
  assert.equal(e.details, {});
});

test('message, fatal and details can be given', () => {
  const e = new ParleyError('E_DECRYPT', 'bad frame', { fatal: true, details: { retryAfter: 3 } });
  assert.is(e.message, 'bad frame');
  assert.is(e.fatal, true);
  assert.equal(e.details, { retryAfter: 3 });
});

test('isErrorCode knows every code and nothing else', () => {
  for (const code of Object.keys(ERROR_TEXT)) assert.ok(isErrorCode(code), code);
  assert.not.ok(isErrorCode('E_NOPE'));
  assert.not.ok(isErrorCode('toString'));
  assert.not.ok(isErrorCode(42));
  assert.not.ok(isErrorCode(undefined));
});

test('every code has a sentence and the E_ prefix', () => {
  for (const [code, text] of Object.entries(ERROR_TEXT)) {
    assert.match(code, /^E_[A-Z_]+$/);
    assert.ok(text.length > 3, code);
  }
});

test('toParleyError keeps ParleyErrors and wraps anything else as E_INTERNAL', () => {
  const original = new ParleyError('E_SELF');
  assert.is(toParleyError(original), original);
  const wrapped = toParleyError(new TypeError('boom'));
  assert.is(wrapped.code, 'E_INTERNAL');
  assert.is(wrapped.message, 'boom');
  assert.is(toParleyError('text').message, 'text');
  assert.is(toParleyError(undefined).code, 'E_INTERNAL');
});

test.run();
