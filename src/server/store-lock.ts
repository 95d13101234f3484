/**
 * One server per store directory. Two servers on one store would each replay, append to and
 * delete the other's journals and overwrite each other's documents: messages would be lost
 * without a word. So a server claims the directory with `server.pid` (created exclusively) before
 * it opens the store, and removes it when it stops. A pid file whose process is gone (a server
 * that was killed) is taken over; `parley-admin` reads the same file to refuse writes while a
 * server holds the store.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ParleyError } from '../protocol/errors.ts';

export const PID_FILE = 'server.pid';

/** Whether `pid` is a running process that could be a Parley server. */
function isLiveServer(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A killed server's pid may since have gone to an unrelated process (Linux tells which).
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('parley');
  } catch {
    return true; // no /proc (or not readable): trust that the pid is alive
  }
}

/** The pid of the live server that holds `storeDir`, or null. */
export function storeHolder(storeDir: string): number | null {
  let text;
  try {
    text = readFileSync(join(storeDir, PID_FILE), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && (pid === process.pid || isLiveServer(pid)) ? pid : null;
}

/**
 * Claims `storeDir` for this process, or refuses with E_STORE_IN_USE naming the server that
 * holds it. This process's own earlier claim (a server restarted in one process) is no conflict.
 */
export function claimStore(storeDir: string): void {
  mkdirSync(storeDir, { recursive: true, mode: 0o700 });
  const file = join(storeDir, PID_FILE);
  // Twice at most: a stale file is removed and the exclusive create tried again; if another
  // server won that race, its pid is live the second time round.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = storeHolder(storeDir);
    if (holder === process.pid) return;
    if (holder !== null) {
      throw new ParleyError(
        'E_STORE_IN_USE',
        `the store ${storeDir} is in use by another Parley process (pid ${holder}: a parley-server, or parley-admin at work); stop it first, or give this one its own --store DIR`,
        { details: { pid: holder } },
      );
    }
    rmSync(file, { force: true }); // left by a server that was killed
  }
  throw new ParleyError('E_STORE_IN_USE', `could not claim the store ${storeDir}: ${file} keeps reappearing`);
}

/** Gives `storeDir` up, if this process holds it. */
export function releaseStore(storeDir: string): void {
  if (storeHolder(storeDir) === process.pid) rmSync(join(storeDir, PID_FILE), { force: true });
}
