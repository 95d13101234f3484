/**
 * The client's saved sessions: one token per server and user, so that a reconnect or the next
 * start resumes without the password. Kept in the client's store directory, mode 0600.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SavedSession {
  token: string;
  expiresAt: number;
}

type Sessions = Record<string, Record<string, SavedSession>>;

export class SessionStore {
  constructor(private readonly file: string) {}

  private read(): Sessions {
    if (!existsSync(this.file)) return {};
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8'));
      return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Sessions) : {};
    } catch {
      return {}; // a token file is a cache: if unreadable, the user logs in again
    }
  }

  private write(all: Sessions): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    renameSync(temp, this.file);
  }

  get(address: string, user: string, now = Date.now()): SavedSession | undefined {
    const saved = this.read()[address]?.[user];
    if (!saved || typeof saved.token !== 'string' || !(saved.expiresAt > now)) return undefined;
    return saved;
  }

  save(address: string, user: string, session: SavedSession): void {
    const all = this.read();
    all[address] = { ...(all[address] ?? {}), [user]: session };
    this.write(all);
  }

  remove(address: string, user: string): void {
    const all = this.read();
    if (!all[address]?.[user]) return;
    delete all[address][user];
    this.write(all);
  }
}
