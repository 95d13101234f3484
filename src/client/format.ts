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

/** Where a message went, as shown: `all`, `#group` or the recipient. */
function target(m: { scope: string; to?: string; group?: string }): string {
  if (m.scope === 'group') return `#${sanitize(m.group ?? '')}`;
  return m.scope === 'private' ? sanitize(m.to ?? '') : 'all';
}

/** The body of a message, with continuation lines indented under the first. */
function body(text: string): string {
  return sanitize(text, true).replace(/\n/g, '\n      ');
}

export function formatEvent(event: ViewEvent, now = Date.now()): string {
  const time = clock(event.ts);
  switch (event.kind) {
    case 'message':
      return `${time} [${sanitize(event.from)} → ${event.scope === 'private' ? 'you' : target(event)}] ${body(event.text)}`;
    case 'sent':
      return `${time} [you → ${target(event)}] ${body(event.text)}  (${statusMark(event)} #${event.msgId})`;
    case 'update': {
      const where = event.scope === 'private' ? '' : ` to ${target(event)}`;
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
        const to = target(m);
        return `  ${day(m.ts)} ${clock(m.ts)} [${sanitize(m.from)} → ${to}] ${text}  #${sanitize(m.msgId)}`;
      });
      return [heading, ...rows, event.more ? '  (more: /history again for older messages)' : '  (start of the conversation)'].join('\n');
    }
    case 'presence':
      if (event.event === 'status') {
        const text = event.statusText ? `: ${sanitize(event.statusText)}` : '';
        return `${time} * ${sanitize(event.user)} is ${event.status ?? 'available'}${text}`;
      }
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
    case 'status':
      return `${time} * your status: ${event.status}${event.text ? ` (${sanitize(event.text)})` : ''}`;
    case 'group': {
      const who = sanitize(event.user);
      const by = event.by ? ` by ${sanitize(event.by)}` : '';
      const what = { joined: `${who} joined`, left: `${who} left`, invited: `${who} was invited${by}`, kicked: `${who} was removed${by}`, created: `${who} created the group` }[event.event];
      return `${time} * #${sanitize(event.group)}: ${what}`;
    }
    case 'groups': {
      if (event.groups.length === 0) return `${time} No groups yet: /group create NAME`;
      const rows = event.groups.map((g) => {
        const flags = [g.visibility, g.community ? 'community' : '', g.member ? 'member' : g.invited ? 'invited' : ''].filter(Boolean).join(', ');
        return `  #${sanitize(g.name)}  ${g.members} member${g.members === 1 ? '' : 's'} (${flags})${g.owner ? `, owner ${sanitize(g.owner)}` : ''}`;
      });
      return [`${time} Groups (${event.groups.length}):`, ...rows].join('\n');
    }
    case 'members': {
      const rows = event.members.map((m) => `  ${m.online ? '●' : '○'} ${sanitize(m.user)}${m.owner ? ' (owner)' : ''}${m.status && m.status !== 'available' ? ` [${m.status}]` : ''}`);
      return [`${time} Members of #${sanitize(event.group)} (${event.members.length}):`, ...rows].join('\n');
    }
    case 'blocked':
      return event.users.length ? `${time} You block: ${event.users.map((u) => sanitize(u)).join(', ')}` : `${time} You block no one`;
    case 'profile': {
      const p = event.profile;
      if (!p.location && p.interests.length === 0) return `${time} Your profile is empty: /profile location PLACE, /profile interests a,b,c`;
      const where = p.location ? `location ${sanitize(p.location)}${p.area ? ` (area ${p.area})` : ''}` : 'no location';
      return `${time} Your profile: ${where}; interests: ${p.interests.length ? p.interests.join(', ') : 'none'}`;
    }
    case 'communities': {
      if (event.communities.length === 0) return `${time} No communities yet: set /profile location or /profile interests first`;
      const rows = event.communities.map(
        (c) => `  ${c.name}  ${c.users} user${c.users === 1 ? '' : 's'} ${c.kind === 'near' ? 'nearby' : 'interested'}, ${c.members} in the group${c.joined ? ' (joined)' : ` — /group join ${c.name}`}`,
      );
      return [`${time} Communities for you:`, ...rows].join('\n');
    }
    case 'error':
      return `${time} ! ${event.code}: ${sanitize(event.message, true)}`;
    case 'notice':
      return `${time} !! ${event.code}: ${sanitize(event.message, true)}`;
  }
}
