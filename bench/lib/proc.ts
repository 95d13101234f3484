/**
 * What every benchmark needs of processes and numbers: CPU time from /proc, the port a child
 * listens on, pinning with taskset, numeric flags, percentiles and formatting.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The word after `flag` on the command line (`--baseline DIR`), or undefined when it is absent. */
export function arg(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** The number after `flag` on the command line (`--rounds 5`), or `fallback` when it is absent. */
export function numberArg(flag: string, fallback: number): number {
  const value = arg(flag);
  return value === undefined ? fallback : Number(value);
}

/** The space-separated list after `flag` (`--node-flags '--trace-gc --cpu-prof'`); empty when absent. */
export function listArg(flag: string): string[] {
  return arg(flag)?.split(/\s+/).filter(Boolean) ?? [];
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process (all its threads), in µs, from /proc/PID/stat. */
export function cpuMicros(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** User and system (kernel: system calls, the loopback's TCP) CPU time of a process, in µs. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return { user: (Number(fields[11]) * 1e6) / clockTicks, system: (Number(fields[12]) * 1e6) / clockTicks };
}

/** Resident set size of a process in bytes, from /proc/PID/status. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** The TCP port a process listens on, found through its socket inodes (it was told port 0). */
export function listeningPort(pid: number): number | null {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // the fd closed while we looked
    }
  }
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) return parseInt(f[1].split(':')[1], 16);
    }
  }
  return null;
}

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Pins every thread of `pid` to `core`; false where that cannot be done (no taskset, 1 core). */
export function pin(pid: number, core: number): boolean {
  if (!hasTaskset || cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Lets `pid` run on every core again. */
export function unpin(pid: number): void {
  if (!hasTaskset) return;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', `0-${cpus().length - 1}`, String(pid)], { stdio: 'ignore' });
  } catch {
    // it exited
  }
}

/** The p-th percentile of sorted values (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const fmt = (n: number, digits = 1) => n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const pad = (s: string, n: number) => s.padEnd(n);
export const lpad = (s: string, n: number) => s.padStart(n);
export const loadAverage = () => loadavg().map((n) => n.toFixed(2)).join(' ');
export const machine = () => {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}, ${process.platform}`;
};
/** CLOCK_MONOTONIC in µs: the clock of a --cpu-prof profile. */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

/** Ends a bench script: once `main` settles, `cleanup` runs, then the exit (1, with the error printed, when `main` failed). */
export function exitAfter(main: Promise<void>, cleanup: () => unknown = () => undefined): void {
  main.then(
    async () => {
      await cleanup();
      process.exit(0);
    },
    async (err: unknown) => {
      console.error(err);
      await cleanup();
      process.exit(1);
    },
  );
}
