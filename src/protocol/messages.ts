/**
 * The messages of the Parley protocol, as zod schemas (validation) and the TypeScript types
 * inferred from them. Every field that comes off the wire passes through `parseClientMessage`
 * (server side) or `parseServerMessage` (client side) before any code looks at it.
 *
 * Unknown fields are ignored, so that a newer peer may add fields without breaking an older one;
 * an unknown `type` is answered with E_UNKNOWN_TYPE.
 */
import { z } from 'zod';
import { ParleyError, type ErrorCode } from './errors.ts';

export const PROTOCOL_VERSION = 1;

/** Usernames: 2-24 characters, a letter first, then letters, digits, `_` or `-`. Case-insensitive. */
export const USERNAME_PATTERN = /^[a-z][a-z0-9_-]{1,23}$/;
/** Names no one may register: they would read as something else in a chat window. */
export const RESERVED_NAMES = new Set(['all', 'admin', 'server', 'system', 'parley', 'me', 'everyone']);
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;
/** Longest chat text, in Unicode code points (an emoji of two UTF-16 units counts once). */
export const TEXT_MAX = 8000;
/**
 * Clients send `received` at most this often (ms) for deliveries someone waits on (a private
 * `msg`: its sender is shown `delivered`): the first acknowledgement after a quiet spell leaves
 * at once, later ones are gathered. A busy member then costs the server one frame to decrypt per
 * interval, not one per message; it stays far below the server's ack timeout.
 */
export const ACK_INTERVAL_MS = 50;
/**
 * Deliveries nobody waits on (group messages, edits and deletions) are acknowledged within this
 * many ms, or sooner with a prompt one: the ack only spares them the mailbox, and the server's ack
 * timeout (5 s by default) is far away. A member of a busy group then costs the server one frame
 * a second instead of twenty.
 */
export const ACK_LAZY_MS = 1000;
/**
 * ...unless this many are waiting, or this many characters of text: then at once, whatever their
 * kind. A mailbox drain sends a window of 1,024 entries or 2 MiB and waits for its acknowledgements.
 */
export const ACK_PROMPTLY = 256;
export const ACK_PROMPTLY_TEXT = 256 * 1024;

/** Lower-cases a typed name; validity is checked separately so errors can say what is wrong. */
export function normalizeUsername(name: string): string {
  return name.trim().toLowerCase();
}

/** Returns why `name` is not a valid username, or null when it is. */
export function usernameProblem(name: string): string | null {
  if (name.length < 2 || name.length > 24) return 'usernames are 2 to 24 characters long';
  if (!USERNAME_PATTERN.test(name)) return 'usernames start with a letter and use only letters, digits, _ and -';
  if (RESERVED_NAMES.has(name)) return `'${name}' is reserved`;
  return null;
}

const requestId = z.string().min(1).max(64);
/** Client-chosen message ids: recipients drop duplicates by them. */
const messageId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'message ids are 6-64 characters of A-Z a-z 0-9 _ -');
// Names on the wire are only length-checked here; the hub decides whether they exist.
const username = z.string().min(1).max(64);
const text = z.string().min(1).max(TEXT_MAX);
/** Group names on the wire are length-checked; the hub says what is wrong with a bad one. */
const groupName = z.string().min(1).max(80);
export const USER_STATUSES = ['available', 'away', 'busy'] as const;
export type Presence = (typeof USER_STATUSES)[number];
const scope = z.enum(['private', 'broadcast', 'group']);

// ---- client → server -------------------------------------------------------------------

const credentials = { id: requestId, user: username, password: z.string().max(PASSWORD_MAX) };

