/**
 * Mask2Former's losses: the uncertainty point sampling of PointRend, the {@link HungarianMatcher} and
 * the {@link SetCriterion} (class, mask BCE and dice losses with deep supervision), plus the weight-dict
 * helpers. DsHmp's clip-level losses build on these.
 *
 * @example
 * ```ts
 * import { HungarianMatcher, SetCriterion, setCriterionWeightDict } from "./mod.ts";
 * const matcher = new HungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 12544 });
 * const criterion = new SetCriterion({
 *   numClasses: 1,
 *   matcher,
 *   weightDict: setCriterionWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5, deepSupervision: true, decLayers: 10 }),
 *   eosCoef: 0.1,
 *   numPoints: 12544,
 * });
 * [...criterion.stateDict().keys()]; // ["empty_weight"]
 * ```
 * @module
 */
export * from "./point_features.ts";
export * from "./matcher.ts";
export * from "./criterion.ts";
export * from "./from_config.ts";
