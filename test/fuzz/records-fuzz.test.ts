/**
 * Records inside a sealed frame under fast-check: packing round trips for any text, and any bytes
 * unpack into records that lie inside the input or fail with E_BAD_FRAME.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParleyError } from '../../src/protocol/errors.ts';
import { eachJsonBatch, packJson, RECORD_JSON, unpackRecords } from '../../src/protocol/records.ts';
import { anyCodeUnits, fuzzOptions } from './settings.ts';

const RECORD_HEADER = 5;

function record(kind: number, length: number, body: Uint8Array): Buffer {
  const head = Buffer.alloc(RECORD_HEADER);
  head.writeUInt8(kind);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, body]);
}

/** Record streams that are often nearly right: honest records, lying lengths, cut-off headers. */
const hostileRecords = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc
    .array(
      fc.oneof(
        fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 64 })).map(([kind, body]) => record(kind, body.length, body)),
        fc.tuple(fc.nat(255), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 })).map(([k, n, b]) => record(k, n, b)),
        fc.tuple(fc.nat(255), fc.integer({ min: 0, max: 80 }), fc.uint8Array({ maxLength: 64 })).map(([k, n, b]) => record(k, n, b)),
        fc.uint8Array({ maxLength: 4 }),
      ),
      { maxLength: 10 },
    )
    .map((parts) => Buffer.concat(parts)),
);

test('packJson/unpackRecords round trip any well-formed Unicode text', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()), { maxLength: 12 }), (texts) => {
      const records = unpackRecords(packJson(texts));
      assert.equal(records.map((r) => r.kind), texts.map(() => RECORD_JSON));
      assert.equal(records.map((r) => r.body.toString('utf8')), texts);
    }),
    fuzzOptions(),
  );
});

test('texts with lone surrogates pack to consistent lengths and come back as their UTF-8 reading', () => {
  fc.assert(
    fc.property(fc.array(anyCodeUnits({ maxLength: 40 }), { maxLength: 8 }), (texts) => {
      const packed = packJson(texts);
      assert.is(packed.length, texts.reduce((n, t) => n + RECORD_HEADER + Buffer.byteLength(t), 0));
      assert.equal(unpackRecords(packed).map((r) => r.body.toString('utf8')), texts.map((t) => Buffer.from(t, 'utf8').toString('utf8')));
    }),
    fuzzOptions(),
  );
});

test('eachJsonBatch keeps every text, in order, in plaintexts within the limit', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 60 }), { maxLength: 20 }), fc.integer({ min: 1, max: 200 }), (texts, limit) => {
      const batches: Buffer[] = [];
      eachJsonBatch(texts, limit, (plaintext) => batches.push(Buffer.from(plaintext))); // copied out of the scratch buffer
      const unpacked = batches.map((b) => unpackRecords(b));
      assert.equal(unpacked.flat().map((r) => r.body.toString('utf8')), texts);
      for (const [i, b] of batches.entries()) {
        assert.ok(b.length <= limit || unpacked[i].length === 1, `batch ${i} of ${b.length} B over ${limit} with ${unpacked[i].length} records`);
      }
      if (texts.length === 0) assert.is(batches.length, 0);
    }),
    fuzzOptions(),
  );
});

test('arbitrary bytes unpack into records lying within the input, or throw E_BAD_FRAME', () => {
  fc.assert(
    fc.property(hostileRecords, fc.uint8Array({ maxLength: 8 }), (bytes, pad) => {
      // The plaintext is a view into a larger buffer, as a decrypted frame may be.
      const backing = Buffer.concat([Buffer.from(pad), bytes, Buffer.from([7, 7, 7])]);
      const input = backing.subarray(pad.length, pad.length + bytes.length);
      let records;
      try {
        records = unpackRecords(input);
      } catch (err) {
        assert.instance(err, ParleyError);
        assert.is((err as ParleyError).code, 'E_BAD_FRAME');
        assert.ok((err as ParleyError).fatal);
        return;
      }
      for (const r of records) {
        assert.ok(r.body.buffer === input.buffer, 'a body is a view of the input, not a copy');
        assert.ok(r.body.byteOffset >= input.byteOffset && r.body.byteOffset + r.body.length <= input.byteOffset + input.length, 'a body lies within the input');
        assert.ok(Number.isInteger(r.kind) && r.kind >= 0 && r.kind <= 255);
      }
      // The records account for every input byte, in order.
      assert.equal(Buffer.concat(records.map((r) => record(r.kind, r.body.length, r.body))), Buffer.from(input));
    }),
    fuzzOptions(),
  );
});

test.run();
