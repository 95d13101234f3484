/**
 * Server settings: every limit is a value here with a one-line reason, and every flag of
 * `parley-server` maps onto one of them.
 */
import { parseArgs } from 'node:util';
import { ParleyError } from '../protocol/errors.ts';
import { DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT } from '../protocol/frame.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import { DEFAULT_CACHED_MESSAGES } from '../store/log-pool.ts';

export interface ServerConfig {
  host: string;
  port: number;
  /** seconds an account stays locked after too many failed logins */
  blockDuration: number;
  /** seconds without a user command before a client is logged out; 0 turns it off */
  timeout: number;
  /** consecutive wrong passwords that lock an account */
  maxLoginFailures: number;
  keysDir: string;
  storeDir: string;
  logLevel: LogLevel;
  /** largest frame payload accepted, bytes; bounds what one peer can make the server buffer */
  maxFrame: number;
  /** seconds a new connection has to finish the handshake (slowloris guard) */
  handshakeTimeout: number;
  /** seconds of silence from a client before the server pings it; twice this closes it */
  pingInterval: number;
  /** outbound bytes queued for one client before it is dropped as a slow consumer */
  maxQueuedBytes: number;
  /** days a session token stays valid */
  tokenDays: number;
  /** messages that may wait in one offline user's mailbox; bounds what one user can make us store */
  mailboxCap: number;
  /** days of conversation history kept; 0 keeps everything */
  historyDays: number;
  /** messages that conversations nobody is using may keep in memory, and as many for mailboxes (least recently used closed first) */
  cachedMessages: number;
  /** seconds a live delivery waits for the recipient's acknowledgement before it is stored */
  ackTimeout: number;
  /** ms between the starts of store write batches (group commit): under load, one journal write per interval */
  flushInterval: number;
  /** ms between store checkpoints (journaled appends written into their files, the journal deleted): a kill replays at most this much */
  checkpointInterval: number;
  /** seconds without a command before an available user shows as away; 0 = never */
  awayAfter: number;
  /** user commands one user may send in a burst before the rate applies (login, who and the outbox resend at start fit) */
  rateBurst: number;
  /** user commands per second per user once the burst is spent; 0 turns message flood control off */
  ratePerSecond: number;
  /** requests refused with E_RATE_LIMITED in a row before the connection is closed as a flood */
  rateStrikes: number;
  /** new connections one address may open at once (a class behind one NAT reconnecting after a restart) */
  connBurst: number;
  /** new connections per minute per address once the burst is spent; 0 turns the connection rate limit off */
  connPerMinute: number;
  /** connections one address may hold open at once (fd exhaustion guard); 0 = no cap */
  connMaxPerIp: number;
}

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 7513,
  blockDuration: 60,
  timeout: 1800,
  maxLoginFailures: 3,
  keysDir: 'keys',
  storeDir: 'store/server',
  logLevel: 'info',
  maxFrame: DEFAULT_MAX_FRAME,
  handshakeTimeout: 10,
  pingInterval: 30,
  maxQueuedBytes: 8 * 1024 * 1024,
  tokenDays: 30,
  mailboxCap: 10_000,
  historyDays: 365,
  cachedMessages: DEFAULT_CACHED_MESSAGES,
  ackTimeout: 5,
  flushInterval: 50,
  checkpointInterval: 2000,
  awayAfter: 300,
  // People type well under one message a second; 5/s leaves room for quick corrections, and a
  // burst of 30 covers a start (login, who, a few history pages) plus a typical outbox resend.
  rateBurst: 30,
  ratePerSecond: 5,
  // Refusals in a row: a client that pipelines its whole outbox may collect dozens before it
  // reads the first; 100 leaves it room, and a real flood (thousands a second) is cut in ms.
  rateStrikes: 100,
  // A whole class (30-40 people, often two clients each) may sit behind one NAT address and
  // reconnect together after a server restart: the burst lets 60 in at once, then 2 a second.
  // A connect storm from one address costs the server one refused socket each, never a
  // handshake, and at most 100 may stay open at once.
  connBurst: 60,
  connPerMinute: 120,
  connMaxPerIp: 100,
};

export const SERVER_USAGE = `Usage: parley-server [options]

Options:
  --host ADDR              address to listen on (default ${DEFAULT_CONFIG.host})
  --port N                 TCP port (default ${DEFAULT_CONFIG.port}; 0 picks a free one)
  --block-duration SECONDS lock-out after too many failed logins (default ${DEFAULT_CONFIG.blockDuration})
  --timeout SECONDS        log out users idle this long; 0 = never (default ${DEFAULT_CONFIG.timeout})
  --max-login-failures N   wrong passwords in a row before a lock-out (default ${DEFAULT_CONFIG.maxLoginFailures})
  --keys DIR               where the server key pair lives (default ${DEFAULT_CONFIG.keysDir})
  --store DIR              where accounts are stored (default ${DEFAULT_CONFIG.storeDir})
  --log-level LEVEL        ${LOG_LEVELS.join('|')} (default ${DEFAULT_CONFIG.logLevel})
  --max-frame BYTES        largest frame accepted (default ${DEFAULT_CONFIG.maxFrame})
  --handshake-timeout S    time a new connection has to send its key message (default ${DEFAULT_CONFIG.handshakeTimeout})
  --ping-interval S        ping clients silent this long, drop them at twice it (default ${DEFAULT_CONFIG.pingInterval})
  --mailbox-cap N          messages that may wait for one offline user (default ${DEFAULT_CONFIG.mailboxCap})
  --history-days D         days of history kept; 0 = forever (default ${DEFAULT_CONFIG.historyDays})
  --cached-messages N      messages kept in memory from conversations nobody is using, and as
                           many from mailboxes (default ${DEFAULT_CONFIG.cachedMessages})
  --ack-timeout S          wait this long for a recipient's ack before storing (default ${DEFAULT_CONFIG.ackTimeout})
  --flush-interval MS      start a store write batch at most once per MS; 0 = every pass (default ${DEFAULT_CONFIG.flushInterval})
  --checkpoint-interval MS write journaled messages into their files this often (default ${DEFAULT_CONFIG.checkpointInterval})
  --away-after S           show idle users as away after this long; 0 = never (default ${DEFAULT_CONFIG.awayAfter})
  --rate-burst N           commands a user may send at once (default ${DEFAULT_CONFIG.rateBurst})
  --rate-per-second R      commands a second per user after the burst; 0 = no limit (default ${DEFAULT_CONFIG.ratePerSecond})
  --rate-strikes N         refusals in a row that disconnect a flooding client (default ${DEFAULT_CONFIG.rateStrikes})
  --conn-burst N           new connections one address may open at once (default ${DEFAULT_CONFIG.connBurst})
  --conn-per-minute N      new connections a minute per address after the burst; 0 = no limit (default ${DEFAULT_CONFIG.connPerMinute})
  --conn-max-per-ip N      connections one address may hold open; 0 = no cap (default ${DEFAULT_CONFIG.connMaxPerIp})
  --help                   show this help
`;

