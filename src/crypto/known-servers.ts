/**
 * Trust on first use, like SSH's known_hosts: the first time a client meets a server it records
 * the key's fingerprint; later a different key is refused loudly until the user re-pins it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ParleyError } from '../protocol/errors.ts';

export type TrustDecision = 'known' | 'pinned' | 'first-use';

export class KnownServers {
  constructor(private readonly file: string) {}

  private read(): Record<string, string> {
    if (!existsSync(this.file)) return {};
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8'));
      if (typeof data === 'object' && data !== null && !Array.isArray(data)) return data as Record<string, string>;
    } catch {
      // fall through to the error below
    }
    throw new ParleyError('E_STORE_CORRUPT', `${this.file} is not a JSON object of "host:port": "SHA256:..." entries; fix or remove it`);
  }

  /** The fingerprint recorded for `address`, if any. */
  get(address: string): string | undefined {
    return this.read()[address];
  }

  /** Records `fingerprint` for `address` (replacing any earlier one: this is how to re-pin). */
  pin(address: string, fingerprint: string): void {
    const all = this.read();
    all[address] = fingerprint;
    this.write(all);
  }

  /** Forgets `address`, so the next connection trusts the key it is shown. */
  forget(address: string): void {
    const all = this.read();
    if (!(address in all)) return;
    delete all[address];
    this.write(all);
  }

  /** Writes through a temporary file so a crash never leaves half a file. */
  private write(all: Record<string, string>): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    renameSync(temp, this.file);
  }

  /**
   * Decides whether to trust `fingerprint` at `address`. `expected` (from --server-fingerprint)
   * must match exactly; otherwise a recorded key must match; an unknown server is recorded.
   */
  check(address: string, fingerprint: string, expected?: string): TrustDecision {
    if (expected !== undefined) {
      if (expected !== fingerprint) {
        throw new ParleyError('E_SERVER_KEY_REFUSED', `server ${address} presented key ${fingerprint}, but --server-fingerprint expects ${expected}`, { fatal: true });
      }
      this.pin(address, fingerprint);
      return 'pinned';
    }
    const known = this.get(address);
    if (known === undefined) {
      this.pin(address, fingerprint);
      return 'first-use';
    }
    if (known !== fingerprint) {
      throw new ParleyError(
        'E_SERVER_KEY_CHANGED',
        `WARNING: the key of server ${address} changed!\n` +
          `  recorded: ${known}\n  presented: ${fingerprint}\n` +
          `Someone may be intercepting the connection, or the server's key was replaced.\n` +
          `If the server's owner confirms the new key, re-pin it: parley --server-fingerprint ${fingerprint}\n` +
          `(or remove the "${address}" line from ${this.file}).`,
        { fatal: true, details: { recorded: known, presented: fingerprint } },
      );
    }
    return 'known';
  }
}
