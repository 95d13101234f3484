/**
 * The hub: who is logged in, and what each request does. It routes by calling sessions' `send`
 * and never sees a socket. Each handler returns the `result` of the `ok` reply (or throws a
 * ParleyError, which becomes the `error` reply); the connection does the replying.
 */
import { randomBytes } from 'node:crypto';
import { ParleyError } from '../protocol/errors.ts';
import { jsonStringBytesMax, jsonText, NUMBER_BYTES_MAX, putAscii, putBytes, putJsonString, putNumber, type JsonBytes } from '../protocol/json-bytes.ts';
import { escapedJsonString } from '../protocol/json-string.ts';
import {
  normalizeUsername,
  type ClientMessage,
  type ClientMessageOf,
  type DeliveryStatus,
  type HistoryResult,
  type SendResult,
  type ServerMessageOf,
  type UserStatus,
} from '../protocol/messages.ts';
import { Store } from '../store/store.ts';
import type { Accounts } from './accounts.ts';
import { Delivery, type DeliveryWaiter, type LiveDelivery } from './delivery.ts';
import { conversationOf, Histories, MSG_TYPE, type HistoryRecord, type RecordWaiter } from './histories.ts';
import type { Logger } from './log.ts';
import { Groups } from './groups.ts';
import { Mailboxes } from './mailboxes.ts';
import type { Session } from './session.ts';
import { Blocks, Profiles } from './social.ts';

/**
 * What a handler gives back: the `ok` result; NO_REPLY for messages that take no reply; or a
 * LaterReply, whose result is sent when it settles while the connection goes on with the next
 * message (a send waits for the recipient's acknowledgement without stalling the sender).
 */
export type HandlerResult = Record<string, unknown> | typeof NO_REPLY | LaterReply;
export const NO_REPLY = Symbol('no reply');

/** Where a LaterReply's outcome goes: the connection that replies. */
export interface Replier {
  /** `reply` has settled: `reply.err` null and `reply.value` its result, or `reply.err` why not. */
  replySettled(reply: LaterReply): void;
}

export class LaterReply {
  private replier: Replier | null = null;
  private settled = false;
  /** null on success, else why it failed (once settled) */
  err: unknown = null;
  /** the `ok` result (once settled without an error), or null where it came serialised (`json`) */
  value: Record<string, unknown> | null = null;
  /** the `ok` result as JSON that writes itself, where the handler gave it so (resolveJson); else null */
  json: JsonBytes | null = null;
  /** the id of the request this answers, for the reply (replyTo) */
  ref: string | undefined = undefined;
  /** the type of the request this answers, for the log (replyTo) */
  requestType = '';

  /** A reply given by a promise (the slower handlers are async functions). */
  static of(promise: Promise<Record<string, unknown>>): LaterReply {
    const reply = new LaterReply();
    promise.then((result) => reply.resolve(result), (err: unknown) => reply.reject(err));
    return reply;
  }

  /** The `ok` result. Only the first of resolve, resolveJson and reject counts. */
  resolve(result: Record<string, unknown>): void {
    this.settle(null, result, null);
  }

  /**
   * The `ok` result as JSON that writes itself (JsonBytes): the 1:1 send path has its result
   * written out, as its `msg` is, rather than have JSON.stringify walk an object per message and
   * the connection build the `ok` line around its text.
   */
  resolveJson(json: JsonBytes): void {
    this.settle(null, null, json);
  }

  /** The error for the `error` reply (a ParleyError, or anything else for E_INTERNAL). */
  reject(err: unknown): void {
    this.settle(err ?? new Error('rejected without a reason'), null, null);
  }

  private settle(err: unknown, value: Record<string, unknown> | null, json: JsonBytes | null): void {
    if (this.settled) return;
    this.settled = true;
    this.err = err;
    this.value = value;
    this.json = json;
    this.replier?.replySettled(this);
    this.replier = null;
  }

  /**
   * Tells `replier` the outcome once (at once if it is known), for the request `ref` of type
   * `requestType`. One replier: the connection. An object told, not a callback or a promise: the
   * 1:1 send path builds one of these per message, held until the recipient's acknowledgement,
   * and a closure or promise chain for each was much of what the garbage collector had to copy
   * (docs/BENCHMARKS.md).
   */
  replyTo(replier: Replier, ref: string | undefined, requestType: string): void {
    this.ref = ref;
    this.requestType = requestType;
    if (this.settled) replier.replySettled(this);
    else this.replier = replier;
  }

  /** The outcome as a promise (tests). */
  get result(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) =>
      this.replyTo({ replySettled: (reply) => (reply.err === null ? resolve(reply.value ?? (JSON.parse(jsonText(reply.json!)) as Record<string, unknown>)) : reject(reply.err)) }, undefined, ''),
    );
  }
}

