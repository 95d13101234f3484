/**
 * Plain line mode: commands in on stdin, one readable line (or one JSON object) per event out.
 * For scripts, tests and terminals where a full-screen UI is not wanted. Keyboard and socket
 * share the one event loop: stdin lines arrive as events, never through a blocking read.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ChatController } from './controller.ts';
import type { ParleyClient } from './connection.ts';
import { formatEvent } from './format.ts';
import { onQuitSignals, politeQuit } from './signals.ts';
import type { StatusLine, View, ViewEvent } from './view.ts';

export interface PlainOptions {
  input: Readable & { isTTY?: boolean };
  output: Writable;
  json: boolean;
  /** Password source that overrides asking (--password-file / --password-stdin). */
  password?: () => Promise<string>;
  exit: (code: number) => void;
}

export class PlainView implements View {
  private readonly rl: Interface;
  private readonly lines: string[] = [];
  private secretWaiter: ((line: string) => void) | null = null;
  private muted = false;
  private running = false;
  private inputEnded = false;
  private lastState = '';
  private exited = false;
  private started = false;
  controller!: ChatController;

  constructor(private readonly options: PlainOptions) {
    const terminal = Boolean(options.input.isTTY);
    this.rl = createInterface({ input: options.input, output: terminal ? options.output : undefined, terminal });
    // While a password is typed on a terminal, readline echoes nothing.
    const rlWithOutput = this.rl as unknown as { _writeToOutput: (s: string) => void };
    const write = rlWithOutput._writeToOutput?.bind(this.rl);
    if (write) rlWithOutput._writeToOutput = (s: string) => (this.muted ? undefined : write(s));
    this.rl.on('line', (line) => this.onLine(line));
    this.rl.on('close', () => {
      this.inputEnded = true;
      this.secretWaiter?.('');
      void this.pump();
    });
  }

  private write(text: string): void {
    this.options.output.write(text + '\n');
  }

  show(event: ViewEvent): void {
    this.write(this.options.json ? JSON.stringify(event) : formatEvent(event));
  }

  status(status: StatusLine): void {
    // Only transitions a person needs to hear about; every change in JSON mode.
    const key = `${status.state}|${status.user}|${status.queued}`;
    if (key === this.lastState) return;
    this.lastState = key;
    if (this.options.json) {
      this.write(JSON.stringify({ kind: 'status', ...status, ts: Date.now() }));
      return;
    }
    if (status.state === 'reconnecting') this.show({ kind: 'info', text: `connection lost; reconnecting to ${status.address}${status.queued ? ` (${status.queued} queued)` : ''}`, ts: Date.now() });
  }

  askSecret(prompt: string): Promise<string> {
    // Piped input may already hold the answer, read ahead of the command that asks for it.
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift()!);
    if (this.inputEnded) return Promise.resolve('');
    if (this.options.input.isTTY) {
      this.options.output.write(prompt);
      this.muted = true;
    }
    return new Promise((resolve) => {
      this.secretWaiter = (line) => {
        if (this.options.input.isTTY) this.options.output.write('\n');
        resolve(line);
      };
    });
  }

  private onLine(line: string): void {
    if (this.secretWaiter) {
      const waiter = this.secretWaiter;
      this.secretWaiter = null;
      this.muted = false;
      waiter(line);
      return;
    }
    this.lines.push(line);
    void this.pump();
  }

  /** Runs queued lines one at a time, in order; at end of input, leaves politely. */
  private async pump(): Promise<void> {
    if (this.running || !this.started) return;
    this.running = true;
    while (this.lines.length > 0 && !this.exited) await this.controller.run(this.lines.shift()!);
    this.running = false;
    if (this.inputEnded && this.lines.length === 0 && !this.exited) await this.controller.run('/quit');
  }

  /** Starts running input once connected (lines typed earlier wait their turn). */
  begin(): void {
    this.started = true;
    void this.pump();
  }

  exit(code: number): void {
    if (this.exited) return;
    this.exited = true;
    this.rl.close();
    this.options.exit(code);
  }
}

/** Runs plain mode until /quit, the end of input, SIGHUP or SIGTERM. */
export async function runPlain(client: ParleyClient, options: PlainOptions & { user?: string }): Promise<void> {
  let unlisten = () => {};
  const view = new PlainView({
    ...options,
    exit: (code) => {
      unlisten();
      options.exit(code);
    },
  });
  const controller = new ChatController(client, view, { password: options.password });
  view.controller = controller;
  unlisten = onQuitSignals(
    politeQuit(
      () => void controller.run('/quit'),
      () => view.exit(0),
    ),
  );
  const reachable = await controller.start(options.user);
  if (!reachable) view.exit(1);
  else view.begin();
}
