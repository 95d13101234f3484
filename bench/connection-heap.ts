/**
 * What one idle logged-in connection holds on the server's V8 heap, by kind of object: heap
 * snapshots of the real server (bin/parley-server.js) with no client and with N clients that
 * resumed their sessions, each after a full GC; the difference over N. Finer than
 * bench/connections' RSS and heapUsed deltas, and it says what the bytes are.
 *
 *   node --import tsx bench/connection-heap.ts [--clients N (2000)] [--top K (20)]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LightClient } from './lib/light-client.ts';
import { createAccounts, HOST, ParleyServerChild } from './lib/parley-server.ts';
import { fmt, lpad, numberArg, sleep } from './lib/proc.ts';

const N = numberArg('--clients', 2000);
const TOP = numberArg('--top', 20);

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self sizes summed by `type:name` (strings and code lumped by type). */
function bytesByKind(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const types = s.snapshot.meta.node_types[0];
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const t = types[s.nodes[i + type]];
    const key = /string$/.test(t) || t === 'code' || t === 'number' ? t : `${t}:${s.strings[s.nodes[i + name]].slice(0, 60)}`;
    const kind = kinds.get(key) ?? { count: 0, bytes: 0 };
    kind.count++;
    kind.bytes += s.nodes[i + size];
    kinds.set(key, kind);
  }
  return kinds;
}

const root = mkdtempSync(join(tmpdir(), 'parley-connection-heap-'));
const trigger = join(root, 'snapshot-now');
let server: ParleyServerChild | null = null;
const clients: LightClient[] = [];
try {
  const names = Array.from({ length: N }, (_, i) => `u${String(i).padStart(5, '0')}`);
  const tokens = await createAccounts(root, names);
  process.env.HEAP_SNAPSHOT_TRIGGER = trigger; // the server inherits it
  server = await ParleyServerChild.start({ root, nodeFlags: ['--import', join(import.meta.dirname, 'lib', 'heap-snapshot-preload.mjs')] });
  const port = server.port;
  const snapshot = async (file: string) => {
    writeFileSync(trigger, file);
    while (existsSync(trigger)) await sleep(100);
    return bytesByKind(file);
  };
  const open = async (name: string) => {
    const client = new LightClient({ host: HOST, port });
    clients.push(client);
    await client.opened;
    await client.request({ type: 'resume', user: name, token: tokens.get(name)! });
  };
  // A warm-up round of the same clients, gone again, so that what is made once is in both snapshots.
  for (let i = 0; i < Math.min(N, 200); i += 100) await Promise.all(names.slice(i, i + 100).map(open));
  for (const client of clients.splice(0)) client.close();
  await sleep(2000);
  const before = await snapshot(join(root, 'none.heapsnapshot'));
  for (let i = 0; i < N; i += 100) await Promise.all(names.slice(i, i + 100).map(open));
  await sleep(2000);
  const after = await snapshot(join(root, 'all.heapsnapshot'));
  const rows = [...after].map(([key, a]) => {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: (a.count - b.count) / N, bytes: (a.bytes - b.bytes) / N };
  });
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`server V8 heap per idle logged-in connection (${N.toLocaleString('en')} clients, after a full GC): ${fmt(total / 1024, 2)} KB`);
  console.log(`  bytes  objects  kind (type:constructor or name)`);
  for (const r of rows.sort((x, y) => y.bytes - x.bytes).slice(0, TOP)) console.log(`  ${lpad(fmt(r.bytes, 0), 5)}  ${lpad(fmt(r.count, 2), 7)}  ${r.key}`);
} finally {
  for (const client of clients) client.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
}
