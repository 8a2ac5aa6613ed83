/**
 * J and F of one frame together, with the counts behind them: what the MeViS/DAVIS scorers compute per
 * frame before averaging. Averages over frames and expressions use {@link numpyMean} (numpy's order).
 *
 * @example
 * ```ts
 * import { frameMeasures } from "./j_and_f.ts";
 * const m = frameMeasures(gtMask, predMask, h, w); // { j, f, inter, union, nGtBoundary, ... }
 * ```
 * @module
 */
import { BOUND_TH, type BoundaryStats, boundaryStats, rowSpans } from "./boundary.ts";
import { regionCountsInSpans } from "./region.ts";

export { numpyMean } from "./numpy_mean.ts";

/** J, F and their counts for one frame. */
export interface FrameMeasures extends BoundaryStats {
  j: number;
  inter: number;
  union: number;
}

/**
 * Region J and boundary F of one frame (row-major masks, nonzero = foreground).
 *
 * @example
 * ```ts
 * const { j, f } = frameMeasures(new Uint8Array([1, 0, 0, 0]), new Uint8Array([1, 0, 0, 0]), 2, 2);
 * // j = 1, f = 1
 * ```
 */
export function frameMeasures(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  h: number,
  w: number,
  boundTh = BOUND_TH,
): FrameMeasures {
  if (gt.length !== h * w || pred.length !== h * w) {
    throw new Error(`masks of ${gt.length} and ${pred.length} pixels given for a ${h}x${w} frame`);
  }
  const spans = { gt: rowSpans(gt, h, w), pred: rowSpans(pred, h, w) };
  const { inter, union } = regionCountsInSpans(gt, pred, w, spans.gt, spans.pred);
  return {
    j: union === 0 ? 1 : inter / union,
    inter,
    union,
    ...boundaryStats(gt, pred, h, w, boundTh, spans),
  };
}
