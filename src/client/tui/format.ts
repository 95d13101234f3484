/**
 * Model → blessed-tagged text. Pure string functions, tested without a terminal. Every string that
 * reaches here from a peer goes through `sanitize` (control and escape sequences) and then
 * `escapeTags` (so a message saying "{red-fg}" shows those characters instead of turning red).
 */
import { shortFingerprint } from '../../crypto/keys.ts';
import { clock } from '../format.ts';
import { sanitize } from '../sanitize.ts';
import type { StatusLine } from '../view.ts';
import type { ChatLine, ChatModel, Conversation } from './model.ts';
import { graphemes, graphemeWidth, padCells, stringWidth, truncate } from './width.ts';

/** blessed's own escape, without importing blessed into a pure module. */
export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (ch) => (ch === '{' ? '{open}' : '{close}'));
}

/** Peer text made safe twice over: for the terminal, then for blessed's tag parser. */
export function safe(text: string, multiline = false): string {
  return escapeTags(sanitize(text, multiline));
}

/** Readable on dark and light backgrounds; none is the own-message colour (bold white). */
export const NAME_PALETTE = ['#e06c75', '#98c379', '#e5c07b', '#61afef', '#c678dd', '#56b6c2', '#d19a66', '#ff79c6', '#8be9fd', '#50fa7b', '#ffb86c', '#bd93f9'];

/** A stable colour for a name: the same person is the same colour in every session. */
export function nameColour(name: string): string {
  let hash = 0x811c9dc5; // FNV-1a: tiny, and spreads short similar names apart
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return NAME_PALETTE[hash % NAME_PALETTE.length];
}

const TIME = (ts: number) => `{grey-fg}${clock(ts)}{/grey-fg}`;
/** Continuation lines of a multi-line message line up under the text, after "hh:mm ". */
const indent = (text: string) => text.replace(/\n/g, '\n      ');

function ownMark(line: Extract<ChatLine, { kind: 'own' }>): string {
  switch (line.status) {
    case 'queued':
      return ' {yellow-fg}… queued{/yellow-fg}';
    case 'sent':
      return line.recipients !== undefined ? ` {green-fg}✓{/green-fg} {grey-fg}${line.recipients} online{/grey-fg}` : ' {green-fg}✓{/green-fg}';
    case 'stored':
      return ' {green-fg}✓{/green-fg} {grey-fg}stored{/grey-fg}';
    case 'delivered':
      return ' {green-fg}✓✓{/green-fg}';
    case 'failed':
      return ` {red-fg}✗ ${safe(line.error ?? 'failed')}{/red-fg}`;
  }
}

/**
 * /help's table, reflowed for a narrow pane: "usage — summary" per line instead of two padded
 * columns that wrap into a jumble.
 */
function helpLines(text: string): string {
  return text
    .split('\n')
    .map((row) => {
      const columns = /^\s+(\S.*?)\s{2,}(\S.*)$/.exec(row);
      return columns ? `  {bold}${escapeTags(columns[1])}{/bold} {grey-fg}—{/grey-fg} ${escapeTags(columns[2])}` : `{cyan-fg}${escapeTags(row.trim())}{/cyan-fg}`;
    })
    .join('\n');
}

/** A message body: "(deleted)" for a deleted one, "(edited)" after an edited one. */
function messageText(line: Extract<ChatLine, { msgId: string }>): string {
  if (line.deleted) return '{grey-fg}(message deleted){/grey-fg}';
  // A completion's trailing space would push the status mark away: trailing blanks are not shown.
  return indent(safe(line.text, true).trimEnd()) + (line.edited ? ' {grey-fg}(edited){/grey-fg}' : '');
}

/** One chat line as tagged text (may contain newlines for multi-line messages). */
export function formatLine(line: ChatLine): string {
  switch (line.kind) {
    case 'message': {
      const name = `{${nameColour(line.from)}-fg}{bold}${safe(line.from)}{/bold}{/${nameColour(line.from)}-fg}`;
      const text = messageText(line);
      return `${TIME(line.ts)} ${name} ${line.mention && !line.deleted ? `{yellow-fg}{bold}${text}{/bold}{/yellow-fg}` : text}`;
    }
    case 'own':
      return `${TIME(line.ts)} {white-fg}{bold}▸${safe(line.from)}{/bold}{/white-fg} ${messageText(line)}${line.deleted ? '' : ownMark(line)}`;
    case 'system': {
      const text = indent(safe(line.text, true));
      switch (line.tone) {
        case 'presence':
          return `${TIME(line.ts)} {grey-fg}-- ${text}{/grey-fg}`;
        case 'info':
          return `${TIME(line.ts)} {cyan-fg}-- ${text}{/cyan-fg}`;
        case 'error':
          return `${TIME(line.ts)} {red-fg}!! ${text}{/red-fg}`;
        case 'notice':
          return `${TIME(line.ts)} {yellow-fg}{bold}!! ${text}{/bold}{/yellow-fg}`;
        case 'help':
          return helpLines(line.text);
      }
    }
  }
}

