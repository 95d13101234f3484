/**
 * The full-screen UI's view model: conversations, what is focused, unread counts, who is online,
 * the connection status. It turns ViewEvents into chat lines and knows nothing of terminals, so
 * every rule here is tested directly (test/client/tui/model.test.ts). The blessed layer only
 * draws what this holds.
 */
import type { HistoryItem, UserStatus } from '../../protocol/messages.ts';
import { duration } from '../format.ts';
import type { SendStatus, StatusLine, ViewEvent } from '../view.ts';

/** Groups come later; the key already leaves room for them. */
export type ConversationKind = 'lobby' | 'private' | 'group';

export interface ConversationKey {
  kind: ConversationKind;
  name: string;
}

/** How a system line is styled: command output, joins and leaves, errors, session notices, /help. */
export type SystemTone = 'info' | 'presence' | 'error' | 'notice' | 'help';

/** One line of a conversation, before formatting. Text is raw: formatting sanitizes it. */
export type ChatLine =
  | { kind: 'message'; ts: number; msgId: string; from: string; text: string; mention: boolean; edited?: boolean; deleted?: boolean }
  | { kind: 'own'; ts: number; msgId: string; from: string; text: string; status: SendStatus; recipients?: number; error?: string; edited?: boolean; deleted?: boolean }
  | { kind: 'system'; ts: number; text: string; tone: SystemTone };

export interface Conversation {
  key: ConversationKey;
  id: string;
  lines: ChatLine[];
  unread: number;
  /** A private message or a mention arrived while it was not focused. */
  highlight: boolean;
  /** Lines scrolled up from the bottom (0 = following new lines). */
  scroll: number;
}

/** The lobby: broadcasts to everyone online. Its focus target for the controller is '*'. */
export const LOBBY: ConversationKey = { kind: 'lobby', name: '*' };

/** Lines kept per conversation; older ones are dropped so memory stays bounded. */
export const SCROLLBACK_LINES = 5000;

export function conversationId(key: ConversationKey): string {
  return `${key.kind}:${key.name}`;
}

/** What the UI should do beyond redrawing after an event. */
export interface Effects {
  bell: boolean;
}

