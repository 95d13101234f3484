/**
 * Flood control, with no sockets and no timers: token buckets, a map of them with bounded
 * memory, the per-address connection limiter, and a log throttle for refusal storms. Every
 * class takes its clock, so tests move time by hand.
 */

/** Milliseconds since some fixed point; `Date.now` in the server. */
export type Clock = () => number;

/**
 * A token bucket: holds up to `capacity` tokens (the burst), gains `ratePerSecond` tokens a
 * second, and each request takes one. A full bucket lets a burst through at once; after that,
 * requests pass at the refill rate.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly capacity: number,
    readonly ratePerSecond: number,
    private readonly clock: Clock = Date.now,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`bucket capacity must be at least 1, not ${capacity}`);
    if (!(ratePerSecond > 0)) throw new RangeError(`bucket rate must be above 0, not ${ratePerSecond}`);
    this.tokens = capacity;
    this.updatedAt = clock();
  }

  private refill(): void {
    const now = this.clock();
    // A clock that steps back must not mint tokens later or take them away now.
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.updatedAt = now;
  }

  /** Takes `cost` tokens if the bucket holds them; takes nothing and returns false otherwise. */
  take(cost = 1): boolean {
    this.refill();
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `take(cost)` would succeed: 0 now, Infinity when cost exceeds the capacity. */
  waitMs(cost = 1): number {
    if (cost > this.capacity) return Infinity;
    this.refill();
    if (this.tokens >= cost) return 0;
    return Math.ceil(((cost - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Tokens available now (fractional while refilling). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Milliseconds an untouched bucket needs to refill from empty: after that it equals a new one. */
  get fullAfterMs(): number {
    return Math.ceil((this.capacity * 1000) / this.ratePerSecond);
  }
}

/**
 * Token buckets by key (a user, an address) with bounded memory. A bucket untouched for as long
 * as it takes to refill is the same as a fresh one, so it is forgotten; past `maxKeys` the least
 * recently used bucket goes (which can only hand its owner a fresh burst, never refuse anyone).
 */
export class BucketMap {
  /** In least-recently-used order: a touched key moves to the end. */
  private readonly buckets = new Map<string, { bucket: TokenBucket; touchedAt: number }>();
  private readonly fullAfterMs: number;

  constructor(
    readonly capacity: number,
    readonly ratePerSecond: number,
    readonly maxKeys = 100_000,
    private readonly clock: Clock = Date.now,
  ) {
    this.fullAfterMs = new TokenBucket(capacity, ratePerSecond, clock).fullAfterMs;
  }

  get size(): number {
    return this.buckets.size;
  }

  private touch(key: string): TokenBucket {
    const now = this.clock();
    let entry = this.buckets.get(key);
    if (entry) this.buckets.delete(key);
    else {
      if (this.buckets.size >= this.maxKeys) this.sweep();
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      entry = { bucket: new TokenBucket(this.capacity, this.ratePerSecond, this.clock), touchedAt: now };
    }
    entry.touchedAt = now;
    this.buckets.set(key, entry);
    return entry.bucket;
  }

  /** Takes `cost` tokens from `key`'s bucket; see TokenBucket.take. */
  take(key: string, cost = 1): boolean {
    return this.touch(key).take(cost);
  }

  /** Milliseconds until `key` could take `cost` tokens (0 for an unknown key). */
  waitMs(key: string, cost = 1): number {
    const entry = this.buckets.get(key);
    if (!entry) return cost > this.capacity ? Infinity : 0;
    return entry.bucket.waitMs(cost);
  }

  /** Forgets buckets that have refilled; returns how many. Cost: the number forgotten, plus one. */
  sweep(): number {
    const now = this.clock();
    let dropped = 0;
    for (const [key, entry] of this.buckets) {
      // LRU order: the first one touched recently enough to be short of tokens ends the sweep.
      if (now - entry.touchedAt < this.fullAfterMs) break;
      this.buckets.delete(key);
      dropped++;
    }
    return dropped;
  }
}

/** Why a connection was refused: too many new ones lately, or too many open at once. */
export type ConnectionRefusal = { reason: 'rate'; retryAfterMs: number } | { reason: 'concurrent'; open: number };

export interface ConnectionLimits {
  /** new connections one address may open at once; 0 with perMinute 0 turns the rate limit off */
  burst: number;
  /** new connections one address may open per minute once the burst is spent; 0 = no rate limit */
  perMinute: number;
  /** connections one address may hold open at the same time; 0 = no cap */
  maxOpen: number;
  /** addresses remembered at most (memory bound) */
  maxAddresses?: number;
}

/**
 * Per-address admission of new connections: a token bucket per address for the rate, a count of
 * open connections per address for the cap. `admit` before anything else is done for a socket;
 * `release` when an admitted one closes.
 */
export class ConnectionLimiter {
  private readonly rate: BucketMap | null;
  private readonly open = new Map<string, number>();

  constructor(
    readonly limits: ConnectionLimits,
    clock: Clock = Date.now,
  ) {
    this.rate = limits.perMinute > 0 ? new BucketMap(Math.max(1, limits.burst), limits.perMinute / 60, limits.maxAddresses ?? 100_000, clock) : null;
  }

  /** Returns null when the connection may go ahead (then `release` it later), or why not. */
  admit(address: string): ConnectionRefusal | null {
    const open = this.open.get(address) ?? 0;
    if (this.limits.maxOpen > 0 && open >= this.limits.maxOpen) return { reason: 'concurrent', open };
    if (this.rate && !this.rate.take(address)) return { reason: 'rate', retryAfterMs: this.rate.waitMs(address) };
    this.open.set(address, open + 1);
    return null;
  }

  /** An admitted connection from `address` closed. */
  release(address: string): void {
    const open = this.open.get(address) ?? 0;
    if (open <= 1) this.open.delete(address);
    else this.open.set(address, open - 1);
  }

  /** Open connections from `address`. */
  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }

  /** Addresses with a bucket or an open connection (memory in use). */
  get addresses(): number {
    return Math.max(this.rate?.size ?? 0, this.open.size);
  }

  /** Forgets addresses whose buckets have refilled. */
  sweep(): number {
    return this.rate?.sweep() ?? 0;
  }
}

/**
 * The key one client's connections are counted under. IPv4 as is (also when IPv4-mapped in
 * IPv6); IPv6 by its /64 network, since one host usually holds a whole /64 and could otherwise
 * take a fresh address for every connection.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.toLowerCase().split('%')[0]!;
  if (!a.includes(':')) return a;
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  const halves = a.split('::');
  if (halves.length > 2) return a;
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  // A dotted IPv4 tail stands for two 16-bit groups.
  const width = (gs: string[]) => gs.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = halves.length === 2 ? [...head, ...Array<string>(Math.max(0, 8 - width(head) - width(tail))).fill('0'), ...tail] : head;
  const prefix = all.slice(0, 4).map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : g));
  return `${prefix.join(':')}::/64`;
}

/**
 * Keeps a storm of refusals from becoming a storm of log lines: the first refusal after a quiet
 * spell is logged in full, later ones are counted and summed up once per interval.
 */
export class RefusalLog {
  private count = 0;
  private readonly sources = new Map<string, number>();
  private lastLoggedAt = -Infinity;

  constructor(
    readonly intervalMs: number,
    private readonly clock: Clock = Date.now,
    /** distinct sources named in one summary (memory bound) */
    readonly maxSources = 5,
  ) {}

  /** Records one refusal from `source`; returns true when it should be logged in full now. */
  note(source: string): boolean {
    const now = this.clock();
    if (this.count === 0 && now - this.lastLoggedAt >= this.intervalMs) {
      this.lastLoggedAt = now;
      return true;
    }
    this.count++;
    if (this.sources.has(source) || this.sources.size < this.maxSources) this.sources.set(source, (this.sources.get(source) ?? 0) + 1);
    return false;
  }

  /** The summary line's facts once an interval has passed since the last line, else null. */
  summary(): { count: number; seconds: number; sources: Array<[string, number]> } | null {
    const now = this.clock();
    if (this.count === 0 || now - this.lastLoggedAt < this.intervalMs) return null;
    const result = { count: this.count, seconds: Math.round((now - this.lastLoggedAt) / 1000), sources: [...this.sources].sort((a, b) => b[1] - a[1]) };
    this.count = 0;
    this.sources.clear();
    this.lastLoggedAt = now;
    return result;
  }
}

export interface MessageLimits {
  /** user commands one user may send at once */
  burst: number;
  /** user commands a second once the burst is spent; 0 turns message flood control off */
  perSecond: number;
  /** refusals in a row that end the connection */
  strikes: number;
  /** users remembered at most (memory bound) */
  maxUsers?: number;
}

/** The verdict on one user command. */
export type MessageVerdict = { ok: true } | { ok: false; retryAfterMs: number; inARow: number; disconnect: boolean };

/**
 * The message rate limit: one bucket per user, shared by all of that user's connections (so
 * reconnecting does not refill it), and one per connection before login.
 */
export class MessageLimiter {
  private readonly users: BucketMap;

  constructor(
    readonly limits: MessageLimits,
    private readonly clock: Clock = Date.now,
  ) {
    this.users = new BucketMap(limits.burst, limits.perSecond, limits.maxUsers ?? 100_000, clock);
  }

  /** The gate for one new connection. */
  gate(): MessageGate {
    return new MessageGate(this, () => new TokenBucket(this.limits.burst, this.limits.perSecond, this.clock));
  }

  /** @internal the bucket of a logged-in user */
  takeUser(user: string): number {
    // At least 1 ms: a refusal must never read as "go ahead" when the clock moved in between.
    return this.users.take(user) ? 0 : Math.max(1, this.users.waitMs(user));
  }

  /** Users remembered now. */
  get size(): number {
    return this.users.size;
  }

  /** Forgets users whose buckets have refilled. */
  sweep(): number {
    return this.users.sweep();
  }
}

/** One connection's view of the limit: its pre-login bucket and its run of refusals. */
export class MessageGate {
  private own: TokenBucket | null = null;
  private refusedInARow = 0;

  constructor(
    private readonly limiter: MessageLimiter,
    private readonly bucket: () => TokenBucket,
  ) {}

  /** Charges one user command to `user` (or to this connection before login). */
  check(user: string | null): MessageVerdict {
    let waitMs: number;
    if (user !== null) waitMs = this.limiter.takeUser(user);
    else {
      this.own ??= this.bucket();
      waitMs = this.own.take() ? 0 : Math.max(1, this.own.waitMs());
    }
    if (waitMs === 0) {
      this.refusedInARow = 0;
      return { ok: true };
    }
    this.refusedInARow++;
    return { ok: false, retryAfterMs: waitMs, inARow: this.refusedInARow, disconnect: this.refusedInARow >= this.limiter.limits.strikes };
  }
}
