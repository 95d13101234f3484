import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Store } from '../../src/store/store.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { rejectsCode } from '../helpers/codes.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-store-'));
let n = 0;
const freshDir = () => join(root, `s${n++}`);
test.after(() => rmSync(root, { recursive: true, force: true }));

const Person = z.object({ name: z.string(), age: z.number().int() });
const alice = { name: 'alice', age: 30 };
const bob = { name: 'bob', age: 25 };

function throwsSyncOrRejects(fn: () => unknown): Promise<void> {
  return (async () => {
    try {
      await fn();
    } catch (err) {
      assert.instance(err, ParleyError);
      return;
    }
    assert.unreachable('expected an error');
  })();
}

const stores: Array<[string, () => Promise<Store>]> = [
  ['memory', async () => Store.memory()],
  ['disk', () => Store.open(freshDir())],
];

for (const [kind, make] of stores) {
  test(`${kind}: put then get with a schema; missing documents are undefined`, async () => {
    const store = await make();
    assert.is(await store.get('people', 'alice', Person), undefined);
    await store.put('people', 'alice', alice);
    assert.equal(await store.get('people', 'alice', Person), alice);
    await store.put('people', 'alice', { ...alice, age: 31 });
    assert.equal(await store.get('people', 'alice', Person), { ...alice, age: 31 });
    assert.is(await store.get('people', 'bob', Person), undefined);
  });

  test(`${kind}: keys lists a collection's documents`, async () => {
    const store = await make();
    assert.equal(await store.keys('people'), []);
    await Promise.all([store.put('people', 'alice', alice), store.put('people', 'bob', bob), store.put('pets', 'rex', { name: 'rex', age: 3 })]);
    assert.equal((await store.keys('people')).sort(), ['alice', 'bob']);
    assert.equal(await store.keys('pets'), ['rex']);
    assert.equal(await store.keys('nothing'), []);
  });

  test(`${kind}: many puts in one tick share one batch (one promise)`, async () => {
    const store = await make();
    const promises = [];
    for (let i = 0; i < 50; i++) promises.push(store.put('people', `p${i}`, { name: `p${i}`, age: i }));
    promises.push(store.put('people', 'p0', { name: 'p0', age: 100 }));
    for (const p of promises) assert.is(p, promises[0]);
    await promises[0];
    // the next tick starts a new batch
    const later = store.put('people', 'late', { name: 'late', age: 1 });
    assert.is.not(later, promises[0]);
    await later;
    assert.equal(await store.get('people', 'p0', Person), { name: 'p0', age: 100 });
    assert.is((await store.keys('people')).length, 51);
  });

  test(`${kind}: unsafe collection names and keys are refused`, async () => {
    const store = await make();
    for (const bad of ['../x', 'A', '', '.hidden', 'a/b', 'x..y', 'a b', 'x'.repeat(129)]) {
      await throwsSyncOrRejects(() => store.put('people', bad, alice));
      await throwsSyncOrRejects(() => store.get('people', bad, Person));
    }
    // collections may nest (`mailbox/alice`), but every part must be safe
    for (const bad of ['../x', 'A', '', '.hidden', 'a//b', 'a/../b', 'x..y', 'a b', '/abs']) {
      await throwsSyncOrRejects(() => store.put(bad, 'ok', alice));
      await throwsSyncOrRejects(() => store.keys(bad));
    }
    assert.equal(await store.keys('people'), [], 'nothing was stored');
  });

  test(`${kind}: remove deletes a document; a put in the same batch brings it back`, async () => {
    const store = await make();
    await store.put('people', 'alice', alice);
    await store.put('people', 'bob', bob);
    await store.remove('people', 'alice');
    assert.is(await store.get('people', 'alice', Person), undefined);
    assert.equal(await store.keys('people'), ['bob']);
    if (store.dir !== null) assert.not.ok(existsSync(join(store.dir, 'people', 'alice.json')));
    await store.remove('people', 'never-there');
    void store.remove('people', 'bob');
    await store.put('people', 'bob', { ...bob, age: 26 });
    assert.equal(await store.get('people', 'bob', Person), { ...bob, age: 26 });
    assert.equal(await store.keys('people'), ['bob']);
  });

  test(`${kind}: collections nest, and collections() lists the sub-collections`, async () => {
    const store = await make();
    assert.equal(await store.collections('mailbox'), []);
    await Promise.all([store.put('mailbox/alice', 's0', alice), store.put('mailbox/bob', 's0', bob), store.put('mailbox/bob/deeper', 's0', bob), store.put('other', 'x', alice)]);
    assert.equal((await store.collections('mailbox')).sort(), ['alice', 'bob']);
    assert.equal(await store.keys('mailbox/alice'), ['s0']);
    assert.equal(await store.get('mailbox/bob', 's0', Person), bob);
  });

  test(`${kind}: flush waits for pending writes`, async () => {
    const store = await make();
    void store.put('people', 'alice', alice);
    await store.flush();
    if (store.dir !== null) assert.ok(existsSync(join(store.dir, 'people', 'alice.json')));
    await store.flush(); // nothing pending: returns
  });
}

