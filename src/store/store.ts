/**
 * Storage on lowdb, sharded and batched, with a write-ahead journal for log appends
 * (docs/ARCHITECTURE.md, "Storage"):
 *
 * - one small JSON file per aggregate (`<dir>/<collection>/<key>.json`: an account, a mailbox,
 *   a group), one lowdb `Low` per file, so the cost of a write depends on that aggregate only;
 * - `put` marks a document dirty and returns a promise that resolves once the batch holding it
 *   is on disk; dirty documents are written once per batch, not once per change;
 * - batches never overlap, and start at most once per flush interval: the first change after a
 *   quiet spell is written in the next event-loop pass, while under load each busy file is
 *   written at most 1000/interval times a second however many changes it takes (group commit);
 * - every file written whole is written by lowdb's steno writer (temporary file, then rename),
 *   so a kill in the middle of a flush leaves the previous or the next version, never half a
 *   file (a checkpoint's appends to log segments, and a new segment's first line, are not
 *   written whole: a torn line is dropped at reading, its items still in the journal);
 * - `append` (log segments: an array document whose last element was just added) does not
 *   rewrite the document: it adds one entry `{"c","k","i"}` to the batch's journal line, a JSON
 *   array appended to `<dir>/journal/<n>.jsonl` in one write for the whole batch, and keeps the
 *   document in memory as "lazy" (journaled, not yet written; never evicted); `appendText`
 *   does the same for a log's tail that the store holds as its items' texts alone;
 * - a checkpoint (when the journal is `checkpointMs` old or past 8 MiB, and at `flush`) starts
 *   the next journal, writes every lazy document (appending to its file what the file lacks, as
 *   one line, where this store wrote the rest; a new segment's file created with its items;
 *   else whole), and only then deletes the
 *   old journals; it runs apart from the batches, which go on with the next journal meanwhile
 *   (one checkpoint at a time); `remove` of a journaled document adds a tombstone line first;
 * - `Store.open` replays leftover journals (a killed process) into the documents before it
 *   resolves: appends are applied only past the document's last seq, so replay is idempotent;
 * - nothing is fsynced (files, renames, journal): this is safe against a killed process, not
 *   against a power cut.
 *
 * `Store.memory()` is the twin used by tests: same code, lowdb's Memory adapter (`append` is a
 * `put` there).
 */
import { close, open as openFile, write } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Low, Memory, type Adapter } from 'lowdb';
import { DataFile } from 'lowdb/node';
import type { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import type { JsonOut } from '../protocol/json-bytes.ts';
import { ItemTexts } from './item-texts.ts';
import { JournalLine } from './journal-line.ts';

/**
 * lowdb's parse and stringify for every document file, made once: two closures per document
 * (every account of a user online) were ~600 bytes of it, as tsx's kept function names turn each
 * closure's properties into a dictionary (see FrameSink in src/protocol/frame.ts). Compact JSON:
 * these files are read by programs.
 */
const JSON_FILE = { parse: parseDocumentText, stringify: (data: unknown): string => `${JSON.stringify(data)}\n` };

/**
 * A document file is one JSON value, or (a log segment a checkpoint appended to) JSON arrays of
 * items, one per line, which together are the document. A torn last line is what a kill in the
 * middle of an append leaves: it is dropped, as its items are still in the journal (journals go
 * only once a checkpoint's appends are done). A file written by hand over several lines is read
 * as one value.
 */
function parseDocumentText(text: string): unknown {
  const newline = text.indexOf('\n');
  // One line is one value; a file that starts with a newline is appended lines (createWith).
  if (newline === -1 || (newline === text.length - 1 && newline > 0)) return JSON.parse(text);
  const lines = text.split('\n');
  const items: unknown[] = [];
  let lastSeq = -Infinity;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    let part: unknown;
    try {
      part = JSON.parse(lines[i]);
    } catch {
      if (i === lines.length - 1) break;
      return JSON.parse(text);
    }
    if (!Array.isArray(part)) return JSON.parse(text);
    for (const item of part) {
      // Seqs rise from line to line. One that does not was appended by another process to a
      // file rewritten meanwhile (two clients of one user share their local store): the items
      // that follow on are kept, the other process's repeats dropped.
      const seq = (item as Partial<Seqd> | null)?.seq;
      if (typeof seq === 'number') {
        if (seq <= lastSeq) continue;
        lastSeq = seq;
      }
      items.push(item);
    }
  }
  return items;
}

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
  /** `collection/key`, made once: journal bookkeeping is keyed by it */
  id: string;
  /** removed: the next batch deletes the file instead of writing it */
  removed: boolean;
  /** evict() was asked while it was dirty or lazy: forget it once it is written (unless wanted again meanwhile) */
  evictWhenWritten: boolean;
  /**
   * Its file operations (writes whole, appends, deletion), one after another: an append must not
   * meet a rewrite of the same file, nor a deletion a write that would bring the file back.
   */
  io: Promise<void>;
  /**
   * How many of its items (an array document) the file holds, as whole lines written here; -1
   * when not known (read from disk, never written, a write failed, the array replaced): the next
   * checkpoint then writes it whole, and after that appends only what came since.
   */
  itemsOnDisk: number;
  /** The texts of its newest appended items, for the checkpoint (null until an append brings one). */
  texts: ItemTexts | null;
  /**
   * The seqs of its items while they are held only as their texts (low.data null): set by
   * appendText for a segment it starts, and by evict() when the texts hold them all (shelve);
   * grown by appendText; cleared when they are parsed back for good (heldItems, a whole write).
   */
  shelved: { from: number; to: number } | null;
  /** JournalLine.itemHead of this document, made at its first appended item */
  journalHead: Buffer | null;
}