/** How a private `msg`'s JSON starts, up to its msgId (the type first: histories.ts cuts it out of the record). */
const MSG_HEAD = Buffer.from(`{${MSG_TYPE}"msgId":"`);
const TS_KEY = Buffer.from(',"ts":');

/**
 * One private message from its arrival to the sender's `ok`. Delivery and the history write run
 * side by side and the `ok` goes when both are done; this one object hears both outcomes, and is
 * the delivery's live record too, so a message holds no closures or promises while it waits for
 * its acknowledgement, and no second object (those were much of what the garbage collector had
 * to copy: docs/BENCHMARKS.md). It is also the `msg`'s JSON (JsonBytes), written into the
 * recipient's frame and the conversation's history, with no string made for it.
 */
class PrivateSend extends LaterReply implements LiveDelivery, DeliveryWaiter, RecordWaiter, JsonBytes {
  sentAt = 0;
  private status: DeliveryStatus | null = null;
  private recorded = false;
  /** JSON.stringify(text) where it must escape something; null where it is the text in quotes */
  private readonly escapedText: string | null;
  /** JsonBytes: measured once, as packing asks for each frame and the history for its chunk */
  readonly maxBytes: number;

  /**
   * The message's parts, not its history record: the record goes to the store and dies young,
   * and each field less that a message keeps until its acknowledgement is less for every
   * scavenge to copy (what survives a scavenge is the messages in flight: docs/BENCHMARKS.md).
   */
  constructor(
    private readonly session: Session,
    private readonly route: PrivateRoute,
    readonly msgId: string,
    private readonly text: string,
    readonly ts: number,
    /** sent again after a reconnect: recorded only if the history does not have it yet */
    private readonly resend: boolean,
  ) {
    super();
    this.escapedText = escapedJsonString(text);
    this.maxBytes = MSG_HEAD.length + msgId.length + route.msgFieldBytes.length + jsonStringBytesMax(text, this.escapedText) + TS_KEY.length + NUMBER_BYTES_MAX + 1;
  }

  /** LiveDelivery: the send hears its own delivery's outcome. */
  get waiter(): DeliveryWaiter {
    return this;
  }

  /** JsonBytes: JSON.stringify(this.message), written out (test/server/hub.test.ts holds the two equal). */
  writeTo(out: Buffer, at: number): number {
    at = putBytes(out, putAscii(out, putBytes(out, at, MSG_HEAD), this.msgId), this.route.msgFieldBytes);
    at = putNumber(out, putBytes(out, putJsonString(out, at, this.text, this.escapedText), TS_KEY), this.ts);
    out[at] = 0x7d; // }
    return at + 1;
  }

  /** Records the message in its conversation's history; recordEnded hears when it is on disk. */
  recordIn(histories: Histories): void {
    const { msgId, text, ts, route } = this;
    histories.appendFor(route.conversation, { msgId, scope: 'private', from: route.from, to: route.to, text, ts }, this.resend, this, this);
  }

  /**
   * The `msg` as sent, made when a delivery needs it as an object (one that goes to the mailbox:
   * the recipient is offline, or did not acknowledge in time), not for every message.
   */
  get message(): ServerMessageOf<'msg'> {
    const { msgId, text, ts, route } = this;
    return { type: 'msg', msgId, scope: 'private', from: route.from, to: route.to, text, ts };
  }

  deliveryEnded(status: DeliveryStatus, err?: ParleyError): void {
    if (err) return this.reject(err);
    this.status = status;
    if (this.recorded) this.answer(status);
  }

  recordEnded(err: unknown): void {
    if (err !== null) return this.reject(err);
    this.recorded = true;
    if (this.status !== null) this.answer(this.status);
  }

  private answer(status: DeliveryStatus): void {
    const { log, from, to } = this.route;
    if (log.enabled('info')) log.info(`conn#${this.session.id} msg ${from} → ${to} ${Buffer.byteLength(this.text)} B ${status}`);
    this.resolveJson(new SendResultJson(this, status));
  }
}

const RESULT_HEAD = Buffer.from('{"msgId":"');
/** Each status with the keys around it, from the end of the msgId to the ts: one copy an `ok`, not three writes. */
const STATUS_PARTS: Record<DeliveryStatus, Buffer> = {
  delivered: Buffer.from('","status":"delivered","ts":'),
  stored: Buffer.from('","status":"stored","ts":'),
  sent: Buffer.from('","status":"sent","ts":'),
};

/**
 * JSON.stringify({ msgId, status, ts } satisfies SendResult), written out: a message id is ASCII
 * with nothing to escape (test/e2e/wire.test.ts holds the two equal).
 */
