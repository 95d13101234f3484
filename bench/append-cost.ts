/**
 * The cost of recording a message: Histories.appendFor into 100 conversations (with the record's
 * text cut from the message's, as the hub does; the message's serialisation is counted), 50 appends per
 * event-loop pass, the server's 50 ms flush interval, journal and checkpoints included. Prints the
 * process CPU per append for each round. A store change is judged here more finely than by a
 * whole relay (docs/BENCHMARKS.md, "The cost of recording a message").
 *
 *   node --import tsx bench/append-cost.ts [--rounds N] [--messages N] [--conversations N (100)] [--flush-interval MS] [--checkpoint-interval MS]
 *   node --expose-gc --import tsx bench/append-cost.ts   # also: the heap recording holds between checkpoints
 *
 * CPU time on this machine varies by 30% from run to run. Instructions counted by callgrind vary
 * less, though still by ~5%, as batches and checkpoints follow the clock (and page faults, a
 * kernel cost, are not counted). Count them on a bundled copy (no loader under valgrind), and
 * subtract a run with fewer rounds so that start-up and JIT warm-up cancel out. Valgrind runs
 * the code ~50 times slower: stretch the store's timers as much, or each checkpoint covers a
 * fiftieth of the appends it covers at full speed and rewrites every busy segment 50 times as
 * often (a rewrite then outweighs everything else):
 *
 *   npx esbuild bench/append-cost.ts --bundle --platform=node --format=esm --packages=external --outfile=/tmp/ac.mjs
 *   ln -s "$PWD/node_modules" /tmp/node_modules
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded /tmp/ac.mjs --rounds 2 --flush-interval 2500 --checkpoint-interval 100000   # then --rounds 6
 *   (instructions per append = (total with 6 rounds - total with 2) / (4 x messages))
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Histories, type HistoryRecord, type RecordWaiter } from '../src/server/histories.ts';
import { Store } from '../src/store/store.ts';
import { numberArg } from './lib/proc.ts';

const ROUNDS = numberArg('--rounds', 3);
const MESSAGES = numberArg('--messages', 20_000);
/** The server's store timers (as parley-server's --flush-interval and --checkpoint-interval). */
const FLUSH_INTERVAL_MS = numberArg('--flush-interval', 50);
const CHECKPOINT_INTERVAL_MS = numberArg('--checkpoint-interval', 2000);
/** Conversations the appends go round (--conversations N): with many, each gets a few messages between two checkpoints, as in a class's server. */
const CONVERSATIONS = numberArg('--conversations', 100);
const PER_PASS = 50;

const dir = mkdtempSync(join(tmpdir(), 'parley-append-cost-'));
try {
  const store = await Store.open(dir, { flushIntervalMs: FLUSH_INTERVAL_MS, checkpointMs: CHECKPOINT_INTERVAL_MS });
  const histories = new Histories(store);
  const conversations = Array.from({ length: CONVERSATIONS }, (_, i) => `history/private/alice${i}.bob${i}`);
  for (const conversation of conversations) await histories.page(conversation, undefined, 1); // opens its log
  const text = 'x'.repeat(100);
  const waiter: RecordWaiter = { recordEnded: () => undefined };
  let n = 0;
  /** MESSAGES appends, PER_PASS per event-loop pass. */
  const appendAll = async (): Promise<void> => {
    for (let i = 0; i < MESSAGES; i += PER_PASS) {
      for (let j = 0; j < PER_PASS; j++, n++) {
        const pair = n % CONVERSATIONS;
        const record: HistoryRecord = { msgId: `m${String(n).padStart(21, '0')}`, scope: 'private', from: `alice${pair}`, to: `bob${pair}`, text, ts: Date.now() };
        // As the hub does: the message is serialised for its recipient, and its record is cut from that text.
        const json = JSON.stringify({ type: 'msg', ...record });
        histories.appendFor(conversations[pair], record, false, waiter, json);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const round = async (): Promise<number> => {
    const start = process.cpuUsage();
    await appendAll();
    await store.flush();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / MESSAGES;
  };
  await round(); // warm-up
  for (let r = 1; r <= ROUNDS; r++) console.log(`round ${r}: ${(await round()).toFixed(2)} µs of CPU per append (${MESSAGES.toLocaleString('en')} appends)`);
  // What recording holds in memory between checkpoints (every 2 s): with --expose-gc only.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    const started = performance.now();
    await appendAll();
    await new Promise((resolve) => setTimeout(resolve, 200)); // their batches, not yet a checkpoint
    const took = performance.now() - started;
    gc();
    const held = process.memoryUsage().heapUsed;
    await store.flush();
    gc();
    const freed = held - process.memoryUsage().heapUsed;
    console.log(`${MESSAGES.toLocaleString('en')} appends in ${took.toFixed(0)} ms: the checkpoint after them let go of ${(freed / 2 ** 20).toFixed(1)} MB held for it`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
