/**
 * The blessed screen, set up once for every Parley screen: full Unicode with emoji counted as two
 * cells (width.ts), no blessed warnings on stderr, and a cursor the input widgets place themselves.
 */
import blessed from 'blessed';
import type { Readable, Writable } from 'node:stream';
import { patchBlessedWidths } from './width.ts';

export type Screen = blessed.Widgets.Screen;

export interface ScreenStreams {
  input?: Readable;
  output?: Writable;
  /** terminfo name; default: $TERM */
  terminal?: string;
}

/** Creates the screen (on the process's terminal unless streams are given, as tests do). */
export function createScreen(streams: ScreenStreams = {}): Screen {
  patchBlessedWidths((blessed as unknown as { unicode: Parameters<typeof patchBlessedWidths>[0] }).unicode);
  const screen = blessed.screen({
    smartCSR: true,
    fullUnicode: true,
    // A UTF-8 terminal with an unusual $LANG would otherwise get "?" for every emoji.
    forceUnicode: true,
    warnings: false,
    autoPadding: false,
    title: 'Parley',
    ...(streams.input ? { input: streams.input } : {}),
    ...(streams.output ? { output: streams.output } : {}),
    ...(streams.terminal ? { terminal: streams.terminal } : {}),
  } as blessed.Widgets.IScreenOptions);
  // The terminal speaks UTF-8 (forceUnicode): draw ─ │ · as themselves, not through the VT100
  // line-drawing charset, which tmux captures as "qqq" and which turns "·" into "~".
  const tput = (screen.program as unknown as { tput: { brokenACS: boolean; colors: number } }).tput;
  tput.brokenACS = true;
  // blessed cannot read newer terminfo entries (tmux-256color among them) and falls back to an
  // 8-colour xterm, where grey becomes black. The terminal's name says better.
  if (tput.colors < 256 && supports256Colours(streams.terminal ?? process.env.TERM, process.env.COLORTERM)) tput.colors = 256;
  return screen;
}

/** True when the terminal's name or $COLORTERM promise at least 256 colours. */
export function supports256Colours(term: string | undefined, colorterm: string | undefined): boolean {
  return /256|direct|truecolor/i.test(term ?? '') || /truecolor|24bit/i.test(colorterm ?? '');
}

/** blessed tracks this but its type definitions leave it out. */
function cursorHidden(screen: Screen): boolean {
  return Boolean((screen.program as unknown as { cursorHidden?: boolean }).cursorHidden);
}

/** Shows the terminal cursor at (row, col) — where the next typed character will appear. */
export function placeCursor(screen: Screen, row: number, col: number): void {
  const program = screen.program;
  program.cup(row, col);
  if (cursorHidden(screen)) program.showCursor();
}

export function hideCursor(screen: Screen): void {
  if (!cursorHidden(screen)) screen.program.hideCursor();
}
