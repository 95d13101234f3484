import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import {
  createServerKeys,
  ensureServerKeys,
  fingerprint,
  generateKeyPair,
  loadServerKeys,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  shortFingerprint,
} from '../../src/crypto/keys.ts';
import { throwsCode } from '../helpers/codes.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-keys-'));
let n = 0;
const freshDir = () => join(root, `k${n++}`);
const pair = generateKeyPair();

test.after(() => rmSync(root, { recursive: true, force: true }));

test('fingerprint has the SSH form and is stable', () => {
  const fp = fingerprint(pair.publicPem);
  assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.is(fingerprint(pair.publicPem), fp);
  assert.is(shortFingerprint(fp), fp.slice(7, 19));
  assert.is(shortFingerprint(fp).length, 12);
});

test('fingerprint is the SHA-256 of the DER SubjectPublicKeyInfo (what node:crypto exports)', async () => {
  const { createHash } = await import('node:crypto');
  const der = createPublicKey(pair.publicPem).export({ type: 'spki', format: 'der' });
  const expected = 'SHA256:' + createHash('sha256').update(der).digest('base64').replace(/=+$/, '');
  assert.is(fingerprint(pair.publicPem), expected);
});

test('different keys have different fingerprints', () => {
  const other = generateKeyPair(1024);
  assert.is.not(fingerprint(other.publicPem), fingerprint(pair.publicPem));
});

test('createServerKeys writes server.key with mode 0600 and refuses to overwrite', () => {
  const dir = freshDir();
  const created = createServerKeys(dir);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  assert.is(statSync(privatePath).mode & 0o777, 0o600);
  assert.ok(existsSync(join(dir, PUBLIC_KEY_FILE)));
  assert.is(readFileSync(privatePath, 'utf8'), created.privatePem);
  assert.is(readFileSync(join(dir, PUBLIC_KEY_FILE), 'utf8'), created.publicPem);
  assert.is(created.fingerprint, fingerprint(created.publicPem));
  const before = readFileSync(privatePath, 'utf8');
  throwsCode(() => createServerKeys(dir), 'E_KEY_INVALID');
  assert.is(readFileSync(privatePath, 'utf8'), before, 'the old key is untouched');
});

test('loadServerKeys gives back the created pair', () => {
  const dir = freshDir();
  const created = createServerKeys(dir);
  const loaded = loadServerKeys(dir);
  assert.is(loaded.fingerprint, created.fingerprint);
  assert.is(loaded.publicPem, created.publicPem);
});

test('loadServerKeys derives the public key from the private key, ignoring a swapped server.pub', () => {
  const dir = freshDir();
  const created = createServerKeys(dir);
  writeFileSync(join(dir, PUBLIC_KEY_FILE), pair.publicPem);
  assert.is(loadServerKeys(dir).fingerprint, created.fingerprint);
});

test('loadServerKeys refuses a key readable by others (E_KEY_PERMISSIONS, says chmod 600)', () => {
  const dir = freshDir();
  createServerKeys(dir);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  for (const mode of [0o644, 0o640, 0o604]) {
    chmodSync(privatePath, mode);
    const e = throwsCode(() => loadServerKeys(dir), 'E_KEY_PERMISSIONS');
    assert.match(e.message, 'chmod 600');
    assert.match(e.message, privatePath);
  }
  chmodSync(privatePath, 0o400);
  assert.ok(loadServerKeys(dir).fingerprint);
});

test('ensureServerKeys creates on first call, then loads the same fingerprint', () => {
  const dir = freshDir();
  const first = ensureServerKeys(dir);
  assert.is(first.created, true);
  const second = ensureServerKeys(dir);
  assert.is(second.created, false);
  assert.is(second.fingerprint, first.fingerprint);
});

test('a corrupt key file is E_KEY_INVALID', () => {
  const dir = freshDir();
  createServerKeys(dir);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  writeFileSync(privatePath, '-----BEGIN RSA PRIVATE KEY-----\ngarbage\n-----END RSA PRIVATE KEY-----\n');
  throwsCode(() => loadServerKeys(dir), 'E_KEY_INVALID');
  writeFileSync(privatePath, 'not a key at all');
  throwsCode(() => loadServerKeys(dir), 'E_KEY_INVALID');
  throwsCode(() => ensureServerKeys(dir), 'E_KEY_INVALID');
});

test.run();
