/**
 * Region similarity J of the DAVIS/MeViS benchmarks (`db_eval_iou`): the intersection over union of
 * two masks, 1 when both are empty. Masks are row-major arrays of equal length; nonzero = foreground.
 *
 * @example
 * ```ts
 * import { jaccard } from "./region.ts";
 * jaccard(new Uint8Array([1, 1, 0, 0]), new Uint8Array([0, 1, 1, 0])); // 1 / 3
 * jaccard(new Uint8Array(4), new Uint8Array(4)); // 1
 * ```
 * @module
 */

/** Intersection and union pixel counts of two masks. */
export interface RegionCounts {
  inter: number;
  union: number;
}

/**
 * Counts the pixels in both masks and in either.
 *
 * @example
 * ```ts
 * regionCounts(new Uint8Array([1, 1, 0]), new Uint8Array([0, 2, 1])); // { inter: 1, union: 3 }
 * ```
 */
export function regionCounts(gt: ArrayLike<number>, pred: ArrayLike<number>): RegionCounts {
  if (gt.length !== pred.length) {
    throw new Error(`annotation (${gt.length} pixels) and segmentation (${pred.length}) differ in size`);
  }
  let inter = 0;
  let union = 0;
  for (let i = 0; i < gt.length; i++) {
    const a = gt[i] !== 0;
    const b = pred[i] !== 0;
    if (a || b) {
      union++;
      if (a && b) inter++;
    }
  }
  return { inter, union };
}

/**
 * {@link regionCounts} visiting only the columns between each row's first and last foreground pixel of
 * either mask (`gtSpans` / `predSpans` from `rowSpans` in boundary.ts): outside them both are background.
 *
 * @example
 * ```ts
 * regionCountsInSpans(gt, pred, w, rowSpans(gt, h, w), rowSpans(pred, h, w));
 * ```
 */
export function regionCountsInSpans(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  w: number,
  gtSpans: { lo: Int32Array; hi: Int32Array },
  predSpans: { lo: Int32Array; hi: Int32Array },
): RegionCounts {
  if (gt.length !== pred.length) {
    throw new Error(`annotation (${gt.length} pixels) and segmentation (${pred.length}) differ in size`);
  }
  let inter = 0;
  let union = 0;
  for (let y = 0; y < gtSpans.lo.length; y++) {
    const x1 = Math.max(gtSpans.hi[y], predSpans.hi[y]);
    if (x1 < 0) continue;
    const r = y * w;
    for (let i = r + Math.min(gtSpans.lo[y], predSpans.lo[y]); i <= r + x1; i++) {
      const a = gt[i] !== 0;
      const b = pred[i] !== 0;
      if (a || b) {
        union++;
        if (a && b) inter++;
      }
    }
  }
  return { inter, union };
}

/**
 * J of one frame: `inter / union`, or 1 when the union is empty (the official `np.isclose(union, 0)`).
 *
 * @example
 * ```ts
 * jaccard(new Uint8Array([1, 0]), new Uint8Array([1, 1])); // 0.5
 * ```
 */
export function jaccard(gt: ArrayLike<number>, pred: ArrayLike<number>): number {
  const { inter, union } = regionCounts(gt, pred);
  return union === 0 ? 1 : inter / union;
}