class SendResultJson implements JsonBytes {
  private readonly statusPart: Buffer;

  constructor(
    private readonly sent: { readonly msgId: string; readonly ts: number },
    status: DeliveryStatus,
  ) {
    this.statusPart = STATUS_PARTS[status];
  }

  get maxBytes(): number {
    return RESULT_HEAD.length + this.sent.msgId.length + this.statusPart.length + NUMBER_BYTES_MAX + 1;
  }

  writeTo(out: Buffer, at: number): number {
    at = putNumber(out, putBytes(out, putAscii(out, putBytes(out, at, RESULT_HEAD), this.sent.msgId), this.statusPart), this.sent.ts);
    out[at] = 0x7d; // }
    return at + 1;
  }
}

/**
 * How one user's private messages reach one other: their conversation's history, and the middle
 * of each `msg`'s JSON as bytes, from the end of the msgId to the text (the names are accounts',
 * which USERNAME_PATTERN leaves nothing to escape in), copied as they are (PrivateSend.writeTo).
 */
class PrivateRoute {
  readonly msgFieldBytes: Buffer;

  constructor(
    readonly from: string,
    readonly to: string,
    readonly conversation: string,
    /** the hub's, for the messages' log lines */
    readonly log: Logger,
  ) {
    this.msgFieldBytes = Buffer.from(`","scope":"private","from":"${from}","to":"${to}","text":`);
  }
}

/** A group as Groups hands it out. */
type GroupOf = ReturnType<Groups['get']>;

/** A group's members in order and the session of each (undefined: offline), as of two counts. */
interface GroupRecipients {
  onlineChanges: number;
  memberChanges: number;
  names: string[];
  sessions: Array<Session | undefined>;
}

export interface HubOptions {
  /** ms without a user command before logout; 0 = never */
  idleTimeoutMs: number;
  /** where mailboxes and histories live (default: in memory) */
  store?: Store;
  /** most messages waiting in one mailbox */
  mailboxCap?: number;
  /** messages kept in memory from conversations nobody is using, and as many from mailboxes */
  cachedMessages?: number;
  /** ms a live delivery waits for the recipient's acknowledgement before it is stored */
  ackTimeoutMs?: number;
  /** ms without a command after which an available user shows as away; 0 = never */
  awayAfterMs?: number;
  /** up to this many online, presence goes to everyone online (default PRESENCE_TO_ALL) */
  presenceToAll?: number;
  now?: () => number;
}

/**
 * Up to this many users online, a user's presence goes to everyone online (a class, a lab). Beyond
 * it, only to those who share a group or a private conversation with them, as IRC scopes it to
 * channels: to everyone, N users logging in at once (a server restart) would cost N² messages.
 * `who` always lists everyone.
 */
export const PRESENCE_TO_ALL = 500;

/** A fresh id for a server-made delivery (edits and deletions). */
const newDeliveryId = () => randomBytes(9).toString('base64url');

export class Hub {
  /** Logged-in sessions by user name. One session per user: a new login replaces the old. */
  private readonly online = new Map<string, Session>();
  /** Counts changes to `online` (logins and departures), for the groups' recipients (recipientsOf). */
  private onlineChanges = 0;
  /** Each group's members and their sessions, as of the counts they hold (recipientsOf). */
  private readonly groupRecipients = new WeakMap<GroupOf, GroupRecipients>();
  private readonly now: () => number;
  readonly mailboxes: Mailboxes;
  readonly histories: Histories;
  readonly groups: Groups;
  readonly blocks: Blocks;
  readonly profiles: Profiles;
  private readonly delivery: Delivery;
  /**
   * Who has had a private conversation with whom since the server started (presence goes to
   * them), each with the route of their messages: made once per pair, not per message.
   */
  private readonly contacts = new Map<string, Map<string, PrivateRoute>>();
  /** Private messages accepted in this event-loop pass, recorded after its writes (recordLater). */
  private unrecorded: PrivateSend[] = [];

  constructor(
    private readonly accounts: Accounts,
    private readonly log: Logger,
    private readonly options: HubOptions,
  ) {
    this.now = options.now ?? Date.now;
    const store = options.store ?? Store.memory();
    this.mailboxes = new Mailboxes(store, options.mailboxCap ?? 10_000, options.cachedMessages);
    this.histories = new Histories(store, options.cachedMessages);
    this.groups = new Groups(store);
    this.blocks = new Blocks(store);
    this.profiles = new Profiles(store);
    this.delivery = new Delivery(this.mailboxes, this.online, log, options.ackTimeoutMs ?? 5000);
  }

  /** Reads groups, block lists and profiles from the store. */
  async load(): Promise<void> {
    await this.groups.load();
    await this.blocks.load();
    await this.profiles.load();
  }

