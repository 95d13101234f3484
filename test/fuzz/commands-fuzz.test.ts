/**
 * The input parser and the terminal sanitiser under fast-check: parseInput never throws and always
 * returns a well-formed command that keeps the typed text (emoji shortcodes aside); sanitize never
 * lets an escape, control or bidi override through, and leaves clean text alone.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMANDS, parseInput, withEmoji, type Command } from '../../src/client/commands.ts';
import { sanitize } from '../../src/client/sanitize.ts';
import { anyCodeUnits, anyString, fuzzOptions } from './settings.ts';

const WORDS = COMMANDS.flatMap((spec) => [spec.name, ...spec.aliases]);
const STATUSES = ['available', 'away', 'busy'];

const nonEmpty = (v: unknown) => typeof v === 'string' && v.length > 0;
const optional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || check(v);
const text = (v: unknown) => typeof v === 'string' && v.trim().length > 0;
const name = (v: unknown) => typeof v === 'string' && /^\S+$/.test(v);

/** Why `c` is not a well-formed Command, or null. */
function problem(c: Command): string | null {
  const r = c as Record<string, unknown>;
  const keys = (...allowed: string[]) => Object.keys(r).every((k) => k === 'command' || allowed.includes(k));
  const ok = ((): boolean => {
    switch (c.command) {
      case 'register':
      case 'login':
        return keys('user') && name(r.user);
      case 'logout':
      case 'quit':
      case 'blocked':
      case 'communities':
      case 'empty':
        return keys();
      case 'who':
        return keys('since') && optional(r.since, (v) => Number.isInteger(v) && (v as number) >= 0);
      case 'msg':
        return keys('to', 'text') && name(r.to) && text(r.text);
      case 'all':
      case 'say':
        return keys('text') && text(r.text);
      case 'help':
        return keys('topic') && optional(r.topic, nonEmpty);
      case 'history':
        return keys('with', 'limit') && optional(r.with, name) && optional(r.limit, (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 500);
      case 'edit':
        return keys('target', 'text') && name(r.target) && text(r.text);
      case 'delete':
        return keys('target') && name(r.target);
      case 'group':
        switch (r.action) {
          case 'list':
            return keys('action');
          case 'create':
            return keys('action', 'name', 'visibility') && name(r.name) && (r.visibility === 'open' || r.visibility === 'private');
          case 'join':
          case 'leave':
          case 'members':
            return keys('action', 'name') && name(r.name);
          case 'invite':
          case 'kick':
            return keys('action', 'name', 'user') && name(r.name) && name(r.user);
          default:
            return false;
        }
      case 'groupmsg':
        return keys('group', 'text') && name(r.group) && text(r.text);
      case 'block':
      case 'unblock':
        return keys('user') && name(r.user);
      case 'status':
        return keys('status', 'text') && STATUSES.includes(r.status as string) && optional(r.text, text);
      case 'profile':
        return (
          keys('location', 'interests', 'clear') &&
          optional(r.location, text) &&
          optional(r.interests, (v) => Array.isArray(v) && v.length > 0 && v.every(text)) &&
          optional(r.clear, (v) => v === true)
        );
      case 'invalid':
        return keys('message') && nonEmpty(r.message);
      default:
        return false;
    }
  })();
  return ok ? null : `malformed ${JSON.stringify(c)}`;
}

/** Lines people might type: commands with arguments, addressing prefixes, and anything at all. */
const line = fc.oneof(
  anyString({ maxLength: 200 }),
  fc
    .tuple(
      fc.constantFrom('/', '//', '@', '#', '', ' /', '/ '),
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...WORDS) }, fc.constantFrom(...WORDS).map((w) => w.toUpperCase()), fc.string({ maxLength: 6 })),
      fc.constantFrom(' ', '  ', '\t', '', '\u00a0'),
      fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('@', '#', '@@', '##', '@bob', '#club', 'bob', 'club', 'hi', 'last', 'since', '10', '*', 'create', 'join', 'list', 'invite', 'kick', 'private', 'open', 'away', 'back', 'location', 'interests', ',', 'clear', ':smile:', ':') }, anyString({ maxLength: 8 })), { maxLength: 5 }),
      fc.constantFrom('', '\n', '\r\n', ' '),
    )
    .map(([prefix, word, gap, args, end]) => `${prefix}${word}${gap}${args.join(' ')}${end}`),
  // Commands whose arguments are bare sigils and near-names: where empty names hide.
  fc
    .tuple(fc.constantFrom(...WORDS.map((w) => `/${w}`), '@', '#', '/group join', '/group invite', '/group create'), fc.array(fc.constantFrom('@', '#', '@@', '##', 'bob', '#club', 'hi', '5'), { maxLength: 3 }))
    .map(([head, args]) => [head, ...args].join(' ')),
);

test('parseInput never throws and always returns a well-formed command', () => {
  fc.assert(
    fc.property(line, (input) => {
      const result = parseInput(input);
      assert.is(problem(result), null, `for ${JSON.stringify(input)}`);
    }),
    fuzzOptions(),
  );
});

