/**
 * The chat controller: runs what the user typed against the engine and turns everything that
 * happens into ViewEvents. Both front ends (plain lines, full screen) use it unchanged.
 */
import { ParleyError, toParleyError } from '../protocol/errors.ts';
import type { SendResult } from '../protocol/messages.ts';
import { helpText, parseInput, type Command } from './commands.ts';
import { newMessageId, type ParleyClient } from './connection.ts';
import type { View, ViewEvent } from './view.ts';

export interface ControllerOptions {
  /** Password source for non-interactive use (--password-file, --password-stdin). */
  password?: () => Promise<string>;
  /** Where text without a command goes; the full-screen UI sets it to the focused conversation. */
  focus?: () => string | null;
}

export class ChatController {
  constructor(
    readonly client: ParleyClient,
    private readonly view: View,
    private readonly options: ControllerOptions = {},
  ) {
    client.on('state', () => this.refreshStatus());
    client.on('trust', (t) => this.show({ kind: 'trust', ...t, ts: Date.now() }));
    client.on('login', (info) => {
      this.show({ kind: 'login', ...info, ts: Date.now() });
      this.refreshStatus();
    });
    client.on('message', (m) => this.show({ kind: 'message', msgId: m.msgId, scope: m.scope, from: m.from, to: m.to, text: m.text, ts: m.ts }));
    client.on('presence', (p) => this.show({ kind: 'presence', user: p.user, event: p.event, ts: p.at }));
    client.on('notice', (n) => {
      this.show({ kind: 'notice', code: n.code, message: n.message, ts: Date.now() });
      this.refreshStatus();
    });
    client.on('error', (err) => this.showError(err));
  }

  private show(event: ViewEvent): void {
    this.view.show(event);
  }

  private showError(err: unknown): void {
    const error = toParleyError(err);
    this.show({ kind: 'error', code: error.code, message: error.message, ts: Date.now() });
  }

  refreshStatus(): void {
    const c = this.client;
    this.view.status({ state: c.state, detail: '', user: c.user, address: c.address, fingerprint: c.serverFingerprint, queued: c.queuedCount });
  }

  /**
   * Connects; with `user`, logs in as that user (resuming a saved session when there is one,
   * otherwise asking for the password). Returns false when the server cannot be reached.
   */
  async start(user?: string): Promise<boolean> {
    try {
      await this.client.connect();
    } catch (err) {
      this.showError(err);
      return false;
    }
    if (user) await this.execute({ command: 'login', user });
    else this.show({ kind: 'info', text: 'not logged in: /login NAME or /register NAME (/help lists commands)', ts: Date.now() });
    return true;
  }

  /** Parses and runs one line of input. */
  run(line: string): Promise<void> {
    return this.execute(parseInput(line));
  }

  async execute(command: Command): Promise<void> {
    try {
      await this.dispatch(command);
    } catch (err) {
      this.showError(err);
    }
  }

  private async askPassword(prompt: string): Promise<string> {
    return this.options.password ? this.options.password() : this.view.askSecret(prompt);
  }

  private async dispatch(command: Command): Promise<void> {
    const client = this.client;
    switch (command.command) {
      case 'empty':
        return;
      case 'invalid':
        throw new ParleyError('E_USAGE', command.message);
      case 'help':
        this.show({ kind: 'help', text: helpText(command.topic), ts: Date.now() });
        return;
      case 'register': {
        const password = await this.askPassword(`new password for ${command.user}: `);
        await client.register(command.user, password);
        return;
      }
      case 'login': {
        // A saved session for this user resumes without the password.
        if (await client.resumeSaved(command.user)) return;
        const password = await this.askPassword(`password for ${command.user}: `);
        await client.login(command.user, password);
        return;
      }
      case 'logout':
        await client.logout();
        this.show({ kind: 'logout', ts: Date.now() });
        client.close();
        this.view.exit(0);
        return;
      case 'quit':
        await client.quit();
        this.view.exit(0);
        return;
      case 'who': {
        const { users } = await client.who(command.since);
        this.show({ kind: 'who', users, since: command.since, ts: Date.now() });
        return;
      }
      case 'msg':
        return this.send('private', command.text, command.to);
      case 'all':
        return this.send('broadcast', command.text);
      case 'say': {
        const focus = this.options.focus?.() ?? null;
        if (focus === null) throw new ParleyError('E_USAGE', 'to send a message: @USER TEXT or /all TEXT (/help lists commands)');
        return focus === '*' ? this.send('broadcast', command.text) : this.send('private', command.text, focus);
      }
    }
  }

  private async send(scope: 'private' | 'broadcast', text: string, to?: string): Promise<void> {
    const client = this.client;
    const msgId = newMessageId();
    const ts = Date.now();
    const base = { kind: 'sent' as const, msgId, scope, to, text, ts };
    const queued = !client.loggedIn && client.user !== null;
    if (queued) this.show({ ...base, status: 'queued' });
    const sending = scope === 'private' ? client.sendPrivate(to!, text, msgId) : client.broadcast(text, msgId);
    if (queued) this.refreshStatus();
    let result: SendResult;
    try {
      result = await sending;
    } catch (err) {
      const error = toParleyError(err);
      this.show({ ...base, status: 'failed', error: { code: error.code, message: error.message } });
      return;
    } finally {
      if (queued) this.refreshStatus();
    }
    this.show({ ...base, status: 'sent', recipients: result.recipients });
  }
}
