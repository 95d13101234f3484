import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accounts, type AccountsOptions } from '../../src/server/accounts.ts';
import { Store } from '../../src/store/store.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { rejectsCode } from '../helpers/codes.ts';

const root = mkdtempSync(join(tmpdir(), 'parley-accounts-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const PASSWORD = 'correct horse battery';
const WRONG = 'wrong password!';
const BLOCK_MS = 60_000;
const TTL_MS = 3_600_000;

/** A clock the test moves by hand. */
function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function options(now: () => number, extra: Partial<AccountsOptions> = {}): AccountsOptions {
  return { maxLoginFailures: 3, blockDurationMs: BLOCK_MS, tokenTtlMs: TTL_MS, scrypt: { N: 1024, r: 8, p: 1 }, now, ...extra };
}

async function setup(extra: Partial<AccountsOptions> = {}) {
  const time = clock();
  const store = Store.memory();
  const accounts = await Accounts.load(store, options(time.now, extra));
  return { time, store, accounts };
}

test('register normalises the name and returns a token', async () => {
  const { accounts, time } = await setup();
  const result = await accounts.register('  Alice ', PASSWORD);
  assert.is(result.name, 'alice');
  assert.type(result.token, 'string');
  assert.ok(result.token.length >= 40);
  assert.is(result.expiresAt, time.now() + TTL_MS);
  assert.ok(accounts.exists('alice'));
  assert.not.ok(accounts.exists('Alice'));
  assert.equal(accounts.names(), ['alice']);
  // the first token resumes
  assert.equal(await accounts.resume('ALICE', result.token), { name: 'alice', expiresAt: result.expiresAt });
});

test('register rejects bad names and short passwords', async () => {
  const { accounts } = await setup();
  for (const bad of ['a', '1abc', 'al ice', 'all', 'admin', 'x'.repeat(25), '']) {
    await rejectsCode(accounts.register(bad, PASSWORD), 'E_BAD_USERNAME');
  }
  await rejectsCode(accounts.register('alice', 'short'), 'E_WEAK_PASSWORD');
  await rejectsCode(accounts.register('alice', '1234567'), 'E_WEAK_PASSWORD');
  assert.equal(accounts.names(), []);
  await accounts.register('alice', '12345678');
});

test('register refuses a taken name, whatever its case, and two concurrent registrations', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  await rejectsCode(accounts.register('ALICE', 'another password'), 'E_USER_EXISTS');
  const results = await Promise.allSettled([accounts.register('bob', PASSWORD), accounts.register('Bob', 'other password')]);
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.is(ok.length, 1);
  assert.is(failed.length, 1);
  assert.is((failed[0].reason as ParleyError).code, 'E_USER_EXISTS');
  // the winner's password is the one that works
  await accounts.login('bob', PASSWORD);
});

test('the stored record has salt and hash, never the password', async () => {
  const { accounts, store } = await setup();
  const { token } = await accounts.register('alice', PASSWORD);
  await store.flush();
  const record = accounts.get('alice')!;
  assert.ok(record.salt.length > 0);
  assert.ok(record.hash.length > 0);
  assert.equal(record.scrypt, { N: 1024, r: 8, p: 1 });
  const text = JSON.stringify(record);
  assert.not.ok(text.includes(PASSWORD));
  assert.not.ok(text.includes(token), 'only the token hash is stored');
  // two users with the same password get different salts and hashes
  await accounts.register('bob', PASSWORD);
  assert.is.not(accounts.get('bob')!.salt, record.salt);
  assert.is.not(accounts.get('bob')!.hash, record.hash);
});

test('login with the right password returns a new token', async () => {
  const { accounts } = await setup();
  const registered = await accounts.register('alice', PASSWORD);
  const result = await accounts.login('Alice', PASSWORD);
  assert.is(result.name, 'alice');
  assert.is.not(result.token, registered.token);
  await accounts.resume('alice', result.token);
  await accounts.resume('alice', registered.token);
});

test('a wrong password is E_BAD_CREDENTIALS with the tries left', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  let e = await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  assert.is(e.details.triesLeft, 2);
  assert.match(e.message, '2 tries');
  e = await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  assert.is(e.details.triesLeft, 1);
  assert.match(e.message, '1 try');
  assert.is(accounts.get('alice')!.failures, 2);
});

