/**
 * Mailboxes: per recipient, the deliveries (`msg` and `update` messages) that wait for their
 * acknowledgement. A mailbox is a SegmentedLog under `mailbox/<user>`; its `first` is the delivery
 * cursor, so acknowledged entries are dropped segment by segment.
 */
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import { MAILBOX_SEGMENT, type SegmentedLog } from '../store/log.ts';
import { DEFAULT_CACHED_MESSAGES, LogPool } from '../store/log-pool.ts';
import type { Store } from '../store/store.ts';

/** A stored delivery: the id the recipient acknowledges, and the message as it will be sent. */
export const MailboxEntry = z.object({ ackId: z.string(), message: z.record(z.string(), z.unknown()) });
export type MailboxEntry = z.infer<typeof MailboxEntry>;

/** Where `user`'s mailbox log lives in the store. */
const mailboxOf = (user: string) => `mailbox/${user}`;

export class Mailboxes {
  private readonly logs: LogPool<MailboxEntry>;

  constructor(
    private readonly store: Store,
    /** most entries waiting in one mailbox; past it senders get E_MAILBOX_FULL */
    private readonly cap: number,
    /** messages the mailboxes nobody is using may keep in memory (LogPool; those of users online are held by their sessions) */
    cachedMessages = DEFAULT_CACHED_MESSAGES,
  ) {
    this.logs = new LogPool(store, MailboxEntry, cachedMessages, MAILBOX_SEGMENT);
  }

  /** Mailboxes open now (held or idle). */
  get openLogs(): number {
    return this.logs.size;
  }

  /** The mailbox log of `user`, kept open until `release(user)`: a session draining it holds it. */
  hold(user: string): Promise<SegmentedLog<MailboxEntry>> {
    return this.logs.hold(mailboxOf(user));
  }

  /** One more hold of a mailbox already held (LogPool.retain), ended by `release`. */
  retain(user: string): void {
    this.logs.retain(mailboxOf(user));
  }

  release(user: string): void {
    this.logs.release(mailboxOf(user));
  }

  /** Stores a delivery for `user`; resolves with its seq once it is on disk. */
  async put(user: string, entry: MailboxEntry): Promise<number> {
    const collection = mailboxOf(user);
    // An open mailbox is appended to at once: a hold (promises, the closer) cost a group
    // fan-out's offline members half again as much (bench/store, 50 concurrent puts).
    const open = this.logs.peek(collection);
    const { seq, written } = open ? this.append(open, user, entry) : await this.logs.with(collection, (log) => this.append(log, user, entry));
    await written;
    return seq;
  }

  private append(log: SegmentedLog<MailboxEntry>, user: string, entry: MailboxEntry): { seq: number; written: Promise<void> } {
    if (log.size >= this.cap) {
      throw new ParleyError('E_MAILBOX_FULL', `${user}'s mailbox is full (${this.cap} messages waiting); try again after they log in`);
    }
    return this.logs.append(log, entry);
  }

  /** Opens every mailbox on disk, so a damaged one stops the server at start (E_STORE_CORRUPT). */
  async checkAll(): Promise<number> {
    const users = await this.store.collections('mailbox');
    for (const user of users) await this.logs.with(mailboxOf(user), () => undefined);
    return users.length;
  }
}
