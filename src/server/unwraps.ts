/**
 * Where the server's RSA unwraps run: the private-key operation of every handshake (~0.3 ms of
 * CPU), and in a reconnect storm thousands of them at once.
 *
 * With a second core to run on, they go to libuv's thread pool through WebCrypto, at most
 * POOL_IN_FLIGHT at a time, and the event loop goes on serving messages. With one core (a 1-vCPU
 * host, a process pinned with taskset or a cpuset), a pool thread cannot run beside the loop, only
 * in its place, and each hand-off costs: measured pinned to one core, `subtle.decrypt` took
 * 430-500 µs of CPU per unwrap against 280-380 µs for `privateDecrypt` on the calling thread
 * (bench/connections shows the whole handshake). So then they run on the loop, as many per pass
 * as fit in LOOP_BUDGET_MS, and messages wait at most that long behind them.
 *
 * The choice is made at each pass from the process's CPU affinity, so pinning a running server
 * (as the benchmarks do) takes effect at once.
 */
import { availableParallelism } from 'node:os';
import { KeyObject, type webcrypto } from 'node:crypto';
import { acceptKeyExchange, acceptKeyExchangeNow } from '../crypto/handshake.ts';
import type { DirectionKeys } from '../crypto/channel.ts';
import { ParleyError } from '../protocol/errors.ts';

/**
 * Unwraps on the pool at once. Pinned to one core with libuv's four pool threads all decrypting,
 * the event loop got a fifth of the core in a storm and its delay p99 was 74 ms; with two in
 * flight it keeps a third or more, and the unwraps still keep a second core busy.
 */
export const POOL_IN_FLIGHT = 2;

/** Event-loop time per pass for unwraps on the loop: about ten of them. */
export const LOOP_BUDGET_MS = 4;

/** The one who asked for an unwrap: a connection in its handshake. */
export interface UnwrapRequester {
  /** Asked just before the work starts: a connection that closed while queued costs nothing. */
  readonly wantsUnwrap: boolean;
}

interface Request {
  requester: UnwrapRequester;
  helloNonce: Buffer;
  keyMessage: Buffer;
  resolve(keys: DirectionKeys): void;
  reject(err: unknown): void;
}

export class KeyUnwraps {
  private readonly onLoopKey: KeyObject;
  private readonly waiting: Array<Request | undefined> = [];
  private head = 0;
  private inPool = 0;
  private scheduled = false;

  constructor(
    private readonly poolKey: webcrypto.CryptoKey,
    private readonly modulusBytes: number,
    /** cores this process may run on (tests pass their own) */
    private readonly cores: () => number = availableParallelism,
    private readonly loopBudgetMs = LOOP_BUDGET_MS,
  ) {
    this.onLoopKey = KeyObject.from(poolKey);
  }

  /** The direction keys from a client's key message; E_HANDSHAKE (or E_DISCONNECTED) if not. */
  unwrap(requester: UnwrapRequester, helloNonce: Buffer, keyMessage: Buffer): Promise<DirectionKeys> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ requester, helloNonce, keyMessage, resolve, reject });
      this.schedule();
    });
  }

  /** Unwraps waiting for their turn. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(runPass, this);
  }

  /** One pass: on the loop until the budget is spent, or to the pool until it is full. */
  pass(): void {
    this.scheduled = false;
    const onLoop = this.cores() <= 1;
    const started = performance.now();
    while (this.queued > 0 && (onLoop || this.inPool < POOL_IN_FLIGHT)) {
      const request = this.take();
      if (!request.requester.wantsUnwrap) request.reject(new ParleyError('E_DISCONNECTED'));
      else if (onLoop) this.unwrapOnLoop(request);
      else this.unwrapInPool(request);
      // Checked after one at least, so every pass makes progress whatever the budget.
      if (onLoop && performance.now() - started >= this.loopBudgetMs) break;
    }
    // On the loop, the rest waits for the next pass; for the pool, a slot that frees schedules one.
    if (onLoop && this.queued > 0) this.schedule();
  }

  private unwrapOnLoop(request: Request): void {
    let keys;
    try {
      keys = acceptKeyExchangeNow(this.onLoopKey, this.modulusBytes, request.helloNonce, request.keyMessage);
    } catch (err) {
      request.reject(err);
      return;
    }
    request.resolve(keys);
  }

  private unwrapInPool(request: Request): void {
    this.inPool++;
    acceptKeyExchange(this.poolKey, this.modulusBytes, request.helloNonce, request.keyMessage)
      .then(request.resolve, request.reject)
      .finally(() => {
        this.inPool--;
        if (this.queued > 0) this.schedule();
      });
  }

  private take(): Request {
    const request = this.waiting[this.head]!;
    this.waiting[this.head++] = undefined;
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
    return request;
  }
}

function runPass(unwraps: KeyUnwraps): void {
  unwraps.pass();
}
