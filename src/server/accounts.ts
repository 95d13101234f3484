/**
 * Accounts: registration, password checks with lock-out, and resumable session tokens.
 * One store document per account (collection `accounts`), all loaded at start-up.
 *
 * Passwords are hashed with scrypt (async, on libuv's thread pool) and a per-user salt. Tokens
 * are 32 random bytes; only their SHA-256 is stored, so a leaked store file cannot resume a session.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import { normalizeUsername, PASSWORD_MIN, usernameProblem } from '../protocol/messages.ts';
import type { Store } from '../store/store.ts';

const COLLECTION = 'accounts';
const KEY_BYTES = 32;
/** Cost parameters, stored with each hash so they can be raised later without breaking logins. */
export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 };
/** Last-seen times are written this many accounts at a time, one batch every LAST_SEEN_WRITE_MS. */
const LAST_SEEN_BATCH = 64;
const LAST_SEEN_WRITE_MS = 100;
/** Most live tokens per account (one per device or terminal); the oldest goes first. */
const MAX_TOKENS = 10;

const AccountRecord = z.object({
  name: z.string(),
  salt: z.string(),
  hash: z.string(),
  scrypt: z.object({ N: z.number().int(), r: z.number().int(), p: z.number().int() }),
  createdAt: z.number(),
  lastSeenAt: z.number(),
  failures: z.number().int().nonnegative(),
  lockedUntil: z.number(),
  tokens: z.array(z.object({ hash: z.string(), createdAt: z.number(), expiresAt: z.number() })),
});
export type AccountRecord = z.infer<typeof AccountRecord>;

export interface AccountsOptions {
  maxLoginFailures: number;
  blockDurationMs: number;
  tokenTtlMs: number;
  scrypt?: typeof DEFAULT_SCRYPT;
  now?: () => number;
}

export interface IssuedToken {
  token: string;
  expiresAt: number;
}

function scryptAsync(password: string, salt: Buffer, params: typeof DEFAULT_SCRYPT): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

