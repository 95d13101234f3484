/**
 * A real blessed screen on PassThrough streams, for tests: keys are written to `input`, and what
 * the terminal would show is read back from the screen's cell buffer.
 */
import { PassThrough } from 'node:stream';
import { createScreen, type Screen } from '../../../src/client/tui/screen.ts';

export interface Headless {
  screen: Screen;
  input: PassThrough;
  output: PassThrough & { columns: number; rows: number; isTTY: boolean };
  /** Everything written to the terminal so far. */
  written(): string;
  /** The screen's rows as plain text (wide characters once, their second cell dropped). */
  text(): string[];
  /** Types characters or key sequences, as a terminal would send them. */
  keys(...sequences: string[]): Promise<void>;
  resize(columns: number, rows: number): void;
}

export function headless(columns = 80, rows = 24): Headless {
  const input = new PassThrough();
  const output = Object.assign(new PassThrough(), { columns, rows, isTTY: true });
  const chunks: string[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const screen = createScreen({ input, output, terminal: 'xterm-256color' });
  return {
    screen,
    input,
    output,
    written: () => chunks.join(''),
    // blessed keeps a \x03 in the cell after a wide character and never draws it.
    text: () => (screen as unknown as { lines: [number, string][][] }).lines.map((line) => line.map((cell) => (cell[1] === '\x03' ? '' : cell[1])).join('')),
    async keys(...sequences) {
      for (const sequence of sequences) {
        input.write(sequence);
        // blessed parses input on the next tick; give each key its own turn, like a person.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    resize(newColumns, newRows) {
      output.columns = newColumns;
      output.rows = newRows;
      output.emit('resize');
    },
  };
}

/** Waits until `check` passes (polling), failing with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const ESC = '\x1b';
export const KEYS = { enter: '\r', tab: '\t', up: '\x1b[A', down: '\x1b[B', pageUp: '\x1b[5~', pageDown: '\x1b[6~', ctrlC: '\x03', ctrlN: '\x0e', ctrlP: '\x10', backspace: '\x7f', alt: (n: number) => `\x1b${n}` };
