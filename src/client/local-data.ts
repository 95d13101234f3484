/**
 * What the client keeps on disk per server and user, on the same sharded lowdb store as the
 * server (`<storeDir>/data/<host>-<port>/<user>/`):
 *
 * - `outbox`: messages sent but not yet acknowledged by the server (`stored` or `delivered`);
 *   resent after a reconnect or a restart of the client, so nothing typed is lost;
 * - `seen`: ids of recent deliveries, so a redelivery after a reconnect is shown once;
 * - `history/...`: each conversation's messages, for instant display and reading offline.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { StoredMessage } from '../protocol/messages.ts';
import { SegmentedLog, type LogEntry } from '../store/log.ts';
import { Store } from '../store/store.ts';

export const OutboxItem = z.object({
  msgId: z.string(),
  scope: z.enum(['private', 'broadcast', 'group']),
  to: z.string().optional(),
  group: z.string().optional(),
  text: z.string(),
  createdAt: z.number(),
});
export type OutboxItem = z.infer<typeof OutboxItem>;

export const LocalMessage = StoredMessage.extend({
  /** for your own messages: how far they got */
  status: z.enum(['queued', 'sent', 'stored', 'delivered', 'failed']).optional(),
});
export type LocalMessage = z.infer<typeof LocalMessage>;

const Outbox = z.array(OutboxItem);
const Seen = z.array(z.string());
/** Delivery ids remembered for dropping duplicates. */
const SEEN_MAX = 4096;
const SEEN_WRITE_MS = 250;
/** Message positions remembered for quick changes. */
const WHERE_MAX = 10_000;

/** `host:port` as a directory name. */
function addressSlug(address: string): string {
  return address.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+/, '');
}

/** The conversation a message belongs to, seen from `me`: the peer's name, `#group`, or `*` for the lobby. */
export function peerOf(me: string, message: { scope: string; from: string; to?: string; group?: string }): string {
  if (message.scope === 'group') return `#${message.group}`;
  if (message.scope !== 'private') return '*';
  return message.from === me ? message.to ?? '*' : message.from;
}

const collectionOf = (peer: string) =>
  peer === '*' ? 'history/lobby' : peer.startsWith('#') ? `history/group/${peer.slice(1).replace(':', '.')}` : `history/private/${peer}`;

export class LocalData {
  private outbox: OutboxItem[] = [];
  private seen: string[] = [];
  private seenSet = new Set<string>();
  private seenTimer: NodeJS.Timeout | null = null;
  private readonly logs = new Map<string, Promise<SegmentedLog<LocalMessage>>>();
  private readonly where = new Map<string, number>();

  private constructor(private readonly store: Store) {}

  static async open(storeDir: string, address: string, user: string): Promise<LocalData> {
    const store = await Store.open(join(storeDir, 'data', addressSlug(address), user));
    const data = new LocalData(store);
    data.outbox = (await store.get('client', 'outbox', Outbox)) ?? [];
    data.seen = (await store.get('client', 'seen', Seen)) ?? [];
    data.seenSet = new Set(data.seen);
    return data;
  }

  /** A twin kept in memory, for tests. */
  static memory(): LocalData {
    return new LocalData(Store.memory());
  }

  // ---- outbox ----------------------------------------------------------------------------

  pending(): readonly OutboxItem[] {
    return this.outbox;
  }

  addToOutbox(item: OutboxItem): Promise<void> {
    this.outbox.push(item);
    return this.store.put('client', 'outbox', this.outbox);
  }

  removeFromOutbox(msgId: string): Promise<void> {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((item) => item.msgId !== msgId);
    if (this.outbox.length === before) return Promise.resolve();
    return this.store.put('client', 'outbox', this.outbox);
  }

  // ---- duplicates ------------------------------------------------------------------------

  /** Records a delivery id; false when it was seen before (a duplicate). */
  markSeen(id: string): boolean {
    if (this.seenSet.has(id)) return false;
    this.seenSet.add(id);
    this.seen.push(id);
    if (this.seen.length > SEEN_MAX) this.seenSet.delete(this.seen.shift()!);
    // Written at most every SEEN_WRITE_MS: a backlog of 100k deliveries would otherwise rewrite
    // the whole list hundreds of times. A duplicate needs a crash before the acknowledgement left,
    // inside that window: then it is shown twice, never lost.
    this.seenTimer ??= setTimeout(() => {
      this.seenTimer = null;
      void this.store.put('client', 'seen', this.seen).catch(() => undefined);
    }, SEEN_WRITE_MS);
    this.seenTimer.unref();
    return true;
  }

  // ---- history ---------------------------------------------------------------------------

  private log(peer: string): Promise<SegmentedLog<LocalMessage>> {
    let log = this.logs.get(peer);
    if (!log) {
      log = SegmentedLog.open(this.store, collectionOf(peer), LocalMessage);
      this.logs.set(peer, log);
    }
    return log;
  }

  async record(peer: string, message: LocalMessage): Promise<void> {
    const { seq } = (await this.log(peer)).append(message);
    this.remember(peer, message.msgId, seq);
  }

  /**
   * Where recent messages sit, so that a status change or an edit does not search the log
   * (a burst of a thousand sends would otherwise read old segments a thousand times).
   */
  private remember(peer: string, msgId: string, seq: number): void {
    this.where.set(`${peer}/${msgId}`, seq);
    if (this.where.size > WHERE_MAX) this.where.delete(this.where.keys().next().value!);
  }

  /** The newest `limit` messages with `peer`, oldest first. */
  async recent(peer: string, limit: number): Promise<LocalMessage[]> {
    const log = await this.log(peer);
    return (await log.readBefore(log.next, limit)).map((e) => e.entry);
  }

  /** Finds a message by id in the conversation with `peer`. */
  async find(peer: string, msgId: string): Promise<LogEntry<LocalMessage> | undefined> {
    const log = await this.log(peer);
    const seq = this.where.get(`${peer}/${msgId}`);
    if (seq !== undefined) {
      const [entry] = await log.read(seq, 1);
      if (entry?.entry.msgId === msgId) return entry;
    }
    return log.findLast((m) => m.msgId === msgId);
  }

  /** Your newest message with `peer` (for `/edit last`). */
  async lastOwn(peer: string, me: string): Promise<LocalMessage | undefined> {
    return (await (await this.log(peer)).findLast((m) => m.from === me && !m.deleted))?.entry;
  }

  /** Changes a stored message (status, edit, deletion); unknown ids are ignored. */
  async change(peer: string, msgId: string, change: (m: LocalMessage) => LocalMessage): Promise<void> {
    const log = await this.log(peer);
    const seq = this.where.get(`${peer}/${msgId}`) ?? (await log.findLast((m) => m.msgId === msgId))?.seq;
    if (seq !== undefined) await log.update(seq, (m) => (m.msgId === msgId ? change(m) : m));
  }

  /** Peers with a local history, for finding which conversation a message id is in. */
  async peers(): Promise<string[]> {
    const names = await this.store.collections('history/private');
    const groups = (await this.store.collections('history/group')).map((name) => `#${name.replace('.', ':')}`);
    return ['*', ...names, ...groups];
  }

  flush(): Promise<void> {
    if (this.seenTimer) {
      clearTimeout(this.seenTimer);
      this.seenTimer = null;
      void this.store.put('client', 'seen', this.seen).catch(() => undefined);
    }
    return this.store.flush();
  }
}
