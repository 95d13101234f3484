import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eachJsonBatch, eachRecord, packJson, RECORD_BINARY, RECORD_JSON, unpackRecords } from '../../src/protocol/records.ts';
import { ParleyError } from '../../src/protocol/errors.ts';

function throwsCode(fn: () => unknown, code: string, fatal?: boolean): ParleyError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ParleyError);
    const e = err as ParleyError;
    assert.is(e.code, code);
    if (fatal !== undefined) assert.is(e.fatal, fatal);
    return e;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const texts = ['{"type":"ping"}', '{"text":"héllo wörld"}', '{"text":"日本語のテキスト"}', '{"text":"emoji 😄🎉👍🏽 👨‍👩‍👧"}', ''];

test('packJson then unpackRecords gives back every text, multi-byte UTF-8 and emoji included', () => {
  const packed = packJson(texts);
  const records = unpackRecords(packed);
  assert.is(records.length, texts.length);
  for (let i = 0; i < texts.length; i++) {
    assert.is(records[i].kind, RECORD_JSON);
    assert.is(records[i].body.toString('utf8'), texts[i]);
  }
});

test('lengths are in bytes, not characters', () => {
  const packed = packJson(['😄']);
  assert.is(packed.length, 5 + 4);
  assert.is(packed.readUInt8(0), RECORD_JSON);
  assert.is(packed.readUInt32BE(1), 4);
});

test('an empty list packs to nothing and unpacks to no records', () => {
  const packed = packJson([]);
  assert.is(packed.length, 0);
  assert.equal(unpackRecords(packed), []);
  assert.equal(unpackRecords(Buffer.alloc(0)), []);
});

test('a truncated header is a fatal E_BAD_FRAME', () => {
  const packed = packJson(['{"a":1}', '{"b":2}']);
  const firstLength = 5 + 7;
  for (let extra = 1; extra < 5; extra++) {
    throwsCode(() => unpackRecords(packed.subarray(0, firstLength + extra)), 'E_BAD_FRAME', true);
  }
  throwsCode(() => unpackRecords(Buffer.from([RECORD_JSON])), 'E_BAD_FRAME', true);
});

test('a length past the end is a fatal E_BAD_FRAME', () => {
  const packed = packJson(['{"a":1}']);
  throwsCode(() => unpackRecords(packed.subarray(0, packed.length - 1)), 'E_BAD_FRAME', true);
  const lying = Buffer.from(packed);
  lying.writeUInt32BE(0xffffffff, 1);
  throwsCode(() => unpackRecords(lying), 'E_BAD_FRAME', true);
});

test('eachRecord hands out each record as its kind and bounds in the plaintext, and none of a frame broken at its end', () => {
  const plaintext = Buffer.concat([packJson(['{"a":1}']), Buffer.from([RECORD_BINARY, 0, 0, 0, 2, 7, 8]), packJson(['😄'])]);
  const seen: Array<[number, number, number]> = [];
  const owner = { seen };
  eachRecord(
    plaintext,
    function (this: typeof owner, whole, kind, start, end) {
      assert.is(whole, plaintext);
      this.seen.push([kind, start, end]);
    },
    owner,
  );
  assert.equal(seen, [
    [RECORD_JSON, 5, 12],
    [RECORD_BINARY, 17, 19],
    [RECORD_JSON, 24, 28],
  ]);
  assert.is(plaintext.toString('utf8', 24, 28), '😄');
  const handed: number[] = [];
  throwsCode(() => eachRecord(plaintext.subarray(0, plaintext.length - 1), (_, kind) => handed.push(kind)), 'E_BAD_FRAME', true);
  assert.equal(handed, [], 'a broken frame hands out none of its records, not the ones before the break');
});

test('unknown kinds come back with their kind, alongside known ones', () => {
  const binary = Buffer.from([RECORD_BINARY, 0, 0, 0, 3, 1, 2, 3]);
  const unknown = Buffer.from([99, 0, 0, 0, 0]);
  const records = unpackRecords(Buffer.concat([packJson(['{}']), binary, unknown, packJson(['[]'])]));
  assert.equal(
    records.map((r) => r.kind),
    [RECORD_JSON, RECORD_BINARY, 99, RECORD_JSON],
  );
  assert.equal([...records[1].body], [1, 2, 3]);
  assert.is(records[2].body.length, 0);
  assert.is(records[3].body.toString(), '[]');
});

/** eachJsonBatch's plaintexts, copied out of its scratch buffer as a sealer would. */
function packJsonBatches(texts: string[], limit: number): Buffer[] {
  const out: Buffer[] = [];
  eachJsonBatch(texts, limit, (plaintext) => out.push(Buffer.from(plaintext)));
  return out;
}

test('eachJsonBatch calls its sealer on thisArg, so a method needs no closure', () => {
  const sealer = {
    sealed: [] as string[],
    seal(this: { sealed: string[] }, plaintext: Buffer): void {
      this.sealed.push(...unpackRecords(plaintext).map((r) => r.body.toString()));
    },
  };
  eachJsonBatch(['{"a":1}', '{"b":2}'], 1000, sealer.seal, sealer);
  assert.equal(sealer.sealed, ['{"a":1}', '{"b":2}']);
});

