/**
 * The input parser: one line of what a person typed → a command value. Pure: no I/O, no
 * terminal, so every rule is tested directly (test/client/commands.test.ts). Plain mode and the
 * full-screen UI share it, and `/help` is generated from the same table.
 */
import { emojify } from 'node-emoji';

export type Command =
  | { command: 'register'; user: string }
  | { command: 'login'; user: string }
  | { command: 'logout' }
  | { command: 'quit' }
  | { command: 'who'; since?: number }
  | { command: 'msg'; to: string; text: string }
  | { command: 'all'; text: string }
  | { command: 'help'; topic?: string }
  /** `with` is a user or `*` (the lobby); omitted: the focused conversation */
  | { command: 'history'; with?: string; limit?: number }
  /** `target` is a message id or `last` (your newest message in the conversation) */
  | { command: 'edit'; target: string; text: string }
  | { command: 'delete'; target: string }
  | { command: 'group'; action: 'create'; name: string; visibility: 'open' | 'private' }
  | { command: 'group'; action: 'join' | 'leave' | 'members'; name: string }
  | { command: 'group'; action: 'invite' | 'kick'; name: string; user: string }
  | { command: 'group'; action: 'list' }
  | { command: 'groupmsg'; group: string; text: string }
  | { command: 'block' | 'unblock'; user: string }
  | { command: 'blocked' }
  | { command: 'status'; status: 'available' | 'away' | 'busy'; text?: string }
  | { command: 'profile'; location?: string; interests?: string[]; clear?: boolean }
  | { command: 'communities' }
  /** text without a command prefix: goes to the focused conversation */
  | { command: 'say'; text: string }
  | { command: 'empty' }
  | { command: 'invalid'; message: string };

interface CommandSpec {
  name: string;
  aliases: string[];
  usage: string;
  summary: string;
  parse(args: string): Command;
}

const usageError = (spec: { usage: string }): Command => ({ command: 'invalid', message: `usage: ${spec.usage}` });

/** Splits "first rest of line" at the first run of spaces. */
function splitFirst(args: string): [string, string] {
  const match = /^(\S+)\s*([\s\S]*)$/.exec(args);
  return match ? [match[1], match[2]] : ['', ''];
}

/** Turns `:shortcode:` into emoji, leaving unknown codes as typed. */
export function withEmoji(text: string): string {
  return emojify(text);
}

function userCommand(name: 'register' | 'login', summary: string): CommandSpec {
  const spec: CommandSpec = {
    name,
    aliases: name === 'login' ? ['l'] : ['reg'],
    usage: `/${name} USER`,
    summary,
    parse(args) {
      const [user, rest] = splitFirst(args);
      if (!user || rest) return usageError(spec);
      return { command: name, user };
    },
  };
  return spec;
}

function message(to: string, text: string, spec: { usage: string }): Command {
  const name = to.startsWith('@') ? to.slice(1) : to;
  // A bare sigil ("/msg @ hi") names no one: a usage hint, not a message to "".
  if (!name || !text.trim()) return usageError(spec);
  return { command: 'msg', to: name, text: withEmoji(text) };
}

const GROUP_USAGE =
  '/group create NAME [open|private] | join NAME | leave NAME | list | members NAME | invite NAME USER | kick NAME USER | NAME TEXT';

