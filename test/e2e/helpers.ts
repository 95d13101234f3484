/**
 * Helpers for end-to-end tests: a real server on 127.0.0.1 port 0, real clients, and waits that
 * are bounded so every test stops by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParleyClient, type ClientEvents, type ClientOptions } from '../../src/client/connection.ts';
import { DEFAULT_CONFIG, type ServerConfig } from '../../src/server/config.ts';
import { createLogger, type Logger } from '../../src/server/log.ts';
import { ParleyServer, type StartOptions } from '../../src/server/server.ts';

/** Cheap scrypt so tests do not spend their time hashing. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };
export const PASSWORD = 'correct horse';

export function tempDir(prefix = 'parley-e2e-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestServer {
  server: ParleyServer;
  port: number;
  dir: string;
  lines: string[];
  stop(): Promise<void>;
}

/** A logger that keeps lines for assertions instead of printing them. */
export function memoryLogger(lines: string[]): Logger {
  return createLogger('debug', (line) => lines.push(line.trimEnd()));
}

/** Starts a server with its keys and store in `dir` (a fresh temp dir unless given). */
export async function startServer(config: Partial<ServerConfig> = {}, dir = tempDir().path, memoryStore = true, options: Partial<StartOptions> = {}): Promise<TestServer> {
  const lines: string[] = [];
  const server = await ParleyServer.start(
    { ...DEFAULT_CONFIG, port: 0, keysDir: join(dir, 'keys'), storeDir: join(dir, 'store'), ...config },
    { memoryStore, scrypt: TEST_SCRYPT, log: memoryLogger(lines), ...options },
  );
  return { server, port: server.address.port, dir, lines, stop: () => server.stop() };
}

export function client(port: number, storeDir = tempDir('parley-client-').path, options: Partial<ClientOptions> = {}): ParleyClient {
  return new ParleyClient({ host: '127.0.0.1', port, storeDir, backoffInitialMs: 50, backoffMaxMs: 200, ...options });
}

/** A connected client logged in as `user` (registered on the way). */
export async function registered(port: number, user: string, options: Partial<ClientOptions> = {}): Promise<ParleyClient> {
  const c = client(port, undefined, options);
  await c.connect();
  await c.register(user, PASSWORD);
  return c;
}

/** Polls `check` until it is truthy, failing after `ms`. */
export async function waitFor<T>(check: () => T | undefined | null | false, ms = 3000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * `promise`, or a failure naming `what` if it is still pending after `ms`: a hang fails the test
 * instead of stalling the run. `what` may be a function, read when the time is up (a state then).
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what} still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records every event of one kind a client emits. */
export function record<K extends keyof ClientEvents>(c: ParleyClient, event: K): ClientEvents[K][0][] {
  const seen: ClientEvents[K][0][] = [];
  (c.on as (e: K, l: (arg: ClientEvents[K][0]) => void) => void)(event, (arg) => seen.push(arg));
  return seen;
}

/** Resolves with the rejection of `promise`, failing if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
