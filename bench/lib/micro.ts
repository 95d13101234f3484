/**
 * Timing small functions against each other (bench/text-checks.ts, put-number.ts, read-messages.ts): every
 * variant runs over the same inputs, the variants alternating round by round so that a slow spell
 * of this noisy machine hits them alike, and each is compared with the first in one run.
 */
import { fmt, percentile } from './proc.ts';

/** Rounds run before the measured ones, to warm the JIT up. */
const WARM_UP_ROUNDS = 2;

/**
 * ns an input for each variant, one figure a measured round (`ns`). Each variant returns a number
 * for each input, summed so that none can be optimised away; the variants must agree on the sum,
 * which comes back too (`sum`, the last round's) for the caller to check.
 */
export function timeAlternating<T>(variants: Record<string, (input: T) => number>, inputs: T[][], rounds: number): { ns: Record<string, number[]>; sum: number } {
  const ns: Record<string, number[]> = {};
  const sums: Record<string, number> = {};
  const count = inputs.reduce((sum, batch) => sum + batch.length, 0);
  for (let round = 0; round < WARM_UP_ROUNDS + rounds; round++) {
    for (const [name, variant] of Object.entries(variants)) {
      let sum = 0;
      const started = process.hrtime.bigint();
      for (const batch of inputs) for (const input of batch) sum += variant(input);
      const each = Number(process.hrtime.bigint() - started) / count;
      sums[name] = sum;
      if (round >= WARM_UP_ROUNDS) (ns[name] ??= []).push(each);
    }
  }
  const [first, ...others] = Object.keys(variants);
  for (const name of others) if (sums[name] !== sums[first]) throw new Error(`${name} disagrees with ${first}: ${sums[name]} against ${sums[first]}`);
  return { ns, sum: sums[first] };
}

/** Prints each variant's median ns and its ratio to the first variant's, with every round's figure. */
export function printMedians(title: string, ns: Record<string, number[]>): void {
  const rounds = Object.values(ns)[0].length;
  console.log(`${title}, median of ${rounds} rounds (after ${WARM_UP_ROUNDS} to warm up)`);
  const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
  const reference = median(Object.values(ns)[0]);
  const width = Math.max(...Object.keys(ns).map((name) => name.length));
  for (const [name, values] of Object.entries(ns)) {
    const each = median(values);
    console.log(`  ${name.padEnd(width)} ${fmt(each, 0).padStart(5)} ns  (${fmt(each / reference, 2)}x)   rounds: ${values.map((v) => fmt(v, 0)).join(' ')}`);
  }
}
