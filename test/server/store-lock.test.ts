/**
 * One server per store directory (src/server/store-lock.ts): the claim, what counts as a live
 * holder, and taking over what a killed server left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { claimStore, PID_FILE, releaseStore, storeHolder } from '../../src/server/store-lock.ts';
import { throwsCode } from '../helpers/codes.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-lock-'));
let n = 0;
const freshDir = () => join(root, `s${n++}`);
const children: ChildProcess[] = [];
test.after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/**
 * A process that idles; `parley` in its command line makes it look like a server. Returned once
 * it runs its own program (right after the fork it still shows this process's command line).
 */
async function idler(looksLikeParley: boolean): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', looksLikeParley ? 'parley-server' : 'idle'], { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  const started = Date.now();
  while (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('setTimeout')) {
    if (Date.now() - started > 10_000) throw new Error('the idler did not start');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return pid;
}

const pidIn = (dir: string) => readFileSync(join(dir, PID_FILE), 'utf8').trim();

test('a claim makes the directory and writes this pid; claiming again in one process is no conflict; release removes it', () => {
  const dir = freshDir();
  assert.is(storeHolder(dir), null);
  claimStore(dir);
  assert.is(pidIn(dir), String(process.pid));
  assert.is(storeHolder(dir), process.pid);
  claimStore(dir);
  releaseStore(dir);
  assert.not.ok(existsSync(join(dir, PID_FILE)));
  assert.is(storeHolder(dir), null);
});

test('a live Parley process holds the store: E_STORE_IN_USE with its pid, and release leaves its claim alone', async () => {
  const dir = freshDir();
  claimStore(dir);
  const pid = await idler(true);
  writeFileSync(join(dir, PID_FILE), `${pid}\n`);
  assert.is(storeHolder(dir), pid);
  const err = throwsCode(() => claimStore(dir), 'E_STORE_IN_USE');
  assert.equal(err.details, { pid });
  assert.match(err.message, `(pid ${pid}`);
  releaseStore(dir);
  assert.is(pidIn(dir), String(pid));
});

test('stale claims are taken over: a dead pid, a pid now used by something else, garbage', async () => {
  for (const stale of ['999999999', String(await idler(false)), 'not a pid', '']) {
    const dir = freshDir();
    claimStore(dir);
    writeFileSync(join(dir, PID_FILE), `${stale}\n`);
    assert.is(storeHolder(dir), null, stale);
    claimStore(dir);
    assert.is(pidIn(dir), String(process.pid), stale);
  }
});

test.run();
