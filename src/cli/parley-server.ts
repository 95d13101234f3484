/**
 * parley-server: parse flags, start, log, and shut down cleanly on SIGINT/SIGTERM.
 * Exit codes: 0 clean stop, 1 could not start, 2 bad flags.
 */
import { parseServerArgs, SERVER_USAGE } from '../server/config.ts';
import { ParleyServer } from '../server/server.ts';
import { ParleyError } from '../protocol/errors.ts';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseServerArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`parley-server: ${(err as Error).message}\n\n${SERVER_USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(SERVER_USAGE);
    return;
  }
  let server: ParleyServer | null = null;
  let stopping: string | null = null;
  const stop = (signal: string) => {
    if (stopping) process.exit(130); // a second Ctrl+C does not wait
    stopping = signal;
    if (server === null) return; // still starting: it stops as soon as it has started
    server.log.info(`${signal}: shutting down`);
    server.stop().then(() => process.exit(0), () => process.exit(1));
  };
  // Before the start: a signal that came between "listening" and these handlers killed the process
  // without its clean stop, leaving its claim on the store behind.
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP')); // the terminal window was closed
  try {
    server = await ParleyServer.start(parsed.config);
  } catch (err) {
    const message = err instanceof ParleyError ? err.message : String(err);
    process.stderr.write(`parley-server: ${message}\n`);
    process.exit(1);
  }
  if (stopping !== null) {
    const signal: string = stopping;
    stopping = null;
    stop(signal);
  }
  // `kill -USR2 PID`: one JSON line on stdout, whatever the log level (bench/ reads it).
  process.on('SIGUSR2', () => process.stdout.write(`stats ${JSON.stringify(server.stats())}\n`));
}

await main();
