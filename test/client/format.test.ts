import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clock, duration, formatEvent } from '../../src/client/format.ts';

const TS = new Date(2026, 10, 25, 14, 2, 3).getTime();
const T = clock(TS);
const ESC = '\x1b';

test('clock is HH:MM of the local time, zero-padded', () => {
  assert.is(clock(TS), '14:02');
  assert.is(clock(new Date(2026, 0, 1, 3, 4).getTime()), '03:04');
  assert.match(T, /^\d{2}:\d{2}$/);
});

test('duration buckets: s, min, h, d', () => {
  assert.is(duration(0), '0 s');
  assert.is(duration(-5000), '0 s');
  assert.is(duration(1499), '1 s');
  assert.is(duration(59_000), '59 s');
  assert.is(duration(59_499), '59 s');
  assert.is(duration(60_000), '1 min');
  assert.is(duration(3_599_000), '59 min');
  assert.is(duration(3_600_000), '1 h');
  assert.is(duration(86_399_000), '23 h');
  assert.is(duration(86_400_000), '1 d');
  assert.is(duration(10 * 86_400_000), '10 d');
});

test('message: private and broadcast', () => {
  assert.is(formatEvent({ kind: 'message', msgId: 'm1', scope: 'private', from: 'alice', to: 'bob', text: 'hi 😄', ts: TS }), `${T} [alice → you] hi 😄`);
  assert.is(formatEvent({ kind: 'message', msgId: 'm2', scope: 'broadcast', from: 'alice', text: 'hello all', ts: TS }), `${T} [alice → all] hello all`);
});

test('message: multi-line bodies are indented under the first line', () => {
  assert.is(formatEvent({ kind: 'message', msgId: 'm1', scope: 'private', from: 'alice', text: 'one\ntwo\r\nthree', ts: TS }), `${T} [alice → you] one\n      two\n      three`);
});

test('message: peer text and names with escape sequences come out sanitised', () => {
  const line = formatEvent({
    kind: 'message',
    msgId: 'm1',
    scope: 'private',
    from: `ev${ESC}[2Jil`,
    text: `${ESC}]0;owned\x07click ${ESC}[31mhere${ESC}[0m\x07\u202e`,
    ts: TS,
  });
  assert.is(line, `${T} [evil → you] click here`);
  assert.not.ok(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(line));
});

test('sent: delivered, stored, broadcast, queued and failed, with the message id', () => {
  const base = { kind: 'sent' as const, msgId: 'm1', text: 'hi', ts: TS };
  assert.is(formatEvent({ ...base, scope: 'private', to: 'bob', status: 'delivered' }), `${T} [you → bob] hi  (✓✓ delivered #m1)`);
  assert.is(formatEvent({ ...base, scope: 'private', to: 'bob', status: 'stored' }), `${T} [you → bob] hi  (✓ stored for offline user #m1)`);
  assert.is(formatEvent({ ...base, scope: 'broadcast', status: 'sent', recipients: 3 }), `${T} [you → all] hi  (✓ 3 online #m1)`);
  assert.is(formatEvent({ ...base, scope: 'broadcast', status: 'sent' }), `${T} [you → all] hi  (✓ 0 online #m1)`);
  assert.is(formatEvent({ ...base, scope: 'private', to: 'bob', status: 'queued' }), `${T} [you → bob] hi  (… queued until reconnected #m1)`);
  assert.is(
    formatEvent({ ...base, scope: 'private', to: 'carol', status: 'failed', error: { code: 'E_NO_SUCH_USER', message: `no user named 'carol'${ESC}[2J` } }),
    `${T} [you → carol] hi  (✗ E_NO_SUCH_USER: no user named 'carol' #m1)`,
  );
  assert.is(formatEvent({ ...base, scope: 'private', to: `b${ESC}[1mob`, status: 'delivered' }), `${T} [you → bob] hi  (✓✓ delivered #m1)`);
});