/** Continuation rows start under the text, after "hh:mm ". */
const HANGING_INDENT = 6;

/**
 * Wraps tagged text to `width` cells, breaking at spaces where it can, and indents continuation
 * rows so a long message reads as a block beside its timestamp (blessed would wrap to column 0).
 * Tags take no cells; blessed carries their colours across the inserted line breaks.
 */
export function wrapTagged(tagged: string, width: number, indent = HANGING_INDENT): string {
  if (width <= indent + 8) return tagged; // too narrow to indent: let blessed wrap
  const out: string[] = [];
  for (const row of tagged.split('\n')) {
    let line = '';
    let used = 0;
    let lastSpace = -1; // index in `line` just after the last space, and the cells before it
    let cellsAtSpace = 0;
    const tokens = row.match(/\{(?:open|close)\}|\{[^{}]*\}|[\s\S]/gu) ?? [];
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      const isTag = token.length > 1 && token.startsWith('{') && token !== '{open}' && token !== '{close}';
      // Join a grapheme's parts (emoji with modifiers, accents) before measuring it.
      let char = token;
      while (!isTag && i + 1 < tokens.length && tokens[i + 1].length <= 2 && !tokens[i + 1].startsWith('{') && graphemes(char + tokens[i + 1]).length === 1) char += tokens[++i];
      const cells = isTag ? 0 : char === '{open}' || char === '{close}' ? 1 : graphemeWidth(char);
      if (used + cells > width && cells > 0) {
        if (lastSpace > 0 && cellsAtSpace > indent) {
          out.push(line.slice(0, lastSpace).trimEnd());
          line = ' '.repeat(indent) + line.slice(lastSpace);
          used = indent + (used - cellsAtSpace);
        } else {
          out.push(line);
          line = ' '.repeat(indent);
          used = indent;
        }
        lastSpace = -1;
      }
      line += char;
      used += cells;
      if (char === ' ') {
        lastSpace = line.length;
        cellsAtSpace = used;
      }
    }
    out.push(line);
  }
  return out.join('\n');
}

/**
 * The chat lines to hand blessed for a pane `rows` high and `width` wide: only the window that
 * can show, ending `scroll` lines from the bottom. Formatting 5,000 lines per frame would be the
 * freeze.
 */
export function visibleLines(conversation: Conversation, rows: number, width = Infinity): string[] {
  const end = conversation.lines.length - conversation.scroll;
  const lines = conversation.lines.slice(Math.max(0, end - rows), end).map(formatLine);
  // blessed wraps a row that fills the pane exactly, so rows stop one cell short.
  return width === Infinity ? lines : lines.map((line) => wrapTagged(line, width - 1));
}

/** How a conversation is named in the sidebar and the status bar. */
export function conversationTitle(conversation: Conversation): string {
  switch (conversation.key.kind) {
    case 'lobby':
      return '* lobby';
    case 'private':
      return `@${conversation.key.name}`;
    case 'group':
      return `#${conversation.key.name}`;
  }
}

/** Sidebar lines, `width` cells wide: number, presence, name, unread count. */
export function sidebarLines(model: ChatModel, width: number): string[] {
  const focusedId = model.focused.id;
  const lines = ['{bold}Conversations{/bold}'];
  model.list().forEach((conversation, index) => {
    const number = index < 9 ? String(index + 1) : ' ';
    const kind = conversation.key.kind;
    const presence =
      kind === 'private' ? (model.online.has(conversation.key.name) ? '{green-fg}●{/green-fg}' : '{grey-fg}○{/grey-fg}') : kind === 'group' ? '{cyan-fg}#{/cyan-fg}' : '{cyan-fg}*{/cyan-fg}';
    const name = conversation.key.kind === 'lobby' ? 'lobby' : conversation.key.name;
    const count = conversation.unread > 0 ? String(Math.min(conversation.unread, 999)) : '';
    const nameCells = Math.max(1, width - 4 - (count ? count.length + 1 : 0));
    const label = `${number} ${presence} ${safe(padCells(sanitize(name), nameCells))}${count ? ' ' + count : ''}`;
    if (conversation.id === focusedId) lines.push(`{inverse}${label}{/inverse}`);
    else if (conversation.highlight) lines.push(`{yellow-fg}{bold}${label}{/bold}{/yellow-fg}`);
    else if (conversation.unread > 0) lines.push(`{bold}${label}{/bold}`);
    else lines.push(label);
  });
  return lines;
}