  get onlineCount(): number {
    return this.online.size;
  }

  isOnline(user: string): boolean {
    return this.online.has(user);
  }

  /** Runs one validated request. Throws ParleyError for the error reply. */
  handle(session: Session, message: ClientMessage): HandlerResult | Promise<HandlerResult> {
    if (message.type === 'ping') {
      session.send({ type: 'pong', id: message.id });
      return NO_REPLY;
    }
    if (message.type === 'pong') return NO_REPLY;
    if (message.type === 'received') {
      // Acknowledgements are automatic, not activity: they do not reset the idle timer.
      this.delivery.acknowledge(session, message.ids);
      return NO_REPLY;
    }
    // One clock read a command: its time is also a chat message's time stamp.
    const now = this.now();
    session.lastActive = now;
    if (session.presence.autoAway && session.user !== null) this.setPresence(session, session.user, 'available', undefined);
    switch (message.type) {
      case 'register':
        return this.register(session, message);
      case 'login':
        return this.login(session, message);
      case 'resume':
        return this.resume(session, message);
      case 'quit':
        session.close();
        return {};
      case 'logout':
        return this.logout(session);
    }
    const user = this.requireUser(session);
    switch (message.type) {
      case 'who':
        return this.who(user, message.since);
      case 'send':
        return this.sendPrivate(session, user, message, now);
      case 'broadcast':
        return this.broadcast(user, message, now);
      case 'history':
        return LaterReply.of(this.history(user, message));
      case 'edit':
      case 'delete':
        return LaterReply.of(this.change(user, message));
      case 'group_create':
      case 'group_join':
      case 'group_leave':
      case 'group_invite':
      case 'group_kick':
        return LaterReply.of(this.groupChange(user, message));
      case 'group_list':
        return { groups: this.groups.visibleTo(user) };
      case 'group_members':
        return this.groupMembers(user, message.name);
      case 'group_send':
        return this.groupSend(session, user, message, now);
      case 'block':
      case 'unblock':
        return LaterReply.of(this.block(user, message.user, message.type === 'block'));
      case 'blocked':
        return { blocked: this.blocks.list(user) };
      case 'status':
        this.setPresence(session, user, message.status, message.text, false);
        return { status: message.status, ...(message.text && { text: message.text }) };
      case 'profile':
        return LaterReply.of(this.profile(user, message));
      case 'communities':
        return { communities: this.communities(user) };
    }
  }

  private requireUser(session: Session): string {
    if (session.user === null) throw new ParleyError('E_NOT_LOGGED_IN', 'log in first: /login NAME or /register NAME');
    return session.user;
  }

  private refuseSecondLogin(session: Session): void {
    if (session.user !== null) throw new ParleyError('E_ALREADY_LOGGED_IN', `already logged in as ${session.user}`);
  }

  private async register(session: Session, message: ClientMessageOf<'register'>): Promise<HandlerResult> {
    this.refuseSecondLogin(session);
    const account = await this.accounts.register(message.user, message.password);
    return this.attach(session, account.name, account.token, account.expiresAt, 'registered');
  }

  private async login(session: Session, message: ClientMessageOf<'login'>): Promise<HandlerResult> {
    this.refuseSecondLogin(session);
    try {
      const account = await this.accounts.login(message.user, message.password);
      return this.attach(session, account.name, account.token, account.expiresAt, 'logged in');
    } catch (err) {
      if (err instanceof ParleyError) this.log.warn(`conn#${session.id} login as ${normalizeUsername(message.user).slice(0, 40)} refused: ${err.code}`);
      throw err;
    }
  }

  private async resume(session: Session, message: ClientMessageOf<'resume'>): Promise<HandlerResult> {
    this.refuseSecondLogin(session);
    const { name, expiresAt } = await this.accounts.resume(message.user, message.token);
    return this.attach(session, name, message.token, expiresAt, 'resumed');
  }

  /** Makes `session` the one session of `user`, replacing an earlier one. */
  private attach(session: Session, user: string, token: string, expiresAt: number, how: string): HandlerResult {
    // The connection may have gone while scrypt ran: then there is no one to attach, and
    // attaching would leave a user online that no connection will ever take offline.
    if (!session.isOpen) throw new ParleyError('E_DISCONNECTED', 'the connection closed during login');
    if (session.user !== null) throw new ParleyError('E_ALREADY_LOGGED_IN', `already logged in as ${session.user}`);
    const now = this.now();
    const previous = this.online.get(user);
    session.user = user;
    session.token = token;
    session.loginAt = now;
    session.lastActive = now;
    this.online.set(user, session);
    this.onlineChanges++;
    if (previous) {
      // Latest login wins: the person at the new terminal is the one typing now.
      previous.user = null;
      this.delivery.detach(previous);
      previous.end('E_REPLACED', `you logged in as ${user} from another connection (${session.remote}); this one is closed`);
      this.log.info(`conn#${session.id} ${user} ${how}, replacing conn#${previous.id}`);
    } else {
      this.log.info(`conn#${session.id} ${user} ${how}`);
      this.announce(user, 'joined', now);
    }
    // After the login reply is queued: what waited in the mailbox follows it.
    setImmediate(() => {
      if (session.user === user) this.delivery.startDrain(session, user).catch((err) => this.log.error(`mailbox of ${user}: ${(err as Error).message}`));
    });
    return { user, token, expiresAt };
  }