/** Where a document's chain of file operations starts. */
const SETTLED: Promise<void> = Promise.resolve();

export interface StoreOptions {
  /** A batch starts at most once per this many ms (0: once per event-loop pass). */
  flushIntervalMs?: number;
  /** The journal is checkpointed once it is this old (ms). */
  checkpointMs?: number;
  /**
   * false: leave a leftover journal alone, for a look at the store while a server owns it
   * (parley-admin users): what it journaled is then not seen, and such a store is for reading
   * only. Default true.
   */
  replay?: boolean;
}

/** An item of an appended-to document: log entries carry their seq. */
export interface Seqd {
  seq: number;
}

/** A journal file: its number, and its handle while open. */
interface Journal {
  n: number;
  handle: FileHandle | null;
}

/** A write batch's share of the store's state (Store.takeBatch). */
interface TakenBatch {
  /** its journal line, or null when it has no entries */
  line: Buffer | null;
  /** the journal the line goes to (null only without a line) */
  journal: (Journal & { bytes: number }) | null;
  /** the documents with entries in the line */
  entryDocs: Set<Doc>;
  /** whether the batch starts a checkpoint once written, of `lazy`, retiring `retiring` */
  checkpoint: boolean;
  lazy: Doc[];
  retiring: Journal[];
}

/** A journal is also checkpointed once it grows past this. */
const JOURNAL_MAX_BYTES = 8 * 1024 * 1024;
const JOURNAL_DIR = 'journal';
const JOURNAL_FILE = /^(\d+)\.jsonl$/;

/** One change in the journal: an appended item, a tombstone, or a whole document (a put after a tombstone). */
type JournalEntry = { c: string; k: string } & ({ i: Seqd } | { removed: true } | { d: Seqd[] });

/**
 * A journal line is one batch: a JSON array of entries (a line per message was a fifth of what the
 * relay allocated). A line that is a single entry object is what stores before that wrote, and is
 * still read.
 */
function parseJournalLine(text: string): JournalEntry[] {
  const parsed = JSON.parse(text) as unknown;
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  for (const entry of entries as Array<Record<string, unknown>>) {
    if (typeof entry !== 'object' || entry === null || typeof entry.c !== 'string' || typeof entry.k !== 'string') throw new Error('not a journal entry');
    const isItem = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as Seqd).seq === 'number';
    if ('i' in entry ? !isItem(entry.i) : 'd' in entry ? !Array.isArray(entry.d) : entry.removed !== true) throw new Error('not a journal entry');
  }
  return entries as JournalEntry[];
}

/**
 * Document writes a batch runs at once. A write serialises its document when it starts: a
 * checkpoint of a busy relay starts hundreds of segments, and starting them all in one pass held
 * the event loop for that long (the relay's p99 latency).
 */
const FILE_WRITES_AT_ONCE = 8;
/** Calls `run` on every item, at most `limit` running at once; rejects with the first failure once all have settled. */
async function eachAtMost<T>(limit: number, items: T[], run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (next < items.length) {
      try {
        await run(items[next++]);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
}

/**
 * Writes all of `bytes` to `fd` (opened to append) with fs.write on the thread pool: one callback
 * per write, where FileHandle.appendFile goes through several layers of promises (once per store
 * batch, so per message when messages come one at a time).
 */
function appendAll(fd: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (offset: number): void =>
      write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
        if (err) reject(err);
        else if (offset + written < bytes.length) from(offset + written);
        else resolve();
      });
    from(0);
  });
}

/** Opens `path` with `flags`, writes all of `bytes` and closes it: callbacks, not a FileHandle's layers of promises. */
function writeToFile(path: string, flags: 'a' | 'ax', bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    openFile(path, flags, 0o600, (err, fd) => {
      if (err) return reject(err);
      appendAll(fd, bytes).then(
        () => close(fd, (closeErr) => (closeErr ? reject(closeErr) : resolve())),
        (writeErr: unknown) => close(fd, () => reject(writeErr)),
      );
    }),
  );
}

/**
 * Writes `line` (a newline, then the items of a log segment no file holds yet, as one appended
 * line: lineOf) into a file created for it; false when the file exists after all (the segment
 * must then be written whole). A busy relay starts a few hundred segments every checkpoint:
 * writing each through lowdb (a temporary file and a rename) was 8% of the pipelined relay's
 * main thread. No rename
 * is needed, as appends need none: until the checkpoint is done the journal holds the items,
 * and a torn line is dropped at reading. The leading newline makes even a torn first line a
 * torn last line of an appended file (parseDocumentText), not a file that is not JSON.
 */
