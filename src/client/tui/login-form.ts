/**
 * The login/register form's state: two fields, the register switch, which one has focus, and the
 * error shown in place. Pure, like the chat model; the blessed login screen only draws it.
 */
import { toParleyError } from '../../protocol/errors.ts';
import { LineEditor } from './editor.ts';
import type { KeyAction } from './keys.ts';

export type LoginField = 'user' | 'password' | 'register';
const FIELDS: LoginField[] = ['user', 'password', 'register'];

/** What the person asked for with a key. */
export type LoginIntent = { type: 'submit'; user: string; password: string; register: boolean } | { type: 'abort' } | null;

export class LoginForm {
  readonly user = new LineEditor();
  readonly password = new LineEditor();
  register = false;
  field: LoginField = 'user';
  error: string | null = null;
  /** A login is in flight: keys wait. */
  busy = false;

  constructor(user = '') {
    this.user.set(user);
    if (user) this.field = 'password';
  }

  private move(step: number): void {
    this.field = FIELDS[(FIELDS.indexOf(this.field) + step + FIELDS.length) % FIELDS.length];
  }

  /** Applies a key; returns what to do when it is Enter (submit) or Esc/Ctrl+C (abort). */
  handle(action: KeyAction): LoginIntent {
    if (action.type === 'quit' || action.type === 'escape') return { type: 'abort' };
    if (this.busy) return null;
    switch (action.type) {
      case 'tab':
      case 'down':
        this.move(1);
        return null;
      case 'backtab':
      case 'up':
        this.move(-1);
        return null;
      case 'enter':
        return this.submit();
    }
    if (this.field === 'register') {
      if (action.type === 'insert' && action.text === ' ') this.register = !this.register;
      else if (action.type === 'left' || action.type === 'right') this.register = !this.register;
      return null;
    }
    const editor = this.field === 'user' ? this.user : this.password;
    if (action.type === 'insert' || action.type === 'backspace' || action.type === 'delete' || action.type === 'left' || action.type === 'right' || action.type === 'home' || action.type === 'end' || action.type.startsWith('kill')) {
      editor.apply(action as Parameters<LineEditor['apply']>[0]);
      this.error = null;
    }
    return null;
  }

  private submit(): LoginIntent {
    const user = this.user.value.trim();
    if (!user) {
      this.field = 'user';
      this.error = 'Type a username.';
      return null;
    }
    if (this.field === 'user' && !this.password.value) {
      this.field = 'password';
      return null;
    }
    if (!this.password.value) {
      this.field = 'password';
      this.error = 'Type a password.';
      return null;
    }
    return { type: 'submit', user, password: this.password.value, register: this.register };
  }

  /** Shows why a login failed, in place, and clears the password so it can be typed again. */
  fail(err: unknown, address: string): void {
    this.busy = false;
    this.error = loginErrorText(err, this.user.value.trim(), address);
    const code = toParleyError(err).code;
    if (code === 'E_BAD_CREDENTIALS' || code === 'E_WEAK_PASSWORD' || code === 'E_LOCKED') {
      this.password.clear();
      this.field = 'password';
    } else if (code === 'E_USER_EXISTS' || code === 'E_BAD_USERNAME') {
      this.field = 'user';
    } else if (code === 'E_NO_SUCH_USER') {
      this.field = 'register'; // one Space and Enter away from creating it
    }
  }
}

/** A login or registration error as a sentence for the form. */
export function loginErrorText(err: unknown, user: string, address: string): string {
  const error = toParleyError(err);
  switch (error.code) {
    case 'E_BAD_CREDENTIALS':
      return 'Wrong username or password.';
    case 'E_LOCKED': {
      const seconds = Number(error.details.retryAfter);
      return Number.isFinite(seconds) && seconds > 0
        ? `This account is locked after too many failed logins; try again in ${seconds} s.`
        : 'This account is locked after too many failed logins; try again later.';
    }
    case 'E_USER_EXISTS':
      return `The name '${user}' is taken: choose another, or switch off "create account" to log in.`;
    case 'E_NO_SUCH_USER':
      return `There is no account '${user}': switch on "create account" to register it.`;
    case 'E_UNREACHABLE':
      return `Cannot reach the server at ${address}. Is it running? Press Enter to try again.`;
    case 'E_DISCONNECTED':
    case 'E_TIMEOUT':
      return `The connection to ${address} was lost. Press Enter to try again.`;
    default:
      return sentence(error.message);
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : capital + '.';
}
