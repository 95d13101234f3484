/**
 * parley-admin: offline administration of a server's keys and store.
 *
 *   parley-admin keys                 create the server key pair (what `make keys` runs)
 *   parley-admin fingerprint          print the server key's fingerprint
 *   parley-admin users                list accounts: created, last seen, locked, sessions
 *   parley-admin unlock USER          clear a lock-out
 *   parley-admin revoke USER          revoke every session token of USER
 *
 * Commands that change the store refuse to run while a server is using it (its pid file is
 * alive), because the running server would overwrite the change with its own copy.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServerKeys, loadServerKeys, PRIVATE_KEY_FILE } from '../crypto/keys.ts';
import { ParleyError } from '../protocol/errors.ts';
import { normalizeUsername } from '../protocol/messages.ts';
import { Accounts, type AccountsOptions } from '../server/accounts.ts';
import { DEFAULT_CONFIG } from '../server/config.ts';
import { claimStore, releaseStore, storeHolder } from '../server/store-lock.ts';
import { formatTime } from '../server/log.ts';
import { Store } from '../store/store.ts';

const USAGE = `Usage: parley-admin [--keys DIR] [--store DIR] COMMAND

Commands:
  keys            create the server key pair (refuses to overwrite one)
  fingerprint     print the server key's fingerprint
  users           list accounts
  unlock USER     clear USER's lock-out after failed logins
  revoke USER     revoke every session token of USER (all devices must log in again)
`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { keys: { type: 'string', default: DEFAULT_CONFIG.keysDir }, store: { type: 'string', default: DEFAULT_CONFIG.storeDir }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`parley-admin: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const keysDir = values.keys!;
  const storeDir = values.store!;
  switch (command) {
    case 'keys': {
      if (existsSync(join(keysDir, PRIVATE_KEY_FILE))) {
        process.stdout.write(`key pair already in ${keysDir}/: ${loadServerKeys(keysDir).fingerprint}\n`);
        return 0;
      }
      const keys = createServerKeys(keysDir);
      process.stdout.write(`created ${keysDir}/${PRIVATE_KEY_FILE} (mode 0600) and its public key\nfingerprint: ${keys.fingerprint}\n`);
      return 0;
    }
    case 'fingerprint':
      process.stdout.write(`${loadServerKeys(keysDir).fingerprint}\n`);
      return 0;
  }
  const options = { maxLoginFailures: DEFAULT_CONFIG.maxLoginFailures, blockDurationMs: 0, tokenTtlMs: 0 };
  // A running server owns the store's journal: replaying (and so deleting) it here would lose
  // its appends at a later crash. Accounts are never journaled, so `users` reads them all anyway.
  const pid = storeHolder(storeDir);
  // With no server running, this process holds the store while it works, so none starts meanwhile.
  if (pid === null) claimStore(storeDir);
  try {
    return await runStoreCommand(storeDir, pid, command, arg, options);
  } finally {
    if (pid === null) releaseStore(storeDir);
  }
}

async function runStoreCommand(storeDir: string, pid: number | null, command: string, arg: string | undefined, options: AccountsOptions): Promise<number> {
  const store = await Store.open(storeDir, { replay: pid === null });
  const accounts = await Accounts.load(store, options);
  if (command === 'users') {
    const now = Date.now();
    for (const name of accounts.names().sort()) {
      const a = accounts.get(name)!;
      const locked = a.lockedUntil > now ? `  locked ${Math.ceil((a.lockedUntil - now) / 1000)} s` : '';
      const sessions = a.tokens.filter((t) => t.expiresAt > now).length;
      process.stdout.write(`${name.padEnd(24)} created ${formatTime(new Date(a.createdAt))}  last seen ${formatTime(new Date(a.lastSeenAt))}  ${sessions} session(s)${locked}\n`);
    }
    return 0;
  }
  if (command !== 'unlock' && command !== 'revoke') {
    process.stderr.write(`parley-admin: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  if (!arg) {
    process.stderr.write(`parley-admin: ${command} needs a USER\n`);
    return 2;
  }
  if (pid !== null) {
    process.stderr.write(`parley-admin: a server (pid ${pid}) is using ${storeDir}; stop it first, or it would overwrite this change\n`);
    return 1;
  }
  const name = normalizeUsername(arg);
  if (!accounts.exists(name)) {
    process.stderr.write(`parley-admin: no user named '${name}'\n`);
    return 1;
  }
  if (command === 'unlock') await accounts.unlock(name);
  else await accounts.revokeAll(name);
  await store.flush();
  process.stdout.write(`${command === 'unlock' ? 'unlocked' : 'revoked all sessions of'} ${name}\n`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`parley-admin: ${err instanceof ParleyError ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
