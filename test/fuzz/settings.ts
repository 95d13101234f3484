/**
 * The one knob every fuzz suite shares. PARLEY_FUZZ_RUNS is how many cases each cheap property
 * runs; the default keeps the whole of test/fuzz well under a minute in CI, and `make fuzz` sets
 * it high for a long run. Costly properties (RSA, real sockets) run a fixed share of it.
 * PARLEY_FUZZ_SEED replays the run a failure report names (fast-check prints its seed).
 */
import fc from 'fast-check';

function envInteger(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got '${value}'`);
  return n;
}

/** Cases per cheap property (CI default: 300). */
export const BASE_RUNS = Math.max(1, envInteger('PARLEY_FUZZ_RUNS') ?? 300);
const SEED = envInteger('PARLEY_FUZZ_SEED');

/** Cases for a property that costs `share` of a cheap one's budget, at least one. */
export function runs(share = 1): number {
  return Math.max(1, Math.round(BASE_RUNS * share));
}

/** fast-check parameters for a property run at `share` of the base count. */
export function fuzzOptions<T>(share = 1, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  return { numRuns: runs(share), ...(SEED !== undefined && { seed: SEED }), ...extra };
}

/** Strings of any UTF-16 code units, lone surrogates included (what a socket or a paste can hold). */
export const anyCodeUnits = (constraints: { maxLength?: number; minLength?: number } = {}) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), ...constraints });

/** A mix of string flavours: ASCII, full Unicode, graphemes, raw code units. */
export const anyString = (constraints: { maxLength?: number; minLength?: number } = {}) =>
  fc.oneof(
    fc.string(constraints),
    fc.string({ unit: 'binary', ...constraints }),
    fc.string({ unit: 'grapheme', ...constraints }),
    anyCodeUnits(constraints),
  );

/** Splits `bytes` at the given cut points (taken modulo its length + 1). */
export function chunk(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(start, p)));
    start = p;
  }
  return out;
}