function number(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
    throw new ParleyError('E_USAGE', `--${flag} takes a number from ${min} to ${max}, not '${raw}'`);
  }
  return value;
}

/** Parses command-line flags. Throws E_USAGE with a sentence naming the bad flag. */
export function parseServerArgs(argv: string[]): { help: true } | { help: false; config: ServerConfig } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'block-duration': { type: 'string' },
        timeout: { type: 'string' },
        'max-login-failures': { type: 'string' },
        keys: { type: 'string' },
        store: { type: 'string' },
        'log-level': { type: 'string' },
        'max-frame': { type: 'string' },
        'handshake-timeout': { type: 'string' },
        'ping-interval': { type: 'string' },
        'mailbox-cap': { type: 'string' },
        'history-days': { type: 'string' },
        'cached-messages': { type: 'string' },
        'ack-timeout': { type: 'string' },
        'flush-interval': { type: 'string' },
        'checkpoint-interval': { type: 'string' },
        'away-after': { type: 'string' },
        'rate-burst': { type: 'string' },
        'rate-per-second': { type: 'string' },
        'rate-strikes': { type: 'string' },
        'conn-burst': { type: 'string' },
        'conn-per-minute': { type: 'string' },
        'conn-max-per-ip': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ParleyError('E_USAGE', (err as Error).message);
  }
  if (values.help) return { help: true };
  const str = (key: string) => values[key] as string | undefined;
  const logLevel = str('log-level') ?? DEFAULT_CONFIG.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ParleyError('E_USAGE', `--log-level is one of ${LOG_LEVELS.join(', ')}, not '${logLevel}'`);
  }
  const d = DEFAULT_CONFIG;
  return {
    help: false,
    config: {
      ...d,
      host: str('host') ?? d.host,
      port: number('port', str('port'), d.port, 0, 65535),
      blockDuration: number('block-duration', str('block-duration'), d.blockDuration, 0, 86400 * 365),
      timeout: number('timeout', str('timeout'), d.timeout, 0, 86400 * 365),
      maxLoginFailures: number('max-login-failures', str('max-login-failures'), d.maxLoginFailures, 1, 1000),
      keysDir: str('keys') ?? d.keysDir,
      storeDir: str('store') ?? d.storeDir,
      logLevel: logLevel as LogLevel,
      // at least 64 KiB, so that the longest valid message always fits in one frame
      maxFrame: number('max-frame', str('max-frame'), d.maxFrame, 64 * 1024, MAX_FRAME_LIMIT),
      handshakeTimeout: number('handshake-timeout', str('handshake-timeout'), d.handshakeTimeout, 0.1, 3600),
      pingInterval: number('ping-interval', str('ping-interval'), d.pingInterval, 0.1, 3600),
      mailboxCap: number('mailbox-cap', str('mailbox-cap'), d.mailboxCap, 1, 10_000_000),
      historyDays: number('history-days', str('history-days'), d.historyDays, 0, 36500),
      cachedMessages: number('cached-messages', str('cached-messages'), d.cachedMessages, 0, 100_000_000),
      ackTimeout: number('ack-timeout', str('ack-timeout'), d.ackTimeout, 0.05, 3600),
      flushInterval: number('flush-interval', str('flush-interval'), d.flushInterval, 0, 10_000),
      checkpointInterval: number('checkpoint-interval', str('checkpoint-interval'), d.checkpointInterval, 10, 600_000),
      awayAfter: number('away-after', str('away-after'), d.awayAfter, 0, 86400),
      rateBurst: number('rate-burst', str('rate-burst'), d.rateBurst, 1, 1_000_000),
      ratePerSecond: number('rate-per-second', str('rate-per-second'), d.ratePerSecond, 0, 1_000_000),
      rateStrikes: number('rate-strikes', str('rate-strikes'), d.rateStrikes, 1, 1_000_000),
      connBurst: number('conn-burst', str('conn-burst'), d.connBurst, 1, 1_000_000),
      connPerMinute: number('conn-per-minute', str('conn-per-minute'), d.connPerMinute, 0, 1_000_000),
      connMaxPerIp: number('conn-max-per-ip', str('conn-max-per-ip'), d.connMaxPerIp, 0, 1_000_000),
    },
  };
}
