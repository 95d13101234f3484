/**
 * Mailboxes: per recipient, the deliveries (`msg` and `update` messages) that wait for their
 * acknowledgement. A mailbox is a SegmentedLog under `mailbox/<user>`; its `first` is the delivery
 * cursor, so acknowledged entries are dropped segment by segment.
 */
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import { SegmentedLog } from '../store/log.ts';
import type { Store } from '../store/store.ts';

/** A stored delivery: the id the recipient acknowledges, and the message as it will be sent. */
export const MailboxEntry = z.object({ ackId: z.string(), message: z.record(z.string(), z.unknown()) });
export type MailboxEntry = z.infer<typeof MailboxEntry>;

export class Mailboxes {
  private readonly open = new Map<string, Promise<SegmentedLog<MailboxEntry>>>();

  constructor(
    private readonly store: Store,
    /** most entries waiting in one mailbox; past it senders get E_MAILBOX_FULL */
    private readonly cap: number,
  ) {}

  /** The mailbox log of `user` (opened once, then cached). */
  get(user: string): Promise<SegmentedLog<MailboxEntry>> {
    let log = this.open.get(user);
    if (!log) {
      log = SegmentedLog.open(this.store, `mailbox/${user}`, MailboxEntry);
      this.open.set(user, log);
      log.catch(() => this.open.delete(user));
    }
    return log;
  }

  /** Stores a delivery for `user`; resolves with its seq once it is on disk. */
  async put(user: string, entry: MailboxEntry): Promise<number> {
    const log = await this.get(user);
    if (log.size >= this.cap) {
      throw new ParleyError('E_MAILBOX_FULL', `${user}'s mailbox is full (${this.cap} messages waiting); try again after they log in`);
    }
    const { seq, written } = log.append(entry);
    await written;
    return seq;
  }

  /** Opens every mailbox on disk, so a damaged one stops the server at start (E_STORE_CORRUPT). */
  async checkAll(): Promise<number> {
    const users = await this.store.collections('mailbox');
    for (const user of users) await this.get(user);
    return users.length;
  }
}
