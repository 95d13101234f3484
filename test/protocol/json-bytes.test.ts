/** JSON written straight into bytes: the same bytes JSON.stringify's text encodes to, within the room promised. */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jsonStringBytesMax, jsonText, NUMBER_BYTES_MAX, putAscii, putJsonString, putNumber, putShortJsonString, shortJsonStringBytesMax, type JsonBytes } from '../../src/protocol/json-bytes.ts';
import { escapedJsonString } from '../../src/protocol/json-string.ts';
import { eachJsonBatch, packJson, unpackRecords } from '../../src/protocol/records.ts';
import { fuzzOptions } from '../fuzz/settings.ts';
import { anyUtf16 } from '../helpers/utf16.ts';

/** `{"s":VALUE,"n":NUMBER}` written out, as a JsonBytes. */
class Pair implements JsonBytes {
  private readonly escaped: string | null;
  constructor(
    private readonly value: string,
    private readonly n: number,
  ) {
    this.escaped = escapedJsonString(value);
  }
  get maxBytes(): number {
    return 5 + jsonStringBytesMax(this.value, this.escaped) + 5 + NUMBER_BYTES_MAX + 1;
  }
  writeTo(out: Buffer, at: number): number {
    at = putAscii(out, at, '{"s":');
    at = putAscii(out, putJsonString(out, at, this.value, this.escaped), ',"n":');
    at = putNumber(out, at, this.n);
    out[at] = 0x7d;
    return at + 1;
  }
}

const expected = (value: string, n: number) => JSON.stringify({ s: value, n });

test('numbers are written as JSON.stringify writes them: integers digit by digit, anything else as its JSON', () => {
  const out = Buffer.alloc(NUMBER_BYTES_MAX);
  const edges = [0, 7, 9, 10, 99, 100, 101, 999_999_999, 1e9, 1e9 + 1, 1_795_615_900_000, 1_795_615_925_372, Number.MAX_SAFE_INTEGER];
  for (const n of [...edges, -1, -Number.MAX_SAFE_INTEGER, 0.5, 1e21, 2 ** 53, -0, NaN, Infinity]) {
    const end = putNumber(out, 0, n);
    assert.is(out.toString('latin1', 0, end), JSON.stringify(n), String(n));
  }
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat()), (n) => {
      assert.is(out.toString('latin1', 0, putNumber(out, 0, n)), String(n));
    }),
    fuzzOptions(),
  );
});

test('a JsonBytes of any string writes the UTF-8 of JSON.stringify, within its maxBytes', () => {
  fc.assert(
    fc.property(anyUtf16, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (value, n) => {
      const json = new Pair(value, n);
      const out = Buffer.alloc(json.maxBytes + 8, 0xee);
      const end = json.writeTo(out, 3);
      assert.ok(end - 3 <= json.maxBytes, 'within maxBytes');
      assert.is(out.toString('utf8', 3, end), Buffer.from(expected(value, n)).toString('utf8'));
      assert.ok(out.subarray(end).every((b) => b === 0xee), 'nothing written past the end');
      assert.is(jsonText(json), Buffer.from(expected(value, n)).toString('utf8'));
    }),
    fuzzOptions(),
  );
});

test('a short string is written as JSON.stringify writes it, within its bound, whatever it holds', () => {
  const check = (value: string) => {
    const out = Buffer.alloc(shortJsonStringBytesMax(value) + 8, 0xee);
    const end = putShortJsonString(out, 3, value);
    assert.ok(end - 3 <= shortJsonStringBytesMax(value), 'within the bound');
    assert.is(out.toString('utf8', 3, end), Buffer.from(JSON.stringify(value)).toString('utf8'), JSON.stringify(value));
    assert.ok(out.subarray(end).every((b) => b === 0xee), 'nothing written past the end');
  };
  for (const value of ['', 'r1', 's12345', '~\x7f', 'a"b', 'a\\b', '\u0000', '\u001f', 'é', '😄', '\ud800', 'x'.repeat(64)]) check(value);
  fc.assert(fc.property(fc.oneof(anyUtf16, fc.string({ maxLength: 64 })), check), fuzzOptions());
});

test('frames mix serialised texts and JsonBytes in order; one bigger than the frame travels alone', () => {
  const sent = ['{"a":1}', new Pair('é 😄', 1), '{"b":2}', new Pair('x'.repeat(300), 2), new Pair('"q"', 3)];
  const text = (json: string | JsonBytes) => jsonText(json);
  assert.equal(
    unpackRecords(packJson(sent)).map((r) => r.body.toString('utf8')),
    sent.map(text),
    'packJson',
  );
  for (const limit of [64, 200, 2000]) {
    const frames: Buffer[] = [];
    eachJsonBatch(sent, limit, (plaintext) => frames.push(Buffer.from(plaintext)));
    const records = frames.flatMap((frame) => unpackRecords(frame).map((r) => r.body.toString('utf8')));
    assert.equal(records, sent.map(text), `limit ${limit}`);
    for (const frame of frames) assert.ok(frame.length <= limit || unpackRecords(frame).length === 1, `limit ${limit}: a frame past it holds one record`);
  }
});

test.run();
