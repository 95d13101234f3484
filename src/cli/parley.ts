/**
 * parley: the terminal client. Full-screen when stdin and stdout are terminals, plain line mode
 * with --plain or when stdin is not a terminal. Exit codes: 0 normal, 1 error, 2 bad flags.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ParleyClient } from '../client/connection.ts';
import { runPlain } from '../client/plain.ts';

export const CLIENT_USAGE = `Usage: parley [options]

Options:
  --host ADDR                 server address (default 127.0.0.1)
  --port N                    server port (default 7513)
  --user NAME                 log in as NAME at start (resumes a saved session, else asks the password)
  --store DIR                 where known servers and sessions are kept (default store/client)
  --server-fingerprint FP     trust only this server key (SHA256:...), and pin it
  --plain                     line mode instead of the full-screen UI (automatic when stdin is not a terminal)
  --json                      with --plain: print one JSON object per event
  --password-file FILE        read the password from FILE instead of asking
  --password-stdin            read the password from the first line of standard input
  --help                      show this help

Type /help once running for the commands.
`;

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n\n${CLIENT_USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '7513' },
        user: { type: 'string' },
        store: { type: 'string', default: 'store/client' },
        'server-fingerprint': { type: 'string' },
        plain: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'password-file': { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(CLIENT_USAGE);
    return;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port!) || port < 1 || port > 65535) fail(`--port takes a number from 1 to 65535, not '${values.port}'`);
  const expected = values['server-fingerprint'];
  if (expected !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(expected)) fail(`--server-fingerprint looks like SHA256: followed by 43 base64 characters, not '${expected}'`);
  if (values['password-file'] && values['password-stdin']) fail('use --password-file or --password-stdin, not both');

  let password: (() => Promise<string>) | undefined;
  if (values['password-file']) {
    const file = values['password-file'];
    let secret: string;
    try {
      secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      fail(`cannot read --password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    password = async () => secret;
  }

  const client = new ParleyClient({ host: values.host!, port, storeDir: values.store!, expectedFingerprint: expected });
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !values.plain && !values.json;
  if (interactive) {
    const { runTui } = await import('../client/tui/app.ts');
    await runTui(client, { user: values.user, password });
    return;
  }
  const plainOptions = {
    input: process.stdin,
    output: process.stdout,
    json: values.json!,
    password,
    user: values.user,
    exit: (code: number) => process.exit(code),
  };
  if (values['password-stdin'] && !password) {
    // The first line of standard input is the password; the rest are commands.
    const { firstLine } = await import('../client/password.ts');
    const secret = await firstLine(process.stdin);
    password = async () => secret;
    plainOptions.password = password;
  }
  await runPlain(client, plainOptions);
}

await main();
