/** Parley as a BenchTarget: the real server in a child process, light protocol clients as peers. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LightClient, type LightClientOptions } from './light-client.ts';
import { createAccounts, PASSWORD, ParleyServerChild, type ServerChildOptions } from './parley-server.ts';
import { sleep } from './proc.ts';
import type { BenchPeer, BenchTarget, DeliverySink } from './target.ts';

/** Connections set up at once (each: handshake and login). */
const SETUP_BATCH = 200;
/** Longer than the server's store batch interval (--flush-interval, 50 ms): a round's last journal line is written by then. */
const LAST_BATCH_MS = 150;
/** How long settle waits for the server's checkpoint (it comes 2 s after the journal was opened). */
const CHECKPOINT_WAIT_MS = 10_000;

class ParleyPeer implements BenchPeer {
  sink: DeliverySink | null = null;
  strays = 0;
  private nextId = 0;

  constructor(
    readonly name: string,
    readonly client: LightClient,
  ) {
    client.sink = {
      delivered: (_msgId, text, at) => {
        if (this.sink) this.sink(text, at);
        else this.strays++;
      },
    };
  }

  // Requests carry an id, as ParleyClient's do, so the server does its whole job: the `ok` reply too.
  sendPrivate(to: string, text: string): void {
    this.client.send({ type: 'send', id: `s${this.nextId++}`, to, msgId: text.slice(0, text.indexOf(' ')), text });
  }

  sendGroup(group: string, text: string): void {
    this.client.send({ type: 'group_send', id: `s${this.nextId++}`, group, msgId: text.slice(0, text.indexOf(' ')), text });
  }

  close(): void {
    this.client.close();
  }
}

/** The load generator's clients' pacing of acknowledgements (for trying other pacings) and patience (for a server under valgrind). */
export type PeerOptions = Pick<LightClientOptions, 'ackIntervalMs' | 'ackLazyMs' | 'lazyAcks' | 'helloTimeoutMs' | 'requestLimitMs'>;

export class ParleyTarget implements BenchTarget {
  private readonly peers: ParleyPeer[] = [];

  private constructor(
    readonly server: ParleyServerChild,
    readonly name: string,
    private readonly peerOptions: PeerOptions,
    /** the server's store journal directory: empty once everything recorded is checkpointed */
    private readonly journalDir: string,
    /** how long settle waits for the server's checkpoint */
    private readonly checkpointWaitMs: number,
  ) {}

  get pid(): number {
    return this.server.pid;
  }

  /** Registers `users` (cheap scrypt, straight into the store) and starts the server. */
  /** `peerOptions`: how its clients pace acknowledgements and how long they wait (default: as ParleyClient does). */
  static async start(options: ServerChildOptions, users: string[], name = 'parley', peerOptions: PeerOptions = {}, checkpointWaitMs = CHECKPOINT_WAIT_MS): Promise<ParleyTarget> {
    await createAccounts(options.root, users);
    return new ParleyTarget(await ParleyServerChild.start(options), name, peerOptions, join(options.root, 'store', 'journal'), checkpointWaitMs);
  }

  async connect(names: string[]): Promise<BenchPeer[]> {
    const out: ParleyPeer[] = [];
    for (let i = 0; i < names.length; i += SETUP_BATCH) {
      const batch = names.slice(i, i + SETUP_BATCH).map(async (name) => {
        const client = new LightClient({ port: this.server.port, ...this.peerOptions });
        await client.opened;
        await client.request({ type: 'login', user: name, password: PASSWORD });
        return new ParleyPeer(name, client);
      });
      for (const peer of await Promise.all(batch)) out.push(peer);
    }
    this.peers.push(...out);
    return out;
  }

  async makeGroup(group: string, owner: BenchPeer, members: BenchPeer[]): Promise<void> {
    await (owner as ParleyPeer).client.request({ type: 'group_create', name: group, visibility: 'open' });
    for (let i = 0; i < members.length; i += SETUP_BATCH) {
      await Promise.all(members.slice(i, i + SETUP_BATCH).map((m) => (m as ParleyPeer).client.request({ type: 'group_join', name: group })));
    }
  }

  /**
   * Sends the acknowledgements that wait at once rather than within ACK_LAZY_MS: all of their cost
   * counts (a member's one frame a round is more than one a second would be), but no idle second.
   * Then waits until the server's store has checkpointed what the round recorded (its journal
   * directory is empty again: the history segments are written as files), so that a round's CPU
   * time includes putting its messages on disk: without the wait the last checkpoint of a round
   * fell in the next round or in the gap between rounds (when rounds lasted about a second, the
   * median of the rounds mostly left the checkpoint out).
   */
  async settle(): Promise<void> {
    for (const peer of this.peers) peer.client.flushAcks();
    await sleep(LAST_BATCH_MS);
    const deadline = performance.now() + this.checkpointWaitMs;
    while (this.journaled()) {
      if (performance.now() > deadline) {
        console.log(`    (${this.name}: no checkpoint ${this.checkpointWaitMs / 1000} s after the round: its CPU time leaves the checkpoint out)`);
        return;
      }
      await sleep(25);
    }
  }

  private journaled(): boolean {
    return existsSync(this.journalDir) && readdirSync(this.journalDir).some((name) => name.endsWith('.jsonl'));
  }

  strays(): number {
    return this.peers.reduce((sum, p) => sum + p.strays, 0);
  }

  async stop(): Promise<void> {
    for (const peer of this.peers) peer.close();
    await this.server.stop();
  }
}
