/**
 * What writing a number into a frame costs: ns a time stamp (13 digits, as every `msg` and `ok`
 * carries) and a seq for putNumber (protocol/json-bytes.ts) against the version before the
 * thirty-second session, whose last nine digits went through `%` on a double (C's fmod), and
 * against Node's own `Buffer.write` of the number's string (docs/BENCHMARKS.md, thirty-second
 * session). Pin it to one core; compare them in one run.
 *
 *   taskset -c 1 node --import tsx bench/put-number.ts [--rounds 8]
 */
import { NUMBER_BYTES_MAX, putNumber } from '../src/protocol/json-bytes.ts';
import { printMedians, timeAlternating } from './lib/micro.ts';
import { exitAfter, numberArg } from './lib/proc.ts';

const NUMBERS = 10_000;
const out = Buffer.alloc(NUMBERS * NUMBER_BYTES_MAX);
let at = 0;

/** A variant that writes with `write` along `out` (from its start again once it is full) and gives the bytes written. */
function writing(write: (out: Buffer, at: number, n: number) => number): (n: number) => number {
  return (n) => {
    const start = at > out.length - NUMBER_BYTES_MAX ? 0 : at;
    at = write(out, start, n);
    return at - start;
  };
}

/** putNumber before the thirty-second session, for reference. */
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');
function putNumberBefore(out: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return at + out.write(JSON.stringify(n), at, 'latin1');
  if (n < 1e9) {
    let count = 1;
    for (let bound = 10; n >= bound && count < 9; bound *= 10) count++;
    putDigitsBefore(out, at + count, n, count);
    return at + count;
  }
  const high = Math.floor(n / 1e9);
  const end = putNumberBefore(out, at, high) + 9;
  putDigitsBefore(out, end, n - high * 1e9, 9);
  return end;
}
function putDigitsBefore(out: Buffer, end: number, n: number, count: number): void {
  for (; count >= 2; count -= 2) {
    const pair = 2 * (n % 100);
    n = (n / 100) | 0;
    out[--end] = DIGIT_PAIRS[pair + 1];
    out[--end] = DIGIT_PAIRS[pair];
  }
  if (count === 1) out[end - 1] = 0x30 + (n % 10);
}

async function main(): Promise<void> {
  const rounds = numberArg('--rounds', 8);
  const now = Date.now();
  const kinds = {
    'time stamp': Array.from({ length: NUMBERS }, (_, i) => now + 37 * i),
    'seq': Array.from({ length: NUMBERS }, (_, i) => 1024 * 40 + i),
  };
  for (const [kind, numbers] of Object.entries(kinds)) {
    // Each gives the bytes it wrote, which must agree.
    const { ns } = timeAlternating<number>(
      {
        'before': writing(putNumberBefore),
        'putNumber': writing(putNumber),
        'Buffer.write': writing((out, at, n) => at + out.write(String(n), at, 'latin1')),
      },
      Array.from({ length: 20 }, () => numbers),
      rounds,
    );
    printMedians(`ns a ${kind}, ${20 * NUMBERS} a round`, ns);
  }
}

exitAfter(main());
