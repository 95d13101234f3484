/**
 * Model → blessed-tagged text. Pure string functions, tested without a terminal. Every string that
 * reaches here from a peer goes through `sanitize` (control and escape sequences) and then
 * `escapeTags` (so a message saying "{red-fg}" shows those characters instead of turning red).
 */
import { shortFingerprint } from '../../crypto/keys.ts';
import { clock } from '../format.ts';
import { sanitize } from '../sanitize.ts';
import type { StatusLine } from '../view.ts';
import type { GroupMember, Presence } from '../../protocol/messages.ts';
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

/** One cell saying how someone is: ● available, ◐ away, ⊘ busy, ○ offline. */
export function presenceMarker(presence: 'offline' | Presence): string {
  switch (presence) {
    case 'available':
      return '{green-fg}●{/green-fg}';
    case 'away':
      return '{yellow-fg}◐{/yellow-fg}';
    case 'busy':
      return '{red-fg}⊘{/red-fg}';
    case 'offline':
      return '{grey-fg}○{/grey-fg}';
  }
}

/** Sidebar lines, `width` cells wide: number, presence, name, unread count; a group you left is dimmed. */
export function sidebarLines(model: ChatModel, width: number): string[] {
  const focusedId = model.focused.id;
  const lines = ['{bold}Conversations{/bold}'];
  model.list().forEach((conversation, index) => {
    const number = index < 9 ? String(index + 1) : ' ';
    const kind = conversation.key.kind;
    const left = kind === 'group' && conversation.left;
    const presence =
      kind === 'private' ? presenceMarker(model.presenceOf(conversation.key.name)) : kind === 'group' ? (left ? '{grey-fg}#{/grey-fg}' : '{cyan-fg}#{/cyan-fg}') : '{cyan-fg}*{/cyan-fg}';
    const count = conversation.unread > 0 ? String(Math.min(conversation.unread, 999)) : '';
    const nameCells = Math.max(1, width - 4 - (count ? count.length + 1 : 0));
    const bare = conversation.key.kind === 'lobby' ? 'lobby' : conversation.key.name;
    // "(left)" when it fits; a narrow sidebar shows the name, dimmed.
    const name = left && stringWidth(sanitize(bare)) + 7 <= nameCells ? `${bare} (left)` : bare;
    const label = `${number} ${presence} ${safe(padCells(sanitize(name), nameCells))}${count ? ' ' + count : ''}`;
    if (conversation.id === focusedId) lines.push(`{inverse}${label}{/inverse}`);
    else if (left) lines.push(`{grey-fg}${label}{/grey-fg}`);
    else if (conversation.highlight) lines.push(`{yellow-fg}{bold}${label}{/bold}{/yellow-fg}`);
    else if (conversation.unread > 0) lines.push(`{bold}${label}{/bold}`);
    else lines.push(label);
  });
  return lines;
}

/** A name in the right-hand pane: a status marker, then the name in its colour (yours bold). */
function userEntry(model: ChatModel, name: string, width: number, suffix = '', presence = model.presenceOf(name)): string {
  const label = safe(truncate(sanitize(name), Math.max(1, width - 2 - stringWidth(suffix))));
  const marker = presenceMarker(presence);
  const shown = name === model.me ? `{bold}${label}{/bold}` : `{${nameColour(name)}-fg}${label}{/${nameColour(name)}-fg}`;
  return `${marker} ${shown}${suffix ? `{grey-fg}${suffix}{/grey-fg}` : ''}`;
}

/**
 * The right-hand pane: the focused group's members (online first, the owner marked ★), or for
 * the lobby and private conversations everyone online. Markers: ● available, ◐ away, ⊘ busy,
 * ○ offline.
 */
export function userLines(model: ChatModel, width: number): string[] {
  const focused = model.focused;
  if (focused.key.kind === 'group' && !focused.left) {
    const list = model.focusedMembers();
    if (!list) return ['{bold}Members{/bold}', '{grey-fg}loading…{/grey-fg}'];
    // Member entries are kept current by presence events; yours follows /status.
    const presence = (m: GroupMember) => (m.user === model.me ? model.presenceOf(m.user) : m.online ? (m.status ?? 'available') : 'offline');
    const members = [...list.members].sort((a, b) => Number(presence(b) !== 'offline') - Number(presence(a) !== 'offline') || a.user.localeCompare(b.user));
    const online = members.filter((m) => presence(m) !== 'offline').length;
    const lines = [`{bold}Members ${online}/${members.length}{/bold}`];
    for (const m of members) lines.push(userEntry(model, m.user, width, m.user === list.owner || m.owner ? ' ★' : '', presence(m)));
    return lines;
  }
  const names = [...model.online].sort();
  if (model.me && !model.online.has(model.me) && model.status?.state === 'connected') names.unshift(model.me);
  const lines = [`{bold}Online (${names.length}){/bold}`];
  for (const name of names) lines.push(userEntry(model, name, width));
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
    const mine = model.myStatus;
    const away = mine.status === 'away' ? ' {yellow-fg}◐ away{/yellow-fg}' : mine.status === 'busy' ? ' {red-fg}⊘ busy (no bell){/red-fg}' : '';
    const note = away && mine.text ? ` {grey-fg}${safe(mine.text)}{/grey-fg}` : '';
    parts.push(status.user ? `{bold}${safe(status.user)}{/bold}${status.user === model.me ? away + note : ''}` : 'not logged in');
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
    case 'group': {
      const name = `{bold}#${safe(conversation.key.name)}{/bold}`;
      if (conversation.left) return `${name} {grey-fg}— you are no longer in this group{/grey-fg}`;
      const list = model.members.get(conversation.key.name);
      return `${name} {grey-fg}— group${list ? `, ${list.members.length} member${list.members.length === 1 ? '' : 's'}` : ''}{/grey-fg}`;
    }
  }
}
