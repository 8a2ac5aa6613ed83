/**
 * The config boundary of the clip-level losses (the original's `DsHmp.from_config`, VITA part):
 * `MODEL.MASK_FORMER.{CLASS,MASK,DICE}_WEIGHT` and `TRAIN_NUM_POINTS`, `OVERSAMPLE_RATIO`,
 * `IMPORTANCE_SAMPLE_RATIO` as at the frame level, `MODEL.VITA.NO_OBJECT_WEIGHT`, `SIM_WEIGHT` (> 0 adds
 * `fg_sim` and `contrastive_sim`), `SIM_USE_CLIP`, `DEEP_SUPERVISION` and `DEC_LAYERS` (the `_i`
 * copies). The memory bank's idx2positive / idx2negative tables come from the caller (the original
 * reads them from `datasets/mevis/train`; see {@link loadContrastiveTables}).
 *
 * @example
 * ```ts
 * import { vitaSetCriterionFromConfig } from "./from_config.ts";
 * const criterion = vitaSetCriterionFromConfig({
 *   MODEL: {
 *     SEM_SEG_HEAD: { NUM_CLASSES: 1 },
 *     MASK_FORMER: {
 *       CLASS_WEIGHT: 2, MASK_WEIGHT: 5, DICE_WEIGHT: 5, TRAIN_NUM_POINTS: 12544,
 *       OVERSAMPLE_RATIO: 3, IMPORTANCE_SAMPLE_RATIO: 0.75,
 *     },
 *     VITA: { NO_OBJECT_WEIGHT: 0.1, SIM_WEIGHT: 1, SIM_USE_CLIP: true, DEEP_SUPERVISION: true, DEC_LAYERS: 3 },
 *   },
 * }, { memoryBank: { numSamples: 100 } });
 * criterion.losses; // ["vita_labels", "vita_masks", "fg_sim", "contrastive_sim"]
 * ```
 * @module
 */
import { type VitaLoss, VitaSetCriterion, vitaWeightDict } from "./vita_criterion.ts";
import { VitaHungarianMatcher } from "./vita_matcher.ts";
import type { MemoryConstructOptions } from "./memory_bank.ts";

/** The config keys {@link vitaSetCriterionFromConfig} reads. */
export interface VitaSetCriterionConfig {
  MODEL: {
    SEM_SEG_HEAD: { NUM_CLASSES: number };
    MASK_FORMER: {
      CLASS_WEIGHT: number;
      MASK_WEIGHT: number;
      DICE_WEIGHT: number;
      TRAIN_NUM_POINTS: number;
      OVERSAMPLE_RATIO: number;
      IMPORTANCE_SAMPLE_RATIO: number;
    };
    VITA: {
      NO_OBJECT_WEIGHT: number;
      SIM_WEIGHT: number;
      SIM_USE_CLIP: boolean;
      DEEP_SUPERVISION: boolean;
      DEC_LAYERS: number;
    };
  };
}

/** The clip-level {@link VitaSetCriterion} with its matcher, weight dict and memory bank, from the config. */
export function vitaSetCriterionFromConfig(
  cfg: VitaSetCriterionConfig,
  opts: { memoryBank?: MemoryConstructOptions } = {},
): VitaSetCriterion {
  const m = cfg.MODEL.MASK_FORMER;
  const v = cfg.MODEL.VITA;
  const losses: VitaLoss[] = ["vita_labels", "vita_masks"];
  if (v.SIM_WEIGHT > 0) losses.push("fg_sim", "contrastive_sim");
  return new VitaSetCriterion({
    numClasses: cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    matcher: new VitaHungarianMatcher({
      costClass: m.CLASS_WEIGHT,
      costMask: m.MASK_WEIGHT,
      costDice: m.DICE_WEIGHT,
      numPoints: m.TRAIN_NUM_POINTS,
    }),
    weightDict: vitaWeightDict({
      classWeight: m.CLASS_WEIGHT,
      maskWeight: m.MASK_WEIGHT,
      diceWeight: m.DICE_WEIGHT,
      simWeight: v.SIM_WEIGHT,
      deepSupervision: v.DEEP_SUPERVISION,
      decLayers: v.DEC_LAYERS,
    }),
    eosCoef: v.NO_OBJECT_WEIGHT,
    losses,
    numPoints: m.TRAIN_NUM_POINTS,
    oversampleRatio: m.OVERSAMPLE_RATIO,
    importanceSampleRatio: m.IMPORTANCE_SAMPLE_RATIO,
    simUseClip: v.SIM_USE_CLIP,
    memoryBank: opts.memoryBank,
  });
}
