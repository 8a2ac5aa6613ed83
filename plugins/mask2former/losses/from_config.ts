/**
 * The config boundary of the frame-level losses (the original's `DsHmp.from_config`, criterion part):
 * `MODEL.MASK_FORMER.{CLASS,MASK,DICE}_WEIGHT` are both the matcher's costs and the loss weights,
 * `NO_OBJECT_WEIGHT` the no-object class weight, `TRAIN_NUM_POINTS`, `OVERSAMPLE_RATIO`,
 * `IMPORTANCE_SAMPLE_RATIO` the point sampling, `DEEP_SUPERVISION` and `DEC_LAYERS` the `_i` copies,
 * `MODEL.VITA.LAST_LAYER_NUM` how many layers' matches are handed to the clip level.
 *
 * @example
 * ```ts
 * import { setCriterionFromConfig } from "./from_config.ts";
 * const criterion = setCriterionFromConfig({
 *   MODEL: {
 *     SEM_SEG_HEAD: { NUM_CLASSES: 1 },
 *     MASK_FORMER: {
 *       DEEP_SUPERVISION: true, NO_OBJECT_WEIGHT: 0.1, CLASS_WEIGHT: 2, MASK_WEIGHT: 5, DICE_WEIGHT: 5,
 *       DEC_LAYERS: 10, TRAIN_NUM_POINTS: 12544, OVERSAMPLE_RATIO: 3, IMPORTANCE_SAMPLE_RATIO: 0.75,
 *     },
 *     VITA: { LAST_LAYER_NUM: 3 },
 *   },
 * });
 * Object.keys(criterion.weightDict).length; // 30
 * ```
 * @module
 */
import { SetCriterion, setCriterionWeightDict } from "./criterion.ts";
import { HungarianMatcher } from "./matcher.ts";

/** The config keys {@link setCriterionFromConfig} reads. */
export interface SetCriterionConfig {
  MODEL: {
    SEM_SEG_HEAD: { NUM_CLASSES: number };
    MASK_FORMER: {
      DEEP_SUPERVISION: boolean;
      NO_OBJECT_WEIGHT: number;
      CLASS_WEIGHT: number;
      MASK_WEIGHT: number;
      DICE_WEIGHT: number;
      DEC_LAYERS: number;
      TRAIN_NUM_POINTS: number;
      OVERSAMPLE_RATIO: number;
      IMPORTANCE_SAMPLE_RATIO: number;
    };
    VITA: { LAST_LAYER_NUM: number };
  };
}

/** The matcher of the frame level, from the config. */
export function hungarianMatcherFromConfig(cfg: SetCriterionConfig): HungarianMatcher {
  const m = cfg.MODEL.MASK_FORMER;
  return new HungarianMatcher({
    costClass: m.CLASS_WEIGHT,
    costMask: m.MASK_WEIGHT,
    costDice: m.DICE_WEIGHT,
    numPoints: m.TRAIN_NUM_POINTS,
  });
}

/** The frame-level {@link SetCriterion} with its matcher and weight dict, from the config. */
export function setCriterionFromConfig(cfg: SetCriterionConfig): SetCriterion {
  const m = cfg.MODEL.MASK_FORMER;
  return new SetCriterion({
    numClasses: cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    matcher: hungarianMatcherFromConfig(cfg),
    weightDict: setCriterionWeightDict({
      classWeight: m.CLASS_WEIGHT,
      maskWeight: m.MASK_WEIGHT,
      diceWeight: m.DICE_WEIGHT,
      deepSupervision: m.DEEP_SUPERVISION,
      decLayers: m.DEC_LAYERS,
    }),
    eosCoef: m.NO_OBJECT_WEIGHT,
    losses: ["labels", "masks"],
    numPoints: m.TRAIN_NUM_POINTS,
    oversampleRatio: m.OVERSAMPLE_RATIO,
    importanceSampleRatio: m.IMPORTANCE_SAMPLE_RATIO,
    vitaLastLayerNum: cfg.MODEL.VITA.LAST_LAYER_NUM,
  });
}