test('too many failures lock the account, even against the right password, until the block passes', async () => {
  const { accounts, time } = await setup();
  await accounts.register('alice', PASSWORD);
  await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  let e = await rejectsCode(accounts.login('alice', WRONG), 'E_LOCKED');
  assert.is(e.details.retryAfter, 60);
  assert.match(e.message, '60 s');
  e = await rejectsCode(accounts.login('alice', PASSWORD), 'E_LOCKED');
  assert.is(e.details.retryAfter, 60);
  time.advance(BLOCK_MS - 1500);
  e = await rejectsCode(accounts.login('alice', PASSWORD), 'E_LOCKED');
  assert.is(e.details.retryAfter, 2);
  assert.match(e.message, '2 s');
  time.advance(1500);
  const result = await accounts.login('alice', PASSWORD);
  assert.is(result.name, 'alice');
});

test('after a lock-out, the count starts again from zero', async () => {
  const { accounts, time } = await setup();
  await accounts.register('alice', PASSWORD);
  for (let i = 0; i < 2; i++) await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  await rejectsCode(accounts.login('alice', WRONG), 'E_LOCKED');
  time.advance(BLOCK_MS);
  const e = await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  assert.is(e.details.triesLeft, 2);
});

test('a success resets the failure count', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  await accounts.login('alice', PASSWORD);
  assert.is(accounts.get('alice')!.failures, 0);
  const e = await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
  assert.is(e.details.triesLeft, 2);
  await rejectsCode(accounts.login('alice', WRONG), 'E_BAD_CREDENTIALS');
});

test('parallel wrong guesses are counted one by one', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => accounts.login('alice', WRONG)));
  const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as ParleyError).code : 'ok'));
  assert.equal(codes, ['E_BAD_CREDENTIALS', 'E_BAD_CREDENTIALS', 'E_LOCKED', 'E_LOCKED', 'E_LOCKED']);
  await rejectsCode(accounts.login('alice', PASSWORD), 'E_LOCKED');
});

test('a right password in a burst of wrong ones is checked in order', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  const results = await Promise.allSettled([accounts.login('alice', WRONG), accounts.login('alice', WRONG), accounts.login('alice', PASSWORD), accounts.login('alice', WRONG)]);
  const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as ParleyError).code : 'ok'));
  assert.equal(codes, ['E_BAD_CREDENTIALS', 'E_BAD_CREDENTIALS', 'ok', 'E_BAD_CREDENTIALS']);
});

test('an unknown user is E_NO_SUCH_USER', async () => {
  const { accounts } = await setup();
  const e = await rejectsCode(accounts.login('carol', PASSWORD), 'E_NO_SUCH_USER');
  assert.match(e.message, 'carol');
});

test('resume refuses a wrong, expired or revoked token', async () => {
  const { accounts, time } = await setup();
  const { token } = await accounts.register('alice', PASSWORD);
  await rejectsCode(accounts.resume('alice', 'not-the-token'), 'E_BAD_TOKEN');
  await rejectsCode(accounts.resume('bob', token), 'E_BAD_TOKEN');
  // another user's token does not work for alice
  const bob = await accounts.register('bob', PASSWORD);
  await rejectsCode(accounts.resume('alice', bob.token), 'E_BAD_TOKEN');
  time.advance(TTL_MS - 1);
  await accounts.resume('alice', token);
  time.advance(1);
  await rejectsCode(accounts.resume('alice', token), 'E_BAD_TOKEN');
});

test('revoke removes one token, revokeAll every token', async () => {
  const { accounts } = await setup();
  const first = await accounts.register('alice', PASSWORD);
  const second = await accounts.login('alice', PASSWORD);
  const third = await accounts.login('alice', PASSWORD);
  await accounts.revoke('alice', first.token);
  await rejectsCode(accounts.resume('alice', first.token), 'E_BAD_TOKEN');
  await accounts.resume('alice', second.token);
  await accounts.revoke('alice', 'unknown-token'); // no-op
  await accounts.revoke('nobody', second.token); // no-op
  await accounts.resume('alice', second.token);
  await accounts.revokeAll('alice');
  await rejectsCode(accounts.resume('alice', second.token), 'E_BAD_TOKEN');
  await rejectsCode(accounts.resume('alice', third.token), 'E_BAD_TOKEN');
  await accounts.revokeAll('alice'); // nothing left: no-op
  await accounts.revokeAll('nobody');
  // the password still works
  await accounts.login('alice', PASSWORD);
});

