import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { readMsgRecord, type MsgFields } from '../../bench/lib/light-client.ts';

/** A `msg` as the server writes it: JSON.stringify of its fields in this order (test/server/hub.test.ts holds PrivateSend.writeTo to it). */
function privateMsg(msgId: string, text: string): string {
  return JSON.stringify({ type: 'msg', msgId, scope: 'private', from: 'alice', to: 'bob', text, ts: 1795615925372 });
}

function groupMsg(msgId: string, text: string): string {
  return JSON.stringify({ type: 'msg', msgId, scope: 'group', from: 'alice', group: 'big', text, ts: 1795615925372 });
}

/** Reads `record` as the light client does, from inside a frame's plaintext (other records around it). */
function read(record: string): Omit<MsgFields, 'record'> | null {
  const before = Buffer.from('{"type":"ping","id":"7"}');
  const plaintext = Buffer.concat([before, Buffer.from(record), Buffer.from('{"type":"msg","msgId":"z"}')]);
  const into: MsgFields = { record: '', msgId: '', isPrivate: false, text: '' };
  const isMsg = readMsgRecord(plaintext, before.length, before.length + Buffer.byteLength(record), into);
  assert.is(into.record, record, 'the record is decoded whole, for JSON.parse');
  return isMsg ? { msgId: into.msgId, isPrivate: into.isPrivate, text: into.text } : null;
}

test('reads a private and a group msg as JSON.parse does, and nothing else', () => {
  assert.equal(read(privateMsg('k3Jx9aQpZ0bW', 'hi 👋 ünïcode')), { msgId: 'k3Jx9aQpZ0bW', isPrivate: true, text: 'hi 👋 ünïcode' });
  assert.equal(read(groupMsg('g1', 'to all')), { msgId: 'g1', isPrivate: false, text: 'to all' });
  assert.equal(read(groupMsg('g2', '')), { msgId: 'g2', isPrivate: false, text: '' });
  assert.is(read(JSON.stringify({ type: 'ok', ref: '1', result: { msgId: 'x', status: 'delivered' } })), null, 'not a msg');
  assert.is(read('{"type":"ping","id":"7"}'), null, 'not a msg');
});

test('leaves whatever has something escaped, or ends early, to JSON.parse', () => {
  assert.is(read(privateMsg('a', 'say "hi"')), null, 'a quote in the text');
  assert.is(read(privateMsg('a', 'back\\slash')), null, 'a backslash in the text');
  assert.is(read(privateMsg('a', 'bell\u0007')), null, 'a control character');
  assert.is(read(privateMsg('a"b', 'plain')), null, 'a quote in the id');
  const whole = privateMsg('a', 'plain text');
  assert.is(read(whole.slice(0, whole.indexOf('plain') + 3)), null, 'a record cut inside its text');
  assert.is(read('{"type":"msg"'), null, 'shorter than the head');
});

test('never disagrees with JSON.parse', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), fc.boolean(), (msgId, text, isPrivate) => {
      const record = isPrivate ? privateMsg(msgId, text) : groupMsg(msgId, text);
      const fields = read(record);
      if (fields === null) return true;
      const parsed = JSON.parse(record) as { msgId: string; scope: string; text: string };
      assert.equal(fields, { msgId: parsed.msgId, isPrivate: parsed.scope === 'private', text: parsed.text });
      return true;
    }),
    { numRuns: 2000 },
  );
});

test.run();