  private async logout(session: Session): Promise<HandlerResult> {
    const user = this.requireUser(session);
    if (session.token) await this.accounts.revoke(user, session.token);
    session.token = null;
    session.close();
    return {};
  }

  /** Called when a connection closes, for whatever reason. */
  detach(session: Session, reason: string): void {
    const user = session.user;
    if (user === null) return;
    session.user = null;
    if (this.online.get(user) !== session) return;
    this.online.delete(user);
    this.onlineChanges++;
    this.delivery.detach(session);
    const now = this.now();
    this.accounts.touch(user, now);
    this.log.info(`conn#${session.id} ${user} left (${reason})`);
    this.announce(user, 'left', now);
  }

  /** Tells everyone online of `user`'s presence, except those `user` blocks. */
  private announce(user: string, event: 'joined' | 'left' | 'status', at: number, presence?: Session['presence']): void {
    const message: ServerMessageOf<'presence'> = { type: 'presence', user, event, at };
    if (presence) {
      message.status = presence.status;
      if (presence.text) message.statusText = presence.text;
    }
    const json = JSON.stringify(message);
    for (const name of this.presenceAudience(user)) {
      if (name !== user && !this.blocks.blocks(user, name)) this.online.get(name)?.sendSerialized(json);
    }
  }

  /** Who hears of `user`'s presence: everyone online, or on a big server those close to them (PRESENCE_TO_ALL). */
  private presenceAudience(user: string): Iterable<string> {
    if (this.online.size <= (this.options.presenceToAll ?? PRESENCE_TO_ALL)) return this.online.keys();
    const audience = new Set(this.contacts.get(user)?.keys());
    for (const group of this.groups.of(user)) for (const member of group.memberSet) audience.add(member);
    return audience;
  }

  /** The users `user` has written to or heard from privately, with the routes to them (created empty on first use). */
  private contactsOf(user: string): Map<string, PrivateRoute> {
    let peers = this.contacts.get(user);
    if (!peers) this.contacts.set(user, (peers = new Map()));
    return peers;
  }

  /** How `user`'s messages reach `peer`, who are each other's contacts from now on. */
  private privateRoute(user: string, peer: string): PrivateRoute {
    const peers = this.contactsOf(user);
    let route = peers.get(peer);
    if (route === undefined) {
      const conversation = conversationOf(user, peer);
      peers.set(peer, (route = new PrivateRoute(user, peer, conversation, this.log)));
      const back = this.contactsOf(peer);
      if (!back.has(user)) back.set(user, new PrivateRoute(peer, user, conversation, this.log));
    }
    return route;
  }

  private setPresence(session: Session, user: string, status: Session['presence']['status'], text: string | undefined, autoAway = false): void {
    session.presence = { status, ...(text && { text }), autoAway };
    this.announce(user, 'status', this.now(), session.presence);
  }

  private who(asker: string, sinceSeconds: number | undefined): HandlerResult {
    const now = this.now();
    const users: UserStatus[] = [];
    for (const [user, session] of this.online) {
      if (this.blocks.blocks(user, asker)) continue; // who blocks you is invisible to you
      const { status, text } = session.presence;
      users.push({ user, online: true, status, ...(text && { statusText: text }), since: session.loginAt, lastActive: session.lastActive });
    }
    if (sinceSeconds !== undefined) {
      const cutoff = now - sinceSeconds * 1000;
      for (const name of this.accounts.names()) {
        const lastSeen = this.accounts.get(name)!.lastSeenAt;
        if (!this.online.has(name) && lastSeen >= cutoff && !this.blocks.blocks(name, asker)) users.push({ user: name, online: false, since: lastSeen, lastActive: lastSeen });
      }
    }
    users.sort((a, b) => a.user.localeCompare(b.user));
    return { users };
  }

  private checkRecipient(from: string, rawTo: string): string {
    const to = normalizeUsername(rawTo);
    if (to === from) throw new ParleyError('E_SELF', 'that is you: name another user');
    if (!this.accounts.exists(to)) throw new ParleyError('E_NO_SUCH_USER', `no user named '${to.slice(0, 40)}'`);
    return to;
  }

