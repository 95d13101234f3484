/**
 * What the hub knows of a connection. Routing only ever calls `send`; it never touches sockets,
 * so handlers are tested with a stub session (see test/server/hub.test.ts).
 */
import type { ErrorCode } from '../protocol/errors.ts';
import { jsonText, type JsonOut } from '../protocol/json-bytes.ts';
import type { Presence, ServerMessage } from '../protocol/messages.ts';
import type { SessionDeliveries } from './delivery.ts';

export interface Session {
  /** Connection number, for logs. */
  readonly id: number;
  /** `address:port` of the peer, for logs. */
  readonly remote: string;
  /** The logged-in user, or null before login. */
  user: string | null;
  /** The token this session logged in or resumed with, revoked by /logout and idle logout. */
  token: string | null;
  /** When the current login started (ms). */
  loginAt: number;
  /** Last user command (ms); pings do not count. */
  lastActive: number;
  /** False once the connection is closing or closed: nothing should be attached to it. */
  readonly isOpen: boolean;
  /** available, away or busy, with an optional text; `autoAway` when idleness set it */
  presence: { status: Presence; text?: string; autoAway: boolean };
  /** What Delivery has in flight to this session (delivery.ts), null when nothing is tracked. */
  deliveryState: SessionDeliveries | null;
  /** Queues a message; queued messages leave in one sealed frame per event-loop pass. */
  send(message: ServerMessage): void;
  /** Queues an already serialised message (or one that writes itself), so a fan-out serialises once. */
  sendSerialized(json: JsonOut): void;
  /** Tells the client why its session ends (a `notice`), then closes the connection. */
  end(code: ErrorCode, message: string): void;
  /** Closes the connection once queued replies are written. */
  close(): void;
}

/** A stub for tests: records what was sent. */
export class RecordingSession implements Session {
  static nextId = 1;
  readonly id = RecordingSession.nextId++;
  readonly remote = '127.0.0.1:test';
  user: string | null = null;
  token: string | null = null;
  loginAt = 0;
  lastActive = 0;
  presence: Session['presence'] = { status: 'available', autoAway: false };
  deliveryState: SessionDeliveries | null = null;
  readonly sent: ServerMessage[] = [];
  ended: { code: ErrorCode; message: string } | null = null;
  closed = false;

  get isOpen(): boolean {
    return !this.closed;
  }

  send(message: ServerMessage): void {
    this.sent.push(message);
  }
  sendSerialized(json: JsonOut): void {
    this.sent.push(JSON.parse(jsonText(json)) as ServerMessage);
  }
  end(code: ErrorCode, message: string): void {
    this.ended = { code, message };
    this.closed = true;
  }
  close(): void {
    this.closed = true;
  }
  /** Sent messages of one type. */
  of<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }
}
