import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { webcrypto } from 'node:crypto';
import { clientKeyExchange, createHello, importUnwrapKey, parseHello } from '../../src/crypto/handshake.ts';
import type { DirectionKeys } from '../../src/crypto/channel.ts';
import { KeyUnwraps, POOL_IN_FLIGHT, type UnwrapRequester } from '../../src/server/unwraps.ts';
import { rejectsCode } from '../helpers/codes.ts';
import { pemKeyPair } from '../helpers/rsa.ts';

const pair = pemKeyPair();
let key: webcrypto.CryptoKey;
test.before(async () => {
  key = await importUnwrapKey(pair.privateKey);
});

const waiting: UnwrapRequester = { wantsUnwrap: true };
const gone: UnwrapRequester = { wantsUnwrap: false };
/** One turn of the event loop: the unwraps' pass (queued earlier) has run by then. */
const nextPass = () => new Promise((resolve) => setImmediate(resolve));

/** A client's key message for a fresh hello, and the keys the client derived. */
function exchange(): { nonce: Buffer; payload: Buffer; keys: DirectionKeys } {
  const hello = createHello(pair.publicKey, 'test');
  const { payload, keys } = clientKeyExchange(parseHello(hello.payload));
  return { nonce: hello.nonce, payload, keys };
}

/** Starts `count` unwraps and records the order in which they settle. */
function start(unwraps: KeyUnwraps, count: number, requester = waiting) {
  const settled: number[] = [];
  const exchanges = Array.from({ length: count }, exchange);
  const results = exchanges.map((e, n) => {
    const result = unwraps.unwrap(requester, e.nonce, e.payload);
    result.then(() => settled.push(n), () => settled.push(n));
    return result;
  });
  return { settled, exchanges, results };
}

test('one core: unwraps run on the event loop, a budget per pass, in arrival order, each giving its client\'s keys', async () => {
  // A budget of 0 ms: exactly one per pass, so the passes can be counted.
  const unwraps = new KeyUnwraps(key, 256, () => 1, 0);
  const { settled, exchanges, results } = start(unwraps, 3);
  assert.is(unwraps.queued, 3, 'nothing runs before the pass');
  await nextPass();
  assert.equal(settled, [0]);
  assert.is(unwraps.queued, 2);
  await nextPass();
  assert.equal(settled, [0, 1]);
  await nextPass();
  assert.equal(settled, [0, 1, 2]);
  const keys = await Promise.all(results);
  keys.forEach((k, n) => assert.equal(k, exchanges[n].keys));
});

test('one core, a larger budget: a pass takes several', async () => {
  const unwraps = new KeyUnwraps(key, 256, () => 1, 1000);
  const { settled } = start(unwraps, 4);
  await nextPass();
  assert.equal(settled, [0, 1, 2, 3]);
});

test('more cores: unwraps go to the thread pool, at most POOL_IN_FLIGHT at a time, each giving its client\'s keys', async () => {
  const unwraps = new KeyUnwraps(key, 256, () => 2);
  const { settled, exchanges, results } = start(unwraps, POOL_IN_FLIGHT + 3);
  await nextPass();
  // WebCrypto answers in a later poll phase: none is done yet, POOL_IN_FLIGHT have left the queue.
  assert.equal(settled, []);
  assert.is(unwraps.queued, 3);
  const keys = await Promise.all(results);
  keys.forEach((k, n) => assert.equal(k, exchanges[n].keys));
  assert.is(unwraps.queued, 0);
});

test('the cores are read at every pass: a process pinned to one core while running moves its unwraps to the loop', async () => {
  let cores = 2;
  const unwraps = new KeyUnwraps(key, 256, () => cores, 0);
  const { settled, results } = start(unwraps, POOL_IN_FLIGHT + 2);
  await nextPass();
  assert.is(unwraps.queued, 2, 'the pool took its share');
  cores = 1;
  await Promise.all(results.slice(0, POOL_IN_FLIGHT));
  // The pool's last completion scheduled a pass; on one core it unwraps one there and then.
  await nextPass();
  assert.ok(settled.includes(POOL_IN_FLIGHT), `the next in line was unwrapped on the loop (settled ${settled})`);
  await Promise.all(results);
});

test('a connection that went away before its turn is refused with E_DISCONNECTED, in both places', async () => {
  for (const cores of [1, 2]) {
    const unwraps = new KeyUnwraps(key, 256, () => cores);
    const { results } = start(unwraps, 2, gone);
    for (const result of results) await rejectsCode(result, 'E_DISCONNECTED');
  }
});

test('a bad key message fails its own unwrap (E_HANDSHAKE), and the queue goes on', async () => {
  for (const cores of [1, 2]) {
    const unwraps = new KeyUnwraps(key, 256, () => cores, 0);
    const good = exchange();
    const bad = unwraps.unwrap(waiting, good.nonce, Buffer.from(JSON.stringify({ type: 'key', protocol: 1, wrapped: Buffer.alloc(256, 7).toString('base64') })));
    const after = unwraps.unwrap(waiting, good.nonce, good.payload);
    await rejectsCode(bad, 'E_HANDSHAKE');
    assert.equal(await after, good.keys);
  }
});

test.run();
