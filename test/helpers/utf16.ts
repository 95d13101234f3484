import fc from 'fast-check';

/**
 * Any UTF-16 string, lone surrogates and control characters included, mostly printable ASCII:
 * for what must match JSON.stringify on every string (json-string, json-bytes).
 */
export const anyUtf16 = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1f }) },
      { weight: 1, arbitrary: fc.constantFrom(0x22, 0x5c) },
      { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }) },
      { weight: 2, arbitrary: fc.integer({ min: 0x7f, max: 0xffff }) },
    ),
    { maxLength: 300 },
  )
  .map((units) => String.fromCharCode(...units));
