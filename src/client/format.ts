/**
 * ViewEvents as readable lines, for plain mode (and anywhere a one-line summary is wanted).
 * Every string that came from a peer goes through `sanitize` here.
 */
import { sanitize } from './sanitize.ts';
import type { ViewEvent } from './view.ts';

/** `14:02` in local time. */
export function clock(ts: number): string {
  const at = new Date(ts);
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
}

/** "3 s", "4 min", "2 h", "5 d": how long ago or how long, compactly. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** `11-25`: the date part of a history line. */
function day(ts: number): string {
  const at = new Date(ts);
  return `${String(at.getMonth() + 1).padStart(2, '0')}-${String(at.getDate()).padStart(2, '0')}`;
}

/** How far one of your messages got, as a short mark: ✓✓ delivered, ✓ stored, … queued. */
export function statusMark(event: Extract<ViewEvent, { kind: 'sent' }>): string {
  switch (event.status) {
    case 'delivered':
      return '✓✓ delivered';
    case 'stored':
      return '✓ stored for offline user';
    case 'sent':
      return `✓ ${event.recipients ?? 0} online`;
    case 'queued':
      return '… queued until reconnected';
    case 'failed':
      return `✗ ${event.error?.code}: ${sanitize(event.error?.message ?? '')}`;
  }
}

/** The body of a message, with continuation lines indented under the first. */
function body(text: string): string {
  return sanitize(text, true).replace(/\n/g, '\n      ');
}

export function formatEvent(event: ViewEvent, now = Date.now()): string {
  const time = clock(event.ts);
  switch (event.kind) {
    case 'message':
      return event.scope === 'private'
        ? `${time} [${sanitize(event.from)} → you] ${body(event.text)}`
        : `${time} [${sanitize(event.from)} → all] ${body(event.text)}`;
    case 'sent': {
      const target = event.scope === 'private' ? sanitize(event.to ?? '') : 'all';
      return `${time} [you → ${target}] ${body(event.text)}  (${statusMark(event)} #${event.msgId})`;
    }
    case 'update': {
      const where = event.scope === 'private' ? '' : ' to all';
      return event.action === 'edit'
        ? `${time} * ${sanitize(event.from)} edited a message${where} (#${event.msgId}): ${body(event.text ?? '')}`
        : `${time} * ${sanitize(event.from)} deleted a message${where} (#${event.msgId})`;
    }
    case 'history': {
      const title = event.with === '*' ? 'everyone' : sanitize(event.with);
      const heading = `${time} History with ${title}${event.local ? ' (saved on this computer; offline)' : ''}:`;
      if (event.messages.length === 0) return `${heading} no ${event.more ? 'more ' : ''}messages`;
      const rows = event.messages.map((m) => {
        const text = m.deleted ? '(message deleted)' : `${body(m.text)}${m.editedAt ? ' (edited)' : ''}`;
        const to = m.scope === 'private' ? sanitize(m.to ?? '') : 'all';
        return `  ${day(m.ts)} ${clock(m.ts)} [${sanitize(m.from)} → ${to}] ${text}  #${sanitize(m.msgId)}`;
      });
      return [heading, ...rows, event.more ? '  (more: /history again for older messages)' : '  (start of the conversation)'].join('\n');
    }
    case 'presence':
      return `${time} * ${sanitize(event.user)} ${event.event === 'joined' ? 'joined' : 'left'}`;
    case 'who': {
      const heading = event.since === undefined ? 'Online' : `Online in the last ${event.since} s`;
      if (event.users.length === 0) return `${time} ${heading}: nobody`;
      const rows = event.users.map((u) =>
        u.online
          ? `  ${sanitize(u.user)}  online for ${duration(now - u.since)}, active ${duration(now - u.lastActive)} ago`
          : `  ${sanitize(u.user)}  offline, last seen ${duration(now - u.since)} ago`,
      );
      return [`${time} ${heading} (${event.users.length}):`, ...rows].join('\n');
    }
    case 'login':
      return `${time} * ${event.resumed ? 'resumed session as' : 'logged in as'} ${sanitize(event.user)}`;
    case 'logout':
      return `${time} * logged out`;
    case 'trust':
      return event.decision === 'first-use'
        ? `${time} * first connection to ${event.address}; trusting its key ${event.fingerprint} from now on`
        : `${time} * connected to ${event.address} (key ${event.fingerprint})`;
    case 'info':
      return `${time} * ${event.text}`;
    case 'help':
      return event.text;
    case 'error':
      return `${time} ! ${event.code}: ${sanitize(event.message, true)}`;
    case 'notice':
      return `${time} !! ${event.code}: ${sanitize(event.message, true)}`;
  }
}
