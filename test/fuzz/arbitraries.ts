/**
 * Generators of protocol messages for the fuzz suites: objects shaped like each real message
 * type, with every field valid, missing, or of the wrong type, plus junk keys and junk types.
 */
import fc from 'fast-check';
import { clientSchemas, serverSchemas } from '../../src/protocol/messages.ts';

type Schemas = Record<string, { shape: Record<string, unknown> }>;

/** Values that pass each field's schema (in some message type), so many generated messages are valid. */
const VALID: Record<string, unknown[]> = {
  id: ['r1', 'req-42', 'x'.repeat(64)],
  ref: ['r1', 'req-42'],
  msgId: ['abcdef', 'msg_0001', 'Z'.repeat(64)],
  updId: ['u1'],
  user: ['alice', 'bob', 'fuzzer1'],
  to: ['alice', 'bob', 'nobody'],
  from: ['alice'],
  by: ['bob'],
  with: ['alice', '*', '#club'],
  password: ['correct horse', 'short', ''],
  token: ['tok'],
  text: ['hi', 'hello :smile:', 'mañana 👋', 'line\nbreak'],
  since: [0, 60, 315360000],
  before: [0, 10],
  limit: [1, 20, 500],
  ids: [['abcdef'], ['a', 'b']],
  name: ['club', 'interest:go', 'near:paris'],
  group: ['club'],
  visibility: ['open', 'private'],
  status: ['available', 'away', 'busy'],
  location: ['Paris', null],
  interests: [['go', 'chess'], null, []],
  clear: [true, false],
  resend: [true, false],
  server: ['parley'],
  protocol: [1],
  maxFrame: [1024],
  maxText: [8000],
  result: [{}, { a: 1 }],
  code: ['E_INVALID'],
  message: ['m'],
  details: [{ retryAfter: 1 }],
  scope: ['private', 'broadcast', 'group'],
  ts: [0, 1700000000000],
  editedAt: [1],
  action: ['edit', 'delete'],
  at: [1],
  event: ['joined', 'left', 'status', 'invited', 'kicked', 'created'],
  online: [true, false],
  statusText: ['brb'],
  lastActive: [1],
};

/** Values of the wrong type or out of range for most fields. */
const WRONG: unknown[] = [
  null, true, 0, -1, 1.5, 1e21, -0, '', ' ', 'x'.repeat(65), 'x'.repeat(8001), [], [1], {}, { type: 'ping' },
  'E_NOT_A_CODE', '\u0000', '\ud800', 9007199254740993,
];

export const anyJson = fc.jsonValue({ maxDepth: 3 });

const fieldValue = (name: string) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...(VALID[name] ?? [null])) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom(...WRONG) },
    { weight: 1, arbitrary: anyJson },
  );

const junkKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'extra'), fc.string({ maxLength: 8 }));
const junkType = fc.oneof(fc.constantFrom('hello', 'key', 'teleport', 'Ping', 'PING', ' ping', 'toString', '__proto__', 'constructor', 'hasOwnProperty'), fc.string({ maxLength: 12 }), anyJson);

/** Builds a JSON object text by hand, so keys like `__proto__` are really in the text. */
export function objectText(entries: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${entries.filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

/** JSON texts of objects shaped like one of `schemas`' messages, mostly valid, often not. */
export function shapedMessage(schemas: Schemas): fc.Arbitrary<string> {
  const types = Object.keys(schemas);
  return fc.constantFrom(...types).chain((type) => {
    const fields = Object.keys(schemas[type].shape).filter((k) => k !== 'type');
    return fc
      .record({
        values: fc.tuple(...fields.map(fieldValue)),
        extra: fc.array(fc.tuple(junkKey, anyJson), { maxLength: 2 }),
        type: fc.oneof({ weight: 15, arbitrary: fc.constant<unknown>(type) }, { weight: 1, arbitrary: fc.constant<unknown>(undefined) }, { weight: 2, arbitrary: junkType }),
      })
      .map(({ values, extra, type: t }) =>
        objectText([['type', t], ...fields.map((f, i) => [f, values[i]] as const), ...extra]),
      );
  });
}

export const shapedClientMessage = shapedMessage(clientSchemas as unknown as Schemas);
export const shapedServerMessage = shapedMessage(serverSchemas as unknown as Schemas);

/** Numbers JSON can spell but JavaScript cannot hold exactly. */
export const hugeNumber = fc.oneof(
  fc.constantFrom('1e400', '-1e400', '1e-400', '-0', '0.0', '1E+2', '9007199254740993', '1.0'),
  fc.stringMatching(/^-?[1-9][0-9]{15,400}$/),
);

/** A text with a random edit: an insertion, a deletion or a substitution at a random place. */
export function mutatedText(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(base, fc.nat(), fc.nat(8), fc.string({ maxLength: 6 })).map(([text, at, cut, insert]) => {
    const i = text.length === 0 ? 0 : at % (text.length + 1);
    return text.slice(0, i) + insert + text.slice(i + cut);
  });
}
