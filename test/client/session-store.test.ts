import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SessionStore } from '../../src/client/session-store.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-sessions-'));
let n = 0;
const freshFile = () => join(root, `c${n++}`, 'nested', 'sessions.json');
test.after(() => rmSync(root, { recursive: true, force: true }));

const NOW = 1_700_000_000_000;
const ADDR = '127.0.0.1:7513';
const tokenA = { token: 'token-a', expiresAt: NOW + 60_000 };
const tokenB = { token: 'token-b', expiresAt: NOW + 120_000 };

test('save then get, per address and user', () => {
  const file = freshFile();
  const store = new SessionStore(file);
  assert.is(store.get(ADDR, 'alice', NOW), undefined);
  store.save(ADDR, 'alice', tokenA);
  store.save(ADDR, 'bob', tokenB);
  store.save('other:1', 'alice', tokenB);
  assert.equal(store.get(ADDR, 'alice', NOW), tokenA);
  assert.equal(store.get(ADDR, 'bob', NOW), tokenB);
  assert.equal(store.get('other:1', 'alice', NOW), tokenB);
  assert.is(store.get('other:1', 'bob', NOW), undefined);
  // a second instance reads the same file
  assert.equal(new SessionStore(file).get(ADDR, 'alice', NOW), tokenA);
  // saving again replaces
  store.save(ADDR, 'alice', tokenB);
  assert.equal(store.get(ADDR, 'alice', NOW), tokenB);
});

test('remove forgets one session and leaves the others', () => {
  const store = new SessionStore(freshFile());
  store.save(ADDR, 'alice', tokenA);
  store.save(ADDR, 'bob', tokenB);
  store.remove(ADDR, 'alice');
  assert.is(store.get(ADDR, 'alice', NOW), undefined);
  assert.equal(store.get(ADDR, 'bob', NOW), tokenB);
  store.remove(ADDR, 'nobody');
  store.remove('never:1', 'alice');
  new SessionStore(freshFile()).remove(ADDR, 'alice'); // no file: no-op
});

test('an expired session is not returned', () => {
  const store = new SessionStore(freshFile());
  store.save(ADDR, 'alice', tokenA);
  assert.equal(store.get(ADDR, 'alice', tokenA.expiresAt - 1), tokenA);
  assert.is(store.get(ADDR, 'alice', tokenA.expiresAt), undefined);
  assert.is(store.get(ADDR, 'alice', tokenA.expiresAt + 1), undefined);
  // get uses the real clock by default
  store.save(ADDR, 'bob', { token: 't', expiresAt: Date.now() + 60_000 });
  assert.ok(store.get(ADDR, 'bob'));
  store.save(ADDR, 'carol', { token: 't', expiresAt: Date.now() - 1 });
  assert.is(store.get(ADDR, 'carol'), undefined);
});

test('a corrupt file is treated as empty, and is replaced on the next save', () => {
  for (const content of ['{not json', '', 'null', '42', '"text"', '[]', '[1,2]']) {
    const file = freshFile();
    const store = new SessionStore(file);
    store.save(ADDR, 'alice', tokenA);
    writeFileSync(file, content);
    assert.is(store.get(ADDR, 'alice', NOW), undefined, content);
    store.save(ADDR, 'alice', tokenB);
    assert.equal(store.get(ADDR, 'alice', NOW), tokenB);
  }
  // entries of the wrong shape are ignored
  const file = freshFile();
  const store = new SessionStore(file);
  store.save(ADDR, 'x', tokenA);
  writeFileSync(file, JSON.stringify({ [ADDR]: { alice: { token: 5, expiresAt: NOW + 1000 }, bob: { token: 't' }, carol: 'text' } }));
  assert.is(store.get(ADDR, 'alice', NOW), undefined);
  assert.is(store.get(ADDR, 'bob', NOW), undefined);
  assert.is(store.get(ADDR, 'carol', NOW), undefined);
});

test('the file is mode 0600, its directory is created, and no temporary file is left', () => {
  const file = freshFile();
  const store = new SessionStore(file);
  store.save(ADDR, 'alice', tokenA);
  assert.ok(existsSync(file));
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.equal(readdirSync(dirname(file)), ['sessions.json']);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { [ADDR]: { alice: tokenA } });
  store.remove(ADDR, 'alice');
  assert.is(statSync(file).mode & 0o777, 0o600);
});

test.run();
