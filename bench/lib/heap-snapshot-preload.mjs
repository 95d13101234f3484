// Preloaded into a server by bench/connection-heap.ts (node --import): when the file named by
// HEAP_SNAPSHOT_TRIGGER appears, a full GC, then a heap snapshot written to the path the file
// holds; the file is removed once the snapshot is on disk.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

const trigger = process.env.HEAP_SNAPSHOT_TRIGGER;
if (trigger) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  setInterval(() => {
    if (!existsSync(trigger)) return;
    const out = readFileSync(trigger, 'utf8');
    gc();
    writeHeapSnapshot(out);
    unlinkSync(trigger);
  }, 100).unref();
}
