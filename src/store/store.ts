/**
 * Storage on lowdb, sharded and batched (docs/ARCHITECTURE.md, "Storage"):
 *
 * - one small JSON file per aggregate (`<dir>/<collection>/<key>.json`: an account, a mailbox,
 *   a group), one lowdb `Low` per file, so the cost of a write depends on that aggregate only;
 * - `put` marks a document dirty and returns a promise that resolves once the batch holding it
 *   is on disk; dirty documents are written once per batch, not once per change;
 * - batches never overlap, and start at most once per flush interval: the first change after a
 *   quiet spell is written in the next event-loop pass, while under load each busy file is
 *   written at most 1000/interval times a second however many changes it takes (group commit);
 * - every file is written by lowdb's steno writer (temporary file, then rename), so a kill in
 *   the middle of a flush leaves the previous or the next version, never half a file.
 *
 * `Store.memory()` is the twin used by tests: same code, lowdb's Memory adapter.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Low, Memory, type Adapter } from 'lowdb';
import { DataFile } from 'lowdb/node';
import type { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';

/** Collection names and keys become path segments, so they are restricted to safe characters. */
const SAFE_SEGMENT = /^[a-z0-9][a-z0-9_.-]{0,127}$/;

function checkSegment(segment: string): string {
  if (!SAFE_SEGMENT.test(segment) || segment.includes('..')) {
    throw new ParleyError('E_INTERNAL', `unsafe store path segment '${segment}'`);
  }
  return segment;
}

/** Collections may nest (`mailbox/alice`): every `/`-separated part must be a safe segment. */
function checkCollection(collection: string): string {
  for (const part of collection.split('/')) checkSegment(part);
  return collection;
}

interface Doc {
  low: Low<unknown>;
  collection: string;
  key: string;
  /** removed: the next batch deletes the file instead of writing it */
  removed: boolean;
}

export class Store {
  private readonly docs = new Map<string, Doc>();
  private readonly dirty = new Set<Doc>();
  private readonly madeDirs = new Set<string>();
  private readonly memoryKeys = new Map<string, Set<string>>(); // memory twin: what exists
  private pending: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** When the last batch started (ms, performance.now()). */
  private lastBatchAt = -Infinity;

  private constructor(
    /** null for the memory twin */
    readonly dir: string | null,
    private readonly flushIntervalMs: number,
  ) {}