  /** `ts`: when the server took the message, its time stamp (the `ok`'s and the `msg`'s). */
  private sendPrivate(session: Session, from: string, message: ClientMessageOf<'send'>, ts: number): HandlerResult {
    const to = this.checkRecipient(from, message.to);
    if (this.blocks.blocks(to, from)) throw new ParleyError('E_BLOCKED', 'your message could not be delivered as the recipient has blocked you');
    const route = this.privateRoute(from, to);
    // The `msg` writes itself, for the recipient and (less its type, the record) for the store.
    const send = new PrivateSend(session, route, message.msgId, message.text, ts, message.resend === true);
    this.delivery.deliver(to, message.msgId, send, send);
    this.recordLater(send);
    return send;
  }

  /**
   * Records `send` once this event-loop pass's writes have left: its recording (the history's
   * texts and journal) then no longer stands between the messages read in this pass and their
   * delivery. The pass's flush was scheduled by the first write queued in it (setImmediate runs
   * in order), so it goes first. Pipelined relay against the same server recording at once
   * (docs/BENCHMARKS.md, twenty-third session): p50 latency 0.93x, p99 0.69x, server CPU a
   * message 0.94x, as a server that answers sooner is sent more between its wake-ups.
   */
  private recordLater(send: PrivateSend): void {
    if (this.unrecorded.length === 0) setImmediate(() => this.recordPending());
    this.unrecorded.push(send);
  }

  /** Records every private message accepted so far, and settles once their appends are in the store (the server, stopping). */
  async recordAll(): Promise<void> {
    this.recordPending();
    await this.histories.appended();
  }

  /**
   * Records the private messages accepted and not recorded yet, in order. Anything that reads or
   * changes a conversation's history calls it first, as does the server before it writes the
   * store and stops (recordAll), so none of them can tell that recording waited.
   */
  private recordPending(): void {
    const sends = this.unrecorded;
    if (sends.length === 0) return;
    this.unrecorded = [];
    for (const send of sends) {
      // One message's failure is its own (its sender hears it), not the rest's, and not the server's.
      try {
        send.recordIn(this.histories);
      } catch (err) {
        send.recordEnded(err);
      }
    }
  }

  private broadcast(from: string, message: ClientMessageOf<'broadcast'>, ts: number): HandlerResult {
    const record: HistoryRecord = { msgId: message.msgId, scope: 'broadcast', from, text: message.text, ts };
    const msg: ServerMessageOf<'msg'> = { type: 'msg', ...record };
    const json = JSON.stringify(msg);
    let recipients = 0;
    for (const [name, other] of this.online) {
      // Those who block the sender do not get it (nor see the sender in `who`).
      if (name === from || this.blocks.blocks(name, from)) continue;
      other.sendSerialized(json);
      recipients++;
    }
    this.log.info(`msg ${from} → * (${recipients} online) ${Buffer.byteLength(message.text)} B`);
    const recorded = this.histories.append(conversationOf(from, '*'), record, message.resend === true, json);
    const result: SendResult = { msgId: message.msgId, status: 'sent', ts, recipients };
    return LaterReply.of(recorded.then(() => ({ ...result })));
  }

  /** The conversation a `with` names: `*` the lobby, `#name` a group you are in, else a user. */
  private conversationWith(user: string, raw: string): { peer: string; conversation: string } {
    if (raw === '*') return { peer: '*', conversation: conversationOf(user, '*') };
    if (raw.startsWith('#')) {
      const group = this.groups.requireMember(raw, user);
      return { peer: `#${group.name}`, conversation: conversationOf(user, `#${group.name}`) };
    }
    const peer = this.checkRecipient(user, raw);
    return { peer, conversation: conversationOf(user, peer) };
  }

  private async history(user: string, message: ClientMessageOf<'history'>): Promise<Record<string, unknown>> {
    this.recordPending();
    const { peer, conversation } = this.conversationWith(user, message.with);
    const page = await this.histories.page(conversation, message.before, message.limit ?? 20);
    return { with: peer, ...page } satisfies HistoryResult;
  }

