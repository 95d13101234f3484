/**
 * What the garbage collector did in a server run traced with `--trace-gc --trace-gc-nvp`: how
 * many scavenges, their pauses and their helper threads' time, what was allocated between them,
 * what survived each and what was promoted to the old generation; the mark-compacts and theirs.
 * A scavenge costs what survives it, and in a busy relay that is the messages in flight, about the
 * same at every scavenge: so what a change allocates a message sets how often they come, and what
 * it keeps past two of them is promoted, for the mark-compacts (docs/BENCHMARKS.md, twenty-second
 * session).
 *
 *   BENCH_SERVER_OUTPUT=/tmp/gc.log node --import tsx bench/compare.ts --only parley --workloads relay16 \
 *     --rounds 3 --node-flags '--trace-gc --trace-gc-nvp'
 *   node --import tsx bench/gc-summary.ts /tmp/gc.log
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx bench/gc-summary.ts FILE   (a server\'s output under --trace-gc --trace-gc-nvp)');
  process.exit(2);
}

/** A `name=value` figure of one --trace-gc-nvp line, 0 when it has none. */
const figure = (line: string, name: string): number => Number(new RegExp(`(?:^|\\s)${name.replace('.', '\\.')}=([\\d.]+)`).exec(line)?.[1] ?? 0);

const scavenges = { count: 0, pauseMs: 0, helperMs: 0, allocated: 0, survived: 0, promoted: 0 };
const markCompacts = { count: 0, pauseMs: 0 };
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (/\sgc=s\s/.test(line)) {
    scavenges.count++;
    scavenges.pauseMs += figure(line, 'pause');
    scavenges.helperMs += figure(line, 'background.scavenge.parallel');
    scavenges.allocated += figure(line, 'allocated');
    scavenges.survived += figure(line, 'new_space_survived');
    scavenges.promoted += figure(line, 'promoted');
  } else if (/\sgc=mc\s/.test(line)) {
    markCompacts.count++;
    markCompacts.pauseMs += figure(line, 'pause');
  }
}
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 0)} MB`;
const each = (bytes: number) => mb(scavenges.count > 0 ? bytes / scavenges.count : 0);
console.log(`scavenges       ${scavenges.count}, paused ${scavenges.pauseMs.toFixed(0)} ms, helper threads ${scavenges.helperMs.toFixed(0)} ms`);
console.log(`allocated       ${mb(scavenges.allocated)} (${each(scavenges.allocated)} between two)`);
console.log(`survived        ${mb(scavenges.survived)} (${each(scavenges.survived)} a scavenge)`);
console.log(`promoted        ${mb(scavenges.promoted)} (${each(scavenges.promoted)} a scavenge)`);
console.log(`mark-compacts   ${markCompacts.count}, paused ${markCompacts.pauseMs.toFixed(0)} ms`);