test('resume is refused while the account is locked', async () => {
  const { accounts } = await setup({ maxLoginFailures: 1 });
  const { token } = await accounts.register('alice', PASSWORD);
  await rejectsCode(accounts.login('alice', WRONG), 'E_LOCKED');
  await rejectsCode(accounts.resume('alice', token), 'E_LOCKED');
});

test('unlock clears a lock-out', async () => {
  const { accounts } = await setup();
  await accounts.register('alice', PASSWORD);
  for (let i = 0; i < 3; i++) await accounts.login('alice', WRONG).catch(() => undefined);
  await rejectsCode(accounts.login('alice', PASSWORD), 'E_LOCKED');
  assert.is(await accounts.unlock('alice'), true);
  await accounts.login('alice', PASSWORD);
  assert.is(await accounts.unlock('nobody'), false);
});

test('expired tokens are dropped and at most 10 are kept', async () => {
  const { accounts, time } = await setup();
  const first = await accounts.register('alice', PASSWORD);
  const tokens = [first.token];
  for (let i = 0; i < 11; i++) tokens.push((await accounts.login('alice', PASSWORD)).token);
  assert.is(accounts.get('alice')!.tokens.length, 10);
  await rejectsCode(accounts.resume('alice', tokens[0]), 'E_BAD_TOKEN');
  await rejectsCode(accounts.resume('alice', tokens[1]), 'E_BAD_TOKEN');
  await accounts.resume('alice', tokens[11]);
  time.advance(TTL_MS);
  await accounts.login('alice', PASSWORD);
  assert.is(accounts.get('alice')!.tokens.length, 1);
});

test('touch records when a user was last seen', async () => {
  const { accounts, store } = await setup();
  await accounts.register('alice', PASSWORD);
  accounts.touch('alice', 12345);
  accounts.touch('nobody', 1);
  await store.flush();
  assert.is(accounts.get('alice')!.lastSeenAt, 12345);
});

test('last-seen times reach the disk a batch at a time, and all of them at saveTouched', async () => {
  const dir = join(root, 'touch');
  const time = clock();
  const store = await Store.open(dir);
  const accounts = await Accounts.load(store, options(time.now));
  const names = Array.from({ length: 70 }, (_, i) => `user${i}`);
  for (const name of names) await accounts.register(name, PASSWORD);
  await store.flush();
  const seenOnDisk = () => names.filter((name) => JSON.parse(readFileSync(join(dir, 'accounts', `${name}.json`), 'utf8')).lastSeenAt === 777).length;
  for (const name of names) accounts.touch(name, 777);
  assert.is(seenOnDisk(), 0, 'nothing written in the same pass');
  await new Promise((resolve) => setTimeout(resolve, 150));
  await store.flush();
  assert.is(seenOnDisk(), 64, 'one batch of 64 after 100 ms');
  await accounts.saveTouched();
  await store.flush();
  assert.is(seenOnDisk(), 70, 'the rest at saveTouched');
});

test('accounts survive a restart (Accounts.load on a Store.open directory)', async () => {
  const dir = join(root, 'restart');
  const time = clock();
  const before = await Accounts.load(await Store.open(dir), options(time.now));
  const { token } = await before.register('alice', PASSWORD);
  await before.register('bob', 'bobs password');
  for (let i = 0; i < 2; i++) await before.login('bob', WRONG).catch(() => undefined);
  const files = readdirSync(join(dir, 'accounts')).sort();
  assert.equal(files, ['alice.json', 'bob.json']);
  assert.not.ok(readFileSync(join(dir, 'accounts', 'alice.json'), 'utf8').includes(PASSWORD));

  const after = await Accounts.load(await Store.open(dir), options(time.now));
  assert.equal(after.names().sort(), ['alice', 'bob']);
  await after.login('alice', PASSWORD);
  await after.resume('alice', token);
  await rejectsCode(after.register('alice', PASSWORD), 'E_USER_EXISTS');
  // the failure count was persisted too: one more wrong guess locks bob
  await rejectsCode(after.login('bob', WRONG), 'E_LOCKED');
});

test.run();
