/**
 * Key presses as actions. blessed reports a key as (ch, {full, name, ...}); this turns that into
 * one small union the screens switch on, so the bindings live in one table and are tested without
 * a terminal. It also joins the two halves of an emoji, which blessed delivers as two key presses.
 */

/** Keys that edit the input line (see LineEditor.apply). */
export type EditAction =
  | { type: 'insert'; text: string }
  | { type: 'backspace' | 'delete' | 'left' | 'right' | 'home' | 'end' | 'kill-word' | 'kill-start' | 'kill-end' };

export type KeyAction =
  | EditAction
  | { type: 'enter' | 'tab' | 'backtab' | 'up' | 'down' | 'page-up' | 'page-down' | 'escape' | 'quit' | 'next' | 'previous' | 'redraw' }
  /** Alt+1..9: the n-th conversation (0-based). */
  | { type: 'switch'; index: number };

/** The parts of blessed's key object this reads. */
export interface KeyInfo {
  full?: string;
  name?: string;
  meta?: boolean;
  ctrl?: boolean;
}

const NAMED: Record<string, KeyAction['type']> = {
  enter: 'enter',
  tab: 'tab',
  'S-tab': 'backtab',
  up: 'up',
  down: 'down',
  'C-p': 'previous',
  'C-n': 'next',
  left: 'left',
  right: 'right',
  'C-b': 'left',
  'C-f': 'right',
  home: 'home',
  end: 'end',
  'C-a': 'home',
  'C-e': 'end',
  backspace: 'backspace',
  'C-h': 'backspace',
  delete: 'delete',
  'C-d': 'delete',
  'C-w': 'kill-word',
  'M-backspace': 'kill-word',
  'C-u': 'kill-start',
  'C-k': 'kill-end',
  pageup: 'page-up',
  pagedown: 'page-down',
  escape: 'escape',
  'C-c': 'quit',
  'C-l': 'redraw',
};

export class KeyDecoder {
  /** The high half of a surrogate pair, waiting for its low half. */
  private pendingHigh = '';

  /** The action for one blessed key press, or null for keys with no binding. */
  decode(ch: string | undefined, key: KeyInfo): KeyAction | null {
    const full = key.full ?? '';
    // blessed reports Enter twice for "\r" (as "enter" and as "return"): act on one of them.
    if (full === 'return') return null;
    if (key.meta && key.name && /^[1-9]$/.test(key.name)) return { type: 'switch', index: Number(key.name) - 1 };
    const named = NAMED[full];
    if (named) return { type: named } as KeyAction;
    if (ch === undefined || ch === '') return null;
    if (/^[\ud800-\udbff]$/.test(ch)) {
      this.pendingHigh = ch;
      return null;
    }
    let text = ch;
    if (/^[\udc00-\udfff]$/.test(ch)) {
      if (!this.pendingHigh) return null;
      text = this.pendingHigh + ch;
    }
    this.pendingHigh = '';
    if (key.ctrl || key.meta) return null;
    // Anything else with a control character in it is a key we do not bind (F-keys, mouse).
    if (/[\x00-\x1f\x7f]/.test(text)) return null;
    return { type: 'insert', text };
  }
}
