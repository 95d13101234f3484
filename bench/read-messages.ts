/**
 * What reading a chat message costs: ns a `send` (a 100-character text) and a `received` (16
 * ids), as the generator spells them, read by parseClientMessage (readWrittenAsClientsWrite,
 * protocol/messages.ts) against JSON.parse alone, which builds the object the reader's fallback
 * then checks (docs/BENCHMARKS.md, thirty-second session). Each text is fresh from a buffer's
 * decoding, as the server's are. Pin it to one core; compare them in one run, or run it in a
 * worktree of another commit (with bench/lib/micro.ts) for that commit's reader.
 *
 *   taskset -c 1 node --import tsx bench/read-messages.ts [--rounds 10]
 */
import { parseClientMessage } from '../src/protocol/messages.ts';
import { printMedians, timeAlternating } from './lib/micro.ts';
import { exitAfter, numberArg } from './lib/proc.ts';

const MESSAGES = 1000;
const COPIES = 50;

const KINDS: Record<string, (i: number) => object> = {
  send: (i) => ({ type: 'send', id: `r${i}`, msgId: `relay1p42_${i}abc`, to: 'u0002', text: `relay1p42_${i} ${(1e6 + i * 1.37).toFixed(3)} `.padEnd(100, 'x') }),
  'received (16 ids)': (i) => ({ type: 'received', ids: Array.from({ length: 16 }, (_, k) => `relay1p42_${i + k}abc`) }),
};

async function main(): Promise<void> {
  const rounds = numberArg('--rounds', 10);
  for (const [kind, message] of Object.entries(KINDS)) {
    const texts = Array.from({ length: COPIES }, () => Array.from({ length: MESSAGES }, (_, i) => Buffer.from(JSON.stringify(message(i))).toString('utf8')));
    // Each counts the messages it read: all of them.
    const { ns, sum } = timeAlternating<string>(
      {
        parseClientMessage: (text) => (parseClientMessage(text) ? 1 : 0),
        'JSON.parse alone': (text) => (JSON.parse(text) ? 1 : 0),
      },
      texts,
      rounds,
    );
    if (sum !== COPIES * MESSAGES) throw new Error(`${sum} of ${COPIES * MESSAGES} messages read`);
    printMedians(`ns a ${kind}, ${COPIES * MESSAGES} a round`, ns);
  }
}

exitAfter(main());
