/**
 * Errors are values with stable codes. Code and tests compare `code`; people read `message`.
 * The wire carries both (see docs/PROTOCOL.md, "Errors").
 */

/** Every error code Parley uses, with the sentence shown when no more specific one is given. */
export const ERROR_TEXT = {
  // framing and channel: these close the connection
  E_FRAME_TOO_LARGE: 'frame exceeds the maximum frame size',
  E_BAD_FRAME: 'malformed frame',
  E_DECRYPT: 'frame failed authentication (tampered, replayed, reordered or truncated)',
  E_HANDSHAKE: 'handshake failed',
  E_HANDSHAKE_TIMEOUT: 'handshake not completed in time',
  E_TOO_MANY_CONNECTIONS: 'too many connections from your address; try again later',
  E_PROTOCOL_VERSION: 'unsupported protocol version',
  E_SERVER_KEY_CHANGED: 'the server key changed',
  E_SERVER_KEY_REFUSED: 'the server key was not trusted',
  // message level: reply with an error, the connection stays usable
  E_BAD_JSON: 'message is not valid JSON',
  E_UNKNOWN_TYPE: 'unknown message type',
  E_INVALID: 'invalid message',
  E_NOT_LOGGED_IN: 'log in first',
  E_ALREADY_LOGGED_IN: 'already logged in',
  E_BAD_USERNAME: 'invalid username',
  E_WEAK_PASSWORD: 'password too short',
  E_USER_EXISTS: 'that username is taken',
  E_BAD_CREDENTIALS: 'wrong username or password',
  E_LOCKED: 'account locked after too many failed logins',
  E_BAD_TOKEN: 'session token invalid or expired',
  E_NO_SUCH_USER: 'no such user',
  E_SELF: 'you cannot message yourself',
  E_MAILBOX_FULL: "the recipient's mailbox is full",
  E_NOT_FOUND: 'no such message',
  E_FORBIDDEN: 'not allowed',
  E_BLOCKED: 'your message could not be delivered as the recipient has blocked you',
  E_NO_SUCH_GROUP: 'no such group',
  E_BAD_GROUP: 'invalid group name',
  E_GROUP_EXISTS: 'that group already exists',
  E_NOT_MEMBER: 'not a member of that group',
  E_ALREADY_MEMBER: 'already a member of that group',
  E_RATE_LIMITED: 'slow down: too many messages',
  E_INTERNAL: 'internal server error',
  // notices that end a session
  E_IDLE_TIMEOUT: 'logged out after inactivity',
  E_REPLACED: 'logged in from another connection',
  E_SERVER_SHUTDOWN: 'server shutting down',
  // client side
  E_DISCONNECTED: 'not connected to the server',
  E_TIMEOUT: 'the server did not answer in time',
  E_UNREACHABLE: 'cannot reach the server',
  E_USAGE: 'invalid command',
  // local setup
  E_KEY_PERMISSIONS: 'the private key file is readable by others',
  E_KEY_INVALID: 'the key file cannot be read',
  E_STORE_CORRUPT: 'a store file cannot be read',
  E_STORE_IN_USE: 'another server is using the store directory',
} as const;

export type ErrorCode = keyof typeof ERROR_TEXT;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_TEXT, code);
}

/** An error with a stable code. `fatal` errors close the connection they happened on. */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly code: ErrorCode;
  readonly fatal: boolean;
  /** Extra machine-readable facts, e.g. `{ retryAfter: 30 }` for E_LOCKED. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, options: { fatal?: boolean; details?: Record<string, unknown> } = {}) {
    super(message ?? ERROR_TEXT[code]);
    this.code = code;
    this.fatal = options.fatal ?? false;
    this.details = options.details ?? {};
  }
}

/** Wraps anything thrown into a ParleyError, keeping ParleyErrors as they are. */
export function toParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ParleyError('E_INTERNAL', message);
}