test('update: edits and deletions, sanitised', () => {
  const base = { kind: 'update' as const, msgId: 'msg-0001', from: `al${ESC}[31mice`, ts: TS };
  assert.is(formatEvent({ ...base, scope: 'private', to: 'bob', action: 'edit', text: `new${ESC}]0;x\x07 text` }), `${T} * alice edited a message (#msg-0001): new text`);
  assert.is(formatEvent({ ...base, scope: 'broadcast', action: 'edit', text: 'a\nb' }), `${T} * alice edited a message to all (#msg-0001): a\n      b`);
  assert.is(formatEvent({ ...base, scope: 'broadcast', action: 'delete' }), `${T} * alice deleted a message to all (#msg-0001)`);
  assert.is(formatEvent({ ...base, scope: 'private', action: 'delete' }), `${T} * alice deleted a message (#msg-0001)`);
});

test('history: a page of messages, edited and deleted ones marked; empty pages', () => {
  const m1 = { seq: 1, msgId: 'msg-0001', scope: 'private' as const, from: 'alice', to: 'bob', text: 'hi', ts: TS };
  const m2 = { seq: 2, msgId: 'msg-0002', scope: 'private' as const, from: 'bob', to: 'alice', text: 'fixed', ts: TS, editedAt: TS + 1 };
  const m3 = { seq: 3, msgId: 'msg-0003', scope: 'private' as const, from: 'bob', to: 'alice', text: '', ts: TS, deleted: true };
  const text = formatEvent({ kind: 'history', with: 'bob', messages: [m1, m2, m3], more: true, local: false, ts: TS });
  const lines = text.split('\n');
  assert.is(lines[0], `${T} History with bob:`);
  assert.match(lines[1], /^  \d{2}-\d{2} /);
  assert.ok(lines[1].endsWith(`${T} [alice → bob] hi  #msg-0001`), lines[1]);
  assert.ok(lines[2].endsWith('[bob → alice] fixed (edited)  #msg-0002'), lines[2]);
  assert.ok(lines[3].endsWith('[bob → alice] (message deleted)  #msg-0003'), lines[3]);
  assert.match(lines[4], '/history again');
  const lobby = formatEvent({ kind: 'history', with: '*', messages: [{ ...m1, scope: 'broadcast', to: undefined }], more: false, local: true, ts: TS });
  assert.match(lobby, 'History with everyone (saved on this computer; offline):');
  assert.match(lobby, '[alice → all] hi');
  assert.match(lobby, '(start of the conversation)');
  assert.is(formatEvent({ kind: 'history', with: 'bob', messages: [], more: false, local: false, ts: TS }), `${T} History with bob: no messages`);
  assert.is(formatEvent({ kind: 'history', with: 'bob', messages: [], more: true, local: false, ts: TS }), `${T} History with bob: no more messages`);
});

test('history: whatever the server put in an item comes out sanitised', () => {
  const evil = `${ESC}[2J${ESC}]0;x\x07`;
  const text = formatEvent({
    kind: 'history',
    with: `bob${evil}`,
    messages: [{ seq: 1, msgId: `id${evil}`, scope: 'private', from: `al${evil}ice`, to: `b${evil}ob`, text: `hi${evil}`, ts: TS }],
    more: false,
    local: false,
    ts: TS,
  });
  assert.not.ok(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(text), JSON.stringify(text));
});

test('presence: joined and left, sanitised', () => {
  assert.is(formatEvent({ kind: 'presence', user: 'bob', event: 'joined', ts: TS }), `${T} * bob joined`);
  assert.is(formatEvent({ kind: 'presence', user: `bob${ESC}[8m`, event: 'left', ts: TS }), `${T} * bob left`);
});