/** The online-users pane: a heading and one name per line, in each name's colour. */
export function userLines(model: ChatModel, width: number): string[] {
  const names = [...model.online].sort();
  if (model.me && !model.online.has(model.me) && model.status?.state === 'connected') names.unshift(model.me);
  const lines = [`{bold}Online (${names.length}){/bold}`];
  for (const name of names) {
    const label = safe(truncate(sanitize(name), width - 2));
    lines.push(name === model.me ? `{green-fg}●{/green-fg} {bold}${label}{/bold}` : `{green-fg}●{/green-fg} {${nameColour(name)}-fg}${label}{/${nameColour(name)}-fg}`);
  }
  return lines;
}

const STATE_LABEL: Record<StatusLine['state'], string> = {
  disconnected: '{red-fg}○ disconnected{/red-fg}',
  connecting: '{yellow-fg}◌ connecting{/yellow-fg}',
  handshaking: '{yellow-fg}◌ handshaking{/yellow-fg}',
  connected: '{green-fg}● connected{/green-fg}',
  reconnecting: '{yellow-fg}◌ reconnecting{/yellow-fg}',
  closed: '{red-fg}○ closed{/red-fg}',
};

/** Cells a tagged string takes on screen. */
function shownWidth(tagged: string): number {
  return stringWidth(tagged.replace(/\{(open|close)\}/g, '_').replace(/\{[^{}]*\}/g, ''));
}

/**
 * The status bar: connection, user, focused conversation, scroll, queue and unread first (they
 * change and matter most), then the server and its short key, then a key hint, as far as fits.
 */
export function statusText(model: ChatModel, width: number): string {
  const status = model.status;
  const parts: string[] = [];
  if (status) {
    const detail = status.state === 'reconnecting' && model.statusDetail ? ` (${safe(model.statusDetail)})` : '';
    parts.push(STATE_LABEL[status.state] + detail);
    parts.push(status.user ? `{bold}${safe(status.user)}{/bold}` : 'not logged in');
  }
  parts.push(`in ${safe(conversationTitle(model.focused))}`);
  if (model.focused.scroll > 0) parts.push(`{yellow-fg}scrolled up ${model.focused.scroll}{/yellow-fg}`);
  if (status && status.queued > 0) parts.push(`{yellow-fg}${status.queued} queued{/yellow-fg}`);
  const elsewhere = model.unreadElsewhere();
  if (elsewhere > 0) parts.push(`{bold}${elsewhere} unread{/bold}`);
  if (status) parts.push(`${safe(status.address)}${status.fingerprint ? ` key ${safe(shortFingerprint(status.fingerprint))}` : ''}`);
  let text = '';
  for (const part of parts) {
    const next = text ? `${text} │ ${part}` : ` ${part}`;
    if (text && shownWidth(next) > width) break;
    text = next;
  }
  const hint = '/help · Tab · Alt+1-9';
  const used = shownWidth(text);
  return used + hint.length + 3 <= width ? `${text}${' '.repeat(width - used - hint.length - 1)}{grey-fg}${hint}{/grey-fg}` : text;
}

/** The header above the chat pane: who this conversation reaches. */
export function headerText(model: ChatModel): string {
  const conversation = model.focused;
  switch (conversation.key.kind) {
    case 'lobby':
      return `{bold}* lobby{/bold} {grey-fg}— messages here go to everyone online{/grey-fg}`;
    case 'private': {
      const name = conversation.key.name;
      const presence = model.online.has(name) ? '{green-fg}● online{/green-fg}' : '{grey-fg}○ offline{/grey-fg}';
      return `{bold}@${safe(name)}{/bold} ${presence} {grey-fg}— private conversation{/grey-fg}`;
    }
    case 'group':
      return `{bold}#${safe(conversation.key.name)}{/bold}`;
  }
}
