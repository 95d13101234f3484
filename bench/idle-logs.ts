/**
 * What conversations nobody is using cost a server's memory (docs/BENCHMARKS.md, "Idle
 * conversations"): messages recorded in many conversations, a few at a time, as a long-running
 * server sees them (with their texts, as the hub records them); then the heap and Buffers, with the server's budget (--cached-messages) and with none
 * (every log kept open, as before the budget), and the time to read the newest page of a
 * conversation whose log was closed against one still open.
 *
 *   node --expose-gc --import tsx bench/idle-logs.ts [--conversations N] [--messages N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { conversationOf, Histories, type HistoryRecord } from '../src/server/histories.ts';
import { DEFAULT_CACHED_MESSAGES } from '../src/store/log-pool.ts';
import { Store } from '../src/store/store.ts';
import { numberArg, sleep } from './lib/proc.ts';

const CONVERSATIONS = numberArg('--conversations', 10_000);
/** Messages per conversation. */
const MESSAGES = numberArg('--messages', 60);
const TEXT = 'see you at the lab at ten, bring the notes from last week please';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/**
 * The V8 heap and the memory of Buffers (a log segment the store holds as its texts is there),
 * MB. V8 frees dead Buffers' memory on a background thread after a collection: read after it has
 * (as test/e2e/hostile.test.ts does), or the Buffers figure swings by megabytes from run to run.
 */
async function memoryMb(): Promise<{ heap: number; buffers: number }> {
  gc!();
  await sleep(100);
  gc!();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return { heap: heapUsed / 1024 / 1024, buffers: arrayBuffers / 1024 / 1024 };
}

async function run(budget: number, label: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-idle-logs-'));
  try {
    const store = await Store.open(dir, { flushIntervalMs: 50 });
    const histories = new Histories(store, budget);
    const before = await memoryMb();
    let n = 0;
    const started = performance.now();
    // A few messages at a time in each conversation, round and round, as a day of chat goes.
    for (let round = 0; round < MESSAGES; round += 10) {
      for (let c = 0; c < CONVERSATIONS; c += 500) {
        const writes = [];
        for (let k = c; k < Math.min(c + 500, CONVERSATIONS); k++) {
          for (let m = round; m < Math.min(round + 10, MESSAGES); m++) {
            const record: HistoryRecord = { msgId: `m${n++}`, scope: 'private', from: `a${k}`, to: `b${k}`, text: TEXT, ts: 1_760_000_000_000 };
            // With its text cut from the message's, as the hub records it.
            writes.push(histories.append(conversationOf(`a${k}`, `b${k}`), record, false, JSON.stringify({ type: 'msg', ...record })));
          }
        }
        await Promise.all(writes);
      }
    }
    const recordS = (performance.now() - started) / 1000;
    await store.flush();
    const after = await memoryMb();
    const heap = after.heap - before.heap;
    const buffers = after.buffers - before.buffers;
    // The newest page of a conversation: the last one touched (open), and the first (closed
    // under the budget, so it is read from disk).
    const pageMs = async (k: number) => {
      const t = performance.now();
      for (let i = 0; i < 20; i++) await histories.page(conversationOf(`a${k}`, `b${k}`), undefined, 20);
      return (performance.now() - t) / 20;
    };
    const firstPage = await pageMs(0); // the first read may reopen; later ones find it open
    const lastPage = await pageMs(CONVERSATIONS - 1);
    console.log(
      `${label.padEnd(28)} heap ${heap.toFixed(1).padStart(6)} MB + buffers ${buffers.toFixed(1).padStart(5)} MB  (${(((heap + buffers) * 1024 * 1024) / CONVERSATIONS / 1024).toFixed(1)} KB a conversation)  ` +
        `open logs ${String(histories.openLogs).padStart(6)}  recording ${recordS.toFixed(1)} s  ` +
        `newest page ${firstPage.toFixed(2)} ms (first conversation) / ${lastPage.toFixed(2)} ms (last)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`bench/idle-logs: ${CONVERSATIONS.toLocaleString('en')} conversations x ${MESSAGES} messages, node ${process.version}`);
await run(DEFAULT_CACHED_MESSAGES, `budget ${DEFAULT_CACHED_MESSAGES.toLocaleString('en')} (default)`);
await run(Number.MAX_SAFE_INTEGER, 'no budget (every log open)');
