/**
 * Message validation under fast-check: whatever text arrives, parseClientMessage and
 * parseServerMessage return a message that validates again, or throw a MessageError with the
 * code a reference reading of the text predicts. Nothing they parse touches Object.prototype.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { z } from 'zod';
import {
  CLIENT_QUICK_CHECKS,
  ClientMessage,
  clientSchemas,
  MessageError,
  parseClientMessage,
  parseServerMessage,
  readWrittenAsClientsWrite,
  ServerMessage,
  serverSchemas,
  TEXT_MAX,
} from '../../src/protocol/messages.ts';
import { anyJson, hugeNumber, mutatedText, objectText, shapedClientMessage, shapedServerMessage } from './arbitraries.ts';
import { anyCodeUnits, anyString, fuzzOptions } from './settings.ts';

const sides = [
  { name: 'client', parse: parseClientMessage as (json: string) => unknown, union: ClientMessage as z.ZodType, types: Object.keys(clientSchemas), shaped: shapedClientMessage },
  { name: 'server', parse: parseServerMessage as (json: string) => unknown, union: ServerMessage as z.ZodType, types: Object.keys(serverSchemas), shaped: shapedServerMessage },
] as const;

type Side = (typeof sides)[number];
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

/** Parses `json` on one side and checks the outcome against what the text must give. */
function check(side: Side, json: string): 'ok' | MessageError['code'] {
  let raw: unknown;
  let expected: 'E_BAD_JSON' | 'E_INVALID' | 'E_UNKNOWN_TYPE' | 'E_INVALID or ok';
  try {
    raw = JSON.parse(json);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) expected = 'E_INVALID';
    else {
      const type = (raw as Record<string, unknown>).type;
      expected = typeof type === 'string' && side.types.includes(type) ? 'E_INVALID or ok' : 'E_UNKNOWN_TYPE';
    }
  } catch {
    expected = 'E_BAD_JSON';
  }
  let value: unknown;
  try {
    value = side.parse(json);
  } catch (err) {
    assert.instance(err, MessageError, `${side.name}: ${String(err)}`);
    const e = err as MessageError;
    if (expected === 'E_INVALID or ok') assert.is(e.code, 'E_INVALID', e.message);
    else assert.is(e.code, expected, e.message);
    assert.is(e.fatal, false, 'a bad message never closes the connection by itself');
    const id = (raw as Record<string, unknown> | null)?.id;
    if (e.ref !== undefined) {
      assert.is(e.ref, id);
      // The reply carries it as `ref`, which the other side validates as a request id.
      assert.ok(e.ref.length >= 1 && e.ref.length <= 64, `ref ${JSON.stringify(e.ref)} is no request id`);
    }
    if (typeof id === 'string' && id.length >= 1 && id.length <= 64 && expected !== 'E_BAD_JSON' && expected !== 'E_INVALID') assert.is(e.ref, id, 'the request id is kept for the reply');
    return e.code;
  }
  assert.is(expected, 'E_INVALID or ok', `${side.name} accepted what it must refuse: ${json.slice(0, 200)}`);
  assert.ok(side.union.safeParse(value).success, 'the result validates again');
  assert.equal(side.parse(JSON.stringify(value)), value, 'the result survives a round trip');
  assert.is(Object.getPrototypeOf(value), Object.prototype);
  return 'ok';
}

function assertPrototypeClean(): void {
  assert.equal(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys, 'Object.prototype gained a key');
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(({} as Record<string, unknown>).isAdmin, undefined);
}

