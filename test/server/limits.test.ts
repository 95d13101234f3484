import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addressKey, BucketMap, ConnectionLimiter, MessageLimiter, RefusalLog, TokenBucket } from '../../src/server/limits.ts';

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

test('a full bucket lets the burst through at once, then refuses', () => {
  const t = clock();
  const bucket = new TokenBucket(3, 1, t.now);
  assert.ok(bucket.take());
  assert.ok(bucket.take());
  assert.ok(bucket.take());
  assert.not.ok(bucket.take());
  assert.not.ok(bucket.take(), 'a refusal takes nothing and stays a refusal');
});

test('tokens come back at the rate, never above the capacity', () => {
  const t = clock();
  const bucket = new TokenBucket(2, 4, t.now); // one token every 250 ms
  bucket.take();
  bucket.take();
  t.advance(249);
  assert.not.ok(bucket.take());
  t.advance(1);
  assert.ok(bucket.take());
  t.advance(60_000);
  assert.is(bucket.available, 2);
  assert.ok(bucket.take(2));
  assert.not.ok(bucket.take());
});

test('waitMs says how long until the next token (the retryAfter)', () => {
  const t = clock();
  const bucket = new TokenBucket(5, 2, t.now);
  assert.is(bucket.waitMs(), 0);
  for (let i = 0; i < 5; i++) bucket.take();
  assert.is(bucket.waitMs(), 500);
  t.advance(200);
  assert.is(bucket.waitMs(), 300);
  assert.is(bucket.waitMs(2), 800);
  assert.is(bucket.waitMs(6), Infinity, 'more than the capacity never fits');
  t.advance(300);
  assert.is(bucket.waitMs(), 0);
  assert.ok(bucket.take());
});

test('a fractional rate and a cost above one', () => {
  const t = clock();
  const bucket = new TokenBucket(10, 0.5, t.now);
  assert.ok(bucket.take(10));
  assert.is(bucket.waitMs(3), 6000);
  t.advance(6000);
  assert.ok(bucket.take(3));
  assert.is(bucket.fullAfterMs, 20_000);
});

test('a clock that steps back mints no tokens', () => {
  const t = clock();
  const bucket = new TokenBucket(1, 1, t.now);
  bucket.take();
  t.advance(-10_000);
  assert.not.ok(bucket.take());
  t.advance(1000);
  assert.ok(bucket.take(), 'time counts again from the step');
});

test('a bucket refuses nonsense limits', () => {
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0), RangeError);
  assert.throws(() => new TokenBucket(NaN, 1), RangeError);
});

test('a bucket map keeps keys independent', () => {
  const t = clock();
  const map = new BucketMap(2, 1, 100, t.now);
  assert.ok(map.take('a'));
  assert.ok(map.take('a'));
  assert.not.ok(map.take('a'));
  assert.ok(map.take('b'), 'b has its own bucket');
  assert.is(map.waitMs('a'), 1000);
  assert.is(map.waitMs('unknown'), 0);
  assert.is(map.waitMs('unknown', 3), Infinity);
  assert.is(map.size, 2);
});

test('a bucket map forgets buckets that have refilled, and only those', () => {
  const t = clock();
  const map = new BucketMap(4, 2, 100, t.now); // full again 2 s after the last touch
  map.take('old');
  t.advance(1000);
  map.take('recent');
  assert.is(map.sweep(), 0);
  t.advance(1000);
  assert.is(map.sweep(), 1, 'old refilled');
  assert.is(map.size, 1);
  map.take('recent'); // touched again: moves to the back
  t.advance(1999);
  assert.is(map.sweep(), 0);
  t.advance(1);
  assert.is(map.sweep(), 1);
  assert.is(map.size, 0);
});

test('a bucket map holds at most maxKeys, dropping the least recently used', () => {
  const t = clock();
  const map = new BucketMap(1, 1, 3, t.now);
  for (const key of ['a', 'b', 'c']) map.take(key);
  map.take('a'); // a is now the most recent (and refused: empty)
  map.take('d'); // nothing has refilled: b goes
  assert.is(map.size, 3);
  assert.is(map.waitMs('b'), 0, 'b was forgotten');
  assert.ok(map.waitMs('a') > 0, 'a is remembered');
  t.advance(1000);
  map.take('e'); // everything refilled: the sweep makes room without evicting by age
  assert.is(map.size, 1);
});

test('connection limiter: a burst per address, then the per-minute rate', () => {
  const t = clock();
  const limiter = new ConnectionLimiter({ burst: 3, perMinute: 60, maxOpen: 0 }, t.now);
  for (let i = 0; i < 3; i++) assert.is(limiter.admit('10.0.0.1'), null);
  const refused = limiter.admit('10.0.0.1');
  assert.equal(refused, { reason: 'rate', retryAfterMs: 1000 });
  assert.is(limiter.admit('10.0.0.2'), null, 'another address is not affected');
  t.advance(1000);
  assert.is(limiter.admit('10.0.0.1'), null, 'one a second at 60 a minute');
  assert.ok(limiter.admit('10.0.0.1'));
});

