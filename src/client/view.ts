/**
 * The small interface between the chat logic and whatever draws it. The controller turns
 * commands and network events into ViewEvents; plain mode prints them as lines (or JSON), the
 * full-screen UI draws them into panes. Neither UI talks to the network directly.
 */
import type { ConnectionState } from './connection.ts';
import type { Community, GroupInfo, GroupMember, HistoryItem, Presence, Profile, UserStatus } from '../protocol/messages.ts';

export type SendStatus = 'queued' | 'sent' | 'stored' | 'delivered' | 'failed';
export type Scope = 'private' | 'broadcast' | 'group';

export type ViewEvent =
  /** a chat message someone sent to you (private) or to everyone (broadcast) */
  | { kind: 'message'; msgId: string; scope: Scope; from: string; to?: string; group?: string; text: string; ts: number }
  /** one of your own messages and what became of it */
  /**
   * one of your own messages and what became of it: `queued` (waiting for the connection),
   * `stored` (in the offline recipient's mailbox), `delivered` (the recipient's client has it),
   * `sent` (a broadcast handed to everyone online), `failed` (with the error)
   */
  | { kind: 'sent'; msgId: string; scope: Scope; to?: string; group?: string; text: string; ts: number; status: SendStatus; recipients?: number; error?: { code: string; message: string } }
  /** an earlier message was edited or deleted by its author */
  | { kind: 'update'; msgId: string; scope: Scope; from: string; to?: string; group?: string; action: 'edit' | 'delete'; text?: string; ts: number }
  /** a page of a conversation's history (`with` is a user, or `*` for the lobby) */
  | { kind: 'history'; with: string; messages: HistoryItem[]; more: boolean; local: boolean; ts: number }
  | { kind: 'presence'; user: string; event: 'joined' | 'left' | 'status'; status?: Presence; statusText?: string; ts: number }
  /** something happened in a group: someone joined, left, was invited or kicked */
  | { kind: 'group'; group: string; event: 'joined' | 'left' | 'invited' | 'kicked' | 'created'; user: string; by?: string; ts: number }
  | { kind: 'groups'; groups: GroupInfo[]; ts: number }
  | { kind: 'members'; group: string; owner: string | null; members: GroupMember[]; ts: number }
  | { kind: 'blocked'; users: string[]; ts: number }
  | { kind: 'profile'; profile: Profile; ts: number }
  | { kind: 'communities'; communities: Community[]; ts: number }
  /** your own status changed (by /status) */
  | { kind: 'status'; status: Presence; text?: string; ts: number }
  | { kind: 'who'; users: UserStatus[]; since?: number; ts: number }
  | { kind: 'login'; user: string; resumed: boolean; ts: number }
  | { kind: 'logout'; ts: number }
  | { kind: 'trust'; address: string; fingerprint: string; decision: 'known' | 'pinned' | 'first-use'; ts: number }
  | { kind: 'info'; text: string; ts: number }
  | { kind: 'help'; text: string; ts: number }
  /** something went wrong with what you asked for; the session goes on */
  | { kind: 'error'; code: string; message: string; ts: number }
  /** the server ended the session, or the connection is gone for good */
  | { kind: 'notice'; code: string; message: string; ts: number };

export interface StatusLine {
  state: ConnectionState;
  detail: string;
  user: string | null;
  address: string;
  fingerprint: string | null;
  queued: number;
}

export interface View {
  show(event: ViewEvent): void;
  status(status: StatusLine): void;
  /** Asks for a password (or other secret) without echoing it. */
  askSecret(prompt: string): Promise<string>;
  /** The session is over (quit, logout, refused key): restore the terminal and exit. */
  exit(code: number): void;
}
