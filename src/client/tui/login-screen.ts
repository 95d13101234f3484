/**
 * The login/register screen: the server (and its key, prominently on first contact), username,
 * masked password, the "create account" switch, and errors in place. Draws a LoginForm.
 */
import blessed from 'blessed';
import type { TrustEvent } from '../connection.ts';
import { escapeTags } from './format.ts';
import type { LoginForm } from './login-form.ts';
import type { Screen } from './screen.ts';
import { stringWidth } from './width.ts';

export interface LoginInfo {
  address: string;
  /** The server's key decision, once the handshake has happened. */
  trust: TrustEvent | null;
  /** "connecting…", "connected", ... */
  connection: string;
}

const LABEL = 12;
/** Cells of a text field. */
const FIELD = 30;

export class LoginScreen {
  private readonly panel: blessed.Widgets.BoxElement;
  private cursorAt: { row: number; col: number } | null = null;
  private rows = 18;

  constructor(
    private readonly screen: Screen,
    private readonly form: LoginForm,
    private readonly info: () => LoginInfo,
  ) {
    this.panel = blessed.box({
      parent: screen,
      top: 'center',
      left: 'center',
      width: '100%',
      height: '100%',
      tags: true,
      border: { type: 'line' },
      label: ' Parley ',
      style: { border: { fg: 'cyan' } },
      padding: { left: 1, right: 1 },
      hidden: true,
    });
  }

  show(): void {
    this.panel.show();
  }

  hide(): void {
    this.panel.hide();
  }

  get visible(): boolean {
    return !this.panel.hidden;
  }

  /** Panel size: a comfortable dialog on a big terminal, the whole screen on a small one. */
  private size(): { width: number; height: number } {
    const cols = this.screen.width as number;
    const rows = this.screen.height as number;
    return { width: Math.min(cols, 78), height: Math.min(rows, this.rows + 2) };
  }

  draw(): void {
    const { width } = this.size();
    const inner = width - 4; // border and padding
    const info = this.info();
    const form = this.form;
    const lines: string[] = [];
    lines.push(`{bold}Welcome to Parley{/bold}  {grey-fg}${escapeTags(info.connection)}{/grey-fg}`);
    lines.push('');
    lines.push(`${'Server'.padEnd(LABEL)}${escapeTags(info.address)}`);
    if (info.trust) {
      lines.push(`${'Key'.padEnd(LABEL)}{bold}${escapeTags(info.trust.fingerprint)}{/bold}`);
      if (info.trust.decision === 'first-use') {
        lines.push(`{yellow-fg}First connection to this server: verify this fingerprint with the{/yellow-fg}`);
        lines.push(`{yellow-fg}server's owner before you log in. Esc aborts and forgets the key.{/yellow-fg}`);
      }
    } else {
      lines.push(`${'Key'.padEnd(LABEL)}{grey-fg}(not connected yet){/grey-fg}`);
    }
    lines.push('');
    const fieldRow = (label: string, field: 'user' | 'password') => {
      // The focused field is marked with "›" as well as colour, so it shows in any terminal.
      const focused = form.field === field;
      const view = form[field].view(Math.max(4, Math.min(FIELD, inner - LABEL - 2)), field === 'password' ? '•' : undefined);
      const shown = escapeTags(view.text);
      const name = (focused ? '› ' : '  ') + label;
      const row = `${focused ? '{cyan-fg}{bold}' : ''}${name.padEnd(LABEL)}${focused ? '{/bold}{/cyan-fg}' : ''}[{underline}${shown}${' '.repeat(Math.max(0, FIELD - stringWidth(view.text)))}{/underline}]`;
      if (focused) this.cursorAt = { row: lines.length, col: LABEL + 1 + view.cursor };
      lines.push(row);
    };
    this.cursorAt = null;
    fieldRow('Username', 'user');
    fieldRow('Password', 'password');
    const box = form.register ? '[x]' : '[ ]';
    const switchText = `${box} create a new account (register)`;
    lines.push(form.field === 'register' ? `{cyan-fg}{bold}${'› '.padEnd(LABEL)}${switchText}{/bold}{/cyan-fg}  {grey-fg}Space toggles{/grey-fg}` : `${' '.repeat(LABEL)}${switchText}`);
    lines.push('');
    lines.push(form.busy ? `{yellow-fg}${form.register ? 'Registering' : 'Logging in'}…{/yellow-fg}` : form.error ? `{red-fg}{bold}${escapeTags(form.error)}{/bold}{/red-fg}` : '');
    lines.push('');
    lines.push(`{grey-fg}Tab/↑↓ move · Enter ${form.register ? 'registers' : 'logs in'} · Esc quits{/grey-fg}`);
    // One spare row, for an error sentence that wraps.
    this.rows = lines.length + 1;
    Object.assign(this.panel, this.size());
    this.panel.setContent(lines.join('\n'));
  }

  /** Where the cursor goes: in the focused field (hidden on the register switch). */
  cursor(): { row: number; col: number } | null {
    if (!this.cursorAt || this.form.busy) return null;
    const { width, height } = this.size();
    const top = Math.floor(((this.screen.height as number) - height) / 2);
    const left = Math.floor(((this.screen.width as number) - width) / 2);
    return { row: top + 1 + this.cursorAt.row, col: left + 2 + this.cursorAt.col };
  }
}
