/**
 * What checking a relayed text costs: ns a 100-character chat text for the writer's check
 * (escapedJsonString, protocol/json-string.ts) against the one-class expression it replaced, with
 * the same texts, alternating, on fresh strings as a request's parse makes them (docs/BENCHMARKS.md,
 * thirty-first session). Pin it to one core; compare the two in one run.
 *
 *   taskset -c 1 node --import tsx bench/text-checks.ts [--rounds 8]
 */
import { escapedJsonString } from '../src/protocol/json-string.ts';
import { printMedians, timeAlternating } from './lib/micro.ts';
import { exitAfter, numberArg } from './lib/proc.ts';

/** The writer's check before the thirty-first session: the quote in one class with the rest. */
const ONE_CLASS = /["\\\u0000-\u001f\ud800-\udfff]/;

const TEXTS = 1000;
const COPIES = 50;

async function main(): Promise<void> {
  const rounds = numberArg('--rounds', 8);
  // Texts as bench/compare's generator sends them: an id and a time, padded to 100 characters.
  const json = JSON.stringify(Array.from({ length: TEXTS }, (_, i) => `relay1p${i} ${(1e6 + i * 1.37).toFixed(3)} `.padEnd(100, 'x')));
  const copies: string[][] = Array.from({ length: COPIES }, () => JSON.parse(json) as string[]);
  // Each counts the texts it would escape: none of these.
  const { ns, sum } = timeAlternating<string>(
    {
      'one class (before)': (text) => (ONE_CLASS.test(text) ? 1 : 0),
      'escapedJsonString': (text) => (escapedJsonString(text) !== null ? 1 : 0),
    },
    copies,
    rounds,
  );
  if (sum !== 0) throw new Error(`${sum} plain texts found to need escaping`);
  printMedians(`ns a 100-character text, ${COPIES * TEXTS} texts a round`, ns);
}

exitAfter(main());
