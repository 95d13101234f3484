/**
 * Tab completion for the input line: command words after a leading "/", usernames (bare or
 * after "@"), group names after "#", and emoji shortcodes after ":". Pressing Tab again cycles through the matches.
 * Pure: the sources are passed in, so it is tested without a server or a terminal.
 */
import { search } from 'node-emoji';
import type { LineEditor } from './editor.ts';
import { graphemes } from './width.ts';

export interface CompletionSources {
  users: () => Iterable<string>;
  /** Group names (without "#"), completed after "#". */
  groups?: () => Iterable<string>;
  commands: readonly string[];
  /** Shortcodes (with colons) starting with `prefix` (without them). */
  emoji?: (prefix: string) => string[];
}

/** Emoji shortcodes for a prefix: names that start with it first, shortest first. */
export function emojiShortcodes(prefix: string, limit = 30): string[] {
  if (prefix.length === 0) return [];
  const lower = prefix.toLowerCase();
  const names = search(lower).map((found) => found.name);
  const starting = names.filter((name) => name.startsWith(lower));
  const ranked = (starting.length > 0 ? starting : names).sort((a, b) => a.length - b.length || a.localeCompare(b));
  return ranked.slice(0, limit).map((name) => `:${name}:`);
}

/**
 * Completions for `word`, each with what follows it. `lineStart` is true when the word is the
 * first on the line (where a bare name becomes "name: " and a "/" starts a command); `before` is
 * the text before it (after `/group join ` a bare word is a group name).
 */
export function candidates(word: string, lineStart: boolean, sources: CompletionSources, before = ''): string[] {
  if (word.startsWith('/')) {
    if (!lineStart) return [];
    const lower = word.toLowerCase();
    return sources.commands.filter((c) => c.startsWith(lower)).map((c) => c + ' ');
  }
  if (word.startsWith(':') && word.length >= 2 && !word.slice(1).includes(':')) {
    return (sources.emoji ?? emojiShortcodes)(word.slice(1)).map((code) => code + ' ');
  }
  // `/group join NAME` and friends take a group name without the "#".
  if (/^\s*\/group\s+(join|leave|members|invite|kick)\s+$/i.test(before) && !word.startsWith('#')) {
    const prefix = word.toLowerCase();
    return [...(sources.groups?.() ?? [])].filter((g) => g.startsWith(prefix)).sort().map((g) => `${g} `);
  }
  if (word.startsWith('#')) {
    const prefix = word.slice(1).toLowerCase();
    return [...(sources.groups?.() ?? [])].filter((g) => g.startsWith(prefix)).sort().map((g) => `#${g} `);
  }
  const at = word.startsWith('@') ? '@' : '';
  const prefix = word.slice(at.length).toLowerCase();
  if (!at && prefix.length === 0) return [];
  const users = [...sources.users()].filter((u) => u.startsWith(prefix)).sort();
  const suffix = lineStart && !at ? ': ' : ' ';
  return users.map((u) => at + u + suffix);
}

interface Cycle {
  /** Text before the word being completed, and after the cursor. */
  before: string;
  after: string;
  options: string[];
  index: number;
  /** The editor value this cycle last produced: any other edit ends the cycle. */
  produced: string;
}

export class Completer {
  private cycle: Cycle | null = null;

  constructor(private readonly sources: CompletionSources) {}

  /** Completes the word before the cursor, or moves to the next match. False when nothing matches. */
  complete(editor: LineEditor, step = 1): boolean {
    const cycle = this.cycle && this.cycle.produced === editor.value ? this.cycle : this.start(editor);
    if (!cycle) return false;
    if (cycle !== this.cycle) this.cycle = cycle;
    else cycle.index = (cycle.index + step + cycle.options.length) % cycle.options.length;
    // Mid-line, the space after the word is already there: do not double it.
    const option = cycle.options[cycle.index];
    const choice = /^\s/.test(cycle.after) ? option.trimEnd() : option;
    editor.set(cycle.before + choice + cycle.after, graphemes(cycle.before + choice).length);
    cycle.produced = editor.value;
    return true;
  }

  private start(editor: LineEditor): Cycle | null {
    const before = editor.beforeCursor();
    const match = /(\S*)$/.exec(before)!;
    const word = match[1];
    const head = before.slice(0, before.length - word.length);
    const options = candidates(word, head.trim() === '', this.sources, head);
    if (options.length === 0) return null;
    return { before: head, after: editor.afterCursor(), options, index: 0, produced: '' };
  }

  /** Forgets the cycle (any key other than Tab). */
  reset(): void {
    this.cycle = null;
  }
}