test('who: online users, recently departed, and nobody', () => {
  const now = TS;
  const text = formatEvent(
    {
      kind: 'who',
      ts: TS,
      users: [
        { user: 'alice', online: true, since: now - 2 * 3600_000, lastActive: now - 5000 },
        { user: `bob${ESC}[31m`, online: false, since: now - 4 * 60_000, lastActive: now - 4 * 60_000 },
      ],
    },
    now,
  );
  assert.is(text, [`${T} Online (2):`, '  alice  online for 2 h, active 5 s ago', '  bob  offline, last seen 4 min ago'].join('\n'));
  assert.is(formatEvent({ kind: 'who', ts: TS, users: [], since: 30 }, now), `${T} Online in the last 30 s: nobody`);
  assert.is(formatEvent({ kind: 'who', ts: TS, users: [] }, now), `${T} Online: nobody`);
  assert.match(formatEvent({ kind: 'who', ts: TS, since: 600, users: [{ user: 'a', online: true, since: now, lastActive: now }] }, now), `${T} Online in the last 600 s (1):`);
});

test('login, logout, trust, info, help', () => {
  assert.is(formatEvent({ kind: 'login', user: 'alice', resumed: false, ts: TS }), `${T} * logged in as alice`);
  assert.is(formatEvent({ kind: 'login', user: 'alice', resumed: true, ts: TS }), `${T} * resumed session as alice`);
  assert.is(formatEvent({ kind: 'logout', ts: TS }), `${T} * logged out`);
  const fp = 'SHA256:' + 'A'.repeat(43);
  assert.is(
    formatEvent({ kind: 'trust', address: '127.0.0.1:7513', fingerprint: fp, decision: 'first-use', ts: TS }),
    `${T} * first connection to 127.0.0.1:7513; trusting its key ${fp} from now on`,
  );
  assert.is(formatEvent({ kind: 'trust', address: 'h:1', fingerprint: fp, decision: 'known', ts: TS }), `${T} * connected to h:1 (key ${fp})`);
  assert.is(formatEvent({ kind: 'trust', address: 'h:1', fingerprint: fp, decision: 'pinned', ts: TS }), `${T} * connected to h:1 (key ${fp})`);
  assert.is(formatEvent({ kind: 'info', text: 'connecting', ts: TS }), `${T} * connecting`);
  assert.is(formatEvent({ kind: 'help', text: 'Commands:\n  /who', ts: TS }), 'Commands:\n  /who');
});

test('error and notice, with the server message sanitised', () => {
  assert.is(formatEvent({ kind: 'error', code: 'E_SELF', message: 'you cannot message yourself', ts: TS }), `${T} ! E_SELF: you cannot message yourself`);
  assert.is(formatEvent({ kind: 'notice', code: 'E_IDLE_TIMEOUT', message: `logged out${ESC}[2J\nafter 30 s`, ts: TS }), `${T} !! E_IDLE_TIMEOUT: logged out\nafter 30 s`);
});

test('every formatted event is free of control characters other than newline', () => {
  const evil = `${ESC}[2J${ESC}]0;x\x07\x00\x7f\x9b1m`;
  const events = [
    formatEvent({ kind: 'message', msgId: 'm', scope: 'broadcast', from: evil, text: evil, ts: TS }),
    formatEvent({ kind: 'sent', msgId: 'm', scope: 'private', to: evil, text: evil, ts: TS, status: 'failed', error: { code: 'E_X', message: evil } }),
    formatEvent({ kind: 'update', msgId: 'm', scope: 'private', from: evil, action: 'edit', text: evil, ts: TS }),
    formatEvent({ kind: 'presence', user: evil, event: 'joined', ts: TS }),
    formatEvent({ kind: 'who', users: [{ user: evil, online: true, since: TS, lastActive: TS }], ts: TS }, TS),
    formatEvent({ kind: 'login', user: evil, resumed: false, ts: TS }),
    formatEvent({ kind: 'error', code: 'E_X', message: evil, ts: TS }),
    formatEvent({ kind: 'notice', code: 'E_X', message: evil, ts: TS }),
  ];
  for (const line of events) assert.not.ok(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(line), JSON.stringify(line));
});

test.run();
