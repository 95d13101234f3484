/**
 * The real parley-server in a child process (bin/parley-server.js), so that its CPU time and
 * memory can be read from /proc and it can be pinned to a core apart from the load generator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SCRYPT, Accounts } from '../../src/server/accounts.ts';
import type { ServerStats } from '../../src/server/server.ts';
import { Store } from '../../src/store/store.ts';
import { listeningPort, sleep } from './proc.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const HOST = '127.0.0.1';
export const PASSWORD = 'correct horse battery';
/** BENCH_SERVER_OUTPUT=FILE: the server's whole stdout goes to FILE too (e.g. with --node-flags --trace-gc). */
const SERVER_OUTPUT = process.env.BENCH_SERVER_OUTPUT;

/** Flags that take the server's own limits out of the way: the benchmark is the flood. */
export const UNLIMITED = [
  '--log-level', 'warn',
  '--rate-per-second', '0', // no message flood control
  '--conn-burst', '1000000', '--conn-per-minute', '0', '--conn-max-per-ip', '0', // no connection limits
  '--away-after', '0', '--timeout', '0', // no idle sweeps changing presence mid-run
];

/**
 * The node flags a checkout's server is started with (bin/parley-server.node-flags, as make
 * run-server reads it); none for a checkout from before that file.
 */
export function serverNodeFlags(checkout = ROOT): string[] {
  const file = join(checkout, 'bin', 'parley-server.node-flags');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export interface ServerChildOptions {
  /** directory for keys/ and store/ (made by the caller, removed by the caller) */
  root: string;
  /** more flags after UNLIMITED */
  flags?: string[];
  /** more node flags, e.g. --cpu-prof, after the checkout's own (serverNodeFlags); a later value of a flag wins */
  nodeFlags?: string[];
  /** a command the server is started through, e.g. ['prlimit', '--nofile=70000:70000'] */
  launcher?: string[];
  /** the Parley checkout whose server runs (default: this one), e.g. a baseline to compare with */
  checkout?: string;
  /** ms the server may take to listen (default 60 s: the first start makes the RSA key pair) */
  listenTimeoutMs?: number;
}

export class ParleyServerChild {
  private readonly output: string[] = [];
  private statsWaiter: ((line: string) => void) | null = null;
  private stdoutTail = '';

  private constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    public port = 0,
  ) {}

  static async start(options: ServerChildOptions): Promise<ParleyServerChild> {
    const flags = ['--host', HOST, '--port', '0', '--keys', join(options.root, 'keys'), '--store', join(options.root, 'store'), ...UNLIMITED, ...(options.flags ?? [])];
    const checkout = options.checkout ?? ROOT;
    const argv = [process.execPath, ...serverNodeFlags(checkout), ...(options.nodeFlags ?? []), join(checkout, 'bin/parley-server.js'), ...flags];
    if (options.launcher?.length) argv.unshift(...options.launcher);
    const child = spawn(argv[0], argv.slice(1), { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ParleyServerChild(child, child.pid!);
    running.add(server);
    child.once('exit', () => running.delete(server));
    child.stdout!.on('data', (chunk: Buffer) => server.onStdout(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => server.keep(chunk.toString()));
    const listenLimit = options.listenTimeoutMs ?? 60_000;
    const deadline = Date.now() + listenLimit;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}:\n${server.output.join('')}`);
      const port = listeningPort(server.pid);
      if (port !== null) {
        server.port = port;
        return server;
      }
      if (Date.now() > deadline) throw new Error(`the server did not listen within ${listenLimit / 1000} s:\n${server.output.join('')}`);
      await sleep(50);
    }
  }

  private keep(text: string): void {
    this.output.push(text);
    if (this.output.length > 50) this.output.shift();
  }

  private onStdout(text: string): void {
    if (SERVER_OUTPUT) appendFileSync(SERVER_OUTPUT, text);
    this.stdoutTail += text;
    let newline;
    while ((newline = this.stdoutTail.indexOf('\n')) >= 0) {
      const line = this.stdoutTail.slice(0, newline);
      this.stdoutTail = this.stdoutTail.slice(newline + 1);
      if (line.startsWith('stats ') && this.statsWaiter) this.statsWaiter(line.slice(6));
      else this.keep(`${line}\n`);
    }
  }

  /** The server's own figures (SIGUSR2); event-loop delay covers the time since the last call. */
  stats(): Promise<ServerStats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stats from the server within 30 s:\n${this.output.join('')}`)), 30_000);
      this.statsWaiter = (line) => {
        clearTimeout(timer);
        this.statsWaiter = null;
        resolve(JSON.parse(line) as ServerStats);
      };
      this.child.kill('SIGUSR2');
    });
  }

  get log(): string {
    return this.output.join('');
  }

  /** SIGTERM (a clean stop, which also writes --cpu-prof), then SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

const running = new Set<ParleyServerChild>();
// Last resort: whatever way this process ends, no server outlives it.
process.on('exit', () => {
  for (const server of running) server.child.kill('SIGKILL');
});

/**
 * Registers accounts straight into a server's store before it starts, the way the server would
 * (Accounts.register), but with a cheap scrypt cost so that 10,000 accounts take seconds, not
 * the minutes the default cost (N=16384) would. Logins to these accounts run scrypt at the
 * cost stored with each account. Returns each account's first session token, for resumes.
 */
export async function createAccounts(root: string, names: string[], scrypt = { N: 1024, r: 8, p: 1 }): Promise<Map<string, string>> {
  const store = await Store.open(join(root, 'store'));
  const accounts = await Accounts.load(store, { maxLoginFailures: 5, blockDurationMs: 60_000, tokenTtlMs: 86400_000, scrypt });
  const tokens = new Map<string, string>();
  const parallel = 64;
  for (let i = 0; i < names.length; i += parallel) {
    const batch = await Promise.all(names.slice(i, i + parallel).map((name) => accounts.register(name, PASSWORD)));
    for (const account of batch) tokens.set(account.name, account.token);
  }
  await store.flush();
  return tokens;
}

export { DEFAULT_SCRYPT };