test('disk: put resolves only once the file is on disk, as compact JSON', async () => {
  const dir = freshDir();
  const store = await Store.open(dir);
  const file = join(dir, 'people', 'alice.json');
  const data = { name: 'alice', age: 30, nested: { list: [1, 2, { x: 'y' }] } };
  const promise = store.put('people', 'alice', data);
  assert.not.ok(existsSync(file), 'not written synchronously');
  await promise;
  assert.ok(existsSync(file));
  const text = readFileSync(file, 'utf8');
  assert.is(text, `${JSON.stringify(data)}\n`, 'one line');
  assert.not.match(text, /  /);
});

test('disk: a batch writes each dirty document once, leaving no temporary files', async () => {
  const dir = freshDir();
  const store = await Store.open(dir);
  const all = [];
  for (let i = 0; i < 20; i++) all.push(store.put('people', 'alice', { name: 'alice', age: i }));
  all.push(store.put('people', 'bob', bob));
  await Promise.all(all);
  assert.equal(readdirSync(join(dir, 'people')).sort(), ['alice.json', 'bob.json']);
  assert.equal(JSON.parse(readFileSync(join(dir, 'people', 'alice.json'), 'utf8')), { name: 'alice', age: 19 });
});

test('disk: with a flush delay, writes wait for the delay', async () => {
  const dir = freshDir();
  const store = await Store.open(dir, { flushIntervalMs: 30 });
  const file = join(dir, 'people', 'alice.json');
  const promise = store.put('people', 'alice', alice);
  await new Promise((resolve) => setImmediate(resolve));
  assert.not.ok(existsSync(file), 'still waiting for the delay');
  await promise;
  assert.ok(existsSync(file));
});

test('disk: evict forgets a clean cached document (the next get reads the file) but keeps a dirty one', async () => {
  const dir = freshDir();
  const store = await Store.open(dir);
  await store.put('people', 'alice', alice);
  const file = join(dir, 'people', 'alice.json');
  writeFileSync(file, JSON.stringify({ name: 'alice', age: 99 }));
  assert.equal(await store.get('people', 'alice', Person), alice, 'cached');
  store.evict('people', 'alice');
  assert.equal(await store.get('people', 'alice', Person), { name: 'alice', age: 99 }, 'read again');
  const pending = store.put('people', 'alice', { name: 'alice', age: 1 });
  store.evict('people', 'alice');
  assert.equal(await store.get('people', 'alice', Person), { name: 'alice', age: 1 }, 'dirty stays');
  await pending;
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { name: 'alice', age: 1 });
  store.evict('people', 'nobody');
});

test('disk: keys lists a document put but not yet written (a log reopened at once must find its newest segment)', async () => {
  const store = await Store.open(freshDir());
  const pending = store.put('people', 'bob', bob);
  assert.equal(await store.keys('people'), ['bob']);
  const removal = store.remove('people', 'bob');
  assert.equal(await store.keys('people'), [], 'a removal pending is not listed');
  await Promise.all([pending, removal]);
});

test('disk: a document read again after evict() was asked while it was dirty stays cached once written', async () => {
  const dir = freshDir();
  const store = await Store.open(dir);
  const pending = store.put('people', 'alice', alice);
  store.evict('people', 'alice');
  await store.get('people', 'alice', Person); // wanted again: the eviction is called off
  await pending;
  writeFileSync(join(dir, 'people', 'alice.json'), JSON.stringify({ name: 'alice', age: 99 }));
  assert.equal(await store.get('people', 'alice', Person), alice, 'still the cached copy');
});

