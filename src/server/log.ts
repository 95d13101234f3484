/**
 * The server window's log: one readable, timestamped line per event. Message content is never
 * logged, only who sent how many bytes to whom.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(line: string): void;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** Whether lines of `level` are written: hot paths check before they build a line. */
  enabled(level: LogLevel): boolean;
}

/** `2026-11-25 14:02:03.123` in local time, the way people read a server window. */
export function formatTime(at: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at = (name: LogLevel) => {
    if (LOG_LEVELS.indexOf(name) < threshold) return () => {};
    const label = name.toUpperCase().padEnd(5);
    return (line: string) => write(`${formatTime(new Date())} ${label} ${line}\n`);
  };
  const enabled = (name: LogLevel) => LOG_LEVELS.indexOf(name) >= threshold;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), enabled };
}
