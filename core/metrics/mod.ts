/**
 * Video object segmentation measures: region similarity J, boundary accuracy F, and numpy-ordered
 * means, matching the official DAVIS/MeViS `metrics.py` for every frame.
 *
 * @example
 * ```ts
 * import { frameMeasures, numpyMean } from "./mod.ts";
 * const frames = [frameMeasures(gt0, pred0, h, w), frameMeasures(gt1, pred1, h, w)];
 * const J = numpyMean(frames.map((m) => m.j));
 * ```
 * @module
 */
export * from "./region.ts";
export * from "./boundary.ts";
export * from "./numpy_mean.ts";
export { type FrameMeasures, frameMeasures } from "./j_and_f.ts";