for (const side of sides) {
  test(`${side.name}: messages shaped like the real ones validate again or fail with the predicted code`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(side.shaped, (json) => {
        const outcome = check(side, json);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      }),
      fuzzOptions(),
    );
    // The generator must reach both sides of the line, or the property proves little.
    assert.ok((seen.get('ok') ?? 0) > 0, `no valid message generated: ${JSON.stringify([...seen])}`);
    assert.ok((seen.get('E_INVALID') ?? 0) > 0, 'no invalid message generated');
  });

  test(`${side.name}: any JSON value, junk type or wrong-typed field gives a message or a MessageError`, () => {
    const text = fc.oneof(
      anyJson.map((v) => JSON.stringify(v)),
      fc.tuple(fc.oneof(fc.constantFrom(...side.types), anyJson), fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 5 })).map(([type, fields]) =>
        objectText([['type', type], ...Object.entries(fields)]),
      ),
      fc.tuple(fc.constantFrom(...side.types), hugeNumber, fc.constantFrom('id', 'since', 'limit', 'before', 'ts', 'at', 'protocol', 'maxFrame', 'type')).map(
        ([type, n, field]) => `{"type":${JSON.stringify(type)},"id":"r1",${JSON.stringify(field)}:${n}}`,
      ),
    );
    fc.assert(fc.property(text, (json) => void check(side, json)), fuzzOptions());
  });

  test(`${side.name}: arbitrary strings (invalid UTF-16, mutated JSON) never throw anything but MessageError`, () => {
    const text = fc.oneof(anyString({ maxLength: 200 }), anyCodeUnits({ maxLength: 200 }), mutatedText(side.shaped), mutatedText(mutatedText(side.shaped)));
    fc.assert(fc.property(text, (json) => void check(side, json)), fuzzOptions());
  });

  test(`${side.name}: parsing __proto__ and constructor keys never changes Object.prototype`, () => {
    const payload = fc.oneof(fc.constant({ polluted: 1, isAdmin: true }), fc.dictionary(fc.constantFrom('polluted', 'isAdmin', 'toString', 'valueOf'), anyJson, { maxKeys: 3 }));
    const where = fc.constantFrom('top', 'result', 'details', 'constructor', 'nested');
    fc.assert(
      fc.property(fc.constantFrom(...side.types), payload, where, (type, evil, at) => {
        const base: Array<readonly [string, unknown]> = [['type', type], ['id', 'r1'], ['ref', 'r1'], ['code', 'E_X'], ['message', 'm']];
        const evilText = JSON.stringify(evil);
        const inject = {
          top: `{"__proto__":${evilText},${objectText(base).slice(1)}`,
          result: `${objectText(base).slice(0, -1)},"result":{"__proto__":${evilText},"a":1}}`,
          details: `${objectText(base).slice(0, -1)},"details":{"__proto__":${evilText}}}`,
          constructor: `${objectText(base).slice(0, -1)},"constructor":{"prototype":${evilText}}}`,
          nested: `${objectText(base).slice(0, -1)},"result":{"x":{"__proto__":${evilText}}},"interests":[{"__proto__":${evilText}}]}`,
        }[at];
        let value: unknown;
        try {
          value = side.parse(inject);
        } catch (err) {
          assert.instance(err, MessageError);
        }
        assertPrototypeClean();
        if (value && typeof value === 'object') {
          for (const inner of [value, (value as Record<string, unknown>).result, (value as Record<string, unknown>).details]) {
            if (inner && typeof inner === 'object') {
              assert.is(Object.getPrototypeOf(inner), Object.prototype, 'a parsed object keeps the plain prototype');
              assert.is((inner as Record<string, unknown>).polluted, undefined);
            }
          }
        }
      }),
      fuzzOptions(0.5),
    );
  });
}

/** Values at and just past each field's limits, for the quick checks' test. */
const EDGES: unknown[] = [
  undefined, null, true, false, 0, {}, '', 'a', 'abcde', 'abcdef', 'abc def', 'abc/def', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(80),
  'x'.repeat(81), 'x'.repeat(TEXT_MAX), 'x'.repeat(TEXT_MAX + 1), '😄'.repeat(4000), '😄'.repeat(4001), [], ['a'], [''], ['x'.repeat(65)], [1],
  new Array(4096).fill('a'), new Array(4097).fill('a'),
];

