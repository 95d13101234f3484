/**
 * The full-screen UI's view model: conversations, what is focused, unread counts, who is online,
 * the connection status. It turns ViewEvents into chat lines and knows nothing of terminals, so
 * every rule here is tested directly (test/client/tui/model.test.ts). The blessed layer only
 * draws what this holds.
 */
import type { GroupInfo, GroupMember, HistoryItem, Presence, UserStatus } from '../../protocol/messages.ts';
import { duration, formatEvent } from '../format.ts';
import type { Scope, SendStatus, StatusLine, ViewEvent } from '../view.ts';

/** The lobby (everyone online), a private conversation, or a group (`#name`). */
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
  /** Groups only: you left or were removed; the history stays, shown dimmed. */
  left?: boolean;
}

/** Someone's status as last heard: available, away or busy, with an optional text. */
export interface UserPresence {
  status: Presence;
  text?: string;
}

/** A group's member list as last fetched, kept current by presence events. */
export interface MemberList {
  owner: string | null;
  members: GroupMember[];
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

/** Sidebar sections, in order: the lobby, groups, then private conversations. */
const SECTION: Record<ConversationKind, number> = { lobby: 0, group: 1, private: 2 };

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
  /** Status of online users who are not simply available (away, busy); others are absent. */
  readonly statuses = new Map<string, UserPresence>();
  /** Your own status, as set by /status (the server resets it on a new session). */
  myStatus: UserPresence = { status: 'available' };
  /** Group member lists fetched for the right-hand pane, by group name. */
  readonly members = new Map<string, MemberList>();
  /** Groups you are in, once the server said (null before the first group list). */
  private joinedGroups: Set<string> | null = null;
  /** Every group name seen: for tab completion. */
  readonly knownGroups = new Set<string>();
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
      if (key.kind === 'group') {
        this.knownGroups.add(key.name);
        // A group known only from the local copy, which the server says you are not in.
        if (this.joinedGroups && !this.joinedGroups.has(key.name)) found.left = true;
      }
      this.conversations.set(id, found);
      this.order.push(id);
      // Keep the sections together: a new group goes after the other groups, before private ones.
      this.order.sort((a, b) => SECTION[this.conversations.get(a)!.key.kind] - SECTION[this.conversations.get(b)!.key.kind]);
    }
    return found;
  }

  /** Sidebar order: the lobby first, then groups, then private conversations, each in the order they began. */
  list(): Conversation[] {
    return this.order.map((id) => this.conversations.get(id)!);
  }

  /** The group conversation `name`, if there is one. */
  group(name: string): Conversation | undefined {
    return this.conversations.get(conversationId({ kind: 'group', name }));
  }

  /** The member list to show: the focused group's, when it has one and you are still in it. */
  focusedMembers(): (MemberList & { group: string }) | null {
    const key = this.focused.key;
    if (key.kind !== 'group' || this.focused.left) return null;
    const list = this.members.get(key.name);
    return list ? { group: key.name, ...list } : null;
  }

  /** A group's members, as fetched (group_members). */
  setMembers(group: string, owner: string | null, members: GroupMember[]): void {
    this.knownGroups.add(group);
    this.members.set(group, { owner, members: members.map((m) => ({ ...m })) });
    for (const m of members) {
      this.see(m.user);
      if (m.online && m.user !== this.me) {
        this.online.add(m.user);
        this.setStatus(m.user, m.status ?? 'available');
      }
    }
  }

  /** The groups the server lists: the ones you are in get a sidebar entry; others are remembered for completion. */
  setGroups(groups: GroupInfo[]): void {
    this.joinedGroups = new Set(groups.filter((g) => g.member).map((g) => g.name));
    for (const g of groups) this.knownGroups.add(g.name);
    for (const name of this.joinedGroups) this.conversation({ kind: 'group', name }).left = false;
    for (const c of this.conversations.values()) if (c.key.kind === 'group' && !this.joinedGroups.has(c.key.name)) c.left = true;
  }

  /** Someone's status: away and busy are remembered; available needs no marker. */
  private setStatus(user: string, status: Presence | undefined, text?: string): void {
    if (!status || status === 'available') this.statuses.delete(user);
    else this.statuses.set(user, { status, ...(text && { text }) });
  }

  /** How `user` is doing: offline, or online and available, away or busy. */
  presenceOf(user: string): 'offline' | Presence {
    if (user === this.me) return this.status?.state === 'connected' ? this.myStatus.status : 'offline';
    if (!this.online.has(user)) return 'offline';
    return this.statuses.get(user)?.status ?? 'available';
  }

  get focused(): Conversation {
    return this.conversations.get(this.focusedId)!;
  }

  /** Where text typed without a prefix goes: a username, '*' for the lobby, null for none. */
  focusTarget(): string | null {
    const key = this.focused.key;
    if (key.kind === 'lobby') return '*';
    if (key.kind === 'private') return key.name;
    return `#${key.name}`;
  }

  focus(key: ConversationKey): void {
    const conversation = this.conversation(key);
    this.focusedId = conversation.id;
    conversation.unread = 0;
    conversation.highlight = false;
  }

  /** Focuses the n-th sidebar entry (0-based); false when there is none. */
  focusIndex(index: number): boolean {
    const id = this.order[index]; // the sidebar order
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
    if (complete) {
      this.online.clear();
      this.statuses.clear();
    }
    for (const u of users) {
      if (u.user === this.me) {
        // The server's word on your own status (a new session starts available).
        if (u.online) this.myStatus = { status: u.status ?? 'available', ...(u.statusText && { text: u.statusText }) };
      }
      this.see(u.user);
      if (u.online) {
        this.online.add(u.user);
        if (u.user !== this.me) this.setStatus(u.user, u.status, u.statusText);
      } else {
        this.online.delete(u.user);
        this.statuses.delete(u.user);
      }
    }
  }

  /** Keeps fetched member lists current when someone comes, goes or changes status. */
  private updateMembers(user: string, online: boolean, status: Presence | undefined): void {
    for (const list of this.members.values()) {
      for (const m of list.members) {
        if (m.user !== user) continue;
        m.online = online;
        if (online && status) m.status = status;
        if (!online) delete m.status;
      }
    }
  }

  /** Applies one event from the controller. While you are busy, nothing rings. */
  apply(event: ViewEvent): Effects {
    const effects = this.applyEvent(event);
    if (this.myStatus.status === 'busy') effects.bell = false;
    return effects;
  }

  private applyEvent(event: ViewEvent): Effects {
    switch (event.kind) {
      case 'message': {
        this.see(event.from);
        this.online.add(event.from);
        const mention = mentions(event.text, this.me);
        const line: ChatLine = { kind: 'message', ts: event.ts, msgId: event.msgId, from: event.from, text: event.text, mention };
        if (event.scope === 'private') {
          return { bell: this.deliver({ kind: 'private', name: event.from }, line, true) };
        }
        if (event.scope === 'group' && event.group) {
          return { bell: this.deliver({ kind: 'group', name: event.group }, line, mention) };
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
        const privateChat = this.conversations.get(conversationId({ kind: 'private', name: event.user }));
        if (event.event === 'status') {
          // A status change says the user is online; it is never a leave.
          this.online.add(event.user);
          this.setStatus(event.user, event.status, event.statusText);
          this.updateMembers(event.user, true, event.status ?? 'available');
          // Only the private conversation hears of it: auto-away would flood the lobby.
          const text = `${event.user} is ${event.status ?? 'available'}${event.statusText ? `: ${event.statusText}` : ''}`;
          if (privateChat) this.append(privateChat, { kind: 'system', ts: event.ts, text, tone: 'presence' });
          return { bell: false };
        }
        const joined = event.event === 'joined';
        if (joined) this.online.add(event.user);
        else this.online.delete(event.user);
        // Every new session starts available.
        this.statuses.delete(event.user);
        this.updateMembers(event.user, joined, 'available');
        const line: ChatLine = { kind: 'system', ts: event.ts, text: `${event.user} ${joined ? 'joined' : 'left'}`, tone: 'presence' };
        this.append(this.conversation(LOBBY), line);
        if (privateChat) this.append(privateChat, { ...line });
        return { bell: false };
      }
      case 'group':
        return this.applyGroup(event);
      case 'members':
        this.setMembers(event.group, event.owner, event.members);
        this.note(noteText(event), 'info', event.ts);
        return { bell: false };
      case 'groups':
        for (const g of event.groups) this.knownGroups.add(g.name);
        this.note(noteText(event), 'info', event.ts);
        return { bell: false };
      case 'status':
        this.myStatus = { status: event.status, ...(event.text && { text: event.text }) };
        this.note(noteText(event), 'info', event.ts);
        return { bell: false };
      case 'who':
        if (event.since === undefined) this.setOnline(event.users);
        else this.setOnline(event.users, false);
        this.note(whoText(event.users, event.since, event.ts), 'info', event.ts);
        return { bell: false };
      case 'login':
        this.me = event.user;
        this.knownUsers.delete(event.user);
        // The server starts every session available; /who after login says otherwise if not.
        this.myStatus = { status: 'available' };
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
        // Lists (blocked, profile, communities) and anything newer: text in the focused conversation.
        this.note(noteText(event), 'info', event.ts);
        return { bell: false };
    }
  }

  /**
   * Group news goes into that group's conversation. Joining or creating one gives it a sidebar
   * entry; leaving or being removed marks it, and its history stays.
   */
  private applyGroup(event: Extract<ViewEvent, { kind: 'group' }>): Effects {
    const name = event.group;
    this.knownGroups.add(name);
    const mine = event.user === this.me;
    const by = event.by ? ` by ${event.by}` : '';
    const text = mine
      ? { joined: `you joined #${name}`, created: `you created #${name}`, left: `you left #${name}`, kicked: `you were removed from #${name}${by}`, invited: `you were invited to #${name}${by}: /group join ${name}` }[event.event]
      : { joined: `${event.user} joined`, created: `${event.user} created the group`, left: `${event.user} left`, kicked: `${event.user} was removed${by}`, invited: `${event.user} was invited${by}` }[event.event];
    const line: ChatLine = { kind: 'system', ts: event.ts, text, tone: 'presence' };
    if (mine && event.event === 'invited' && !this.group(name)) {
      // Not a member yet: the invitation shows where you are, and it is worth a bell.
      this.note(text, 'notice', event.ts);
      return { bell: true };
    }
    const conversation = this.conversation({ kind: 'group', name });
    this.append(conversation, line);
    if (mine && (event.event === 'joined' || event.event === 'created')) {
      conversation.left = false;
      this.joinedGroups?.add(name);
      // You asked to be there: go there.
      this.focus(conversation.key);
    } else if (mine && (event.event === 'left' || event.event === 'kicked')) {
      conversation.left = true;
      this.joinedGroups?.delete(name);
      this.members.delete(name);
    } else if (this.members.has(name)) {
      const list = this.members.get(name)!;
      if (event.event === 'joined' && !list.members.some((m) => m.user === event.user)) {
        list.members.push({ user: event.user, online: true, owner: false });
        list.members.sort((a, b) => a.user.localeCompare(b.user));
      } else if (event.event === 'left' || event.event === 'kicked') {
        list.members = list.members.filter((m) => m.user !== event.user);
      }
    }
    if (!mine) this.see(event.user);
    return { bell: false };
  }

  /** The conversation a message belongs to, seen from here: the lobby, or the other person's. */
  private keyFor(scope: Scope, from: string, to?: string, group?: string): ConversationKey {
    if (scope === 'group' && group) return { kind: 'group', name: group };
    if (scope !== 'private') return LOBBY;
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
    const conversation = this.conversation(this.keyFor(event.scope, event.from, event.to, event.group));
    const index = this.findLine(conversation, event.msgId);
    if (index < 0) return; // an edit of something scrolled away: nothing on screen to change
    const line = conversation.lines[index] as Extract<ChatLine, { msgId: string }>;
    conversation.lines[index] = event.action === 'delete' ? { ...line, deleted: true } : { ...line, text: event.text ?? line.text, edited: true };
  }

  /** Older messages from the server (or the local cache), merged in time order without duplicates. */
  private applyHistory(event: Extract<ViewEvent, { kind: 'history' }>): void {
    const key: ConversationKey = event.with === '*' ? LOBBY : event.with.startsWith('#') ? { kind: 'group', name: event.with.slice(1) } : { kind: 'private', name: event.with };
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
    const key: ConversationKey =
      event.scope === 'private' && event.to ? { kind: 'private', name: event.to } : event.scope === 'group' && event.group ? { kind: 'group', name: event.group } : LOBBY;
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

/** An event as a system line: formatEvent's text without its time (the line has one) or its leading "* ". */
export function noteText(event: ViewEvent): string {
  return formatEvent(event).replace(/^\d\d:\d\d (\* )?/, '');
}

/** The /who answer as a few lines of text. */
export function whoText(users: UserStatus[], since: number | undefined, now: number): string {
  const heading = since === undefined ? 'online' : `online in the last ${since} s`;
  if (users.length === 0) return `${heading}: nobody`;
  const names = users.map((u) =>
    !u.online ? `${u.user} (offline, seen ${duration(now - u.since)} ago)` : u.status && u.status !== 'available' ? `${u.user} (${u.status}${u.statusText ? `: ${u.statusText}` : ''})` : u.user,
  );
  return `${heading} (${users.length}): ${names.join(', ')}`;
}
