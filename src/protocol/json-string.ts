/**
 * JSON.stringify of a string, for the hot paths that write JSON out as bytes (a relayed message's
 * text, protocol/json-bytes.ts; a reply's ref, a few characters, is checked as it is copied there
 * instead, putShortJsonString). JSON.stringify escapes only `"`, `\`, the control characters
 * U+0000 to U+001F and lone surrogates; a string with none of them (most chat texts) is
 * that string in quotes, written as it is, which skips the escaping pass and the copy it makes:
 * ~90 ns of a 100-character text's ~320 ns to build and write (docs/BENCHMARKS.md, twenty-first
 * session). Anything with a character that might need escaping, including every surrogate, paired
 * or not, goes to JSON.stringify (test/protocol/json-string.test.ts holds the two equal on any
 * string).
 */
const MIGHT_NEED_ESCAPING_BUT_QUOTES = /[\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(value) where it might escape something; null where it is `value` in quotes. */
export function escapedJsonString(value: string): string | null {
  // The quote is looked for on its own: beside the rest in the expression's class it made the
  // test of a 100-character text twice as slow, where `includes` and this test take 0.57-0.60x
  // its time (bench/text-checks.ts); it was 3% of the pipelined relay's main thread
  // (docs/BENCHMARKS.md, thirty-first session).
  return value.includes('"') || MIGHT_NEED_ESCAPING_BUT_QUOTES.test(value) ? JSON.stringify(value) : null;
}