  /**
   * A store of JSON files under `dir`. A batch starts at most once per `flushIntervalMs`
   * (0: once per event-loop pass).
   */
  static async open(dir: string, flushIntervalMs = 0): Promise<Store> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new Store(dir, flushIntervalMs);
  }

  static memory(): Store {
    return new Store(null, 0);
  }

  private path(collection: string, key: string): string {
    return join(this.dir ?? '', checkCollection(collection), `${checkSegment(key)}.json`);
  }

  private adapter(collection: string, key: string): Adapter<unknown> {
    const file = this.path(collection, key); // checks the names, for the memory twin too
    if (this.dir === null) return new Memory<unknown>();
    return new DataFile<unknown>(file, {
      parse: (text) => {
        try {
          return JSON.parse(text);
        } catch (err) {
          throw new ParleyError('E_STORE_CORRUPT', `store file ${file} is not valid JSON (${(err as Error).message}); restore it from a backup or move it aside`);
        }
      },
      stringify: (data) => JSON.stringify(data), // compact: these files are read by programs
    });
  }

  /**
   * Reads one document, validated by `schema`. Returns undefined when it does not exist.
   * A file that fails validation stops with E_STORE_CORRUPT naming the file: nothing is
   * silently dropped or overwritten.
   */
  async get<T>(collection: string, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const id = `${collection}/${key}`;
    let doc = this.docs.get(id);
    if (!doc) {
      doc = { low: new Low<unknown>(this.adapter(collection, key), null), collection, key, removed: false };
      await doc.low.read();
      // Another caller may have loaded it while we awaited the read: keep the first.
      const raced = this.docs.get(id);
      if (raced) doc = raced;
      else this.docs.set(id, doc);
    }
    if (doc.low.data === null) return undefined;
    const parsed = schema.safeParse(doc.low.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ParleyError('E_STORE_CORRUPT', `store file ${this.dir === null ? id : this.path(collection, key)} does not hold a valid ${collection} record (${issue.path.join('.') || 'root'}: ${issue.message})`);
    }
    return parsed.data;
  }

  /** Keys of the documents in `collection`. */
  async keys(collection: string): Promise<string[]> {
    checkCollection(collection);
    if (this.dir === null) return [...(this.memoryKeys.get(collection) ?? [])];
    let names: string[];
    try {
      names = await readdir(join(this.dir, collection));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
  }

  /** The cached document for a write, created (unread: a write replaces it whole) if new. */
  private docForWrite(collection: string, key: string): Doc {
    const id = `${collection}/${key}`;
    let doc = this.docs.get(id);
    if (!doc) {
      doc = { low: new Low<unknown>(this.adapter(collection, key), null), collection, key, removed: false };
      this.docs.set(id, doc);
    }
    return doc;
  }

  /** Replaces a document. Resolves when the batch holding this change is on disk. */
  put(collection: string, key: string, data: unknown): Promise<void> {
    const doc = this.docForWrite(collection, key);
    doc.low.data = data;
    doc.removed = false;
    this.dirty.add(doc);
    if (this.dir === null) {
      let keys = this.memoryKeys.get(collection);
      if (!keys) this.memoryKeys.set(collection, (keys = new Set()));
      keys.add(key);
    }
    return this.schedule();
  }

  /** Deletes a document. Resolves when the batch holding the deletion is on disk. */
  remove(collection: string, key: string): Promise<void> {
    const doc = this.docForWrite(collection, key);
    doc.low.data = null;
    doc.removed = true;
    this.dirty.add(doc);
    this.memoryKeys.get(collection)?.delete(key);
    return this.schedule();
  }

  /**
   * Forgets the cached copy of a clean document, so that large collections read piece by piece
   * (old mailbox segments) do not stay in memory. A dirty document stays until it is written.
   */
  evict(collection: string, key: string): void {
    const id = `${collection}/${key}`;
    const doc = this.docs.get(id);
    if (doc && !this.dirty.has(doc) && this.dir !== null) this.docs.delete(id);
  }

  /** Names of the sub-collections of `collection` (e.g. the users under `mailbox`). */
  async collections(collection: string): Promise<string[]> {
    checkCollection(collection);
    if (this.dir === null) {
      const prefix = `${collection}/`;
      const names = new Set<string>();
      for (const [name, keys] of this.memoryKeys) {
        if (name.startsWith(prefix) && keys.size > 0) names.add(name.slice(prefix.length).split('/')[0]);
      }
      return [...names];
    }
    try {
      const entries = await readdir(join(this.dir, collection), { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private schedule(): Promise<void> {
    if (this.pending) return this.pending.promise;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that do not wait for the disk (a "last seen" time) must not turn a failed write into
    // an unhandled rejection, which would stop the process; those that wait still get the error.
    promise.catch(() => undefined);
    this.pending = { promise, resolve, reject };
    const run = () => {
      // Batches never overlap: the next one starts when the previous one is on disk.
      this.flushing = this.flushing.then(() => this.writeBatch());
    };
    const wait = this.lastBatchAt + this.flushIntervalMs - performance.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
    return promise;
  }

  private async writeBatch(): Promise<void> {
    this.lastBatchAt = performance.now();
    const batch = this.pending;
    this.pending = null;
    const docs = [...this.dirty];
    this.dirty.clear();
    try {
      if (this.dir !== null) {
        for (const doc of docs) {
          const dir = join(this.dir, doc.collection);
          if (!this.madeDirs.has(dir)) {
            await mkdir(dir, { recursive: true, mode: 0o700 });
            this.madeDirs.add(dir);
          }
        }
      }
      await Promise.all(docs.map((doc) => (doc.removed ? this.unlink(doc) : doc.low.write())));
      batch?.resolve();
    } catch (err) {
      batch?.reject(err);
    }
  }

  private async unlink(doc: Doc): Promise<void> {
    const id = `${doc.collection}/${doc.key}`;
    if (this.docs.get(id) === doc && doc.removed) this.docs.delete(id);
    if (this.dir === null) return;
    await rm(this.path(doc.collection, doc.key), { force: true });
  }

  /** Writes everything still dirty. */
  async flush(): Promise<void> {
    if (this.pending) await this.pending.promise;
    await this.flushing;
  }
}
