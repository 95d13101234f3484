import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParleyError } from '../../../src/protocol/errors.ts';
import { LoginForm, loginErrorText } from '../../../src/client/tui/login-form.ts';
import type { KeyAction } from '../../../src/client/tui/keys.ts';

const type = (form: LoginForm, text: string) => {
  for (const ch of text) form.handle({ type: 'insert', text: ch });
};
const key = (form: LoginForm, name: Exclude<KeyAction['type'], 'insert' | 'switch'>) => form.handle({ type: name } as KeyAction);

test('typing fills the focused field; Tab moves on; Enter on the username goes to the password', () => {
  const form = new LoginForm();
  assert.is(form.field, 'user');
  type(form, 'alice');
  assert.is(key(form, 'enter'), null);
  assert.is(form.field, 'password');
  type(form, 'secret1!');
  assert.equal(key(form, 'enter'), { type: 'submit', user: 'alice', password: 'secret1!', register: false });
  assert.is(form.user.value, 'alice');
});

test('the register switch toggles with Space or the arrows, and Tab cycles through all fields', () => {
  const form = new LoginForm('bob');
  assert.is(form.field, 'password', 'a known user starts at the password');
  key(form, 'tab');
  assert.is(form.field, 'register');
  form.handle({ type: 'insert', text: ' ' });
  assert.ok(form.register);
  key(form, 'left');
  assert.not.ok(form.register);
  form.handle({ type: 'insert', text: 'x' });
  assert.not.ok(form.register, 'other keys leave the switch alone');
  key(form, 'tab');
  assert.is(form.field, 'user');
  key(form, 'backtab');
  assert.is(form.field, 'register');
  key(form, 'up');
  assert.is(form.field, 'password');
  key(form, 'down');
  assert.is(form.field, 'register');
});

test('missing fields are named in place instead of submitting', () => {
  const form = new LoginForm();
  key(form, 'tab');
  assert.is(key(form, 'enter'), null);
  assert.is(form.error, 'Type a username.');
  assert.is(form.field, 'user');
  type(form, 'al');
  assert.is(form.error, null, 'typing clears the error');
  key(form, 'tab');
  key(form, 'tab');
  key(form, 'enter');
  assert.is(form.error, 'Type a password.');
  key(form, 'backspace');
  key(form, 'kill-word');
});

test('Esc and Ctrl+C abort, even while busy; other keys wait while busy', () => {
  const form = new LoginForm('x');
  form.busy = true;
  assert.is(key(form, 'tab'), null);
  assert.is(form.field, 'password');
  assert.equal(key(form, 'escape'), { type: 'abort' });
  assert.equal(key(form, 'quit'), { type: 'abort' });
});

test('a failure is shown in place and puts the focus where the fix is', () => {
  const form = new LoginForm('alice');
  type(form, 'wrongpass');
  form.busy = true;
  form.fail(new ParleyError('E_BAD_CREDENTIALS'), 'h:1');
  assert.not.ok(form.busy);
  assert.is(form.error, 'Wrong username or password.');
  assert.is(form.password.value, '', 'the wrong password is cleared');
  form.fail(new ParleyError('E_USER_EXISTS'), 'h:1');
  assert.is(form.field, 'user');
  form.fail(new ParleyError('E_NO_SUCH_USER'), 'h:1');
  assert.is(form.field, 'register');
});

test('error sentences for each login failure', () => {
  assert.is(loginErrorText(new ParleyError('E_LOCKED', 'locked', { details: { retryAfter: 42 } }), 'a', 'h:1'), 'This account is locked after too many failed logins; try again in 42 s.');
  assert.match(loginErrorText(new ParleyError('E_LOCKED'), 'a', 'h:1'), 'try again later');
  assert.match(loginErrorText(new ParleyError('E_USER_EXISTS'), 'bob', 'h:1'), "The name 'bob' is taken");
  assert.match(loginErrorText(new ParleyError('E_NO_SUCH_USER'), 'bob', 'h:1'), "no account 'bob'");
  assert.is(loginErrorText(new ParleyError('E_UNREACHABLE', 'cannot reach h:1: ECONNREFUSED'), 'a', 'h:1'), 'Cannot reach the server at h:1. Is it running? Press Enter to try again.');
  assert.match(loginErrorText(new ParleyError('E_TIMEOUT'), 'a', 'h:1'), 'connection to h:1 was lost');
  assert.is(loginErrorText(new ParleyError('E_WEAK_PASSWORD', 'password too short: use at least 8 characters'), 'a', 'h:1'), 'Password too short: use at least 8 characters.');
  assert.is(loginErrorText(new Error('odd!'), 'a', 'h:1'), 'Odd!');
});

test.run();