test('eachJsonBatch keeps order, fills each batch up to the limit, and sends an oversize text alone', () => {
  // ASCII, 2-byte, 3-byte and 4-byte (two UTF-16 units) characters: texts are measured only when
  // 3 bytes a unit might not fit, and the batches must come out the same as if all were measured.
  const limit = 200;
  for (const filler of ['x', 'é', '語', '😄']) {
    const many = Array.from({ length: 30 }, (_, i) => JSON.stringify({ n: i, text: filler.repeat(i) + 'x'.repeat(i * 2) }));
    const batches = packJsonBatches(many, limit);
    assert.ok(batches.length > 1);
    for (const batch of batches) assert.ok(batch.length <= limit || unpackRecords(batch).length === 1, `batch of ${batch.length} bytes`);
    const back = batches.flatMap((b) => unpackRecords(b).map((r) => r.body.toString()));
    assert.equal(back, many);
    // greedy: no two neighbouring batches would have fit together
    for (let i = 1; i < batches.length; i++) {
      const next = unpackRecords(batches[i])[0];
      assert.ok(batches[i - 1].length + 5 + next.body.length > limit, `${filler}: batch ${i - 1} could have taken one more`);
    }
  }
  const big = 'y'.repeat(500);
  const withBig = packJsonBatches(['{"a":1}', big, '{"b":2}'], limit);
  assert.equal(withBig.map((b) => unpackRecords(b).map((r) => r.body.toString())), [['{"a":1}'], [big], ['{"b":2}']]);
  assert.equal(packJsonBatches([], limit), []);
  assert.is(packJsonBatches(['{}', '[]'], 1000).length, 1);
});

test('a batch of the same texts as the last one is not packed again: a fan-out\'s members share one plaintext', () => {
  const message = JSON.stringify({ type: 'msg', msgId: 'abcdefgh', scope: 'group', text: 'hello 🙂 all' });
  const seen: Buffer[] = [];
  for (let member = 0; member < 3; member++) eachJsonBatch([message, '{"type":"presence"}'], 1000, (p) => seen.push(p));
  assert.ok(seen[1] === seen[0] && seen[2] === seen[0], 'one plaintext for all three');
  // Equal content in other strings is the same bytes too.
  eachJsonBatch([`${message} `.trim(), '{"type":"presence"}'], 1000, (p) => seen.push(p));
  assert.ok(seen[3] === seen[0]);
  // Another batch is packed anew, and after it the first is packed again, correctly.
  eachJsonBatch(['{"other":1}'], 1000, (p) => assert.equal(unpackRecords(p).map((r) => r.body.toString()), ['{"other":1}']));
  eachJsonBatch([message], 1000, (p) => assert.equal(unpackRecords(p).map((r) => r.body.toString()), [message]));
  // A batch split over several plaintexts is never taken for the last one-plaintext batch.
  const long = ['a'.repeat(600), 'b'.repeat(600)].map((t) => JSON.stringify(t));
  const split: Buffer[] = [];
  eachJsonBatch(long, 1000, (p) => split.push(Buffer.from(p)));
  eachJsonBatch(long, 1000, (p) => split.push(Buffer.from(p)));
  assert.is(split.length, 4);
  assert.equal(split.slice(2), split.slice(0, 2));
});

test('the last batch is not reused for a caller whose frame limit it would pass (another server in the process)', () => {
  const texts = ['a'.repeat(600), 'b'.repeat(600)].map((t) => JSON.stringify(t));
  eachJsonBatch(texts, 10_000, () => undefined); // one plaintext under a large limit
  const sizes: number[] = [];
  eachJsonBatch(texts, 1000, (p) => sizes.push(p.length));
  assert.equal(sizes.length, 2, 'split to fit the smaller limit');
  assert.ok(sizes.every((n) => n <= 1000));
});

test('eachJsonBatch reuses one buffer, grown as needed; a plaintext past 1 MB gets its own', () => {
  const seen: Buffer[] = [];
  const small = ['{"a":1}', '{"b":2}'];
  eachJsonBatch(small, 1000, (p) => seen.push(p));
  eachJsonBatch(small, 1000, (p) => seen.push(p));
  assert.is(seen[0].buffer, seen[1].buffer, 'the same memory both times');
  /** Packs `texts` as one plaintext, checks it unpacks to them, and keeps it. */
  const packChecked = (texts: string[]) =>
    eachJsonBatch(texts, 1 << 24, (p) => {
      assert.equal(unpackRecords(p).map((r) => r.body.toString()), texts);
      seen.push(p);
    });
  packChecked(['x'.repeat(200_000)]);
  eachJsonBatch(small, 1000, (p) => seen.push(p));
  assert.is(seen[3].buffer, seen[2].buffer, 'grown for the large one, and kept');
  packChecked(['y'.repeat(1_500_000)]);
  assert.is.not(seen[4].buffer, seen[2].buffer, 'too big to keep');
  eachJsonBatch(small, 1000, (p) => assert.equal(unpackRecords(p).map((r) => r.body.toString()), small));
});

test('eachJsonBatch packs the first `count` texts of an array its caller keeps and overwrites from batch to batch', () => {
  const bodies = (p: Buffer) => unpackRecords(p).map((r) => r.body.toString());
  const kept = ['{"a":1}', '{"b":2}', '{"stale":3}'];
  eachJsonBatch(kept, 1000, (p) => assert.equal(bodies(p), ['{"a":1}', '{"b":2}']), undefined, 2);
  // The same array with other texts in it is another batch, not the last one again.
  kept[0] = '{"c":3}';
  eachJsonBatch(kept, 1000, (p) => assert.equal(bodies(p), ['{"c":3}', '{"b":2}']), undefined, 2);
  eachJsonBatch(kept, 1000, (p) => assert.equal(bodies(p), ['{"c":3}']), undefined, 1);
  let called = 0;
  eachJsonBatch(kept, 1000, () => called++, undefined, 0);
  assert.is(called, 0);
});

test.run();