async function createWith(path: string, line: Buffer): Promise<boolean> {
  try {
    await writeToFile(path, 'ax', line);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * `items` (consecutive seqs) as one appended line after `prefix`: copied from the texts their
 * appends brought where `texts` holds them all, else serialised.
 */
function lineOf(items: Seqd[], prefix: string, texts: ItemTexts | null): Buffer {
  const from = items[0].seq;
  const to = items[items.length - 1].seq;
  const copied = to - from + 1 === items.length ? texts?.line(from, to, prefix) : null;
  return copied ?? Buffer.from(`${prefix}${JSON.stringify(items)}\n`);
}

/**
 * Lets go of the items of a document the store is asked to forget but must still write (a full
 * log segment waiting for its checkpoint, the tail of a log closed), where its texts hold them
 * all: its checkpoint then writes the texts. A busy relay fills a segment of every conversation
 * in well under a checkpoint's two seconds, and holding the full segments' items until then kept
 * ~100,000 entries on the V8 heap for the garbage collector to trace and copy (relay with 16 in
 * flight: 0.89x the server CPU a message without them, docs/BENCHMARKS.md).
 */
function shelve(doc: Doc): void {
  const items = doc.low.data as Seqd[] | null;
  if (doc.texts === null || doc.shelved !== null || !Array.isArray(items) || items.length === 0) return;
  const from = items[0].seq;
  const to = items[items.length - 1].seq;
  if (to - from + 1 !== items.length || !doc.texts.holds(from, to)) return;
  doc.shelved = { from, to };
  doc.low.data = null;
  doc.texts.trim();
}

/** A shelved document's items, parsed from their texts. */
function parseShelved(doc: Doc): unknown {
  const { from, to } = doc.shelved!;
  return JSON.parse(doc.texts!.line(from, to, '')!.toString('utf8')) as unknown;
}

/** Makes a shelved document an array again, parsed from its texts (which it keeps). */
function unshelve(doc: Doc): void {
  if (doc.shelved === null) return;
  doc.low.data = parseShelved(doc);
  doc.shelved = null;
}

/** Seq of a document's last element (documents that are not logs count as empty). */
function lastSeq(items: Seqd[]): number {
  const last = items.at(-1);
  return typeof last?.seq === 'number' ? last.seq : -Infinity;
}

/**
 * The cached documents, by collection then key: a log append looks its segment up with the two
 * strings it already holds, not a `collection/key` string made (and hashed) per append.
 */
class Docs {
  private readonly byCollection = new Map<string, Map<string, Doc>>();

  get(collection: string, key: string): Doc | undefined {
    return this.byCollection.get(collection)?.get(key);
  }

  set(doc: Doc): void {
    let docs = this.byCollection.get(doc.collection);
    if (!docs) this.byCollection.set(doc.collection, (docs = new Map()));
    docs.set(doc.key, doc);
  }

  /** The cached documents of `collection`. */
  of(collection: string): Iterable<Doc> {
    return this.byCollection.get(collection)?.values() ?? [];
  }

  /** Forgets `doc` if it is still the cached one. */
  forget(doc: Doc): void {
    const docs = this.byCollection.get(doc.collection);
    if (docs?.get(doc.key) !== doc) return;
    docs.delete(doc.key);
    if (docs.size === 0) this.byCollection.delete(doc.collection);
  }
}

export class Store {
  private readonly docs = new Docs();
  private readonly dirty = new Set<Doc>();
  /** Journaled (appended to) but not written since: written at the next checkpoint. */
  private readonly lazy = new Set<Doc>();
  private readonly madeDirs = new Set<string>();
  private readonly memoryKeys = new Map<string, Set<string>>(); // memory twin: what exists
  private pending: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** When the last batch started (ms, performance.now()). */
  private lastBatchAt = -Infinity;
  /** The next batch's journal line, with the documents its entries touch; the last batch's line. */
  private line = new JournalLine();
  private spareLine = new JournalLine();
  private entryDocs = new Set<Doc>();
  private entryTombstones = new Set<string>();
  /** The journal new lines go to (opened by the first batch that has lines). */
  private journal: (Journal & { openedAt: number; bytes: number }) | null = null;
  /** Journals that take no more lines, deleted once a checkpoint has written their documents. */
  private retired: Journal[] = [];
  private nextJournal = 0;
  /** Documents with lines (tombstones) in journals not yet deleted: id -> newest such journal. */
  private readonly journaledIn = new Map<string, number>();
  private readonly tombstonedIn = new Map<string, number>();
  private checkpointWanted = false;
  private checkpointTimer: NodeJS.Timeout | null = null;
  /**
   * The checkpoint writing its documents, apart from the batches (null when none runs), and those
   * documents, from the moment the batch that starts it takes them: no longer lazy, not yet
   * written, so still listed by keys() and never evicted.
   */
  private checkpointing: Promise<void> | null = null;
  private readonly checkpointDocs = new Set<Doc>();
  /** Why the last checkpoint failed (null once one succeeds): flush reports it. */
  private checkpointError: unknown = null;

  private constructor(
    /** null for the memory twin */
    readonly dir: string | null,
    private readonly flushIntervalMs: number,
    private readonly checkpointMs: number,
  ) {}

  /**
   * A store of JSON files under `dir`. A batch starts at most once per `flushIntervalMs`
   * (0: once per event-loop pass); the journal is checkpointed every `checkpointMs` (2000).
   * Journals a killed process left are replayed before this resolves.
   */
  static async open(dir: string, options: StoreOptions = {}): Promise<Store> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new Store(dir, options.flushIntervalMs ?? 0, options.checkpointMs ?? 2000);
    if (options.replay !== false) await store.replay();
    return store;
  }

  static memory(): Store {
    return new Store(null, 0, 0);
  }

  private path(collection: string, key: string): string {
    return join(this.dir ?? '', checkCollection(collection), `${checkSegment(key)}.json`);
  }

  private adapter(collection: string, key: string): Adapter<unknown> {
    const file = this.path(collection, key); // checks the names, for the memory twin too
    return this.dir === null ? new Memory<unknown>() : new DataFile<unknown>(file, JSON_FILE);
  }

  /** Reads a document's file into `low`; a file that is not JSON is E_STORE_CORRUPT naming it. */
  private async read(low: Low<unknown>, collection: string, key: string): Promise<void> {
    try {
      await low.read();
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      throw new ParleyError('E_STORE_CORRUPT', `store file ${this.path(collection, key)} is not valid JSON (${err.message}); restore it from a backup or move it aside`);
    }
  }

  /**
   * Reads one document, validated by `schema`. Returns undefined when it does not exist.
   * A file that fails validation stops with E_STORE_CORRUPT naming the file: nothing is
   * silently dropped or overwritten.
   */
  async get<T>(collection: string, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
    let doc = this.docs.get(collection, key);
    if (doc) doc.evictWhenWritten = false; // wanted again (a log reopened before its tail was written)
    else {
      doc = this.newDoc(collection, key);
      await this.read(doc.low, collection, key);
      // Another caller may have loaded it while we awaited the read: keep the first.
      const raced = this.docs.get(collection, key);
      if (raced) doc = raced;
      // A missing document is not remembered: every user who ever logged in has an empty
      // mailbox, and keeping a Low for each would grow the server with its users.
      else if (doc.low.data !== null) this.docs.set(doc);
    }
    // A shelved document stays shelved: the reader gets its own copy (the schema makes one anyway).
    const data = doc.shelved !== null ? parseShelved(doc) : doc.low.data;
    if (data === null) return undefined;
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ParleyError('E_STORE_CORRUPT', `store file ${this.dir === null ? doc.id : this.path(collection, key)} does not hold a valid ${collection} record (${issue.path.join('.') || 'root'}: ${issue.message})`);
    }
    return parsed.data;
  }

  /** Keys of the documents in `collection` (journaled ones not yet written included). */
  async keys(collection: string): Promise<string[]> {
    checkCollection(collection);
    if (this.dir === null) return [...(this.memoryKeys.get(collection) ?? [])];
    // Documents not written yet count (a log reopened before its newest segment's first write
    // must find that segment): those waiting for a batch are taken now, as the batch may be
    // writing them while the directory is read. Only the collection's cached documents are
    // looked at: a server with thousands of conversations journaled reopens logs often.
    const unwritten = (sets: Array<Set<Doc>>) => [...this.docs.of(collection)].filter((doc) => !doc.removed && sets.some((docs) => docs.has(doc))).map((doc) => doc.key);
    const waiting = unwritten([this.dirty]);
    let names: string[];
    try {
      names = await readdir(join(this.dir, collection));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const keys = new Set(names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)));
    for (const key of [...waiting, ...unwritten([this.lazy, this.checkpointDocs])]) keys.add(key);
    return [...keys];
  }

  /** The cached document for a write, created (unread: a write replaces it whole) if new. */
  private docForWrite(collection: string, key: string): Doc {
    let doc = this.docs.get(collection, key);
    if (doc) doc.evictWhenWritten = false;
    else this.docs.set((doc = this.newDoc(collection, key)));
    return doc;
  }

  /** A document not read yet (its path's names are checked here). */
  private newDoc(collection: string, key: string): Doc {
    return { low: new Low<unknown>(this.adapter(collection, key), null), collection, key, id: `${collection}/${key}`, removed: false, evictWhenWritten: false, io: SETTLED, itemsOnDisk: -1, texts: null, shelved: null, journalHead: null };
  }

  /** Replaces a document. Resolves when the batch holding this change is on disk. */
  put(collection: string, key: string, data: unknown): Promise<void> {
    const doc = this.docForWrite(collection, key);
    if (doc.low.data !== data) doc.itemsOnDisk = -1;
    doc.texts?.clear(); // the items may have changed in place (an edit)
    doc.shelved = null;
    doc.low.data = data;
    doc.removed = false;
    this.lazy.delete(doc); // written whole; its journal lines are older (replay skips them by seq)
    this.dirty.add(doc);
    if (this.dir === null) {
      let keys = this.memoryKeys.get(collection);
      if (!keys) this.memoryKeys.set(collection, (keys = new Set()));
      keys.add(key);
    }
    return this.schedule();
  }

  /**
   * The array document (collection, key) is now `items`, whose last element was just appended
   * (and has the greatest seq). Only that element goes to disk, as a journal line; the document
   * itself is written at the next checkpoint. Resolves when the batch holding the line is on disk.
   * `entryText`, when the caller has it, is the JSON of that element's `entry` (a log's item,
   * `{seq, entry}`), less `leaveOut` characters after its brace (ItemTexts.add): the line copies
   * it (a relayed message is serialised for its recipient, and its history record is that text
   * less its type: serialising each message again for the journal was a seventh of recording it).
   */
  append<T extends Seqd>(collection: string, key: string, items: T[], entryText?: JsonOut, leaveOut = 0): Promise<void> {
    const last = items.at(-1);
    if (this.dir === null || last === undefined) return this.put(collection, key, items);
    const doc = this.docForWrite(collection, key);
    if (doc.low.data !== items) {
      doc.itemsOnDisk = -1;
      doc.texts?.clear();
      doc.shelved = null;
    }
    if (entryText !== undefined) (doc.texts ??= new ItemTexts()).add(last.seq, entryText, leaveOut);
    else doc.texts?.clear();
    doc.low.data = items;
    doc.removed = false;
    // A document already due to be written whole in this batch needs no line.
    if (!this.dirty.has(doc)) {
      this.journalItem(doc, last, entryText !== undefined);
      this.lazy.add(doc);
    }
    return this.schedule();
  }

  /**
   * Appends `item` (whose seq follows the document's last) to the array document (collection,
   * key), which the store holds for its owner: a log's tail segment whose appends come with their
   * entries' texts (`entryText` and `leaveOut`, as for append). A segment started here is held as the texts alone
   * (shelved from its first item): the relayed messages of a busy relay are then no objects on
   * the V8 heap for the garbage collector to copy until their checkpoint, and the checkpoint
   * writes the texts. Reads parse them (get). A document that is an array already (read from its
   * file, written whole, changed by a put) has the item pushed onto it instead.
   */
  appendText(collection: string, key: string, item: Seqd, entryText: JsonOut, leaveOut = 0): Promise<void> {
    const doc = this.docForWrite(collection, key);
    const shelved = doc.shelved;
    if (shelved !== null && item.seq === shelved.to + 1) {
      doc.texts!.add(item.seq, entryText, leaveOut);
      shelved.to = item.seq;
    } else if (shelved === null && doc.low.data === null && this.dir !== null && !this.dirty.has(doc)) {
      // A segment nothing holds yet: new, or removed and its removal written.
      (doc.texts ??= new ItemTexts()).clear();
      doc.texts.add(item.seq, entryText, leaveOut);
      doc.shelved = { from: item.seq, to: item.seq };
      doc.itemsOnDisk = -1;
    } else {
      unshelve(doc);
      const items = Array.isArray(doc.low.data) ? (doc.low.data as Seqd[]) : [];
      items.push(item);
      return this.append(collection, key, items, entryText, leaveOut);
    }
    doc.removed = false;
    this.journalItem(doc, item, true);
    this.lazy.add(doc);
    return this.schedule();
  }

  /**
   * The items of a document the store holds for its owner (appendText) as an array, parsed back
   * from their texts if need be: the store's own, which the owner holds from then on, appending
   * with `append` and changing an item in place with `put` (a log's tail that is read or edited).
   */
  heldItems(collection: string, key: string): Seqd[] | undefined {
    const doc = this.docs.get(collection, key);
    if (doc === undefined) return undefined;
    unshelve(doc);
    return Array.isArray(doc.low.data) ? (doc.low.data as Seqd[]) : undefined;
  }

  /**
   * Adds an appended item to the next batch's journal line: `withText`, the text the document's
   * texts were just given for it (copied from there), else serialised now.
   */
  private journalItem(doc: Doc, item: Seqd, withText: boolean): void {
    if (!withText) this.line.addEntry({ c: doc.collection, k: doc.key, i: item });
    else this.line.addItemFrom((doc.journalHead ??= JournalLine.itemHead(doc.collection, doc.key)), doc.texts!);
    this.entryDocs.add(doc);
  }

  /** Deletes a document. Resolves when the batch holding the deletion is on disk. */
  remove(collection: string, key: string): Promise<void> {
    const doc = this.docForWrite(collection, key);
    doc.low.data = null;
    doc.texts?.clear();
    doc.shelved = null;
    doc.removed = true;
    this.lazy.delete(doc);
    this.checkpointDocs.delete(doc);
    this.dirty.add(doc);
    this.memoryKeys.get(collection)?.delete(key);
    // Lines in a journal still on disk must not bring it back at a replay.
    if (this.entryDocs.has(doc) || this.journaledIn.has(doc.id)) {
      this.line.addEntry({ c: collection, k: key, removed: true });
      this.entryDocs.add(doc);
      this.entryTombstones.add(doc.id);
    }
    return this.schedule();
  }

  /**
   * Forgets the cached copy of a clean document, so that large collections read piece by piece
   * (old mailbox segments) and full log segments do not stay in memory. A dirty or lazy
   * document is forgotten once it is written. (A full segment is not written any sooner: written
   * by the next batch, it made the appends of that batch wait for it, and 50 concurrent puts to
   * one mailbox cost 2.5-3x as much, docs/BENCHMARKS.md.)
   */
  evict(collection: string, key: string): void {
    const doc = this.docs.get(collection, key);
    if (!doc || this.dir === null) return;
    if (!this.dirty.has(doc) && !this.lazy.has(doc) && !this.checkpointDocs.has(doc)) this.docs.forget(doc);
    else {
      doc.evictWhenWritten = true;
      if (!this.dirty.has(doc)) shelve(doc);
    }
  }

  /** Forgets written documents that evict() was asked of while they still had to be written. */
  private evictWritten(docs: Doc[]): void {
    for (const doc of docs) {
      if (doc.evictWhenWritten && !this.dirty.has(doc) && !this.lazy.has(doc) && !this.checkpointDocs.has(doc)) this.docs.forget(doc);
    }
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

  private async mkdirFor(collection: string): Promise<void> {
    if (!this.madeDirs.has(collection)) {
      await mkdir(join(this.dir!, collection), { recursive: true, mode: 0o700 });
      this.madeDirs.add(collection);
    }
  }

  /**
   * Makes the directories of those of `docs` that may not have one yet, all at once (no await
   * for the rest): a relay's first batch touches a hundred new conversations, and one mkdir after
   * another held that batch for as many turns of a busy event loop.
   */
  private async mkdirsFor(docs: Iterable<Doc>): Promise<void> {
    const missing = new Set<string>();
    for (const doc of docs) if (!this.madeDirs.has(doc.collection)) missing.add(doc.collection);
    if (missing.size > 0) await Promise.all([...missing].map((collection) => this.mkdirFor(collection)));
  }

  private journalPath(n: number): string {
    return join(this.dir!, JOURNAL_DIR, `${n}.jsonl`);
  }

  /** Whether anything is journaled and not yet checkpointed. */
  private journaling(): boolean {
    return this.journal !== null || this.retired.length > 0 || this.lazy.size > 0 || this.checkpointing !== null;
  }

  /** An idle store still checkpoints: a timer asks for a batch (unref'd: it keeps nothing alive). */
  private armCheckpointTimer(): void {
    if (this.checkpointTimer) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null;
      if (!this.journaling()) return;
      this.checkpointWanted = true;
      void this.schedule();
    }, this.checkpointMs);
    this.checkpointTimer.unref();
  }

  private async writeBatch(): Promise<void> {
    this.lastBatchAt = performance.now();
    const batch = this.pending;
    this.pending = null;
    const docs = [...this.dirty];
    this.dirty.clear();
    if (this.dir === null) {
      try {
        await Promise.all(docs.map((doc) => (doc.removed ? this.unlink(doc) : doc.low.write())));
        batch?.resolve();
      } catch (err) {
        batch?.reject(err);
      }
      return;
    }
    const taken = this.takeBatch(docs);
    try {
      if (taken.line !== null) await this.writeJournal(taken.journal!, taken.line);
      await this.mkdirsFor(docs);
      await this.mkdirsFor(taken.entryDocs); // collections() lists them
      if (docs.length > 0) await eachAtMost(FILE_WRITES_AT_ONCE, docs, (doc) => (doc.removed ? this.unlink(doc) : this.fileOp(doc, () => this.writeWhole(doc))));
      this.evictWritten(docs);
    } catch (err) {
      this.checkpointLater(taken.lazy, taken.retiring);
      batch?.reject(err);
      return;
    }
    // What the batch changed is on disk (its line in a journal that goes only once the checkpoint
    // has written every lazy document): its callers need not wait for the checkpoint.
    if (taken.checkpoint) this.checkpointing = this.checkpoint(taken.lazy, taken.retiring);
    batch?.resolve();
  }

  /**
   * A batch's share of the store's state, taken at once, before its first write: its journal line
   * and the journal it goes to, the documents with entries in it, and whether it starts a
   * checkpoint (with the lazy documents and the journals that checkpoint retires). Apart from
   * writeBatch's waits so that each is a small function for the optimizing compiler: as one, it
   * took 85-99 ms of compiling on the server's core in the middle of a relay (docs/BENCHMARKS.md,
   * thirty-second session).
   */
  private takeBatch(docs: Doc[]): TakenBatch {
    const line = this.line;
    const entryDocs = this.entryDocs;
    const tombstones = this.entryTombstones;
    this.line = this.spareLine; // the last batch's, written by now
    this.line.clear();
    this.spareLine = line;
    this.entryDocs = new Set();
    this.entryTombstones = new Set();
    // A document written whole after a tombstone still on disk goes to the journal whole too,
    // or a replay would apply the tombstone to it.
    for (const doc of docs) {
      if (!doc.removed && (tombstones.has(doc.id) || this.tombstonedIn.has(doc.id))) {
        line.addEntry({ c: doc.collection, k: doc.key, d: doc.low.data as Seqd[] });
        entryDocs.add(doc);
      }
    }
    const journal = this.journal;
    const due = this.checkpointWanted || (journal !== null && (performance.now() - journal.openedAt >= this.checkpointMs || journal.bytes >= JOURNAL_MAX_BYTES));
    // One checkpoint at a time: one due while another runs starts when that one ends.
    const checkpoint = due && this.checkpointing === null;
    this.checkpointWanted = due && !checkpoint;
    if (line.count > 0) {
      this.journal ??= { n: this.nextJournal++, handle: null, openedAt: performance.now(), bytes: 0 };
      for (const doc of entryDocs) this.journaledIn.set(doc.id, this.journal.n);
      for (const id of tombstones) this.tombstonedIn.set(id, this.journal.n);
    }
    const current = this.journal;
    const bytes = line.count > 0 ? line.end() : null;
    // A checkpoint writes every lazy document, so every journal can go afterwards, the current
    // one included: this batch's own entries are about documents this batch writes or deletes.
    let lazy: Doc[] = [];
    let retiring: Journal[] = [];
    if (checkpoint) {
      retiring = current ? [...this.retired, current] : this.retired;
      this.retired = [];
      this.journal = null;
      lazy = [...this.lazy];
      this.lazy.clear();
      for (const doc of lazy) this.checkpointDocs.add(doc);
      if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
      this.checkpointTimer = null;
    }
    return { journal: current, line: bytes, entryDocs, checkpoint, lazy, retiring };
  }

  /**
   * Writes a checkpoint's lazy documents, then deletes the journals it retires, apart from the
   * batches: those go on meanwhile with a new journal. A busy relay's checkpoint writes hundreds
   * of log segments, a second or more on one core; when the next batch waited for it, that batch
   * gathered every message of that second, and encoding its line and answering its senders held
   * the event loop for 200-800 ms (docs/BENCHMARKS.md). Never rejects: a failure leaves the
   * journals and the documents for the next checkpoint, and flush reports it.
   */
  private async checkpoint(lazy: Doc[], retiring: Journal[]): Promise<void> {
    try {
      for (const old of retiring) {
        await old.handle?.close();
        old.handle = null;
      }
      await this.mkdirsFor(lazy);
      await eachAtMost(FILE_WRITES_AT_ONCE, lazy, (doc) => this.writeForCheckpoint(doc));
      await this.deleteJournals(retiring.map((j) => j.n));
      for (const doc of lazy) this.checkpointDocs.delete(doc);
      this.evictWritten(lazy);
      this.checkpointError = null;
    } catch (err) {
      this.checkpointLater(lazy, retiring);
      this.checkpointError = err;
    } finally {
      this.checkpointing = null;
      if (this.checkpointWanted) void this.schedule();
    }
  }

  /**
   * A lazy document's checkpoint write, unless it was removed meanwhile (remove takes it out of
   * checkpointDocs; its deletion is a batch's): the items its file lacks, appended as one line,
   * where the file is known to hold the rest; all its items in a file created for them
   * (createWith), where none is known to hold any; else the whole document. A conversation's tail
   * (up to 256 entries) was serialised and written whole (a new file and a rename) at every
   * checkpoint that touched it: with 2,000 conversations getting a few messages a checkpoint,
   * recording a message cost 2.2-2.6x the CPU it costs with appends (docs/BENCHMARKS.md).
   */
  private writeForCheckpoint(doc: Doc): Promise<void> {
    return this.fileOp(doc, async () => {
      if (!this.checkpointDocs.has(doc)) return;
      if (doc.shelved !== null) return this.writeShelved(doc, doc.shelved);
      const items = doc.low.data;
      const onDisk = doc.itemsOnDisk;
      if (!Array.isArray(items) || onDisk > items.length) return this.writeWhole(doc);
      const length = items.length; // appends may come while the line is written: they wait for the next
      if (onDisk === length) return;
      doc.itemsOnDisk = -1; // until the line is whole on disk
      const lacking = (items as Seqd[]).slice(Math.max(onDisk, 0), length);
      if (!(await this.writeLine(doc, onDisk, (prefix) => lineOf(lacking, prefix, doc.texts)))) return this.writeWhole(doc);
      // Shelved meanwhile (full, and the log moved on): its texts must go on holding it all.
      const shelved = doc.shelved as Doc['shelved']; // set by evict() during the write
      if (shelved !== null) {
        if (shelved.from === (items as Seqd[])[0].seq) doc.itemsOnDisk = length; // the same items
      } else {
        doc.texts?.dropThrough(lacking[lacking.length - 1].seq);
        if (doc.low.data === items) doc.itemsOnDisk = length;
      }
    });
  }

  /**
   * A checkpoint's write of a shelved document: the texts of the items its file lacks, as one
   * line. Its texts hold all its items (none are dropped while it is shelved, a write that was
   * under way when it was shelved included), and are kept until the store forgets the document
   * once written, so that a get meanwhile can still parse them back.
   */
  private async writeShelved(doc: Doc, shelved: { from: number; to: number }): Promise<void> {
    const count = shelved.to - shelved.from + 1;
    const onDisk = doc.itemsOnDisk;
    if (onDisk === count) return;
    doc.itemsOnDisk = -1; // until the line is whole on disk
    const from = shelved.from + Math.max(onDisk, 0);
    if (!(await this.writeLine(doc, onDisk, (prefix) => doc.texts!.line(from, shelved.to, prefix)!))) return this.writeWhole(doc);
    if (doc.shelved === shelved) doc.itemsOnDisk = count;
  }

  /**
   * A checkpoint's line for a document whose file holds `onDisk` of its items (-1: none known),
   * made by `lineAfter` after its prefix: appended to the file, or put in a file created for it
   * (createWith, after a newline). false when that file exists after all: the document must then
   * be written whole.
   */
  private async writeLine(doc: Doc, onDisk: number, lineAfter: (prefix: string) => Buffer): Promise<boolean> {
    const path = this.path(doc.collection, doc.key);
    if (onDisk < 0) return createWith(path, lineAfter('\n'));
    await writeToFile(path, 'a', lineAfter(''));
    return true;
  }

  /** Writes a document's file whole (a temporary file and a rename). */
  private async writeWhole(doc: Doc): Promise<void> {
    unshelve(doc);
    const data = doc.low.data;
    const length = Array.isArray(data) ? data.length : -1;
    doc.itemsOnDisk = -1;
    await doc.low.write(); // serialises the data now, before its first await
    // Appends may have come meanwhile (they are not in the file). A replaced array is not its
    // file, and one shelved meanwhile needs all its texts.
    if (doc.low.data !== data) return;
    doc.itemsOnDisk = length;
    if (Array.isArray(data)) doc.texts?.dropThrough(lastSeq(data as Seqd[]));
  }

  /** Runs `op` once the document's earlier file operations have settled. */
  private fileOp(doc: Doc, op: () => Promise<void>): Promise<void> {
    const run = doc.io.then(op, op);
    doc.io = run.catch(() => undefined);
    return run;
  }

  /** What a checkpoint did not get to write waits for the next one, with the journals that hold it. */
  private checkpointLater(lazy: Doc[], retiring: Journal[]): void {
    for (const doc of lazy) this.checkpointDocs.delete(doc);
    for (const doc of lazy) if (!this.dirty.has(doc) && !doc.removed && this.docs.get(doc.collection, doc.key) === doc) this.lazy.add(doc);
    this.retired.unshift(...retiring);
    if (this.journaling()) this.armCheckpointTimer();
  }

  /** Appends a batch's line with one write; a failed write retires the journal (it may end torn). */
  private async writeJournal(journal: { n: number; handle: FileHandle | null; bytes: number }, line: Buffer): Promise<void> {
    try {
      if (journal.handle === null) {
        await mkdir(join(this.dir!, JOURNAL_DIR), { recursive: true, mode: 0o700 });
        journal.handle = await open(this.journalPath(journal.n), 'a', 0o600);
        if (this.journal === journal) this.armCheckpointTimer(); // not one a checkpoint is retiring
      }
      await appendAll(journal.handle.fd, line);
      journal.bytes += line.length;
    } catch (err) {
      if (this.journal === journal) {
        this.journal = null;
        this.retired.push(journal);
      } // else a checkpoint is retiring it: it goes back to the retired on failure
      this.checkpointWanted = true;
      throw err;
    }
  }

  /** Deletes checkpointed journals and forgets which documents had lines in them. */
  private async deleteJournals(numbers: number[]): Promise<void> {
    if (numbers.length === 0) return;
    await Promise.all(numbers.map((n) => rm(this.journalPath(n), { force: true })));
    const newest = Math.max(...numbers);
    for (const map of [this.journaledIn, this.tombstonedIn]) {
      for (const [id, n] of map) if (n <= newest) map.delete(id);
    }
  }

  private unlink(doc: Doc): Promise<void> {
    return this.fileOp(doc, async () => {
      if (doc.removed) this.docs.forget(doc);
      if (this.dir === null) return;
      await rm(this.path(doc.collection, doc.key), { force: true });
    });
  }

  /**
   * Applies the journals a killed process left to the documents (each written atomically), then
   * deletes the journals. A torn last line (the kill came mid-write) is ignored; any other line
   * that does not parse is E_STORE_CORRUPT naming the journal.
   */
  private async replay(): Promise<void> {
    const dir = join(this.dir!, JOURNAL_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const numbers = names.flatMap((name) => {
      const m = JOURNAL_FILE.exec(name);
      return m ? [Number(m[1])] : [];
    });
    numbers.sort((a, b) => a - b);
    if (numbers.length === 0) return;
    this.nextJournal = numbers.at(-1)! + 1;
    const docs = new Map<string, { collection: string; key: string; items: Seqd[] | null }>();
    for (const n of numbers) {
      const file = this.journalPath(n);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        // Its owner (another store open on this directory, e.g. a client closing as the same
        // user's next one starts) checkpointed it after the readdir: its documents are written.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const texts = text.split('\n');
      if (texts.at(-1) === '') texts.pop();
      for (let i = 0; i < texts.length; i++) {
        let entries: JournalEntry[];
        try {
          entries = parseJournalLine(texts[i]);
        } catch (err) {
          if (i === texts.length - 1) break; // torn: the process died mid-write
          throw new ParleyError('E_STORE_CORRUPT', `store journal ${file} line ${i + 1} is not valid (${(err as Error).message}); restore the store from a backup or move the journal aside`);
        }
        for (const line of entries) {
          let id: string;
          try {
            id = `${checkCollection(line.c)}/${checkSegment(line.k)}`;
          } catch (err) {
            throw new ParleyError('E_STORE_CORRUPT', `store journal ${file} line ${i + 1}: ${(err as Error).message}`);
          }
          let doc = docs.get(id);
          if (!doc) {
            const low = new Low<unknown>(this.adapter(line.c, line.k), null);
            await this.read(low, line.c, line.k);
            if (low.data !== null && !Array.isArray(low.data)) {
              throw new ParleyError('E_STORE_CORRUPT', `store file ${this.path(line.c, line.k)} is not an array but has journal lines in ${file}`);
            }
            doc = { collection: line.c, key: line.k, items: low.data as Seqd[] | null };
            docs.set(id, doc);
          }
          if ('removed' in line) doc.items = null;
          else if ('d' in line) doc.items = line.d;
          else {
            doc.items ??= [];
            if (line.i.seq > lastSeq(doc.items)) doc.items.push(line.i);
          }
        }
      }
    }
    await Promise.all(
      [...docs.values()].map(async ({ collection, key, items }) => {
        if (items === null) return rm(this.path(collection, key), { force: true });
        await this.mkdirFor(collection);
        const low = new Low<unknown>(this.adapter(collection, key), items);
        await low.write();
      }),
    );
    await this.deleteJournals(numbers);
  }

  /**
   * Writes everything still dirty, checkpoints the journal (none is left), and waits for both.
   * A checkpoint already running is waited for, then what came since is checkpointed too (a few
   * rounds at most: a store being closed gets no more changes).
   */
  async flush(): Promise<void> {
    if (this.pending) await this.pending.promise;
    for (let round = 0; ; round++) {
      // A batch in flight may be starting a checkpoint (its journals are then in neither the
      // store's journal nor its retired list until its line is written): wait for both.
      await this.flushing;
      await this.checkpointing;
      if (this.dir === null || !this.journaling() || round === 3) break;
      this.checkpointWanted = true;
      await this.schedule();
    }
    if (this.dir !== null && this.journaling() && this.checkpointError !== null) throw this.checkpointError;
  }
}