test('disk: a new Store on the same dir reads what the old one wrote', async () => {
  const dir = freshDir();
  const first = await Store.open(dir);
  await first.put('people', 'alice', alice);
  await first.put('people', 'bob', bob);
  const second = await Store.open(dir);
  assert.equal((await second.keys('people')).sort(), ['alice', 'bob']);
  assert.equal(await second.get('people', 'alice', Person), alice);
  assert.equal(await second.get('people', 'bob', Person), bob);
});

test('disk: a file with invalid JSON is E_STORE_CORRUPT naming the file', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'people'), { recursive: true });
  const file = join(dir, 'people', 'alice.json');
  writeFileSync(file, '{"name": "alice", ');
  const store = await Store.open(dir);
  const e = await rejectsCode(store.get('people', 'alice', Person), 'E_STORE_CORRUPT');
  assert.match(e.message, file);
  assert.is(readFileSync(file, 'utf8'), '{"name": "alice", ', 'not overwritten');
});

test('disk: a document written by hand over several lines is one JSON value; lines that are not arrays are E_STORE_CORRUPT', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'people'), { recursive: true });
  writeFileSync(join(dir, 'people', 'bob.json'), JSON.stringify({ name: 'bob', list: [1, 2] }, null, 2));
  writeFileSync(join(dir, 'people', 'list.json'), JSON.stringify([1, 2], null, 2));
  writeFileSync(join(dir, 'people', 'numbers.json'), '1\n2\n');
  const store = await Store.open(dir);
  assert.equal(await store.get('people', 'bob', z.object({ name: z.string(), list: z.array(z.number()) })), { name: 'bob', list: [1, 2] });
  assert.equal(await store.get('people', 'list', z.array(z.number())), [1, 2]);
  await rejectsCode(store.get('people', 'numbers', z.unknown()), 'E_STORE_CORRUPT');
});

test('disk: a segment file of several lines reads as their items, seqs rising; repeats another process appended are dropped', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'log'), { recursive: true });
  const item = (seq: number, by = 'a') => ({ seq, entry: by });
  const lines = [[item(0), item(1), item(2)], [item(1, 'b'), item(2, 'b')], [item(3)], [item(3, 'b'), item(4, 'b')]];
  writeFileSync(join(dir, 'log', 's0.json'), lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  const store = await Store.open(dir);
  const Items = z.array(z.object({ seq: z.number(), entry: z.string() }));
  assert.equal(await store.get('log', 's0', Items), [item(0), item(1), item(2), item(3), item(4, 'b')]);
});

test('disk: a file that fails the schema is E_STORE_CORRUPT naming the file and field', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'people'), { recursive: true });
  const file = join(dir, 'people', 'alice.json');
  writeFileSync(file, JSON.stringify({ name: 'alice', age: 'thirty' }));
  const store = await Store.open(dir);
  const e = await rejectsCode(store.get('people', 'alice', Person), 'E_STORE_CORRUPT');
  assert.match(e.message, file);
  assert.match(e.message, 'age');
});

test('memory: a document failing the schema is E_STORE_CORRUPT', async () => {
  const store = Store.memory();
  await store.put('people', 'alice', { name: 'alice' });
  await rejectsCode(store.get('people', 'alice', Person), 'E_STORE_CORRUPT');
});

test('disk: concurrent first reads of one document agree', async () => {
  const dir = freshDir();
  await (await Store.open(dir)).put('people', 'alice', alice);
  const store = await Store.open(dir);
  const [a, b] = await Promise.all([store.get('people', 'alice', Person), store.get('people', 'alice', Person)]);
  assert.equal(a, alice);
  assert.equal(b, alice);
});

test('disk: a batch that cannot be written rejects its puts', async () => {
  const dir = freshDir();
  const store = await Store.open(dir);
  writeFileSync(join(dir, 'blocked'), 'a file where a directory should be');
  let failed = false;
  await store.put('blocked', 'x', alice).catch(() => (failed = true));
  assert.ok(failed);
  // the store keeps working for other collections
  await store.put('people', 'alice', alice);
  assert.equal(await store.get('people', 'alice', Person), alice);
});

test.run();