  /** /edit and /delete: only the author may change a message; everyone who got it hears of it. */
  private async change(user: string, message: ClientMessageOf<'edit'> | ClientMessageOf<'delete'>): Promise<Record<string, unknown>> {
    this.recordPending();
    const { peer, conversation } = this.conversationWith(user, message.with);
    const found = await this.histories.find(conversation, message.msgId);
    if (!found || found.entry.deleted) throw new ParleyError('E_NOT_FOUND', `no message ${message.msgId} in your conversation with ${peer === '*' ? 'everyone' : peer}`);
    if (found.entry.from !== user) throw new ParleyError('E_FORBIDDEN', 'you can only edit or delete your own messages');
    const at = this.now();
    const action = message.type;
    const text = message.type === 'edit' ? message.text : undefined;
    await this.histories.update(conversation, found.seq, (record) =>
      action === 'edit' ? { ...record, text: text!, editedAt: at } : { ...record, text: '', deleted: true, editedAt: at },
    );
    const update: ServerMessageOf<'update'> = {
      type: 'update',
      updId: newDeliveryId(),
      msgId: message.msgId,
      scope: found.entry.scope,
      from: user,
      ...(found.entry.to !== undefined && { to: found.entry.to }),
      ...(found.entry.group !== undefined && { group: found.entry.group }),
      action,
      ...(text !== undefined && { text }),
      at,
    };
    if (peer === '*') {
      const json = JSON.stringify(update);
      for (const [name, other] of this.online) if (name !== user && !this.blocks.blocks(name, user)) other.sendSerialized(json);
    } else if (peer.startsWith('#')) {
      const json = JSON.stringify(update);
      const { names, sessions } = this.recipientsOf(this.groups.get(peer));
      for (let i = 0; i < names.length; i++) {
        if (names[i] !== user) this.delivery.fanOut(names[i], sessions[i], update.updId, update, json)?.catch(() => undefined);
      }
    } else {
      // Like the message itself, the change reaches an offline recipient at their next login.
      const waiter: DeliveryWaiter = {
        deliveryEnded: (_status, err) => {
          if (err) this.log.warn(`${action} for ${peer} not stored: ${err.message}`);
        },
      };
      this.delivery.deliver(peer, update.updId, JSON.stringify(update), { message: update, sentAt: 0, waiter });
    }
    this.log.info(`${action} by ${user} in ${conversation}`);
    return { msgId: message.msgId, action, at };
  }

  // ---- groups ------------------------------------------------------------------------------

  /** Tells the group's online members (and `also`, e.g. a kicked user) what happened. */
  private groupEvent(group: string, event: ServerMessageOf<'group_event'>['event'], user: string, by: string | undefined, also: string[] = []): void {
    const message: ServerMessageOf<'group_event'> = { type: 'group_event', group, event, user, ...(by && { by }), at: this.now() };
    const json = JSON.stringify(message);
    const found = this.groups.find(group);
    for (const name of new Set([...(found?.memberSet ?? []), ...also])) this.online.get(name)?.sendSerialized(json);
  }

  private async groupChange(
    user: string,
    message: ClientMessageOf<'group_create' | 'group_join' | 'group_leave' | 'group_invite' | 'group_kick'>,
  ): Promise<Record<string, unknown>> {
    const now = this.now();
    switch (message.type) {
      case 'group_create': {
        const group = await this.groups.create(message.name, user, message.visibility ?? 'open', now);
        this.log.info(`group #${group.name} created by ${user} (${group.visibility})`);
        return { group: this.groups.info(this.groups.get(group.name), user) };
      }
      case 'group_join': {
        const group = await this.groups.join(message.name, user, now);
        this.groupEvent(group.name, 'joined', user, undefined);
        return { group: this.groups.info(this.groups.get(group.name), user) };
      }
      case 'group_leave': {
        const group = await this.groups.leave(message.name, user);
        this.groupEvent(group.name, 'left', user, undefined, [user]);
        return { group: group.name };
      }
      case 'group_invite': {
        const invitee = this.checkRecipient(user, message.user);
        const group = await this.groups.invite(message.name, user, invitee);
        this.groupEvent(group.name, 'invited', invitee, user, [invitee]);
        return { group: group.name, user: invitee };
      }
      case 'group_kick': {
        const kicked = normalizeUsername(message.user);
        const group = await this.groups.kick(message.name, user, kicked);
        this.groupEvent(group.name, 'kicked', kicked, user, [kicked]);
        return { group: group.name, user: kicked };
      }
    }
  }

  private groupMembers(user: string, name: string): HandlerResult {
    const group = this.groups.get(name);
    if (group.visibility === 'private' && !group.memberSet.has(user)) {
      throw new ParleyError('E_NOT_MEMBER', `#${group.name} is private; only its members see who is in it`);
    }
    const members = [...group.memberSet].sort().map((member) => {
      const session = this.online.get(member);
      return { user: member, online: session !== undefined, owner: group.owner === member, ...(session && { status: session.presence.status }) };
    });
    return { group: group.name, owner: group.owner, members };
  }