/** True when `text` mentions `user` as a word (`alice`, `@alice`, `Alice:`), not inside another word. */
export function mentions(text: string, user: string | null): boolean {
  if (!user) return false;
  const escaped = user.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}_-])@?${escaped}($|[^\\p{L}\\p{N}_-])`, 'iu').test(text);
}

export class ChatModel {
  /** Who is logged in here, once known. */
  me: string | null = null;
  status: StatusLine | null = null;
  /** Extra words for the status bar, e.g. "retrying in 2.0 s" while reconnecting. */
  statusDetail = '';
  readonly online = new Set<string>();
  /** Everyone seen: for tab completion. */
  readonly knownUsers = new Set<string>();
  private readonly conversations = new Map<string, Conversation>();
  private readonly order: string[] = [];
  private focusedId: string;

  constructor(private readonly scrollback = SCROLLBACK_LINES) {
    this.focusedId = this.conversation(LOBBY).id;
  }

  /** The conversation for `key`, created (at the end of the sidebar) when new. */
  conversation(key: ConversationKey): Conversation {
    const id = conversationId(key);
    let found = this.conversations.get(id);
    if (!found) {
      found = { key, id, lines: [], unread: 0, highlight: false, scroll: 0 };
      this.conversations.set(id, found);
      this.order.push(id);
    }
    return found;
  }

  /** Sidebar order: the lobby first, then conversations in the order they began. */
  list(): Conversation[] {
    return this.order.map((id) => this.conversations.get(id)!);
  }

  get focused(): Conversation {
    return this.conversations.get(this.focusedId)!;
  }

  /** Where text typed without a prefix goes: a username, '*' for the lobby, null for none. */
  focusTarget(): string | null {
    const key = this.focused.key;
    if (key.kind === 'lobby') return '*';
    if (key.kind === 'private') return key.name;
    return null;
  }

  focus(key: ConversationKey): void {
    const conversation = this.conversation(key);
    this.focusedId = conversation.id;
    conversation.unread = 0;
    conversation.highlight = false;
  }

  /** Focuses the n-th sidebar entry (0-based); false when there is none. */
  focusIndex(index: number): boolean {
    const id = this.order[index];
    if (id === undefined) return false;
    this.focus(this.conversations.get(id)!.key);
    return true;
  }

  /** Moves focus `step` entries down (or up, negative), wrapping around. */
  cycle(step: number): void {
    const at = this.order.indexOf(this.focusedId);
    const next = (at + step + this.order.length * Math.abs(step)) % this.order.length;
    this.focusIndex(next);
  }

  /** Scrolls the focused conversation by `lines` (positive = back in time), within bounds. */
  scrollBy(lines: number): void {
    const conversation = this.focused;
    conversation.scroll = Math.max(0, Math.min(conversation.lines.length - 1, conversation.scroll + lines));
  }

  /** Total unread lines in conversations other than the focused one. */
  unreadElsewhere(): number {
    return this.list().reduce((sum, c) => (c.id === this.focusedId ? sum : sum + c.unread), 0);
  }

  private append(conversation: Conversation, line: ChatLine): void {
    conversation.lines.push(line);
    // A reader scrolled back keeps their place while new lines arrive below.
    if (conversation.scroll > 0) conversation.scroll++;
    // Trim in chunks so a long session does not shift the array on every line.
    if (conversation.lines.length > this.scrollback + Math.ceil(this.scrollback / 10)) {
      conversation.lines.splice(0, conversation.lines.length - this.scrollback);
      conversation.scroll = Math.min(conversation.scroll, conversation.lines.length - 1);
    }
  }

  /** Adds a line to a conversation; counts it unread when it is not focused. Returns whether to ring. */
  private deliver(key: ConversationKey, line: ChatLine, loud: boolean): boolean {
    const conversation = this.conversation(key);
    this.append(conversation, line);
    if (conversation.id === this.focusedId) return false;
    conversation.unread++;
    if (!loud) return false;
    // Ring once: when the entry lights up, not for every further line before it is read.
    const ring = !conversation.highlight;
    conversation.highlight = true;
    return ring;
  }

  /** A line for the focused conversation (command output, errors). */
  note(text: string, tone: SystemTone = 'info', ts = Date.now()): void {
    this.append(this.focused, { kind: 'system', ts, text, tone });
  }

  private see(user: string): void {
    if (user !== this.me) this.knownUsers.add(user);
  }

  /** Replaces who is online with a /who answer (or the UI's own silent refresh). */
  setOnline(users: UserStatus[], complete = true): void {
    if (complete) this.online.clear();
    for (const u of users) {
      this.see(u.user);
      if (u.online) this.online.add(u.user);
      else this.online.delete(u.user);
    }
  }

  /** Applies one event from the controller. */
  apply(event: ViewEvent): Effects {
    switch (event.kind) {
      case 'message': {
        this.see(event.from);
        this.online.add(event.from);
        const mention = mentions(event.text, this.me);
        const line: ChatLine = { kind: 'message', ts: event.ts, msgId: event.msgId, from: event.from, text: event.text, mention };
        if (event.scope === 'private') {
          return { bell: this.deliver({ kind: 'private', name: event.from }, line, true) };
        }
        return { bell: this.deliver(LOBBY, line, mention) };
      }
      case 'sent':
        this.applySent(event);
        return { bell: false };
      case 'update':
        this.applyUpdate(event);
        return { bell: false };
      case 'history':
        this.applyHistory(event);
        return { bell: false };
      case 'presence': {
        this.see(event.user);
        if (event.event === 'joined') this.online.add(event.user);
        else this.online.delete(event.user);
        const line: ChatLine = { kind: 'system', ts: event.ts, text: `${event.user} ${event.event === 'joined' ? 'joined' : 'left'}`, tone: 'presence' };
        this.append(this.conversation(LOBBY), line);
        const privateChat = this.conversations.get(conversationId({ kind: 'private', name: event.user }));
        if (privateChat) this.append(privateChat, { ...line });
        return { bell: false };
      }
      case 'who':
        if (event.since === undefined) this.setOnline(event.users);
        else this.setOnline(event.users, false);
        this.note(whoText(event.users, event.since, event.ts), 'info', event.ts);
        return { bell: false };
      case 'login':
        this.me = event.user;
        this.knownUsers.delete(event.user);
        this.append(this.conversation(LOBBY), { kind: 'system', ts: event.ts, text: event.resumed ? `connected: resumed your session as ${event.user}` : `logged in as ${event.user}`, tone: 'info' });
        return { bell: false };
      case 'logout':
        this.note('logged out', 'info', event.ts);
        return { bell: false };
      case 'trust':
        // A known key is the normal case (and repeats on every reconnect): only news is shown.
        if (event.decision !== 'known') {
          this.append(this.conversation(LOBBY), {
            kind: 'system',
            ts: event.ts,
            text: event.decision === 'first-use' ? `first connection to ${event.address}: trusted its key ${event.fingerprint}` : `${event.address} presented the expected key ${event.fingerprint}`,
            tone: 'info',
          });
        }
        return { bell: false };
      case 'info':
        this.note(event.text, 'info', event.ts);
        return { bell: false };
      case 'help':
        this.note(event.text, 'help', event.ts);
        return { bell: false };
      case 'error':
        this.note(`${event.code}: ${event.message}`, 'error', event.ts);
        return { bell: false };
      case 'notice':
        this.note(`${event.code}: ${event.message}`, 'notice', event.ts);
        return { bell: false };
      default:
        // An event kind this UI does not know yet: nothing to draw.
        return { bell: false };
    }
  }

  /** The conversation a message belongs to, seen from here: the lobby, or the other person's. */
  private keyFor(scope: 'private' | 'broadcast', from: string, to?: string): ConversationKey {
    if (scope === 'broadcast') return LOBBY;
    return { kind: 'private', name: from === this.me && to ? to : from };
  }

  private findLine(conversation: Conversation, msgId: string): number {
    for (let i = conversation.lines.length - 1; i >= 0; i--) {
      const line = conversation.lines[i];
      if ((line.kind === 'message' || line.kind === 'own') && line.msgId === msgId) return i;
    }
    return -1;
  }

  private applyUpdate(event: Extract<ViewEvent, { kind: 'update' }>): void {
    const conversation = this.conversation(this.keyFor(event.scope, event.from, event.to));
    const index = this.findLine(conversation, event.msgId);
    if (index < 0) return; // an edit of something scrolled away: nothing on screen to change
    const line = conversation.lines[index] as Extract<ChatLine, { msgId: string }>;
    conversation.lines[index] = event.action === 'delete' ? { ...line, deleted: true } : { ...line, text: event.text ?? line.text, edited: true };
  }

  /** Older messages from the server (or the local cache), merged in time order without duplicates. */
  private applyHistory(event: Extract<ViewEvent, { kind: 'history' }>): void {
    const key: ConversationKey = event.with === '*' ? LOBBY : { kind: 'private', name: event.with };
    const conversation = this.conversation(key);
    const present = new Set(conversation.lines.flatMap((line) => (line.kind === 'system' ? [] : [line.msgId])));
    const older = event.messages.filter((item) => !present.has(item.msgId)).map((item) => this.historyLine(item));
    const merged = [...older, ...conversation.lines].sort((a, b) => a.ts - b.ts);
    conversation.lines.splice(0, conversation.lines.length, ...merged.slice(-this.scrollback));
    const plural = older.length === 1 ? '' : 's';
    const what = older.length === 0 ? 'no earlier messages' : event.local ? `${older.length} saved message${plural} restored` : `${older.length} earlier message${plural} loaded`;
    this.append(conversation, { kind: 'system', ts: event.ts, text: `history: ${what}${event.more ? ' (/history again for more)' : ''}`, tone: 'info' });
  }

  private historyLine(item: HistoryItem): ChatLine {
    const flags = { ...(item.editedAt !== undefined && { edited: true }), ...(item.deleted && { deleted: true }) };
    // Local copies remember how far your own messages got; the server's copy does not say.
    const status = (item as HistoryItem & { status?: SendStatus }).status ?? 'sent';
    if (item.from === this.me) return { kind: 'own', ts: item.ts, msgId: item.msgId, from: item.from, text: item.text, status, ...flags };
    return { kind: 'message', ts: item.ts, msgId: item.msgId, from: item.from, text: item.text, mention: mentions(item.text, this.me), ...flags };
  }

  private applySent(event: Extract<ViewEvent, { kind: 'sent' }>): void {
    const key: ConversationKey = event.scope === 'private' && event.to ? { kind: 'private', name: event.to } : LOBBY;
    if (key.kind === 'private') this.see(key.name);
    const conversation = this.conversation(key);
    const error = event.error ? `${event.error.code}: ${event.error.message}` : undefined;
    // A queued message is shown at once and updated in place when it goes out (or fails).
    for (let i = conversation.lines.length - 1; i >= Math.max(0, conversation.lines.length - 500); i--) {
      const line = conversation.lines[i];
      if (line.kind === 'own' && line.msgId === event.msgId) {
        conversation.lines[i] = { ...line, status: event.status, recipients: event.recipients, error };
        return;
      }
    }
    this.append(conversation, { kind: 'own', ts: event.ts, msgId: event.msgId, from: this.me ?? 'you', text: event.text, status: event.status, recipients: event.recipients, error });
  }
}

/** The /who answer as a few lines of text. */
export function whoText(users: UserStatus[], since: number | undefined, now: number): string {
  const heading = since === undefined ? 'online' : `online in the last ${since} s`;
  if (users.length === 0) return `${heading}: nobody`;
  const names = users.map((u) => (u.online ? u.user : `${u.user} (offline, seen ${duration(now - u.since)} ago)`));
  return `${heading} (${users.length}): ${names.join(', ')}`;
}
