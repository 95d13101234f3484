/**
 * The chat controller: runs what the user typed against the engine and turns everything that
 * happens into ViewEvents. Both front ends (plain lines, full screen) use it unchanged.
 */
import { ParleyError, toParleyError } from '../protocol/errors.ts';
import type { Community, GroupInfo, GroupMember, Profile, SendResult } from '../protocol/messages.ts';
import { helpText, parseInput, type Command } from './commands.ts';
import { newMessageId, type ParleyClient } from './connection.ts';
import type { Scope, View, ViewEvent } from './view.ts';

export interface ControllerOptions {
  /** Password source for non-interactive use (--password-file, --password-stdin). */
  password?: () => Promise<string>;
  /** Where text without a command goes; the full-screen UI sets it to the focused conversation. */
  focus?: () => string | null;
}

export class ChatController {
  /** The conversation you last wrote to or read, for `/edit last` and `/history` without a name. */
  private lastPeer: string | null = null;
  /** Users you block, whose group messages are hidden here. */
  private blocked = new Set<string>();
  /** Where the next `/history` page of each conversation starts (its oldest seq shown). */
  private readonly historyCursor = new Map<string, number>();

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
    client.on('message', (m) => {
      // In a shared group, a blocked user's messages still reach you: your client hides them.
      if (m.scope === 'group' && this.blocked.has(m.from)) return;
      this.show({ kind: 'message', msgId: m.msgId, scope: m.scope, from: m.from, to: m.to, group: m.group, text: m.text, ts: m.ts });
    });
    client.on('presence', (p) => this.show({ kind: 'presence', user: p.user, event: p.event, status: p.status, statusText: p.statusText, ts: p.at }));
    client.on('group_event', (g) => this.show({ kind: 'group', group: g.group, event: g.event, user: g.user, by: g.by, ts: g.at }));
    client.on('login', () => {
      // Block lists live on the server; the client needs its own to hide group messages.
      client.request<{ blocked: string[] }>({ type: 'blocked' }).then(
        (r) => (this.blocked = new Set(r.blocked)),
        () => undefined,
      );
    });
    client.on('notice', (n) => {
      this.show({ kind: 'notice', code: n.code, message: n.message, ts: Date.now() });
      this.refreshStatus();
    });
    client.on('error', (err) => this.showError(err));
    client.on('update', (u) => this.show({ kind: 'update', msgId: u.msgId, scope: u.scope, from: u.from, to: u.to, group: u.group, action: u.action, text: u.text, ts: u.at }));
    client.on('outbox', ({ item, outcome }) => {
      // A message typed in an earlier run of the client, confirmed now.
      const base = { kind: 'sent' as const, msgId: item.msgId, scope: item.scope, to: item.to, group: item.group, text: item.text, ts: item.createdAt };
      if (outcome instanceof ParleyError) this.show({ ...base, status: 'failed', error: { code: outcome.code, message: outcome.message } });
      else this.show({ ...base, status: outcome.status, recipients: outcome.recipients });
      this.refreshStatus();
    });
  }

  /** The conversation that commands without one act on: the focused one, else the last you wrote to. */
  private currentPeer(): string | null {
    return this.options.focus?.() ?? this.lastPeer;
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
      case 'history':
        return this.history(command.with, command.limit);
      case 'edit':
      case 'delete':
        return this.change(command);
      case 'msg':
        return this.send('private', command.text, command.to);
      case 'all':
        return this.send('broadcast', command.text);
      case 'say': {
        const focus = this.options.focus?.() ?? null;
        if (focus === null) throw new ParleyError('E_USAGE', 'to send a message: @USER TEXT or /all TEXT (/help lists commands)');
        if (focus === '*') return this.send('broadcast', command.text);
        return focus.startsWith('#') ? this.send('group', command.text, focus.slice(1)) : this.send('private', command.text, focus);
      }
      case 'groupmsg':
        return this.send('group', command.text, command.group);
      case 'group':
        return this.group(command);
      case 'block':
      case 'unblock': {
        const result = await client.request<{ user: string; list: string[] }>({ type: command.command, user: command.user });
        this.blocked = new Set(result.list);
        this.show({ kind: 'info', text: command.command === 'block' ? `blocked ${result.user}: their messages no longer reach you` : `unblocked ${result.user}`, ts: Date.now() });
        return;
      }
      case 'blocked': {
        const { blocked } = await client.request<{ blocked: string[] }>({ type: 'blocked' });
        this.blocked = new Set(blocked);
        this.show({ kind: 'blocked', users: blocked, ts: Date.now() });
        return;
      }
      case 'status': {
        await client.request({ type: 'status', status: command.status, ...(command.text && { text: command.text }) });
        this.show({ kind: 'status', status: command.status, text: command.text, ts: Date.now() });
        return;
      }
      case 'profile': {
        const { command: _command, ...change } = command;
        const profile = await client.request<Profile>({ type: 'profile', ...change });
        this.show({ kind: 'profile', profile, ts: Date.now() });
        return;
      }
      case 'communities': {
        const { communities } = await client.request<{ communities: Community[] }>({ type: 'communities' });
        this.show({ kind: 'communities', communities, ts: Date.now() });
        return;
      }
    }
  }

  /** `/group ...`: everything but sending. */
  private async group(command: Extract<Command, { command: 'group' }>): Promise<void> {
    const client = this.client;
    const ts = Date.now();
    switch (command.action) {
      case 'list': {
        const { groups } = await client.request<{ groups: GroupInfo[] }>({ type: 'group_list' });
        this.show({ kind: 'groups', groups, ts });
        return;
      }
      case 'members': {
        const result = await client.request<{ group: string; owner: string | null; members: GroupMember[] }>({ type: 'group_members', name: command.name });
        this.show({ kind: 'members', group: result.group, owner: result.owner, members: result.members, ts });
        return;
      }
      case 'create':
        await client.request({ type: 'group_create', name: command.name, visibility: command.visibility });
        this.show({ kind: 'group', group: command.name.toLowerCase(), event: 'created', user: client.user ?? '', ts });
        return;
      case 'join':
      case 'leave':
        await client.request({ type: command.action === 'join' ? 'group_join' : 'group_leave', name: command.name });
        return; // the group_event that follows says so
      case 'invite':
      case 'kick':
        await client.request({ type: command.action === 'invite' ? 'group_invite' : 'group_kick', name: command.name, user: command.user });
        return;
    }
  }

  private async send(scope: Scope, text: string, to?: string): Promise<void> {
    const client = this.client;
    if (client.user === null) throw new ParleyError('E_NOT_LOGGED_IN', 'log in first: /login NAME or /register NAME');
    const msgId = newMessageId();
    const ts = Date.now();
    const target = to?.toLowerCase().replace(/^[#@]/, '');
    const peer = scope === 'private' ? target! : scope === 'group' ? `#${target}` : '*';
    this.lastPeer = peer;
    const base = { kind: 'sent' as const, msgId, scope, to: scope === 'private' ? target : undefined, group: scope === 'group' ? target : undefined, text, ts };
    const queued = !client.loggedIn;
    if (queued) this.show({ ...base, status: 'queued' });
    const sending =
      scope === 'private' ? client.sendPrivate(target!, text, msgId) : scope === 'group' ? client.groupSend(target!, text, msgId) : client.broadcast(text, msgId);
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
    this.show({ ...base, status: result.status, recipients: result.recipients });
  }

  /** `/history`: the server's copy when connected, the local one otherwise. Repeating pages back. */
  private async history(peerArg: string | undefined, limit = 20): Promise<void> {
    const client = this.client;
    const peer = peerArg === undefined ? this.currentPeer() : peerArg === '*' ? '*' : peerArg.toLowerCase();
    if (peer === null) throw new ParleyError('E_USAGE', 'usage: /history USER [N]  (or /history * for everyone)');
    this.lastPeer = peer;
    if (client.loggedIn) {
      const page = await client.history(peer, this.historyCursor.get(peer), limit);
      // At the start of the conversation, the next /history begins again at the newest.
      if (page.more && page.messages.length > 0) this.historyCursor.set(peer, page.messages[0].seq);
      else this.historyCursor.delete(peer);
      this.show({ kind: 'history', with: page.with, messages: page.messages, more: page.more, local: false, ts: Date.now() });
      return;
    }
    if (!client.data) throw new ParleyError('E_NOT_LOGGED_IN', 'log in first: /login NAME or /register NAME');
    const recent = await client.data.recent(peer, limit);
    const messages = recent.map((m, i) => ({ ...m, seq: i }));
    this.show({ kind: 'history', with: peer, messages, more: false, local: true, ts: Date.now() });
  }

  /** `/edit` and `/delete` of your own messages, by id or `last`. */
  private async change(command: Extract<Command, { command: 'edit' | 'delete' }>): Promise<void> {
    const client = this.client;
    if (!client.data || !client.user) throw new ParleyError('E_NOT_LOGGED_IN', 'log in first: /login NAME or /register NAME');
    let peer: string | null;
    let msgId = command.target;
    if (command.target === 'last') {
      peer = this.currentPeer();
      const last = peer === null ? undefined : await client.data.lastOwn(peer, client.user);
      if (peer === null || !last) throw new ParleyError('E_NOT_FOUND', 'you have no message here to change');
      msgId = last.msgId;
    } else {
      peer = (await client.conversationOf(msgId)) ?? this.currentPeer();
      if (peer === null) throw new ParleyError('E_NOT_FOUND', `no message #${msgId} in your saved history`);
    }
    if (command.command === 'edit') await client.edit(peer, msgId, command.text);
    else await client.delete(peer, msgId);
    this.show({ kind: 'info', text: `${command.command === 'edit' ? 'edited' : 'deleted'} message #${msgId}`, ts: Date.now() });
  }
}
