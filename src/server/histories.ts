/**
 * Conversation histories, one SegmentedLog per conversation: `history/private/<a>.<b>` (the two
 * names sorted; names never contain a dot) and `history/lobby` for broadcasts.
 */
import type { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import type { JsonOut } from '../protocol/json-bytes.ts';
import { StoredMessage, type HistoryItem } from '../protocol/messages.ts';
import type { LogEntry } from '../store/log.ts';
import { DEFAULT_CACHED_MESSAGES, LogPool } from '../store/log-pool.ts';
import type { Store } from '../store/store.ts';

export const HistoryRecord = StoredMessage;
export type HistoryRecord = z.infer<typeof HistoryRecord>;

/** The conversation `user` has with `peer` (`*` is the lobby, `#name` a group). */
export function conversationOf(user: string, peer: string): string {
  if (peer === '*') return 'history/lobby';
  if (peer.startsWith('#')) return `history/group/${peer.slice(1).replace(':', '.')}`;
  return user < peer ? `history/private/${user}.${peer}` : `history/private/${peer}.${user}`;
}

/**
 * What JSON.stringify of a `msg` has after its brace: its type. Its history record is the rest
 * (hub.ts builds both alike, and writes its PrivateSend's JSON after it).
 */
export const MSG_TYPE = '"type":"msg",';

/**
 * The characters the store leaves out of a `msg`'s JSON, after its brace, to make its history
 * record's (ItemTexts.add; none without a `msg`): the record is the message without its type, in
 * the same key order, so a message is serialised once, for its recipients, and the store copies
 * that text (or writes it once more, where it writes itself: JsonBytes).
 */
function typeLength(msg: JsonOut | undefined): number {
  if (msg === undefined) return 0;
  if (typeof msg === 'string' && !msg.startsWith(MSG_TYPE, 1)) throw new ParleyError('E_INTERNAL', 'a history record text must be cut from a msg');
  return MSG_TYPE.length;
}

/** How far back in its conversation a resent message is looked for, to record it only once. */
const DUPLICATE_WINDOW = 1024;
/** Resent ids remembered, across all conversations (see Histories.resent). */
export const RESENT_IDS = 8192;

/** Told when a record is on disk: `err` null, or why it could not be written. */
export interface RecordWaiter {
  recordEnded(err: unknown): void;
}

export class Histories {
  private readonly logs: LogPool<HistoryRecord>;
  /**
   * The ids of messages resent lately (`resend: true`), by conversation, and a ring of the same
   * (conversation, id) pairs to forget the oldest. A resend is looked for in its conversation's
   * log, where its first copy is if it came before. The one copy that may come after a resend is
   * its own first send: a message the client was still writing to its outbox when it reconnected
   * and resent the outbox. So a first send is checked against these ids alone, and is not
   * remembered itself: remembering every message's id (a Set per conversation and a ring of
   * 8,192) was ~5% of the pipelined relay's main thread, and kept each id alive past a scavenge.
   * Keyed in two steps so that no `conversation/msgId` string is made per resend. (Deleting a
   * Set's first entry over and over would make finding the next first entry slower and slower,
   * as the deleted slots pile up in front of it: hence the ring.)
   */
  private readonly resent = new Map<string, Set<string>>();
  private readonly ringConversations: Array<string | undefined> = new Array<string | undefined>(RESENT_IDS);
  private readonly ringIds: string[] = new Array<string>(RESENT_IDS);
  private ringNext = 0;
  /** The store batch the latest appends went into, and who waits for it to be on disk. */
  private batch: { written: Promise<void>; waiters: RecordWaiter[] } | null = null;
  /** Appends waiting for their log to open (or for a resend to be looked for): `appended` waits for them. */
  private readonly opening = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    /** messages the conversations nobody is using may keep in memory (LogPool) */
    cachedMessages = DEFAULT_CACHED_MESSAGES,
  ) {
    this.logs = new LogPool(store, HistoryRecord, cachedMessages);
  }

  /** Conversation logs open now (held or idle). */
  get openLogs(): number {
    return this.logs.size;
  }

  /** Whether `msgId` was resent lately in `conversation` (nothing to hash while nothing was). */
  private resentLately(conversation: string, msgId: string): boolean {
    return this.resent.size !== 0 && this.resent.get(conversation)?.has(msgId) === true;
  }

  /** Remembers a resent `msgId` in `conversation`; false when it is already remembered. */
  private rememberResend(conversation: string, msgId: string): boolean {
    if (this.resentLately(conversation, msgId)) return false;
    const at = this.ringNext;
    const oldest = this.ringConversations[at];
    if (oldest !== undefined) {
      const ids = this.resent.get(oldest)!;
      ids.delete(this.ringIds[at]);
      if (ids.size === 0) this.resent.delete(oldest);
    }
    this.ringConversations[at] = conversation;
    this.ringIds[at] = msgId;
    this.ringNext = (at + 1) % RESENT_IDS;
    let ids = this.resent.get(conversation);
    if (!ids) this.resent.set(conversation, (ids = new Set()));
    ids.add(msgId);
    return true;
  }

  /**
   * Records a message; resolves once it is on disk. A `resend` (the client sends it again after
   * a reconnect) is recorded only if the newest DUPLICATE_WINDOW entries of the log do not have
   * its msgId, and a first send only if no resend of it came lately (see `resent`). A msgId sent
   * twice without `resend` is two records.
   *
   * A failed write is not forgotten: the entry stays in the log's tail and the store writes it at
   * its next checkpoint, so the sender's retry (a resend) finds it there. `msgText`, when the
   * caller has it, is JSON.stringify({ type: 'msg', ...record }), or writes it (JsonBytes): the
   * store takes the record's text from it.
   */
  append(conversation: string, record: HistoryRecord, resend = false, msgText?: JsonOut): Promise<void> {
    return new Promise((resolve, reject) => this.appendFor(conversation, record, resend, { recordEnded: (err) => (err === null ? resolve() : reject(err)) }, msgText));
  }

  /**
   * append for the hot path (every private message): `waiter` hears when the record is on disk.
   * The messages of one store batch share one reaction to its promise, not one each.
   */
  appendFor(conversation: string, record: HistoryRecord, resend: boolean, waiter: RecordWaiter, msgText?: JsonOut): void {
    if (resend ? !this.rememberResend(conversation, record.msgId) : this.resentLately(conversation, record.msgId)) return waiter.recordEnded(null);
    const log = this.logs.peek(conversation);
    if (log !== undefined && !resend) return this.waitForBatch(this.logs.append(log, record, msgText, typeLength(msgText)).written, waiter);
    const appending = this.appendSlowly(conversation, record, resend, msgText);
    this.opening.add(appending);
    appending.then(
      () => waiter.recordEnded(null),
      (err: unknown) => waiter.recordEnded(err),
    ).finally(() => this.opening.delete(appending));
  }

  /**
   * Settles once every append made so far is in the store (its batch may not be written yet: a
   * store flush writes it). The server waits for this before its last flush: an append whose log
   * had to be opened first would otherwise come after the flush, and be lost with the process.
   */
  async appended(): Promise<void> {
    while (this.opening.size > 0) await Promise.allSettled([...this.opening]);
  }

  private waitForBatch(written: Promise<void>, waiter: RecordWaiter): void {
    let batch = this.batch;
    if (batch === null || batch.written !== written) {
      const fresh = { written, waiters: [] as RecordWaiter[] };
      this.batch = batch = fresh;
      written.then(
        () => Histories.tell(fresh, null),
        (err: unknown) => Histories.tell(fresh, err),
      );
    }
    batch.waiters.push(waiter);
  }

  private static tell(batch: { waiters: RecordWaiter[] }, err: unknown): void {
    const { waiters } = batch;
    batch.waiters = [];
    for (const waiter of waiters) waiter.recordEnded(err);
  }

  /** append, when the log still has to be opened or a resend has to be looked for. */
  private appendSlowly(conversation: string, record: HistoryRecord, resend: boolean, msgText: JsonOut | undefined): Promise<void> {
    return this.logs.with(conversation, async (log) => {
      if (resend && (await log.findLast((r) => r.msgId === record.msgId, DUPLICATE_WINDOW))) return;
      await this.logs.append(log, record, msgText, typeLength(msgText)).written;
    });
  }

  find(conversation: string, msgId: string): Promise<LogEntry<HistoryRecord> | undefined> {
    return this.logs.with(conversation, (log) => log.findLast((r) => r.msgId === msgId));
  }

  update(conversation: string, seq: number, change: (record: HistoryRecord) => HistoryRecord): Promise<void> {
    return this.logs.with(conversation, (log) => log.update(seq, change));
  }

  /** Up to `limit` messages before `before` (default: the newest), oldest first. */
  page(conversation: string, before: number | undefined, limit: number): Promise<{ messages: HistoryItem[]; more: boolean }> {
    return this.logs.with(conversation, async (log) => {
      const entries = await log.readBefore(before ?? log.next, limit);
      const messages = entries.map(({ seq, entry }) => ({ seq, ...entry }));
      return { messages, more: entries.length > 0 && entries[0].seq > log.first };
    });
  }

  /** Drops messages older than `cutoff` (ms) from every conversation; returns how many went. */
  async trim(cutoff: number): Promise<number> {
    const conversations = ['history/lobby'];
    for (const kind of ['private', 'group']) {
      for (const name of await this.store.collections(`history/${kind}`)) conversations.push(`history/${kind}/${name}`);
    }
    let dropped = 0;
    for (const conversation of conversations) {
      dropped += await this.logs.with(conversation, async (log) => {
        let keepFrom = log.first;
        for (;;) {
          const batch = await log.read(keepFrom, 256);
          const old = batch.filter((item) => item.entry.ts < cutoff);
          keepFrom += old.length;
          if (old.length < batch.length || batch.length === 0) break;
        }
        const from = log.first;
        await log.dropBefore(keepFrom);
        return keepFrom - from;
      });
    }
    return dropped;
  }
}
