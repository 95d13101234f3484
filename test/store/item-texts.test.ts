/** ItemTexts: the texts of a segment's newest items, copied into a checkpoint's line. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ItemTexts } from '../../src/store/item-texts.ts';

const entryOf = (text = 'x') => JSON.stringify({ text });
const textOf = (seq: number, text = 'x') => JSON.stringify({ seq, entry: { text } });
const lineText = (texts: ItemTexts, from: number, to: number, prefix = '') => texts.line(from, to, prefix)?.toString('utf8') ?? null;

test('a line is the texts of a run of seqs as one JSON array and a newline, after the prefix', () => {
  const texts = new ItemTexts();
  for (let seq = 10; seq < 14; seq++) texts.add(seq, entryOf());
  assert.is(texts.count, 4);
  assert.is(lineText(texts, 10, 13), `[${[10, 11, 12, 13].map((s) => textOf(s)).join(',')}]\n`);
  assert.is(lineText(texts, 11, 12, '\n'), `\n[${textOf(11)},${textOf(12)}]\n`);
  assert.is(lineText(texts, 13, 13), `[${textOf(13)}]\n`);
  assert.equal(JSON.parse(lineText(texts, 10, 13)!), [10, 11, 12, 13].map((seq) => ({ seq, entry: { text: 'x' } })));
});

test('an entry text is held as its item text, less what is left out after its brace, for any seq', () => {
  const texts = new ItemTexts();
  const seqs = [0, 9, 10, 99, 100, 2 ** 31, Number.MAX_SAFE_INTEGER];
  for (const seq of seqs) {
    texts.clear();
    texts.add(seq, JSON.stringify({ type: 'msg', text: 'é "q" 🙂' }), '"type":"msg",'.length);
    assert.is(lineText(texts, seq, seq), `[${JSON.stringify({ seq, entry: { text: 'é "q" 🙂' } })}]\n`, `seq ${seq}`);
  }
  texts.clear();
  texts.add(5, '{}');
  texts.add(6, '{"a":1,"b":2}', '"a":1,'.length);
  assert.equal(JSON.parse(lineText(texts, 5, 6)!), [{ seq: 5, entry: {} }, { seq: 6, entry: { b: 2 } }]);
});

test('a line of seqs not all held is null', () => {
  const texts = new ItemTexts();
  assert.is(texts.line(0, 0, ''), null, 'nothing held');
  texts.add(5, entryOf());
  texts.add(6, entryOf());
  assert.is(texts.line(4, 6, ''), null, 'before the first');
  assert.is(texts.line(5, 7, ''), null, 'past the last');
  assert.is(texts.line(6, 5, ''), null, 'an empty range');
});

test('a seq that does not follow the last starts the texts afresh', () => {
  const texts = new ItemTexts();
  texts.add(0, entryOf());
  texts.add(1, entryOf());
  texts.add(3, entryOf()); // 2 is missing: 0 and 1 can no longer make a run with 3
  assert.is(texts.count, 1);
  assert.is(texts.line(0, 1, ''), null);
  assert.is(lineText(texts, 3, 3), `[${textOf(3)}]\n`);
});

test('dropThrough lets go of what is in the file and keeps the rest', () => {
  const texts = new ItemTexts();
  for (let seq = 0; seq < 5; seq++) texts.add(seq, entryOf(`t${seq}`));
  texts.dropThrough(1);
  assert.is(texts.count, 3);
  assert.is(texts.line(1, 2, ''), null);
  assert.is(lineText(texts, 2, 4), `[${textOf(2, 't2')},${textOf(3, 't3')},${textOf(4, 't4')}]\n`);
  texts.add(5, entryOf('t5'));
  assert.is(lineText(texts, 4, 5), `[${textOf(4, 't4')},${textOf(5, 't5')}]\n`);
  texts.dropThrough(0); // already gone: nothing changes
  assert.is(texts.count, 4);
  texts.dropThrough(9);
  assert.is(texts.count, 0);
  assert.is(texts.line(5, 5, ''), null);
  texts.add(10, entryOf());
  assert.is(lineText(texts, 10, 10), `[${textOf(10)}]\n`);
});

test('a line already taken is a copy: texts added or dropped afterwards do not change it', () => {
  const texts = new ItemTexts();
  texts.add(0, entryOf());
  texts.add(1, entryOf());
  const taken = texts.line(0, 1, '\n')!;
  const before = taken.toString('utf8');
  texts.dropThrough(0);
  for (let seq = 2; seq < 200; seq++) texts.add(seq, entryOf('y'.repeat(100))); // grows its buffer
  assert.is(taken.toString('utf8'), before);
});

test('trim keeps the texts and lets them grow again', () => {
  const texts = new ItemTexts();
  for (let seq = 0; seq < 3; seq++) texts.add(seq, entryOf());
  texts.trim(); // the first buffer is mostly room
  assert.is(lineText(texts, 0, 2), `[${textOf(0)},${textOf(1)},${textOf(2)}]\n`);
  texts.add(3, entryOf('z'.repeat(300)));
  assert.is(lineText(texts, 2, 3), `[${textOf(2)},${textOf(3, 'z'.repeat(300))}]\n`);
  texts.trim();
  texts.trim(); // nothing to trim: the same
  assert.is(lineText(texts, 0, 3), `[${[textOf(0), textOf(1), textOf(2), textOf(3, 'z'.repeat(300))].join(',')}]\n`);
  new ItemTexts().trim(); // nothing held
});

test('texts of every size and script, past the first buffer, come back byte for byte', () => {
  const texts = new ItemTexts();
  const written: string[] = [];
  const samples = ['plain', 'é "quoted" \\ back', '🙂 emoji and 中文', 'x'.repeat(5000), '\u0000\u001f control'];
  for (let seq = 0; seq < 60; seq++) {
    written.push(textOf(seq, samples[seq % samples.length]));
    texts.add(seq, entryOf(samples[seq % samples.length]));
  }
  assert.is(lineText(texts, 0, 59), `[${written.join(',')}]\n`);
  texts.clear();
  assert.is(texts.count, 0);
  assert.is(texts.line(0, 0, ''), null);
});

test('chunked: lines across chunks, drops inside a chunk, texts bigger than a chunk, trims between, as a list of the texts has them', () => {
  // A seeded generator: the same cases every run.
  let state = 7;
  const next = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31), Math.floor((state / 2 ** 31) * n));
  const texts = new ItemTexts();
  const model: string[] = [];
  let first = 0;
  const samples = ['a', 'é🙂中', '"\\'];
  for (let step = 0; step < 3000; step++) {
    const op = next(100);
    if (op < 80) {
      const size = next(50) === 0 ? 70_000 + next(5000) : next(400);
      const seq = first + model.length;
      const text = samples[next(3)].repeat(size);
      model.push(textOf(seq, text));
      texts.add(seq, entryOf(text));
    } else if (op < 82 && model.length > 0) {
      const through = first + next(Math.ceil(model.length / 4));
      texts.dropThrough(through);
      model.splice(0, through - first + 1);
      first = through + 1;
    } else if (op < 88) {
      texts.trim();
    } else if (model.length > 0) {
      const a = next(model.length);
      const b = a + next(model.length - a);
      assert.is(lineText(texts, first + a, first + b, '\n'), `\n[${model.slice(a, b + 1).join(',')}]\n`, `step ${step}`);
    }
    assert.is(texts.count, model.length);
  }
  assert.ok(model.length > 100, `the run ended with texts over many chunks (${model.length})`);
  assert.is(lineText(texts, first, first + model.length - 1), `[${model.join(',')}]\n`);
});

test.run();
