import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import type { ParleyClient } from '../../src/client/connection.ts';
import { registered, sleep, startServer, waitFor } from './helpers.ts';

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

test('stats(): a minor collection every N steps of connection setup: an admission, a completed handshake; none for connections refused', async () => {
  const served = await startServer({ connMaxPerIp: 3 }, undefined, true, { scavengeEvery: 2 });
  const sockets: Socket[] = [];
  const clients: ParleyClient[] = [];
  try {
    assert.is(served.server.stats().scavenges, 0);
    for (let i = 0; i < 5; i++) sockets.push(connect(served.port, '127.0.0.1'));
    await waitFor(() => served.lines.some((line) => line.includes('refused')) && served.server.connectionCount === 3, 3000, 'three admitted, the others refused');
    assert.is(served.server.stats().scavenges, 1, 'the second admitted connection ran one; the fourth and fifth were refused');
    for (const socket of sockets) socket.destroy();
    await waitFor(() => served.server.connectionCount === 0, 3000, 'the raw sockets gone');
    // A client that completes its handshake takes two steps: admitted (the fourth step), keyed (the fifth).
    clients.push(await registered(served.port, 'alice'));
    assert.is(served.server.stats().scavenges, 2, 'the fourth step, alice admitted, ran one');
    clients.push(await registered(served.port, 'bob'));
    assert.is(served.server.stats().scavenges, 3, 'the sixth, bob admitted after alice keyed, ran one');
  } finally {
    for (const client of clients) client.close();
    for (const socket of sockets) socket.destroy();
    await served.stop();
  }
});

test.run();
