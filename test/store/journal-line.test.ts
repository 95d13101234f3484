import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ItemTexts } from '../../src/store/item-texts.ts';
import { JournalLine } from '../../src/store/journal-line.ts';

const itemOf = (seq: number, text: string) => ({ seq, entry: { text } });

/** A segment's texts, as the store holds them: the journal line copies each newest text from here. */
function textsFor(): { add(line: JournalLine, head: Buffer, seq: number, entryText: string): void } {
  const texts = new ItemTexts();
  return {
    add(line, head, seq, entryText) {
      texts.add(seq, entryText);
      line.addItemFrom(head, texts);
    },
  };
}

test('a line is the JSON array of its entries and a newline, item texts copied as given', () => {
  const line = new JournalLine();
  // A space JSON.stringify would not write, so a copied text can be told from a serialised item.
  textsFor().add(line, JournalLine.itemHead('history/private/alice.bob', 's000000000000'), 0, '{"text": "hé 👋"}');
  line.addEntry({ c: 'mailbox/bob', k: 's000000000001', i: itemOf(256, 'a "quoted"\nline') });
  line.addEntry({ c: 'mailbox/bob', k: 's000000000001', removed: true });
  assert.is(line.count, 3);
  const text = line.end().toString('utf8');
  assert.ok(text.endsWith(']\n'));
  assert.equal(JSON.parse(text), [
    { c: 'history/private/alice.bob', k: 's000000000000', i: { seq: 0, entry: { text: 'hé 👋' } } },
    { c: 'mailbox/bob', k: 's000000000001', i: itemOf(256, 'a "quoted"\nline') },
    { c: 'mailbox/bob', k: 's000000000001', removed: true },
  ]);
  assert.ok(text.includes('"i":{"seq":0,"entry":{"text": "hé 👋"}}}'), 'the entry text as given');
});

test('lines of every size: growing past the first buffer, in non-ASCII text, and the next line starts afresh', () => {
  const line = new JournalLine();
  const texts = textsFor(); // its chunks fill and start anew as the lines go on
  for (const count of [1, 2, 700, 3000, 1]) {
    line.clear();
    const expected = [];
    for (let seq = 0; seq < count; seq++) {
      const item = itemOf(seq, `${'é'.repeat(seq % 7)}${'x'.repeat(seq % 200)}🙂`);
      if (seq % 3 === 0) line.addEntry({ c: 'c', k: 's0', i: item });
      else texts.add(line, JournalLine.itemHead('c', 's0'), seq, JSON.stringify(item.entry));
      expected.push({ c: 'c', k: 's0', i: item });
    }
    assert.equal(JSON.parse(line.end().toString('utf8')), expected, `${count} entries`);
  }
  // Texts of three bytes a character, up against the end of a fresh buffer again and again.
  const cjk = new JournalLine();
  const cjkTexts = textsFor();
  const expected = [];
  for (let seq = 0; seq < 300; seq++) {
    const item = itemOf(seq, '中'.repeat(500 + seq));
    cjkTexts.add(cjk, JournalLine.itemHead('c', 's0'), seq, JSON.stringify(item.entry));
    expected.push({ c: 'c', k: 's0', i: item });
  }
  assert.equal(JSON.parse(cjk.end().toString('utf8')), expected, 'three-byte characters');
});

test('a line grown by a burst gives its memory back once lines are small again; an empty line is []', () => {
  const line = new JournalLine();
  const big = 'x'.repeat(1024 * 1024);
  const texts = textsFor();
  for (let i = 0; i < 10; i++) texts.add(line, JournalLine.itemHead('c', 's0'), i, JSON.stringify({ text: big }));
  assert.ok(line.end().length > 10 * 1024 * 1024);
  const bytesOf = (l: JournalLine) => (l as unknown as { bytes: Buffer }).bytes.length;
  assert.ok(bytesOf(line) > 8 * 1024 * 1024);
  line.clear();
  texts.add(line, JournalLine.itemHead('c', 's0'), 10, JSON.stringify({ text: 'small' }));
  line.end();
  line.clear(); // the burst's buffer went with the burst's line (it was ten times this line)
  assert.ok(bytesOf(line) <= 64 * 1024, `${bytesOf(line)} bytes kept`);
  assert.is(line.count, 0);
  assert.is(line.end().toString(), '[]\n');
});

test.run();