/** Message text as typed after a command: not blank, no leading space, no trailing line break. */
const typed = anyString({ minLength: 1, maxLength: 120 }).map((t) => {
  const s = t.replace(/^\s+/, '').replace(/[\r\n]+$/, '');
  return s.trim() ? s : 'x';
});

test('text commands keep the text as typed, shortcodes turned into emoji', () => {
  const forms = [
    { make: (t: string) => `/msg bob ${t}`, expect: (t: string): Command => ({ command: 'msg', to: 'bob', text: withEmoji(t) }) },
    { make: (t: string) => `@bob ${t}`, expect: (t: string): Command => ({ command: 'msg', to: 'bob', text: withEmoji(t) }) },
    { make: (t: string) => `/all ${t}`, expect: (t: string): Command => ({ command: 'all', text: withEmoji(t) }) },
    { make: (t: string) => `#club ${t}`, expect: (t: string): Command => ({ command: 'groupmsg', group: 'club', text: withEmoji(t) }) },
    // /group trims its whole argument, so trailing spaces go (only there)
    { make: (t: string) => `/group club ${t}`, expect: (t: string): Command => ({ command: 'groupmsg', group: 'club', text: withEmoji(t.trimEnd()) }) },
    { make: (t: string) => `/edit last ${t}`, expect: (t: string): Command => ({ command: 'edit', target: 'last', text: withEmoji(t) }) },
    { make: (t: string) => `//${t}`, expect: (t: string): Command => ({ command: 'say', text: withEmoji(`/${t}`) }) },
  ];
  fc.assert(
    fc.property(typed, fc.nat(forms.length), (t, which) => {
      if (which === forms.length) {
        // Plain text: anything that does not start like a command or an address.
        fc.pre(!/^[/@]/.test(t) && !/^#[a-z0-9]/i.test(t));
        assert.equal(parseInput(t), { command: 'say', text: withEmoji(t) });
      } else {
        const form = forms[which];
        fc.pre(!(which === 4 && /^(list|create|join|leave|members|invite|kick)$/.test(t.split(/\s/)[0])));
        assert.equal(parseInput(form.make(t)), form.expect(t), `for ${JSON.stringify(form.make(t))}`);
      }
      // Without a colon there is no shortcode, and the text comes through untouched.
      if (!t.includes(':')) assert.is(withEmoji(t), t);
    }),
    fuzzOptions(),
  );
});

test('very long input (pastes, long runs of one character) is parsed in linear time', () => {
  const run = fc.tuple(fc.constantFrom('\n', '\r', ' ', 'x', ':', 'a:', '\x1b[', '\t', '/', '@'), fc.integer({ min: 1, max: 30_000 }));
  fc.assert(
    fc.property(fc.constantFrom('', '/msg bob ', '/all ', '@bob ', '#club ', '/who ', '/history '), fc.array(run, { minLength: 1, maxLength: 5 }), (prefix, runs) => {
      const input = prefix + runs.map(([s, n]) => s.repeat(n)).join('');
      const started = performance.now();
      const result = parseInput(input);
      sanitize(input, true);
      const ms = performance.now() - started;
      assert.is(problem(result), null);
      // Linear work on 300 KB is a few ms; quadratic work on it is seconds.
      assert.ok(ms < 400, `${ms.toFixed(0)} ms for ${input.length} characters (${runs.map(([s, n]) => `${JSON.stringify(s)}x${n}`).join(' ')})`);
    }),
    fuzzOptions(0.1),
  );
});

// C0 and C1 controls (tab and newline checked separately), DEL, ESC, and bidi overrides/isolates.
const FORBIDDEN = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
/** Strings rich in what terminals act on: escapes, controls, 8-bit C1, bidi controls. */
const hostile = fc.oneof(
  anyString({ maxLength: 120 }),
  anyCodeUnits({ maxLength: 60 }),
  fc
    .array(
      fc.oneof(
        fc.constantFrom('\x1b', '\x1b[', '\x1b]', '\x1bP', '\x1b\\', '\x07', '\x9b', '\x9d', '\r', '\n', '\r\n', '\t', '\x00', '\x7f', '\u202e', '\u2066', '[', ';', '31m', '0;title', 'H', '2J'),
        fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: 30 },
    )
    .map((parts) => parts.join('')),
);

test('sanitize never lets an escape, a control or a bidi override through', () => {
  fc.assert(
    fc.property(hostile, fc.boolean(), (input, multiline) => {
      const out = sanitize(input, multiline);
      assert.not.ok(FORBIDDEN.test(out), `${JSON.stringify(input)} gave ${JSON.stringify(out)}`);
      if (!multiline) assert.not.ok(out.includes('\n'), 'a newline in single-line output');
      assert.is(sanitize(out, multiline), out, 'sanitising twice changes nothing more');
    }),
    fuzzOptions(),
  );
});

test('sanitize leaves text without controls as it is', () => {
  fc.assert(
    fc.property(anyString({ maxLength: 120 }), fc.boolean(), (input, multiline) => {
      const clean = input.replace(new RegExp(FORBIDDEN.source, 'g'), '').replace(/[\r\n]/g, '');
      const kept = multiline ? `${clean}\n${clean}` : clean;
      assert.is(sanitize(kept, multiline), kept);
    }),
    fuzzOptions(),
  );
});

test.run();