  /**
   * A group message: validated and serialised once, then sent to every member (mailbox for
   * those offline). The sender hears back when the history record and the mailboxes are on disk.
   */
  private groupSend(session: Session, from: string, message: ClientMessageOf<'group_send'>, ts: number): HandlerResult {
    const group = this.groups.requireMember(message.group, from);
    const record: HistoryRecord = { msgId: message.msgId, scope: 'group', from, group: group.name, text: message.text, ts };
    const msg: ServerMessageOf<'msg'> = { type: 'msg', ...record };
    const json = JSON.stringify(msg);
    const recorded = this.histories.append(conversationOf(from, `#${group.name}`), record, message.resend === true, json);
    const stored: Array<Promise<unknown>> = [];
    let recipients = 0;
    const { names, sessions } = this.recipientsOf(group);
    for (let i = 0; i < names.length; i++) {
      const member = names[i];
      if (member === from) continue;
      const memberSession = sessions[i];
      if (memberSession !== undefined) recipients++;
      const delivery = this.delivery.fanOut(member, memberSession, msg.msgId, msg, json);
      if (delivery === null) continue;
      if (memberSession === undefined) stored.push(delivery);
      delivery.catch((err) => this.log.warn(`#${group.name} message for ${member} not stored: ${(err as Error).message}`));
    }
    if (this.log.enabled('info')) this.log.info(`conn#${session.id} msg ${from} → #${group.name} (${recipients} online, ${stored.length} offline) ${Buffer.byteLength(message.text)} B`);
    const result: SendResult = { msgId: msg.msgId, status: 'sent', ts, recipients };
    return LaterReply.of(Promise.all([recorded, Promise.allSettled(stored)]).then(() => ({ ...result, stored: stored.length })));
  }

  /**
   * The members of `group` and their sessions (undefined: offline), looked up once for each change
   * to who is online or who is in a group rather than once per member per message: in a fan-out
   * to 1,000 those lookups were ~2.7% of the server's CPU (docs/BENCHMARKS.md). Never stale: it is
   * made again when either count has moved, so its sessions are exactly `online`'s. (A departed
   * member's session stays referenced until the group's next message makes it again.)
   */
  private recipientsOf(group: GroupOf): GroupRecipients {
    let recipients = this.groupRecipients.get(group);
    if (recipients === undefined || recipients.onlineChanges !== this.onlineChanges || recipients.memberChanges !== this.groups.memberChanges) {
      const names = [...group.memberSet];
      recipients = { onlineChanges: this.onlineChanges, memberChanges: this.groups.memberChanges, names, sessions: names.map((name) => this.online.get(name)) };
      this.groupRecipients.set(group, recipients);
    }
    return recipients;
  }

  // ---- blocking, profiles, communities -------------------------------------------------------

  private async block(user: string, raw: string, blocked: boolean): Promise<Record<string, unknown>> {
    const other = this.checkRecipient(user, raw);
    await this.blocks.set(user, other, blocked);
    this.log.info(`${user} ${blocked ? 'blocks' : 'unblocks'} ${other}`);
    return { user: other, blocked, list: this.blocks.list(user) };
  }

  private async profile(user: string, message: ClientMessageOf<'profile'>): Promise<Record<string, unknown>> {
    const changing = message.clear || message.location !== undefined || message.interests !== undefined;
    const profile = changing ? await this.profiles.update(user, message) : this.profiles.get(user);
    return { ...profile };
  }

  private communities(user: string) {
    return this.profiles.suggest(user, (name) => {
      const group = this.groups.find(name);
      return { members: group?.memberSet.size ?? 0, joined: group?.memberSet.has(user) ?? false };
    });
  }

  /** Logs out sessions idle longer than the timeout, and marks idle ones away. About once a second. */
  sweepIdle(sessions: Iterable<Session>): void {
    const awayAfter = this.options.awayAfterMs ?? 0;
    if (awayAfter > 0) {
      const awayCutoff = this.now() - awayAfter;
      for (const session of sessions) {
        if (session.user !== null && session.presence.status === 'available' && session.lastActive < awayCutoff) {
          this.setPresence(session, session.user, 'away', undefined, true);
        }
      }
    }
    if (this.options.idleTimeoutMs <= 0) return;
    const cutoff = this.now() - this.options.idleTimeoutMs;
    const seconds = Math.round(this.options.idleTimeoutMs / 1000);
    for (const session of sessions) {
      if (session.lastActive >= cutoff) continue;
      const user = session.user;
      if (user !== null && session.token) {
        // A timed-out login must not come back by itself: its token goes too.
        void this.accounts.revoke(user, session.token).catch(() => undefined);
      }
      this.log.info(`conn#${session.id} ${user ?? '(not logged in)'} idle for ${seconds} s, logging out`);
      session.end('E_IDLE_TIMEOUT', `logged out after ${seconds} s without activity`);
    }
  }
}