test('the quick checks of hot client messages accept exactly what their schemas accept, with the same fields', () => {
  const types = Object.keys(CLIENT_QUICK_CHECKS) as Array<keyof typeof CLIENT_QUICK_CHECKS>;
  const valid: Record<string, unknown> = { id: 'r1', msgId: 'msg_0001', to: 'bob', group: 'club', text: 'hi 👋', resend: true, ids: ['abcdef'] };
  // Every field valid but one or two at an edge, plus junk keys: each limit is met on both sides.
  const message = fc.constantFrom(...types).chain((type) => {
    const fields = Object.keys(clientSchemas[type].shape).filter((k) => k !== 'type');
    const value = (field: string) => fc.oneof({ weight: 3, arbitrary: fc.constant(valid[field]) }, { weight: 2, arbitrary: fc.constantFrom(...EDGES) });
    return fc
      .tuple(fc.tuple(...fields.map(value)), fc.array(fc.tuple(fc.constantFrom('extra', '__proto__', 'type2'), anyJson), { maxLength: 2 }))
      .map(([values, extra]) => objectText([['type', type], ...fields.map((f, i) => [f, values[i]] as const), ...extra]));
  });
  const seen = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(message, (json) => {
      const raw = JSON.parse(json) as Record<string, unknown>;
      const type = raw.type as keyof typeof CLIENT_QUICK_CHECKS;
      const quick = CLIENT_QUICK_CHECKS[type]!(raw);
      const schema = clientSchemas[type].safeParse(raw);
      assert.is(quick !== null, schema.success, `${json.slice(0, 200)}: quick ${quick !== null}, schema ${schema.success}`);
      if (quick !== null) assert.equal(quick, schema.data, 'the same fields as the schema gives');
      seen[quick === null ? 'refused' : 'accepted']++;
    }),
    fuzzOptions(3),
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both sides reached: ${JSON.stringify(seen)}`);
});

/** Types readWrittenAsClientsWrite reads, with their fields. */
const READ_TYPES = ['send', 'received', 'group_send', 'broadcast'] as const;
const readFields = (type: (typeof READ_TYPES)[number]) => Object.keys(clientSchemas[type].shape).filter((k) => k !== 'type');
/** Characters that never need escaping, and a few that JSON.stringify escapes or that parse differently. */
const plainString = (constraints: { minLength?: number; maxLength?: number }) => fc.string({ unit: fc.constantFrom('a', 'Z', '0', '_', '-', ' ', 'é', '😄', '/', '{', '}', ',', ':', '[', ']'), ...constraints });
const awkwardString = fc.oneof(anyString({ maxLength: 20 }), fc.constantFrom('"', '\\', '\\"', '\n', '\u001b[31m', '\ud800', 'x'.repeat(65)));

/** Ids of the lengths and characters at the edges of what a message id may be: each allowed range's ends and their neighbours. */
const idEdges = fc.string({ unit: fc.constantFrom(...'/09:@AZ[^_`az{-.,'), minLength: 5, maxLength: 65 });

/** How clients write a message of a read type: JSON.stringify of its fields in some order, mostly plain. */
const clientWritten = fc.constantFrom(...READ_TYPES).chain((type) => {
  const value = (field: string): fc.Arbitrary<unknown> => {
    if (field === 'resend') return fc.constantFrom(undefined, true, false, 'yes', 1, null);
    if (field === 'ids') return fc.oneof(fc.array(plainString({ minLength: 1, maxLength: 16 }), { minLength: 1, maxLength: 5 }), fc.array(awkwardString, { maxLength: 3 }), fc.constantFrom('abc', null, [1]));
    if (field === 'msgId') return fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{6,12}$/) }, { weight: 1, arbitrary: awkwardString }, { weight: 2, arbitrary: idEdges });
    if (field === 'text') return fc.oneof({ weight: 4, arbitrary: plainString({ minLength: 1, maxLength: 120 }) }, { weight: 1, arbitrary: awkwardString }, { weight: 1, arbitrary: fc.constantFrom(7, null, '') });
    return fc.oneof({ weight: 4, arbitrary: plainString({ minLength: 1, maxLength: 12 }) }, { weight: 1, arbitrary: awkwardString }, { weight: 1, arbitrary: fc.constantFrom(undefined, 5) });
  };
  const fields = readFields(type);
  return fc
    .tuple(fc.tuple(...fields.map(value)), fc.shuffledSubarray(fields, { minLength: fields.length }), fc.array(fc.tuple(fc.constantFrom('extra', 'type', 'to', 'ids', 'text'), anyJson), { maxLength: 1 }))
    .map(([values, order, extra]) => objectText([['type', type], ...order.map((f) => [f, values[fields.indexOf(f)]] as const), ...extra]));
});

