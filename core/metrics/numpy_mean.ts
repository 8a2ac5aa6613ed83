/**
 * Sums and means in numpy's order of operations, so that means agree with the official scorer to the
 * last bit rather than to ~1e-16: numpy's `add.reduce` over a contiguous float64 array starts from 0 and
 * adds numpy's `pairwise_sum` of the whole array (plain loop below 8 elements, eight interleaved
 * accumulators up to 128, halving above; no buffer-sized blocks, checked against numpy 2.4).
 *
 * @example
 * ```ts
 * import { numpyMean } from "./numpy_mean.ts";
 * numpyMean([0.1, 0.2, 0.3]); // same double as np.mean([0.1, 0.2, 0.3])
 * ```
 * @module
 */

const BLOCK = 128; // numpy's PW_BLOCKSIZE

/** numpy's `pairwise_sum` of `a[start, start + n)`. */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= BLOCK) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    }
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/**
 * `np.sum` of a 1-D float64 array.
 *
 * @example
 * ```ts
 * numpySum([1, 2, 3]); // 6
 * ```
 */
export function numpySum(a: ArrayLike<number>): number {
  return 0 + pairwiseSum(a, 0, a.length);
}

/**
 * `np.mean` of a 1-D float64 array (NaN for an empty one, as numpy returns with a warning).
 *
 * @example
 * ```ts
 * numpyMean([1, 2]); // 1.5
 * ```
 */
export function numpyMean(a: ArrayLike<number>): number {
  return a.length === 0 ? NaN : numpySum(a) / a.length;
}
