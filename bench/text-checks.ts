/**
 * What checking a relayed text costs: ns a 100-character chat text for the writer's check
 * (escapedJsonString, protocol/json-string.ts) against the one-class expression it replaced, with
 * the same texts, alternating, on fresh strings as a request's parse makes them (docs/BENCHMARKS.md,
 * thirty-first session). Pin it to one core; compare the two in one run.
 *
 *   taskset -c 1 node --import tsx bench/text-checks.ts [--rounds 8]
 */
import { escapedJsonString } from '../src/protocol/json-string.ts';
import { exitAfter, fmt, numberArg, percentile } from './lib/proc.ts';

/** The writer's check before the thirty-first session: the quote in one class with the rest. */
const ONE_CLASS = /["\\\u0000-\u001f\ud800-\udfff]/;

const TEXTS = 1000;
const COPIES = 50;

async function main(): Promise<void> {
  const rounds = numberArg('--rounds', 8);
  // Texts as bench/compare's generator sends them: an id and a time, padded to 100 characters.
  const json = JSON.stringify(Array.from({ length: TEXTS }, (_, i) => `relay1p${i} ${(1e6 + i * 1.37).toFixed(3)} `.padEnd(100, 'x')));
  const copies: string[][] = Array.from({ length: COPIES }, () => JSON.parse(json) as string[]);
  const checks: Record<string, (text: string) => boolean> = {
    'one class (before)': (text) => ONE_CLASS.test(text),
    'escapedJsonString': (text) => escapedJsonString(text) !== null,
  };
  const ns: Record<string, number[]> = {};
  for (let round = 0; round < rounds + 2; round++) {
    for (const [name, check] of Object.entries(checks)) {
      let escaped = 0;
      const started = process.hrtime.bigint();
      for (const texts of copies) for (const text of texts) if (check(text)) escaped++;
      const each = Number(process.hrtime.bigint() - started) / (COPIES * TEXTS);
      if (escaped !== 0) throw new Error(`${name} found something to escape in a plain text`);
      if (round >= 2) (ns[name] ??= []).push(each); // the first two rounds warm the JIT up
    }
  }
  console.log(`ns a 100-character text, median of ${rounds} rounds (after 2 to warm up), ${COPIES * TEXTS} texts a round`);
  const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
  const before = median(ns['one class (before)']);
  for (const [name, values] of Object.entries(ns)) {
    const each = median(values);
    console.log(`  ${name.padEnd(20)} ${fmt(each, 0).padStart(5)} ns  (${fmt(each / before, 2)}x)   rounds: ${values.map((v) => fmt(v, 0)).join(' ')}`);
  }
}

exitAfter(main());