test('connection limiter: a cap on connections open at once, released on close', () => {
  const t = clock();
  const limiter = new ConnectionLimiter({ burst: 100, perMinute: 6000, maxOpen: 2 }, t.now);
  assert.is(limiter.admit('a'), null);
  assert.is(limiter.admit('a'), null);
  assert.equal(limiter.admit('a'), { reason: 'concurrent', open: 2 });
  assert.is(limiter.openFrom('a'), 2);
  limiter.release('a');
  assert.is(limiter.admit('a'), null);
  limiter.release('a');
  limiter.release('a');
  assert.is(limiter.openFrom('a'), 0);
  limiter.release('a'); // an extra release never goes below zero
  assert.is(limiter.openFrom('a'), 0);
  assert.is(limiter.addresses, 1, 'the bucket is still remembered');
});

test('connection limiter: refusals spend no tokens, idle addresses are forgotten', () => {
  const t = clock();
  const limiter = new ConnectionLimiter({ burst: 2, perMinute: 60, maxOpen: 1 }, t.now);
  assert.is(limiter.admit('a'), null);
  for (let i = 0; i < 10; i++) assert.is(limiter.admit('a')!.reason, 'concurrent');
  limiter.release('a');
  assert.is(limiter.admit('a'), null, 'the refusals above took no tokens');
  limiter.release('a');
  for (let i = 0; i < 50; i++) limiter.admit(`10.1.0.${i}`) && assert.unreachable();
  for (let i = 0; i < 50; i++) limiter.release(`10.1.0.${i}`);
  assert.is(limiter.addresses, 51);
  t.advance(2000);
  assert.is(limiter.sweep(), 51);
  assert.is(limiter.addresses, 0);
});

test('connection limiter: 0 turns each limit off', () => {
  const limiter = new ConnectionLimiter({ burst: 1, perMinute: 0, maxOpen: 0 });
  for (let i = 0; i < 1000; i++) assert.is(limiter.admit('a'), null);
  assert.is(limiter.sweep(), 0);
});

test('addressKey: IPv4 as is, IPv4-mapped unwrapped, IPv6 by its /64', () => {
  assert.is(addressKey('192.0.2.7'), '192.0.2.7');
  assert.is(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.is(addressKey('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.is(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.is(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2::9'), 'one /64, one key');
  assert.is(addressKey('::1'), '0:0:0:0::/64');
  assert.is(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.is(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.is(addressKey(undefined), 'unknown');
  assert.is(addressKey('1::2::3'), '1::2::3', 'not an address: kept whole');
});

test('message limiter: one bucket per user, shared by its connections', () => {
  const t = clock();
  const limiter = new MessageLimiter({ burst: 2, perSecond: 1, strikes: 3 }, t.now);
  const first = limiter.gate();
  const second = limiter.gate();
  assert.ok(first.check('alice').ok);
  assert.ok(second.check('alice').ok);
  const refused = first.check('alice');
  assert.equal(refused, { ok: false, retryAfterMs: 1000, inARow: 1, disconnect: false });
  assert.ok(first.check('bob').ok, 'bob is not alice');
  assert.is(limiter.size, 2);
  t.advance(2000);
  assert.is(limiter.sweep(), 2);
});

test('message limiter: before login each connection has its own bucket', () => {
  const t = clock();
  const limiter = new MessageLimiter({ burst: 1, perSecond: 1, strikes: 10 }, t.now);
  const a = limiter.gate();
  const b = limiter.gate();
  assert.ok(a.check(null).ok);
  assert.not.ok(a.check(null).ok);
  assert.ok(b.check(null).ok);
  assert.ok(a.check('carol').ok, 'logging in moves to the user bucket');
});

test('message limiter: strikes in a row disconnect; an accepted request resets the run', () => {
  const t = clock();
  const limiter = new MessageLimiter({ burst: 1, perSecond: 10, strikes: 3 }, t.now);
  const gate = limiter.gate();
  assert.ok(gate.check('eve').ok);
  const verdicts = [gate.check('eve'), gate.check('eve')];
  assert.equal(verdicts.map((v) => !v.ok && v.disconnect), [false, false]);
  t.advance(100);
  assert.ok(gate.check('eve').ok, 'paced: the run ends');
  assert.not.ok((gate.check('eve') as { disconnect: boolean }).disconnect);
  assert.not.ok((gate.check('eve') as { disconnect: boolean }).disconnect);
  const third = gate.check('eve');
  assert.ok(!third.ok && third.disconnect && third.inARow === 3);
});

test('refusal log: the first refusal in full, the storm as one summary per interval', () => {
  const t = clock();
  const log = new RefusalLog(5000, t.now, 2);
  assert.ok(log.note('a'));
  for (let i = 0; i < 1000; i++) assert.not.ok(log.note(i % 3 === 0 ? 'b' : i % 3 === 1 ? 'c' : 'a'));
  assert.is(log.summary(), null, 'not before the interval');
  t.advance(5000);
  const summary = log.summary()!;
  assert.is(summary.count, 1000);
  assert.is(summary.seconds, 5);
  assert.is(summary.sources.length, 2, 'at most maxSources named');
  assert.equal(summary.sources[0], ['b', 334]);
  assert.is(log.summary(), null, 'nothing new');
  t.advance(5000);
  assert.ok(log.note('a'), 'after a quiet interval, in full again');
});

test.run();
