import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, formatTime, LOG_LEVELS } from '../../src/server/log.ts';

const LINE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) (DEBUG|INFO |WARN |ERROR) (.*)\n$/;

function capture(level: (typeof LOG_LEVELS)[number]) {
  const lines: string[] = [];
  const log = createLogger(level, (line) => lines.push(line));
  return { log, lines };
}

test('formatTime is YYYY-MM-DD HH:MM:SS.mmm in local time, zero-padded', () => {
  const at = new Date(2026, 0, 5, 3, 4, 7, 9);
  assert.is(formatTime(at), '2026-01-05 03:04:07.009');
  assert.is(formatTime(new Date(2026, 10, 25, 14, 2, 3, 123)), '2026-11-25 14:02:03.123');
});

test('lines are timestamped: YYYY-MM-DD HH:MM:SS.mmm LEVEL text', () => {
  const { log, lines } = capture('debug');
  const before = Date.now();
  log.debug('d');
  log.info('conn#1 alice logged in');
  log.warn('w');
  log.error('e');
  const after = Date.now();
  assert.is(lines.length, 4);
  const parsed = lines.map((line) => LINE.exec(line));
  assert.ok(parsed.every(Boolean), lines.join(''));
  assert.equal(parsed.map((m) => m![8].trim()), ['DEBUG', 'INFO', 'WARN', 'ERROR']);
  assert.equal(parsed.map((m) => m![9]), ['d', 'conn#1 alice logged in', 'w', 'e']);
  const m = parsed[1]!;
  const when = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]).getTime();
  assert.ok(when >= before && when <= after, 'the timestamp is now, in local time');
});

test('levels filter lower levels out', () => {
  const expectations: Record<string, string[]> = {
    debug: ['DEBUG', 'INFO', 'WARN', 'ERROR'],
    info: ['INFO', 'WARN', 'ERROR'],
    warn: ['WARN', 'ERROR'],
    error: ['ERROR'],
    silent: [],
  };
  for (const level of LOG_LEVELS) {
    const { log, lines } = capture(level);
    log.debug('x');
    log.info('x');
    log.warn('x');
    log.error('x');
    assert.equal(lines.map((l) => LINE.exec(l)![8].trim()), expectations[level], level);
  }
});

test('the default writer is stdout', () => {
  const original = process.stdout.write;
  const written: string[] = [];
  process.stdout.write = ((chunk: string) => {
    written.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    createLogger('info').info('to stdout');
  } finally {
    process.stdout.write = original;
  }
  assert.is(written.length, 1);
  assert.match(written[0], / INFO  to stdout\n$/);
});

test.run();