export class Accounts {
  private readonly byName = new Map<string, AccountRecord>();
  /** Names being registered right now: a second registration must not slip in during scrypt. */
  private readonly registering = new Set<string>();
  /** Per-account chain of password checks, so parallel guesses are counted one by one. */
  private readonly checking = new Map<string, Promise<unknown>>();
  private readonly now: () => number;
  private readonly scryptParams: typeof DEFAULT_SCRYPT;
  /** Accounts whose lastSeenAt changed and is not written yet. */
  private readonly touched = new Set<string>();
  private touchTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly store: Store,
    private readonly options: AccountsOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.scryptParams = options.scrypt ?? DEFAULT_SCRYPT;
  }

  static async load(store: Store, options: AccountsOptions): Promise<Accounts> {
    const accounts = new Accounts(store, options);
    for (const key of await store.keys(COLLECTION)) {
      const record = await store.get(COLLECTION, key, AccountRecord);
      if (record) accounts.byName.set(record.name, record);
    }
    return accounts;
  }

  exists(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): Readonly<AccountRecord> | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  private save(record: AccountRecord): Promise<void> {
    return this.store.put(COLLECTION, record.name, record);
  }

  /** Creates an account and returns its first session token. */
  async register(rawName: string, password: string): Promise<{ name: string } & IssuedToken> {
    const name = normalizeUsername(rawName);
    const problem = usernameProblem(name);
    if (problem) throw new ParleyError('E_BAD_USERNAME', `invalid username '${rawName.slice(0, 40)}': ${problem}`);
    if (password.length < PASSWORD_MIN) {
      throw new ParleyError('E_WEAK_PASSWORD', `passwords are at least ${PASSWORD_MIN} characters long`);
    }
    if (this.byName.has(name) || this.registering.has(name)) {
      throw new ParleyError('E_USER_EXISTS', `the username '${name}' is taken`);
    }
    this.registering.add(name);
    try {
      const salt = randomBytes(16);
      const hash = await scryptAsync(password, salt, this.scryptParams);
      const now = this.now();
      const record: AccountRecord = {
        name,
        salt: salt.toString('base64'),
        hash: hash.toString('base64'),
        scrypt: this.scryptParams,
        createdAt: now,
        lastSeenAt: now,
        failures: 0,
        lockedUntil: 0,
        tokens: [],
      };
      this.byName.set(name, record);
      const issued = this.addToken(record);
      await this.save(record);
      return { name, ...issued };
    } finally {
      this.registering.delete(name);
    }
  }

  /** Checks a password; on success returns a new session token. */
  login(rawName: string, password: string): Promise<{ name: string } & IssuedToken> {
    const name = normalizeUsername(rawName);
    const previous = this.checking.get(name) ?? Promise.resolve();
    const attempt = previous.catch(() => undefined).then(() => this.checkPassword(name, password));
    this.checking.set(name, attempt);
    void attempt.catch(() => undefined).finally(() => {
      if (this.checking.get(name) === attempt) this.checking.delete(name);
    });
    return attempt;
  }

  private async checkPassword(name: string, password: string): Promise<{ name: string } & IssuedToken> {
    const record = this.byName.get(name);
    if (!record) throw new ParleyError('E_NO_SUCH_USER', `no user named '${name.slice(0, 40)}' (use /register to create it)`);
    this.throwIfLocked(record);
    const hash = await scryptAsync(password, Buffer.from(record.salt, 'base64'), record.scrypt);
    if (!timingSafeEqual(hash, Buffer.from(record.hash, 'base64'))) {
      record.failures++;
      if (record.failures >= this.options.maxLoginFailures) {
        record.failures = 0;
        record.lockedUntil = this.now() + this.options.blockDurationMs;
      }
      await this.save(record);
      this.throwIfLocked(record);
      const left = this.options.maxLoginFailures - record.failures;
      throw new ParleyError('E_BAD_CREDENTIALS', `wrong password for '${name}' (${left} ${left === 1 ? 'try' : 'tries'} left before a lock-out)`, {
        details: { triesLeft: left },
      });
    }
    record.failures = 0;
    const issued = this.addToken(record);
    await this.save(record);
    return { name, ...issued };
  }

  private throwIfLocked(record: AccountRecord): void {
    const remainingMs = record.lockedUntil - this.now();
    if (remainingMs > 0) {
      const seconds = Math.ceil(remainingMs / 1000);
      throw new ParleyError('E_LOCKED', `account '${record.name}' is locked after too many failed logins; try again in ${seconds} s`, {
        details: { retryAfter: seconds },
      });
    }
  }

  /** Resumes a session with a token from an earlier login. */
  async resume(rawName: string, token: string): Promise<{ name: string; expiresAt: number }> {
    const name = normalizeUsername(rawName);
    const record = this.byName.get(name);
    const hash = hashToken(token);
    const entry = record?.tokens.find((t) => t.hash === hash);
    if (!record || !entry || entry.expiresAt <= this.now()) {
      throw new ParleyError('E_BAD_TOKEN', 'session expired or revoked; log in with your password');
    }
    this.throwIfLocked(record);
    return { name, expiresAt: entry.expiresAt };
  }

  /** Revokes one token (logout). Unknown tokens are ignored: the result is the same. */
  async revoke(name: string, token: string): Promise<void> {
    const record = this.byName.get(name);
    if (!record) return;
    const hash = hashToken(token);
    const kept = record.tokens.filter((t) => t.hash !== hash);
    if (kept.length === record.tokens.length) return;
    record.tokens = kept;
    await this.save(record);
  }

  /** Revokes every token of an account (admin, or after an idle logout). */
  async revokeAll(name: string): Promise<void> {
    const record = this.byName.get(name);
    if (!record || record.tokens.length === 0) return;
    record.tokens = [];
    await this.save(record);
  }

  /** Clears a lock-out (admin). */
  async unlock(name: string): Promise<boolean> {
    const record = this.byName.get(name);
    if (!record) return false;
    record.failures = 0;
    record.lockedUntil = 0;
    await this.save(record);
    return true;
  }

  /** Records when a user was last seen; written with the next batch. */
  touch(name: string, at: number): void {
    const record = this.byName.get(name);
    if (!record) return;
    record.lastSeenAt = at;
    // Written a few at a time, not at once: when 10,000 clients drop together (a network blip),
    // one file write each in one batch held the event loop for 1.5 s and filled libuv's thread
    // pool ahead of the reconnects' RSA unwraps (bench/connections).
    this.touched.add(name);
    this.touchTimer ??= setTimeout(() => this.saveSomeTouched(), LAST_SEEN_WRITE_MS).unref();
  }

  private saveSomeTouched(): void {
    this.touchTimer = null;
    let written = 0;
    for (const name of this.touched) {
      if (written++ === LAST_SEEN_BATCH) break;
      this.touched.delete(name);
      const record = this.byName.get(name);
      if (record) void this.save(record).catch(() => undefined);
    }
    if (this.touched.size > 0) this.touchTimer = setTimeout(() => this.saveSomeTouched(), LAST_SEEN_WRITE_MS).unref();
  }

  /** Writes every last-seen time still in memory (at shutdown, before the store's last flush). */
  saveTouched(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = null;
    const names = [...this.touched];
    this.touched.clear();
    return Promise.all(names.map((name) => this.save(this.byName.get(name)!))).then(() => undefined);
  }

  private addToken(record: AccountRecord): IssuedToken {
    const now = this.now();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.options.tokenTtlMs;
    record.tokens = record.tokens.filter((t) => t.expiresAt > now);
    record.tokens.push({ hash: hashToken(token), createdAt: now, expiresAt });
    if (record.tokens.length > MAX_TOKENS) record.tokens = record.tokens.slice(-MAX_TOKENS);
    return { token, expiresAt };
  }
}