/** What JSON.parse and the quick checks make of `json`: the message, or null. */
function readTheOtherWay(json: string): ClientMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const type = (raw as Record<string, unknown>).type as keyof typeof CLIENT_QUICK_CHECKS;
  return typeof type === 'string' && Object.hasOwn(CLIENT_QUICK_CHECKS, type) ? CLIENT_QUICK_CHECKS[type]!(raw as Record<string, unknown>) : null;
}

test('readWrittenAsClientsWrite reads a text as JSON.parse and the quick checks do, or leaves it to them', () => {
  const seen = { read: 0, leftOver: 0 };
  fc.assert(
    fc.property(fc.oneof(clientWritten, mutatedText(clientWritten), shapedClientMessage), (json) => {
      const read = readWrittenAsClientsWrite(json);
      if (read === null) {
        seen.leftOver++;
        return;
      }
      seen.read++;
      const other = readTheOtherWay(json);
      assert.equal(read, other, json.slice(0, 200));
      assert.equal(Object.keys(read), Object.keys(other!), 'the same fields in the same order');
    }),
    fuzzOptions(4),
  );
  assert.ok(seen.read > 0 && seen.leftOver > 0, `both reached: ${JSON.stringify(seen)}`);
});

test('readWrittenAsClientsWrite reads every valid message a client writes, and leaves each unusual spelling to JSON.parse', () => {
  const messages: ClientMessage[] = [
    { type: 'send', id: 'r1', msgId: 'msg_0001', to: 'bob', text: 'hi 👋 {a:[1]}, /o/' },
    { type: 'send', id: 'r2', msgId: 'msg_0002', to: 'bob', text: 'again', resend: true },
    { type: 'group_send', id: 'r3', msgId: 'msg_0003', group: 'club', text: 'x'.repeat(TEXT_MAX) },
    { type: 'broadcast', id: 'r4', msgId: 'msg_0004', text: 'all', resend: false },
    { type: 'received', ids: ['abcdef', 'ghijkl'] },
  ];
  for (const message of messages) {
    const json = JSON.stringify(message);
    assert.equal(readWrittenAsClientsWrite(json), message, json.slice(0, 80));
    const spellings = [
      json.replace(':', ': '), // a space
      json.replace(/}$/, ' }'),
      json.replace('"id"', '"\\u0069d"'), // an escaped key
      json.replace(/"(msgId|ids)":/, '"extra":1,"$1":'), // a field clients do not write
      json.replace(/,"(text|ids)":/, ',"text":"a","$1":'), // a field twice (the last counts)
      json.replace('{"type":"', '{"type" :"'),
      `${json} `,
    ].filter((spelling) => spelling !== json);
    for (const spelling of spellings) {
      assert.is(readWrittenAsClientsWrite(spelling), null, spelling.slice(0, 80));
      assert.equal(parseClientMessage(spelling), message, `${spelling.slice(0, 80)} is read the other way`);
    }
    const malformed = [json.replace(`"${message.type}",`, `"${message.type}x,`), json.slice(0, -1), `${json}}`, json.replace(/"\]?}$/, '}'), json.replace('",', ',')].filter((text) => text !== json);
    for (const text of malformed) {
      assert.is(readWrittenAsClientsWrite(text), null, text.slice(0, 80));
      assert.throws(() => parseClientMessage(text), (err: MessageError) => err.code === 'E_BAD_JSON', text.slice(0, 80));
    }
  }
  const escaped = '{"type":"send","id":"r1","msgId":"msg_0001","to":"bob","text":"a \\"quote\\" and \\u001b"}';
  assert.is(readWrittenAsClientsWrite(escaped), null, 'a text with escapes is left to JSON.parse');
  assert.equal(parseClientMessage(escaped), { type: 'send', id: 'r1', msgId: 'msg_0001', to: 'bob', text: 'a "quote" and \u001b' });
});

test.run();