export const clientSchemas = {
  register: z.object({ type: z.literal('register'), ...credentials }),
  login: z.object({ type: z.literal('login'), ...credentials }),
  resume: z.object({ type: z.literal('resume'), id: requestId, user: username, token: z.string().min(1).max(128) }),
  logout: z.object({ type: z.literal('logout'), id: requestId }),
  quit: z.object({ type: z.literal('quit'), id: requestId }),
  who: z.object({ type: z.literal('who'), id: requestId, since: z.number().int().min(0).max(10 * 365 * 86400).optional() }),
  /** `resend` marks a message the client's outbox sends again after a reconnect: the server checks for a duplicate. */
  send: z.object({ type: z.literal('send'), id: requestId, msgId: messageId, to: username, text, resend: z.boolean().optional() }),
  broadcast: z.object({ type: z.literal('broadcast'), id: requestId, msgId: messageId, text, resend: z.boolean().optional() }),
  /** The recipient's acknowledgement of deliveries (`msg` and `update`), by their ids. No reply. */
  received: z.object({ type: z.literal('received'), ids: z.array(z.string().min(1).max(64)).min(1).max(4096) }),
  /** Pages backwards through a conversation: `with` is a user, or `*` for the broadcast lobby. */
  history: z.object({
    type: z.literal('history'),
    id: requestId,
    with: username,
    before: z.number().int().nonnegative().optional(),
    limit: z.number().int().min(1).max(500).optional(),
  }),
  edit: z.object({ type: z.literal('edit'), id: requestId, with: username, msgId: messageId, text }),
  delete: z.object({ type: z.literal('delete'), id: requestId, with: username, msgId: messageId }),
  ping: z.object({ type: z.literal('ping'), id: requestId.optional() }),
  pong: z.object({ type: z.literal('pong'), id: requestId.optional() }),
  // ---- groups: `#name` in history/edit/delete `with` names a group conversation
  group_create: z.object({ type: z.literal('group_create'), id: requestId, name: groupName, visibility: z.enum(['open', 'private']).optional() }),
  group_join: z.object({ type: z.literal('group_join'), id: requestId, name: groupName }),
  group_leave: z.object({ type: z.literal('group_leave'), id: requestId, name: groupName }),
  group_list: z.object({ type: z.literal('group_list'), id: requestId }),
  group_members: z.object({ type: z.literal('group_members'), id: requestId, name: groupName }),
  group_invite: z.object({ type: z.literal('group_invite'), id: requestId, name: groupName, user: username }),
  group_kick: z.object({ type: z.literal('group_kick'), id: requestId, name: groupName, user: username }),
  group_send: z.object({ type: z.literal('group_send'), id: requestId, msgId: messageId, group: groupName, text, resend: z.boolean().optional() }),
  // ---- blocking, status, profile, communities
  block: z.object({ type: z.literal('block'), id: requestId, user: username }),
  unblock: z.object({ type: z.literal('unblock'), id: requestId, user: username }),
  blocked: z.object({ type: z.literal('blocked'), id: requestId }),
  status: z.object({ type: z.literal('status'), id: requestId, status: z.enum(USER_STATUSES), text: z.string().max(100).optional() }),
  /** Sets the fields given (null clears one); `clear` removes the whole profile. Answers the profile. */
  profile: z.object({
    type: z.literal('profile'),
    id: requestId,
    location: z.string().min(1).max(100).nullable().optional(),
    interests: z.array(z.string().min(1).max(40)).max(20).nullable().optional(),
    clear: z.boolean().optional(),
  }),
  communities: z.object({ type: z.literal('communities'), id: requestId }),
};

export const ClientMessage = z.discriminatedUnion('type', Object.values(clientSchemas) as unknown as [typeof clientSchemas.register, ...Array<(typeof clientSchemas)[keyof typeof clientSchemas]>]);
export type ClientMessage = z.infer<(typeof clientSchemas)[keyof typeof clientSchemas]>;
export type ClientMessageOf<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;
/** A request as the client engine builds it, before it assigns the id. */
export type ClientRequest = ClientMessage extends infer M ? (M extends { id: string } ? Omit<M, 'id'> : never) : never;

// ---- server → client -------------------------------------------------------------------

const timestamp = z.number().int().nonnegative(); // milliseconds since the Unix epoch
const userStatus = z.object({
  user: username,
  online: z.boolean(),
  /** available, away or busy (online users only), with an optional text */
  status: z.enum(USER_STATUSES).optional(),
  statusText: z.string().max(100).optional(),
  /** when the current session started (online) or the last one ended (offline) */
  since: timestamp,
  /** last user command, for "active N s ago" */
  lastActive: timestamp,
});
export type UserStatus = z.infer<typeof userStatus>;

