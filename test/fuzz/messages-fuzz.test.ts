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

test.run();
