/**
 * bin/parley-server.node-flags: the node flags the server starts with. make run-server and the
 * benchmarks' server (bench/lib/parley-server.ts) must read the same list, and node must take it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, serverNodeFlags } from '../../bench/lib/parley-server.ts';

test('the flags file holds node flags, and node starts with them', () => {
  const flags = serverNodeFlags();
  assert.ok(flags.length > 0, 'at least one flag');
  for (const flag of flags) assert.match(flag, /^--[a-z0-9-]+(=\S+)?$/);
  const run = spawnSync(process.execPath, [...flags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.is(run.status, 0, `node refused ${flags.join(' ')}: ${run.stderr}`);
});

test('make run-server passes the same flags as the benchmarks', () => {
  const make = spawnSync('make', ['-s', '-n', 'run-server'], { cwd: ROOT, encoding: 'utf8' });
  assert.is(make.status, 0, make.stderr);
  const line = make.stdout.trim().split('\n').find((l) => l.includes('bin/parley-server.js'))!;
  const before = line.slice(0, line.indexOf('bin/parley-server.js')).trim().split(/\s+/).slice(1);
  assert.equal(before, serverNodeFlags());
});

test('a checkout without the file (an older baseline) starts with no extra flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-flags-'));
  try {
    assert.equal(serverNodeFlags(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