function groupCommand(args: string, spec: { usage: string }): Command {
  const words = args.trim().split(/\s+/).filter(Boolean);
  const strip = (n: string) => n.replace(/^#/, '');
  // A bare # or @ leaves an empty name: treated as missing.
  const [action, name, third] = [words[0], words[1] && strip(words[1]), words[2]];
  const user = third?.replace(/^@/, '');
  switch (action) {
    case 'list':
      return words.length === 1 ? { command: 'group', action: 'list' } : usageError(spec);
    case 'create':
      if (!name || words.length > 3 || (third && third !== 'open' && third !== 'private')) return usageError(spec);
      return { command: 'group', action: 'create', name, visibility: (third ?? 'open') as 'open' | 'private' };
    case 'join':
    case 'leave':
    case 'members':
      return name && words.length === 2 ? { command: 'group', action, name } : usageError(spec);
    case 'invite':
    case 'kick':
      return name && user && words.length === 3 ? { command: 'group', action, name, user } : usageError(spec);
    case undefined:
      return usageError(spec);
  }
  // /group NAME text
  const [group, text] = splitFirst(args.trim());
  return strip(group) && text.trim() ? { command: 'groupmsg', group: strip(group), text: withEmoji(text) } : usageError(spec);
}

function userArgument(command: 'block' | 'unblock', summary: string): CommandSpec {
  const spec: CommandSpec = {
    name: command,
    aliases: command === 'block' ? ['ignore'] : ['unignore'],
    usage: `/${command} USER`,
    summary,
    parse(args) {
      const [word, rest] = splitFirst(args);
      const user = word.replace(/^@/, '');
      return user && !rest ? { command, user } : usageError(spec);
    },
  };
  return spec;
}

export const COMMANDS: CommandSpec[] = [
  userCommand('register', 'create an account and log in (asks for a password)'),
  userCommand('login', 'log in (asks for a password)'),
  {
    name: 'msg',
    aliases: ['m', 'tell'],
    usage: '/msg USER TEXT',
    summary: 'send a private message (also: @USER TEXT)',
    parse(args) {
      const [to, text] = splitFirst(args);
      return message(to, text, this);
    },
  },
  {
    name: 'all',
    aliases: ['broadcast', 'shout'],
    usage: '/all TEXT',
    summary: 'send a message to everyone online',
    parse(args) {
      if (!args.trim()) return usageError(this);
      return { command: 'all', text: withEmoji(args) };
    },
  },
  {
    name: 'who',
    aliases: ['w', 'online'],
    usage: '/who [since SECONDS]',
    summary: 'list who is online, or who was online in the last SECONDS',
    parse(args) {
      const words = args.trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) return { command: 'who' };
      const seconds = words.length === 2 && words[0] === 'since' ? words[1] : words.length === 1 ? words[0] : '';
      if (!/^\d{1,9}$/.test(seconds)) return usageError(this);
      return { command: 'who', since: Number(seconds) };
    },
  },
  {
    name: 'history',
    aliases: ['hist', 'log'],
    usage: '/history [USER|*] [N]',
    summary: 'show the last N messages with USER (* = everyone); again to page further back',
    parse(args) {
      const words = args.trim().split(/\s+/).filter(Boolean);
      if (words.length > 2) return usageError(this);
      let peer: string | undefined;
      let limit: number | undefined;
      for (const word of words) {
        if (/^\d{1,3}$/.test(word) && limit === undefined) limit = Math.min(500, Math.max(1, Number(word)));
        else if (peer === undefined && word !== '@') peer = word.replace(/^@/, '');
        else return usageError(this);
      }
      return { command: 'history', ...(peer !== undefined && { with: peer }), ...(limit !== undefined && { limit }) };
    },
  },
  {
    name: 'edit',
    aliases: ['e'],
    usage: '/edit ID|last TEXT',
    summary: 'change one of your messages (last: your newest in this conversation)',
    parse(args) {
      const [word, text] = splitFirst(args);
      const target = word.replace(/^#/, '');
      if (!target || !text.trim()) return usageError(this);
      return { command: 'edit', target, text: withEmoji(text) };
    },
  },
  {
    name: 'delete',
    aliases: ['del', 'rm'],
    usage: '/delete ID|last',
    summary: 'delete one of your messages for everyone',
    parse(args) {
      const [word, rest] = splitFirst(args);
      const target = word.replace(/^#/, '');
      if (!target || rest) return usageError(this);
      return { command: 'delete', target };
    },
  },
  {
    name: 'group',
    aliases: ['g'],
    usage: GROUP_USAGE,
    summary: 'groups: everyone in a group sees its messages (also: #NAME TEXT)',
    parse(args) {
      return groupCommand(args, this);
    },
  },
  userArgument('block', "stop USER's private messages and hide their presence and group messages"),
  userArgument('unblock', 'undo /block'),
  {
    name: 'blocked',
    aliases: [],
    usage: '/blocked',
    summary: 'list the users you block',
    parse: (args) => (args.trim() ? { command: 'invalid', message: 'usage: /blocked' } : { command: 'blocked' }),
  },
  {
    name: 'status',
    aliases: [],
    usage: '/status available|away|busy [TEXT]',
    summary: 'your status, shown to others (busy also silences notifications)',
    parse(args) {
      const [status, text] = splitFirst(args.trim());
      const value = status === 'back' ? 'available' : status;
      if (value !== 'available' && value !== 'away' && value !== 'busy') return usageError(this);
      return { command: 'status', status: value, ...(text.trim() && { text: withEmoji(text.trim()) }) };
    },
  },
  {
    name: 'profile',
    aliases: [],
    usage: '/profile [location PLACE|LAT,LON] [interests a,b,c] [clear]',
    summary: 'show or set where you are and what interests you (for /communities)',
    parse(args) {
      const [field, value] = splitFirst(args.trim());
      if (!field) return { command: 'profile' };
      if (field === 'clear' && !value) return { command: 'profile', clear: true };
      if (field === 'location' && value.trim()) return { command: 'profile', location: value.trim() };
      if (field === 'interests' && value.trim()) {
        const interests = value.split(',').map((i) => i.trim()).filter(Boolean);
        return interests.length ? { command: 'profile', interests } : usageError(this);
      }
      return usageError(this);
    },
  },
  {
    name: 'communities',
    aliases: ['nearby'],
    usage: '/communities',
    summary: 'communities near you or sharing your interests (/group join interest:TOPIC)',
    parse: (args) => (args.trim() ? { command: 'invalid', message: 'usage: /communities' } : { command: 'communities' }),
  },
  {
    name: 'logout',
    aliases: [],
    usage: '/logout',
    summary: 'log out and forget this session (next start asks for the password)',
    parse: () => ({ command: 'logout' }),
  },
  {
    name: 'quit',
    aliases: ['q', 'exit', 'bye'],
    usage: '/quit',
    summary: 'leave (the next start resumes your session)',
    parse: () => ({ command: 'quit' }),
  },
  {
    name: 'help',
    aliases: ['h', '?'],
    usage: '/help [COMMAND]',
    summary: 'show the commands, or one command',
    parse: (args) => (args.trim() ? { command: 'help', topic: args.trim().replace(/^\//, '') } : { command: 'help' }),
  },
];

const byName = new Map<string, CommandSpec>();
for (const spec of COMMANDS) for (const name of [spec.name, ...spec.aliases]) byName.set(name, spec);

/** All command words with their slash, for tab completion. */
export const COMMAND_WORDS = COMMANDS.map((spec) => `/${spec.name}`);

export function findCommand(name: string): CommandSpec | undefined {
  return byName.get(name.toLowerCase());
}

/** Closest known command to a mistyped one, for "did you mean" hints. */
function suggest(word: string): string | undefined {
  const candidates = [...byName.keys()].filter((name) => name.length > 1);
  // A command the word begins (/logou → /logout) beats one the word extends (/log + ou).
  return candidates.find((name) => name.startsWith(word)) ?? candidates.find((name) => word.startsWith(name));
}

/** Parses one line of input. */
export function parseInput(line: string): Command {
  // A loop, not /[\r\n]+$/: that regex retries every position of a run of line breaks, so a
  // paste of many blank lines followed by text took quadratic time (50k lines: seconds).
  let end = line.length;
  while (end > 0 && (line[end - 1] === '\n' || line[end - 1] === '\r')) end--;
  const trimmed = line.slice(0, end);
  if (!trimmed.trim()) return { command: 'empty' };
  if (trimmed.startsWith('@')) {
    const [to, text] = splitFirst(trimmed.slice(1));
    return message(to, text, { usage: '@USER TEXT' });
  }
  if (/^#[a-z0-9]/i.test(trimmed)) {
    const [group, text] = splitFirst(trimmed.slice(1));
    return text.trim() ? { command: 'groupmsg', group, text: withEmoji(text) } : { command: 'invalid', message: 'usage: #GROUP TEXT' };
  }
  // "//text" sends text that starts with a slash
  if (trimmed.startsWith('//')) return { command: 'say', text: withEmoji(trimmed.slice(1)) };
  if (!trimmed.startsWith('/')) return { command: 'say', text: withEmoji(trimmed) };
  const [word, args] = splitFirst(trimmed.slice(1));
  const spec = findCommand(word);
  if (!spec) {
    const guess = suggest(word.toLowerCase());
    const hint = guess ? ` Did you mean /${byName.get(guess)!.name}?` : '';
    return { command: 'invalid', message: `unknown command /${word}.${hint} Type /help for the list.` };
  }
  return spec.parse(args);
}

/** The /help text: every command, or one. */
export function helpText(topic?: string): string {
  if (topic) {
    const spec = findCommand(topic);
    if (!spec) return `no command /${topic}; type /help for the list`;
    const aliases = spec.aliases.length ? `  (also ${spec.aliases.map((a) => '/' + a).join(', ')})` : '';
    return `${spec.usage} — ${spec.summary}${aliases}`;
  }
  const width = Math.max(...COMMANDS.map((spec) => spec.usage.length));
  const lines = COMMANDS.map((spec) => `  ${spec.usage.padEnd(width)}  ${spec.summary}`);
  return ['Commands:', '  @USER TEXT'.padEnd(width + 2) + '  send a private message', ...lines, 'Emoji: :smile: :tada: :+1: ... become 😄 🎉 👍'].join('\n');
}
