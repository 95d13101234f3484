/**
 * How many terminal cells a character takes. blessed (2015) predates emoji being wide: it counts
 * 😀 as one cell while every current terminal (and tmux) draws it in two, so a line with an emoji
 * shifts and leaves debris. This module is the one width table the UI uses: the input line measures
 * with it, and `patchBlessedWidths` makes blessed's renderer agree.
 */

/** East Asian Wide and Fullwidth ranges (Unicode 15), besides emoji. */
const WIDE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x2e80, 0x303e], [0x3041, 0x33ff],
  [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa960, 0xa97f], [0xac00, 0xd7a3],
  [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff00, 0xff60], [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4], [0x17000, 0x18cff], [0x1b000, 0x1b2ff], [0x1f200, 0x1f2ff],
  [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];

const EMOJI_PRESENTATION = /\p{Emoji_Presentation}/u;
/** Marks, joiners and variation selectors take no cell of their own. */
const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufe00-\ufe0f]/u;

function inWideRange(point: number): boolean {
  for (const [low, high] of WIDE_RANGES) {
    if (point < low) return false;
    if (point <= high) return true;
  }
  return false;
}

/** Cells taken by one code point: 0, 1 or 2. */
export function codePointWidth(point: number): number {
  if (point === 0) return 0;
  if (point < 32 || (point >= 0x7f && point < 0xa0)) return 0;
  if (point < 0x300) return 1; // fast path for Latin text
  const char = String.fromCodePoint(point);
  if (ZERO_WIDTH.test(char)) return 0;
  if (inWideRange(point) || EMOJI_PRESENTATION.test(char)) return 2;
  return 1;
}

/** Cells taken by one grapheme (what a person sees as one character). */
export function graphemeWidth(grapheme: string): number {
  // An emoji sequence (flag, family, skin tone, text symbol + VS16) is drawn as one wide glyph.
  if (grapheme.length > 1 && (EMOJI_PRESENTATION.test(grapheme) || grapheme.includes('\ufe0f'))) return 2;
  let width = 0;
  for (const char of grapheme) width += codePointWidth(char.codePointAt(0)!);
  return Math.min(width, 2);
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Splits text into graphemes, so the cursor never lands inside an emoji or an accent. */
export function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/** Cells taken by a string. */
export function stringWidth(text: string): number {
  let width = 0;
  for (const g of graphemes(text)) width += graphemeWidth(g);
  return width;
}

/** Cuts `text` to at most `cells` cells, adding `…` when something was cut. */
export function truncate(text: string, cells: number): string {
  if (stringWidth(text) <= cells) return text;
  let out = '';
  let used = 0;
  for (const g of graphemes(text)) {
    const w = graphemeWidth(g);
    if (used + w > cells - 1) break;
    out += g;
    used += w;
  }
  return out + '…';
}

/** Pads `text` with spaces to exactly `cells` cells (cutting it first if needed). */
export function padCells(text: string, cells: number): string {
  const cut = truncate(text, cells);
  return cut + ' '.repeat(Math.max(0, cells - stringWidth(cut)));
}

interface BlessedUnicode {
  charWidth(str: string | number, i?: number): number;
  codePointAt(str: string, i: number): number;
  chars: { all: RegExp };
}

let patched = false;

/**
 * Makes blessed count emoji as two cells, like the terminal does: its `charWidth` answers from
 * this table, and its "wide character" pattern (after which it reserves the second cell) gains
 * the emoji. Tabs keep blessed's own rule. Idempotent.
 */
export function patchBlessedWidths(unicode: BlessedUnicode): void {
  if (patched) return;
  patched = true;
  const original = unicode.charWidth.bind(unicode);
  unicode.charWidth = (str, i) => {
    const point = typeof str === 'number' ? str : unicode.codePointAt(str, i ?? 0);
    if (point === 0x09) return original(str, i);
    return codePointWidth(point);
  };
  const ranges = WIDE_RANGES.map(([low, high]) => `\\u{${low.toString(16)}}-\\u{${high.toString(16)}}`).join('');
  unicode.chars.all = new RegExp(`([${ranges}]|\\p{Emoji_Presentation})`, 'gu');
}
