/**
 * The assertions the suite uses. They come from `node:assert/strict` because JSR (`jsr:@std/assert`) is
 * not reachable from our build machines; to use `@std/assert` instead, change this one file.
 * @module
 */
import assert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  // Node's overloads take a string message only as a defined argument.
  if (message === undefined) assert.deepStrictEqual(actual, expected);
  else assert.deepStrictEqual(actual, expected, message);
}
/** `Object.is` equality. */
export function assertStrictEquals(actual: unknown, expected: unknown, message?: string): void {
  // Node's overloads take a string message only as a defined argument.
  if (message === undefined) assert.strictEqual(actual, expected);
  else assert.strictEqual(actual, expected, message);
}
/** Deep strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  // Node's overloads take a string message only as a defined argument.
  if (message === undefined) assert.notDeepStrictEqual(actual, expected);
  else assert.notDeepStrictEqual(actual, expected, message);
}
/** The string matches the pattern. */
export function assertMatch(value: string, pattern: RegExp, message?: string): void {
  if (message === undefined) assert.match(value, pattern);
  else assert.match(value, pattern, message);
}
export { assert };

/** Asserts that `fn` throws an error whose message matches `pattern`, and returns it. */
export function assertThrows(fn: () => unknown, pattern?: RegExp | string): Error {
  try {
    fn();
  } catch (e) {
    checkMessage(e, pattern);
    return e as Error;
  }
  throw new assert.AssertionError({ message: "expected the function to throw" });
}

/** Asserts that `fn` rejects with an error whose message matches `pattern`, and returns it. */
export async function assertRejects(fn: () => Promise<unknown>, pattern?: RegExp | string): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkMessage(e, pattern);
    return e as Error;
  }
  throw new assert.AssertionError({ message: "expected the promise to reject" });
}

function checkMessage(e: unknown, pattern?: RegExp | string): void {
  if (!(e instanceof Error)) {
    throw new assert.AssertionError({ message: `thrown value is not an Error: ${e}` });
  }
  if (pattern === undefined) return;
  const ok = typeof pattern === "string" ? e.message.includes(pattern) : pattern.test(e.message);
  if (!ok) {
    throw new assert.AssertionError({ message: `error message "${e.message}" does not match ${pattern}` });
  }
}

/** Numeric closeness report: max absolute error, where, and whether |a-e| <= atol + rtol*|e| everywhere. */
export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): { ok: boolean; maxAbs: number; worst: number; bad: number } {
  if (actual.length !== expected.length) {
    throw new assert.AssertionError({ message: `length ${actual.length} != expected ${expected.length}` });
  }
  let maxAbs = 0;
  let worst = -1;
  let bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) bad++;
    if (!(d <= maxAbs)) {
      maxAbs = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  return { ok: bad === 0, maxAbs, worst, bad };
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, reporting the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-5, label = "value" }: { atol?: number; rtol?: number; label?: string } = {},
): void {
  const r = compareClose(actual, expected, atol, rtol);
  if (!r.ok) {
    throw new assert.AssertionError({
      message: `${label}: ${r.bad}/${actual.length} elements outside atol ${atol} rtol ${rtol}; max |err| ${
        r.maxAbs.toExponential(3)
      } at ${r.worst} (got ${actual[r.worst]}, expected ${expected[r.worst]})`,
    });
  }
}
