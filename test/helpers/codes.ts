/**
 * Assertions that something fails with a coded ParleyError: the error must be a ParleyError with
 * the given code (its message shown if the code differs). Each returns the error for further checks.
 */
import * as assert from 'uvu/assert';
import { ParleyError } from '../../src/protocol/errors.ts';

function expectCode(err: unknown, code: string): ParleyError {
  assert.instance(err, ParleyError);
  assert.is((err as ParleyError).code, code, (err as Error).message);
  return err as ParleyError;
}

/** `fn()` throws (synchronously) a ParleyError with `code`. */
export function throwsCode(fn: () => unknown, code: string): ParleyError {
  try {
    fn();
  } catch (err) {
    return expectCode(err, code);
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

/**
 * `result` rejects with a ParleyError with `code`. A function is called first, and awaited, so
 * one that throws synchronously counts too.
 */
export async function rejectsCode(result: Promise<unknown> | (() => unknown), code: string): Promise<ParleyError> {
  try {
    await (typeof result === 'function' ? result() : result);
  } catch (err) {
    return expectCode(err, code);
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}
