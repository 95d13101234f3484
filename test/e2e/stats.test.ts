import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { registered, sleep, startServer } from './helpers.ts';

test('stats(): connections, who is online, memory, and the event-loop delay since the last call', async () => {
  const served = await startServer();
  try {
    const first = served.server.stats();
    assert.is(first.connections, 0);
    assert.is(first.online, 0);
    assert.is(first.eventLoopDelayMs, null, 'the first call starts measuring');
    assert.ok(first.rss > 0 && first.heapUsed > 0 && first.cpuMicros > 0);
    const alice = await registered(served.port, 'alice');
    await sleep(60);
    await alice.broadcast('hello, everyone');
    const second = served.server.stats();
    assert.is(second.connections, 1);
    assert.is(second.online, 1);
    assert.is(second.openMailboxes, 1, "alice's, held by her session");
    assert.is(second.openHistories, 1, 'the lobby');
    const delay = second.eventLoopDelayMs!;
    assert.ok(delay.samples > 0, 'samples were taken since the first call');
    assert.ok(delay.p50 >= 0 && delay.p50 <= delay.p99 && delay.p99 <= delay.max, JSON.stringify(delay));
    alice.close();
  } finally {
    await served.stop();
  }
});

test.run();