export const serverSchemas = {
  welcome: z.object({
    type: z.literal('welcome'),
    server: z.string().max(100),
    protocol: z.number().int(),
    maxFrame: z.number().int().positive(),
    maxText: z.number().int().positive(),
    /** ms the server waits for a delivery's `received` before it stores it instead (lazy acknowledgements stay well inside it) */
    ackTimeout: z.number().int().positive().optional(),
  }),
  ok: z.object({ type: z.literal('ok'), ref: requestId, result: z.record(z.string(), z.unknown()).optional() }),
  error: z.object({
    type: z.literal('error'),
    ref: requestId.optional(),
    code: z.string().max(64),
    message: z.string().max(1000),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  msg: z.object({
    type: z.literal('msg'),
    msgId: messageId,
    scope,
    from: username,
    to: username.optional(),
    /** the group, for scope `group` */
    group: groupName.optional(),
    text,
    ts: timestamp,
    /** set when the message was edited before it reached you */
    editedAt: timestamp.optional(),
  }),
  /** An edit or deletion of an earlier message; acknowledged by `updId` like a `msg` by its msgId. */
  update: z.object({
    type: z.literal('update'),
    updId: z.string().min(1).max(64),
    msgId: messageId,
    scope,
    from: username,
    to: username.optional(),
    group: groupName.optional(),
    action: z.enum(['edit', 'delete']),
    text: text.optional(),
    at: timestamp,
  }),
  /** joined/left the server, or changed status (then `status` and maybe `statusText`) */
  presence: z.object({
    type: z.literal('presence'),
    user: username,
    event: z.enum(['joined', 'left', 'status']),
    status: z.enum(USER_STATUSES).optional(),
    statusText: z.string().max(100).optional(),
    at: timestamp,
  }),
  /** Something happened in a group you are in (or were invited to, or kicked from). Not stored. */
  group_event: z.object({
    type: z.literal('group_event'),
    group: groupName,
    event: z.enum(['joined', 'left', 'invited', 'kicked', 'created']),
    user: username,
    by: username.optional(),
    at: timestamp,
  }),
  /** The server is ending this session; the connection closes right after. */
  notice: z.object({ type: z.literal('notice'), code: z.string().max(64), message: z.string().max(1000) }),
  ping: z.object({ type: z.literal('ping'), id: requestId.optional() }),
  pong: z.object({ type: z.literal('pong'), id: requestId.optional() }),
};

export const ServerMessage = z.discriminatedUnion('type', Object.values(serverSchemas) as unknown as [typeof serverSchemas.welcome, ...Array<(typeof serverSchemas)[keyof typeof serverSchemas]>]);
export type ServerMessage = z.infer<(typeof serverSchemas)[keyof typeof serverSchemas]>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

/** Results carried by `ok` replies, per request type. */
export interface LoginResult { user: string; token: string; expiresAt: number; }
export interface WhoResult { users: UserStatus[]; }
/**
 * How far a sent message got: `delivered` (the recipient's client acknowledged it), `stored`
 * (on disk in the recipient's mailbox, delivered at their next login), or `sent` (broadcasts:
 * handed to everyone online, no mailbox).
 */
export type DeliveryStatus = 'delivered' | 'stored' | 'sent';
export interface SendResult { msgId: string; status: DeliveryStatus; ts: number; recipients?: number; /** group sends: members reached through their mailbox */ stored?: number; }
/** One message of a conversation's history, as the server keeps it. */
export interface HistoryItem {
  seq: number;
  msgId: string;
  scope: 'private' | 'broadcast' | 'group';
  from: string;
  to?: string;
  group?: string;
  text: string;
  ts: number;
  editedAt?: number;
  deleted?: boolean;
}
export interface HistoryResult { with: string; messages: HistoryItem[]; more: boolean; }

/** A message as histories keep it on disk: the server's conversation logs and the client's copy. */
export const StoredMessage = z.object({
  msgId: z.string(),
  scope: z.enum(['private', 'broadcast', 'group']),
  from: z.string(),
  to: z.string().optional(),
  group: z.string().optional(),
  text: z.string(),
  ts: z.number(),
  editedAt: z.number().optional(),
  deleted: z.boolean().optional(),
});
export type StoredMessage = z.infer<typeof StoredMessage>;
export interface GroupInfo { name: string; visibility: 'open' | 'private'; owner: string | null; members: number; member: boolean; invited: boolean; community: boolean; }
export interface GroupMember { user: string; online: boolean; owner: boolean; status?: Presence; }
export interface Profile { location: string | null; area: string | null; interests: string[]; }
export interface Community { name: string; kind: 'near' | 'interest'; users: number; members: number; joined: boolean; }

// ---- parsing ---------------------------------------------------------------------------

/** Returns the message with only its schema's fields, or null when it cannot tell. */
type QuickCheck = (m: Record<string, unknown>) => ClientMessage | null;

const MESSAGE_ID = /^[A-Za-z0-9_-]{6,64}$/;
/** Length in Unicode code points, as zod measures strings: a surrogate pair counts once. */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}
/** A string of min..max code points; counted only when its UTF-16 length leaves it in doubt. */
function isString(value: unknown, min: number, max: number): value is string {
  if (typeof value !== 'string') return false;
  const units = value.length;
  if (units >= 2 * min && units <= max) return true;
  if (units < min || units > 2 * max) return false;
  const length = codePoints(value);
  return length >= min && length <= max;
}
const isRequestId = (value: unknown): value is string => isString(value, 1, 64);
const isMessageId = (value: unknown): value is string => typeof value === 'string' && MESSAGE_ID.test(value);
const isText = (value: unknown): value is string => isString(value, 1, TEXT_MAX);
const isOptionalFlag = (value: unknown): value is boolean | undefined => value === undefined || typeof value === 'boolean';
const areAckIds = (value: unknown): value is string[] => Array.isArray(value) && value.length >= 1 && value.length <= 4096 && value.every((id) => isString(id, 1, 64));

// Acceptors for what a busy server reads most, given a message's fields: the message with only
// its schema's fields, or null where the schema must say what is wrong.
function acceptSend(id: unknown, msgId: unknown, to: unknown, text: unknown, resend: unknown): ClientMessageOf<'send'> | null {
  if (!(isRequestId(id) && isMessageId(msgId) && isString(to, 1, 64) && isText(text) && isOptionalFlag(resend))) return null;
  return resend === undefined ? { type: 'send', id, msgId, to, text } : { type: 'send', id, msgId, to, text, resend };
}
function acceptGroupSend(id: unknown, msgId: unknown, group: unknown, text: unknown, resend: unknown): ClientMessageOf<'group_send'> | null {
  if (!(isRequestId(id) && isMessageId(msgId) && isString(group, 1, 80) && isText(text) && isOptionalFlag(resend))) return null;
  return resend === undefined ? { type: 'group_send', id, msgId, group, text } : { type: 'group_send', id, msgId, group, text, resend };
}
function acceptBroadcast(id: unknown, msgId: unknown, text: unknown, resend: unknown): ClientMessageOf<'broadcast'> | null {
  if (!(isRequestId(id) && isMessageId(msgId) && isText(text) && isOptionalFlag(resend))) return null;
  return resend === undefined ? { type: 'broadcast', id, msgId, text } : { type: 'broadcast', id, msgId, text, resend };
}
const acceptReceived = (ids: unknown): ClientMessageOf<'received'> | null => (areAckIds(ids) ? { type: 'received', ids } : null);

/**
 * Hand-written checks of a parsed message, for what a busy server reads most: chat messages,
 * acknowledgements and pings. A zod parse builds a result object per field; per relayed message
 * that was a tenth of the server's garbage (docs/BENCHMARKS.md). A quick check only ever accepts:
 * a message it passes is one its schema accepts, with the same fields
 * (test/fuzz/messages-fuzz.test.ts holds each to its schema on generated messages); anything it
 * does not pass goes through the schema, which tells what is wrong.
 */
const clientQuickChecks: Partial<Record<ClientMessage['type'], QuickCheck>> = {
  send: ({ id, msgId, to, text, resend }) => acceptSend(id, msgId, to, text, resend),
  group_send: ({ id, msgId, group, text, resend }) => acceptGroupSend(id, msgId, group, text, resend),
  broadcast: ({ id, msgId, text, resend }) => acceptBroadcast(id, msgId, text, resend),
  received: ({ ids }) => acceptReceived(ids),
  ping: ({ id }) => (id === undefined ? { type: 'ping' } : isRequestId(id) ? { type: 'ping', id } : null),
  pong: ({ id }) => (id === undefined ? { type: 'pong' } : isRequestId(id) ? { type: 'pong', id } : null),
};
/** For the tests that hold each quick check to its schema. */
export const CLIENT_QUICK_CHECKS: Readonly<typeof clientQuickChecks> = clientQuickChecks;

// ---- the chat messages and acknowledgements, read without JSON.parse ------------------------

/** The types readWrittenAsClientsWrite reads, each with the fields its schema has. */
const READ_TYPES = ['send', 'received', 'group_send', 'broadcast'] as const;
/** Each field as it starts in a client's JSON, and the types that have it (bits: READ_TYPES' order). */
const READ_FIELDS = [
  { key: '"id":', types: 0b1101 },
  { key: '"msgId":', types: 0b1101 },
  { key: '"to":', types: 0b0001 },
  { key: '"group":', types: 0b0100 },
  { key: '"text":', types: 0b1101 },
  { key: '"resend":', types: 0b1101 },
  { key: '"ids":', types: 0b0010 },
] as const;
const [ID, MSG_ID, TO, GROUP, TEXT, RESEND, IDS] = [0, 1, 2, 3, 4, 5, 6];
/**
 * Characters a JSON string may not hold as they are: what would make it not a plain copy of its
 * value. Looked for once in the whole message, where outside its strings they would make it
 * unreadable here anyway: per string, it was a loop over each short one (whose characters, read
 * from a slice, cost more than the whole message's) and this expression for each long one.
 */
const ESCAPED_OR_CONTROL = /[\\\u0000-\u001f]/;
/** The offset after the last value readString or readIds read. */
let readEnd = 0;

/**
 * A send, group_send, broadcast or received message, read from its JSON where it is written as
 * clients write it (JSON.stringify: the type first, no space, no escape in any string); null for
 * anything else, which JSON.parse and the checks above then read. JSON.parse builds an object of
 * every field, looks up each short string in V8's string table (type names, ids, user names),
 * and the quick check builds the message again: a 100-byte send took ~470 ns that way and ~275
 * this way, an acknowledgement of 25 ids ~1,200 and ~840 (docs/BENCHMARKS.md, twenty-third
 * session). Whatever this reads, the other way reads alike
 * (test/fuzz/messages-fuzz.test.ts holds the two equal on generated and mutated texts).
 */
export function readWrittenAsClientsWrite(json: string): ClientMessage | null {
  if (!hasAt(json, 0, '{"type":"') || ESCAPED_OR_CONTROL.test(json)) return null;
  let typeIndex = 0;
  while (typeIndex < READ_TYPES.length && !(hasAt(json, 9, READ_TYPES[typeIndex]) && json.charCodeAt(9 + READ_TYPES[typeIndex].length) === 0x22)) typeIndex++;
  if (typeIndex === READ_TYPES.length) return null;
  const typeBit = 1 << typeIndex;
  let at = 10 + READ_TYPES[typeIndex].length;
  let id, msgId, target, text, resend, ids;
  let seen = 0;
  for (;;) {
    const c = json.charCodeAt(at);
    if (c === 0x7d /* } */) {
      if (at + 1 !== json.length) return null;
      break;
    }
    if (c !== 0x2c /* , */) return null;
    at++;
    const field = fieldAt(json, at);
    if (field < 0 || !(READ_FIELDS[field].types & typeBit) || seen & (1 << field)) return null;
    seen |= 1 << field;
    at += READ_FIELDS[field].key.length;
    if (field === RESEND) {
      resend = hasAt(json, at, 'true') ? true : hasAt(json, at, 'false') ? false : undefined;
      if (resend === undefined) return null;
      at += resend ? 4 : 5;
      continue;
    }
    const value = field === IDS ? readIds(json, at) : readString(json, at);
    if (value === undefined) return null;
    at = readEnd;
    if (field === ID) id = value;
    else if (field === MSG_ID) msgId = value;
    else if (field === TEXT) text = value;
    else if (field === IDS) ids = value;
    else if (field === TO || field === GROUP) target = value;
  }
  switch (READ_TYPES[typeIndex]) {
    case 'send':
      return acceptSend(id, msgId, target, text, resend);
    case 'group_send':
      return acceptGroupSend(id, msgId, target, text, resend);
    case 'broadcast':
      return acceptBroadcast(id, msgId, text, resend);
    case 'received':
      return acceptReceived(ids);
  }
}

/**
 * Whether `json` has `key` at `at`, compared a character at a time: `startsWith` with a position
 * is a call that V8 does not inline, and its dozen a message were a quarter of this reader's time.
 */
function hasAt(json: string, at: number, key: string): boolean {
  if (at + key.length > json.length) return false;
  for (let i = 0; i < key.length; i++) if (json.charCodeAt(at + i) !== key.charCodeAt(i)) return false;
  return true;
}

/** Which of READ_FIELDS has its key at `at`, or -1. Keys are told apart by their first letter before they are compared. */
function fieldAt(json: string, at: number): number {
  const first = json.charCodeAt(at + 1);
  for (let field = 0; field < READ_FIELDS.length; field++) {
    const { key } = READ_FIELDS[field];
    if (key.charCodeAt(1) === first && hasAt(json, at, key)) return field;
  }
  return -1;
}

/** The string whose JSON starts at `at` (the message has no escape and no control character). */
function readString(json: string, at: number): string | undefined {
  if (json.charCodeAt(at) !== 0x22) return undefined;
  const end = json.indexOf('"', at + 1);
  if (end < 0) return undefined;
  readEnd = end + 1;
  return json.slice(at + 1, end);
}

/** The array of strings whose JSON starts at `at`. */
function readIds(json: string, at: number): string[] | undefined {
  if (json.charCodeAt(at) !== 0x5b /* [ */) return undefined;
  const ids: string[] = [];
  at++;
  if (json.charCodeAt(at) === 0x5d /* ] */) {
    readEnd = at + 1;
    return ids;
  }
  for (;;) {
    const id = readString(json, at);
    if (id === undefined) return undefined;
    ids.push(id);
    const c = json.charCodeAt(readEnd);
    if (c === 0x5d) {
      readEnd++;
      return ids;
    }
    if (c !== 0x2c) return undefined;
    at = readEnd + 1;
  }
}

/** A message that could not be parsed, with the request id when one could be read. */
export class MessageError extends ParleyError {
  readonly ref: string | undefined;
  constructor(code: ErrorCode, message: string, ref: string | undefined) {
    super(code, message);
    this.ref = ref;
  }
}

function parseWith<T>(schemas: Record<string, z.ZodType>, json: string, quick?: Partial<Record<string, QuickCheck>>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new MessageError('E_BAD_JSON', 'message is not valid JSON', undefined);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MessageError('E_INVALID', 'a message is a JSON object', undefined);
  }
  const record = raw as Record<string, unknown>;
  // Only an id a reply may carry as `ref` (1-64 characters): an empty one would make the error invalid.
  const ref = typeof record.id === 'string' && record.id.length >= 1 && record.id.length <= 64 ? record.id : undefined;
  if (typeof record.type !== 'string' || !Object.hasOwn(schemas, record.type)) {
    const shown = typeof record.type === 'string' ? `'${record.type.slice(0, 40)}'` : 'missing';
    throw new MessageError('E_UNKNOWN_TYPE', `unknown message type ${shown}`, ref);
  }
  const quickly = quick?.[record.type]?.(record);
  if (quickly) return quickly as T;
  // The type is known: its own schema, not the whole union, does the checking and says what is wrong.
  const parsed = (schemas[record.type] as z.ZodType<T>).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new MessageError('E_INVALID', `${record.type}: ${where}${issue.message}`, ref);
  }
  return parsed.data;
}

/** Parses and validates one message a client sent. Throws MessageError. */
export function parseClientMessage(json: string): ClientMessage {
  return readWrittenAsClientsWrite(json) ?? parseWith<ClientMessage>(clientSchemas, json, clientQuickChecks);
}

/** Parses and validates one message the server sent. Throws MessageError. */
export function parseServerMessage(json: string): ServerMessage {
  return parseWith<ServerMessage>(serverSchemas, json);
}
