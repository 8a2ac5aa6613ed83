/**
 * DsHmp's clip-level losses: the {@link VitaHungarianMatcher}, the {@link VitaSetCriterion} (clip class
 * and mask losses, foreground similarity between frame and clip queries, the contrastive loss against
 * the {@link MemoryConstruct} memory bank through {@link multiPosCrossEntropy}), `prepare_targets`, the
 * weight dicts with the `loss_con_sim` ramp, and the config factory.
 *
 * @example
 * ```ts
 * import { conSimWeight, vitaWeightDict } from "./mod.ts";
 * Object.keys(vitaWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5, simWeight: 1, deepSupervision: true, decLayers: 3 })).length; // 15
 * conSimWeight(1000); // 0.15
 * ```
 * @module
 */
export * from "./contrastive_loss.ts";
export * from "./memory_bank.ts";
export * from "./vita_matcher.ts";
export * from "./vita_criterion.ts";
export * from "./prepare_targets.ts";
export * from "./from_config.ts";
export * from "./weighting.ts";
