#!/usr/bin/env node
// Runs every test/**/*.test.ts under uvu with c8 coverage (threshold enforced), then prints the
// one line CI reads: `N passed, N failed`. uvu prints no failed count, so it is computed here.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const args = [
  'node_modules/c8/bin/c8.js', '--all', '--src', 'src', '--include', 'src/**/*.ts',
  '--exclude', 'src/cli/**', '--reporter', 'text-summary', '--reporter', 'text',
  '--check-coverage', '--lines', '85',
  process.execPath, '--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern,
];
// A hung test must not hang CI: the whole run is bounded.
const LIMIT_MS = 8 * 60 * 1000;
// Its own process group: c8 runs the tests in a child of its own, which must go too when the
// run is stopped (killed alone, c8 left it running, holding the output open, and this waited).
// Every temporary directory the tests make (stores, keys, client data) goes under one directory of
// this run, removed when it ends: tests that stop early, or whose server writes once more after
// their cleanup, would otherwise leave thousands of them in /tmp over a day of runs.
const runTmp = mkdtempSync(join(tmpdir(), 'parley-test-run-'));
const child = spawn(process.execPath, args, { env: { ...process.env, TMPDIR: runTmp, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
let output = '';
const keep = (chunk, stream) => {
  output += chunk.toString();
  stream.write(chunk);
};
child.stdout.on('data', (c) => keep(c, process.stdout));
child.stderr.on('data', (c) => keep(c, process.stderr));
// Ctrl+C or a stop reaches this process only (the tests have a group of their own): pass it on.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.kill(-child.pid, signal));
let timedOut = false;
const timer = setTimeout(() => {
  timedOut = true;
  process.stderr.write(`\ntest run exceeded ${LIMIT_MS / 60000} minutes; stopping it\n`);
  process.kill(-child.pid, 'SIGKILL');
}, LIMIT_MS);
child.on('close', (code, signal) => {
  clearTimeout(timer);
  rmSync(runTmp, { recursive: true, force: true });
  const count = (label) => {
    const match = output.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm'));
    return match ? Number(match[1]) : 0;
  };
  const total = count('Total');
  const passed = count('Passed');
  const skipped = count('Skipped');
  // A run that crashed before uvu's summary counts as one failure, never as a pass; so does one
  // that had to be stopped (a test that leaves something running never lets the process end).
  const counted = total - passed - skipped;
  const failed = (total === 0 && code !== 0) || timedOut ? Math.max(1, counted) : counted;
  if (total === 0) {
    process.stderr.write(`\nthe test process ended before uvu's summary (exit code ${code}, signal ${signal})\n`);
    process.stderr.write(whereItStopped(output));
  }
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failed === 0 && total > 0 ? 0 : 1);
});

/**
 * The test file the run stopped in and what was printed after its name (the crash's stack), up to
 * the coverage report. Repeated at the very end because CI logs are often read from the tail,
 * where the coverage table would otherwise hide them.
 */
function whereItStopped(text) {
  const report = text.indexOf('=============================== Coverage summary');
  const before = report === -1 ? text : text.slice(0, report);
  const files = [...before.matchAll(/^(\S+\.test\.ts)$/gm)];
  if (files.length === 0) return 'no test file had started\n';
  const last = files.at(-1);
  const printed = before.slice(last.index + last[0].length).split('\n').slice(-60).join('\n').trim();
  return `it stopped in test/${last[1]}, which printed:\n${printed}\n`;
}
