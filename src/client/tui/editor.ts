/**
 * The input line's text and cursor, measured in graphemes so an emoji, a flag or an accented
 * letter is one step for the arrow keys and one Backspace. blessed's textbox cannot show an emoji
 * while it is typed; this editor plus `view()` is what the UI draws instead. Pure: no terminal.
 */
import type { EditAction } from './keys.ts';
import { graphemes, graphemeWidth } from './width.ts';

/** What the input line shows: the visible slice of text and where the cursor sits in it. */
export interface EditorView {
  text: string;
  /** Cursor column, in cells, from the start of `text`. */
  cursor: number;
}

export class LineEditor {
  private chars: string[] = [];
  private at = 0;

  get value(): string {
    return this.chars.join('');
  }

  /** Cursor position in graphemes. */
  get cursor(): number {
    return this.at;
  }

  /** Replaces the text; the cursor goes to `cursor` (default: the end). */
  set(value: string, cursor?: number): void {
    this.chars = graphemes(value);
    this.at = cursor === undefined ? this.chars.length : Math.max(0, Math.min(cursor, this.chars.length));
  }

  clear(): void {
    this.set('');
  }

  /** Text before the cursor (completion reads the word being typed from it). */
  beforeCursor(): string {
    return this.chars.slice(0, this.at).join('');
  }

  afterCursor(): string {
    return this.chars.slice(this.at).join('');
  }

  /** Inserts at the cursor. Re-segmenting lets a skin tone or accent join the character before it. */
  insert(text: string): void {
    const before = this.beforeCursor() + text;
    this.chars = graphemes(before + this.afterCursor());
    this.at = graphemes(before).length;
  }

  /** Applies an editing key; false when the action is not an edit. */
  apply(action: EditAction): boolean {
    switch (action.type) {
      case 'insert':
        this.insert(action.text);
        return true;
      case 'backspace':
        if (this.at > 0) this.chars.splice(--this.at, 1);
        return true;
      case 'delete':
        this.chars.splice(this.at, 1);
        return true;
      case 'left':
        this.at = Math.max(0, this.at - 1);
        return true;
      case 'right':
        this.at = Math.min(this.chars.length, this.at + 1);
        return true;
      case 'home':
        this.at = 0;
        return true;
      case 'end':
        this.at = this.chars.length;
        return true;
      case 'kill-word': {
        // Like a shell's Ctrl+W: the spaces before the cursor, then the word before them.
        let start = this.at;
        while (start > 0 && /\s/.test(this.chars[start - 1])) start--;
        while (start > 0 && !/\s/.test(this.chars[start - 1])) start--;
        this.chars.splice(start, this.at - start);
        this.at = start;
        return true;
      }
      case 'kill-start':
        this.chars.splice(0, this.at);
        this.at = 0;
        return true;
      case 'kill-end':
        this.chars.splice(this.at);
        return true;
      default:
        return false;
    }
  }

  /**
   * The slice of the line that fits in `width` cells with the cursor visible, scrolling
   * horizontally as a long line is typed. `mask` draws each grapheme as that character (passwords).
   */
  view(width: number, mask?: string): EditorView {
    const shown = mask === undefined ? this.chars : this.chars.map(() => mask);
    const widths = shown.map(graphemeWidth);
    const room = Math.max(1, width - 1); // the last cell is kept for the cursor at the end
    let start = 0;
    let before = widths.slice(0, this.at).reduce((a, b) => a + b, 0);
    while (before > room && start < this.at) before -= widths[start++];
    let text = '';
    let used = 0;
    for (let i = start; i < shown.length && used + widths[i] <= width; i++) {
      text += shown[i];
      used += widths[i];
    }
    return { text, cursor: before };
  }
}

/** Input history for Up/Down, like a shell's: the line being typed is kept while browsing. */
export class History {
  private readonly entries: string[] = [];
  private index = 0;
  private draft = '';

  constructor(private readonly limit = 500) {}

  /** Records a line that was entered, and ends browsing. */
  push(line: string): void {
    if (line.trim() && this.entries[this.entries.length - 1] !== line) this.entries.push(line);
    if (this.entries.length > this.limit) this.entries.shift();
    this.index = this.entries.length;
    this.draft = '';
  }

  /** The entry before the current one, or null at the oldest. `current` is kept as the draft. */
  previous(current: string): string | null {
    if (this.index === 0) return null;
    if (this.index === this.entries.length) this.draft = current;
    return this.entries[--this.index];
  }

  /** The entry after the current one; past the newest, the draft typed before browsing. */
  next(): string | null {
    if (this.index >= this.entries.length) return null;
    this.index++;
    return this.index === this.entries.length ? this.draft : this.entries[this.index];
  }
}
