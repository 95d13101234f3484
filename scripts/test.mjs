#!/usr/bin/env node
// Runs every test/**/*.test.ts under uvu with c8 coverage (threshold enforced), then prints the
// one line CI reads: `N passed, N failed`. uvu prints no failed count, so it is computed here.
import { spawn } from 'node:child_process';

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const args = [
  'node_modules/c8/bin/c8.js', '--all', '--src', 'src', '--include', 'src/**/*.ts',
  '--exclude', 'src/cli/**', '--reporter', 'text-summary', '--reporter', 'text',
  '--check-coverage', '--lines', '85',
  process.execPath, '--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern,
];
// A hung test must not hang CI: the whole run is bounded.
const LIMIT_MS = 8 * 60 * 1000;
const child = spawn(process.execPath, args, { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
const keep = (chunk, stream) => {
  output += chunk.toString();
  stream.write(chunk);
};
child.stdout.on('data', (c) => keep(c, process.stdout));
child.stderr.on('data', (c) => keep(c, process.stderr));
const timer = setTimeout(() => {
  process.stderr.write(`\ntest run exceeded ${LIMIT_MS / 60000} minutes; stopping it\n`);
  child.kill('SIGKILL');
}, LIMIT_MS);
child.on('close', (code, signal) => {
  clearTimeout(timer);
  const count = (label) => {
    const match = output.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm'));
    return match ? Number(match[1]) : 0;
  };
  const total = count('Total');
  const passed = count('Passed');
  const skipped = count('Skipped');
  // A run that crashed before uvu's summary counts as one failure, never as a pass.
  const failed = total === 0 && code !== 0 ? 1 : total - passed - skipped;
  if (total === 0) process.stderr.write(`\nthe test process ended before uvu's summary (exit code ${code}, signal ${signal}); the last test file named above is where it stopped\n`);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failed === 0 && total > 0 ? 0 : 1);
});
