import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CONFIG, parseServerArgs, SERVER_USAGE, type ServerConfig } from '../../src/server/config.ts';
import { ParleyError } from '../../src/protocol/errors.ts';

function config(argv: string[]): ServerConfig {
  const parsed = parseServerArgs(argv);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.config;
}

function usage(argv: string[], ...mentions: string[]): ParleyError {
  try {
    parseServerArgs(argv);
  } catch (err) {
    assert.instance(err, ParleyError);
    const e = err as ParleyError;
    assert.is(e.code, 'E_USAGE', e.message);
    for (const m of mentions) assert.match(e.message, m, `${argv.join(' ')} → ${e.message}`);
    return e;
  }
  assert.unreachable(`expected E_USAGE for ${argv.join(' ')}`);
  throw new Error('unreachable');
}

test('no flags give the defaults', () => {
  assert.equal(config([]), DEFAULT_CONFIG);
  assert.is(DEFAULT_CONFIG.host, '127.0.0.1');
  assert.is(DEFAULT_CONFIG.port, 7513);
  assert.is(DEFAULT_CONFIG.maxLoginFailures, 3);
});

test('every flag sets its value', () => {
  const c = config([
    '--host', '0.0.0.0',
    '--port', '9000',
    '--block-duration', '120',
    '--timeout', '0',
    '--max-login-failures', '5',
    '--keys', '/tmp/k',
    '--store', '/tmp/s',
    '--log-level', 'debug',
    '--max-frame', '65536',
    '--handshake-timeout', '2.5',
    '--ping-interval', '0.5',
    '--mailbox-cap', '50',
    '--history-days', '0',
    '--cached-messages', '3',
    '--ack-timeout', '0.25',
    '--flush-interval', '0',
    '--checkpoint-interval', '500',
    '--rate-burst', '10',
    '--rate-per-second', '0.5',
    '--rate-strikes', '7',
    '--conn-burst', '200',
    '--conn-per-minute', '0',
    '--conn-max-per-ip', '0',
  ]);
  assert.equal(c, {
    ...DEFAULT_CONFIG,
    host: '0.0.0.0',
    port: 9000,
    blockDuration: 120,
    timeout: 0,
    maxLoginFailures: 5,
    keysDir: '/tmp/k',
    storeDir: '/tmp/s',
    logLevel: 'debug',
    maxFrame: 65536,
    handshakeTimeout: 2.5,
    pingInterval: 0.5,
    mailboxCap: 50,
    historyDays: 0,
    cachedMessages: 3,
    ackTimeout: 0.25,
    flushInterval: 0,
    checkpointInterval: 500,
    rateBurst: 10,
    ratePerSecond: 0.5,
    rateStrikes: 7,
    connBurst: 200,
    connPerMinute: 0,
    connMaxPerIp: 0,
  });
  assert.is(config(['--port=0']).port, 0);
  for (const level of ['debug', 'info', 'warn', 'error', 'silent']) assert.is(config(['--log-level', level]).logLevel, level);
});

test('--help and -h ask for help', () => {
  assert.equal(parseServerArgs(['--help']), { help: true });
  assert.equal(parseServerArgs(['-h']), { help: true });
  assert.equal(parseServerArgs(['--port', '1', '--help']), { help: true });
  for (const flag of ['--host', '--port', '--block-duration', '--timeout', '--max-login-failures', '--keys', '--store', '--log-level', '--max-frame', '--handshake-timeout', '--ping-interval', '--mailbox-cap', '--history-days', '--ack-timeout', '--flush-interval', '--checkpoint-interval', '--rate-burst', '--rate-per-second', '--rate-strikes', '--conn-burst', '--conn-per-minute', '--conn-max-per-ip', '--help']) {
    assert.match(SERVER_USAGE, flag);
  }
});

test('an unknown flag or a stray argument is E_USAGE naming it', () => {
  usage(['--colour'], 'colour');
  usage(['--port', '1', '--bogus', 'x'], 'bogus');
  usage(['positional'], 'positional');
  usage(['--port'], 'port');
});

test('bad, negative and out-of-range numbers are E_USAGE naming the flag', () => {
  usage(['--port', 'abc'], '--port', 'abc');
  usage(['--port', '-1'], '--port');
  usage(['--port', '65536'], '--port', '65535');
  usage(['--port', '1e3'], '--port');
  usage(['--port', ''], '--port');
  usage(['--port', '0x10'], '--port');
  usage(['--block-duration', '-5'], '--block-duration');
  usage(['--timeout', 'never'], '--timeout');
  usage(['--max-login-failures', '0'], '--max-login-failures');
  usage(['--max-login-failures', '1001'], '--max-login-failures');
  usage(['--max-frame', '100'], '--max-frame');
  usage(['--max-frame', '65535'], '--max-frame', '65536');
  usage(['--max-frame', String(64 * 1024 * 1024 + 1)], '--max-frame');
  usage(['--handshake-timeout', '0'], '--handshake-timeout');
  usage(['--ping-interval', '3601'], '--ping-interval');
  usage(['--ping-interval', ' 5'], '--ping-interval');
  usage(['--mailbox-cap', '0'], '--mailbox-cap');
  usage(['--history-days', '-1'], '--history-days');
  usage(['--ack-timeout', '0'], '--ack-timeout');
  usage(['--flush-interval', '10001'], '--flush-interval');
  usage(['--checkpoint-interval', '5'], '--checkpoint-interval', '10');
  usage(['--rate-burst', '0'], '--rate-burst', '1');
  usage(['--rate-burst', 'lots'], '--rate-burst');
  usage(['--rate-per-second', '-1'], '--rate-per-second');
  usage(['--rate-strikes', '0'], '--rate-strikes');
  usage(['--rate-strikes', '2000000'], '--rate-strikes');
  usage(['--conn-burst', '0'], '--conn-burst');
  usage(['--conn-per-minute', '1e3'], '--conn-per-minute');
  usage(['--conn-max-per-ip', '-3'], '--conn-max-per-ip');
});

test('flood control defaults suit a class behind one NAT address', () => {
  // a whole class reconnecting after a restart gets in at once, and so does a start's burst
  assert.ok(DEFAULT_CONFIG.connBurst >= 40);
  assert.ok(DEFAULT_CONFIG.connMaxPerIp >= DEFAULT_CONFIG.connBurst);
  assert.ok(DEFAULT_CONFIG.rateBurst >= 20);
  assert.ok(DEFAULT_CONFIG.ratePerSecond >= 1);
  for (const flag of ['--rate-burst', '--conn-per-minute']) assert.match(SERVER_USAGE, new RegExp(`${flag} .*default \\d`));
});

test('a bad log level is E_USAGE naming the flag and the choices', () => {
  usage(['--log-level', 'loud'], '--log-level', 'loud', 'debug');
  usage(['--log-level', 'INFO'], '--log-level');
});

test.run();
