import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnownServers } from '../../src/crypto/known-servers.ts';
import { throwsCode } from '../helpers/codes.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-known-'));
let n = 0;
const freshFile = () => join(root, `d${n++}`, 'known_servers.json');
test.after(() => rmSync(root, { recursive: true, force: true }));

const FP_A = 'SHA256:' + 'A'.repeat(43);
const FP_B = 'SHA256:' + 'B'.repeat(43);
const ADDR = '127.0.0.1:7513';

test('first use records the key and says so; then it is known', () => {
  const file = freshFile();
  const known = new KnownServers(file);
  assert.is(known.get(ADDR), undefined);
  assert.is(known.check(ADDR, FP_A), 'first-use');
  assert.ok(existsSync(file));
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), { [ADDR]: FP_A });
  assert.is(known.check(ADDR, FP_A), 'known');
  // another instance on the same file sees it too
  assert.is(new KnownServers(file).check(ADDR, FP_A), 'known');
  // other addresses are independent
  assert.is(known.check('example.org:7513', FP_B), 'first-use');
  assert.is(known.get(ADDR), FP_A);
});

test('a changed key is refused loudly, naming both fingerprints and how to re-pin', () => {
  const file = freshFile();
  const known = new KnownServers(file);
  known.check(ADDR, FP_A);
  const e = throwsCode(() => known.check(ADDR, FP_B), 'E_SERVER_KEY_CHANGED');
  assert.ok(e.fatal);
  assert.match(e.message, FP_A);
  assert.match(e.message, FP_B);
  assert.match(e.message, `--server-fingerprint ${FP_B}`);
  assert.match(e.message, file);
  assert.equal(e.details, { recorded: FP_A, presented: FP_B });
  assert.is(known.get(ADDR), FP_A, 'the recorded key is not replaced');
});

test('an expected fingerprint that does not match is refused', () => {
  const known = new KnownServers(freshFile());
  const e = throwsCode(() => known.check(ADDR, FP_A, FP_B), 'E_SERVER_KEY_REFUSED');
  assert.ok(e.fatal);
  assert.match(e.message, FP_A);
  assert.match(e.message, FP_B);
  assert.is(known.get(ADDR), undefined, 'nothing recorded');
});

test('an expected fingerprint that matches pins it, re-pinning a changed key', () => {
  const known = new KnownServers(freshFile());
  known.check(ADDR, FP_A);
  assert.is(known.check(ADDR, FP_B, FP_B), 'pinned');
  assert.is(known.get(ADDR), FP_B);
  assert.is(known.check(ADDR, FP_B), 'known');
  throwsCode(() => known.check(ADDR, FP_A), 'E_SERVER_KEY_CHANGED');
});

test('forget removes an address so the next key is trusted on first use', () => {
  const file = freshFile();
  const known = new KnownServers(file);
  known.check(ADDR, FP_A);
  known.check('other:1', FP_A);
  known.forget(ADDR);
  assert.is(known.get(ADDR), undefined);
  assert.is(known.get('other:1'), FP_A);
  known.forget('never-seen:2'); // no-op
  assert.is(known.check(ADDR, FP_B), 'first-use');
  // forgetting on a missing file is fine
  new KnownServers(freshFile()).forget(ADDR);
});

test('a corrupt file is E_STORE_CORRUPT, never silently replaced', () => {
  for (const content of ['{not json', '[1,2]', 'null', '"text"']) {
    const file = freshFile();
    new KnownServers(file).pin('x:1', FP_A);
    writeFileSync(file, content);
    const known = new KnownServers(file);
    const e = throwsCode(() => known.check(ADDR, FP_A), 'E_STORE_CORRUPT');
    assert.match(e.message, file);
    throwsCode(() => known.get(ADDR), 'E_STORE_CORRUPT');
    assert.is(readFileSync(file, 'utf8'), content);
  }
});

test.run();
