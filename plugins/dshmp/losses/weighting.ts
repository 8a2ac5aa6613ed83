/**
 * The total training loss of DsHmp's `train_model`: frame losses scaled by the frame weight dict (losses
 * without a weight dropped), clip losses scaled by the clip weight dict with `loss_con_sim` ramped by
 * iteration (clip losses without a weight kept unscaled), both in one dict.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { weightDsHmpLosses } from "./weighting.ts";
 * const total = weightDsHmpLosses({
 *   frameLosses: { loss_ce: ops.scalar(1) },
 *   frameWeightDict: { loss_ce: 2 },
 *   vitaLosses: { loss_con_sim: ops.scalar(1) },
 *   vitaWeightDict: { loss_con_sim: 0.3 },
 *   iteration: 1000,
 * });
 * // loss_ce: 2, loss_con_sim: 0.15
 * ```
 * @module
 */
import { applyWeightDict, type LossDict, type WeightDict } from "../../mask2former/losses/mod.ts";
import { vitaWeightDictAt } from "./vita_criterion.ts";

/** Inputs of {@link weightDsHmpLosses}. */
export interface DsHmpLossInputs {
  frameLosses: LossDict;
  frameWeightDict: WeightDict;
  vitaLosses: LossDict;
  vitaWeightDict: WeightDict;
  /** The trainer's iteration (drives the `loss_con_sim` ramp). */
  iteration: number;
}

/** The weighted losses; their sum is what the original back-propagates. */
export function weightDsHmpLosses(o: DsHmpLossInputs): LossDict {
  return {
    ...applyWeightDict(o.frameLosses, o.frameWeightDict, true),
    ...applyWeightDict(o.vitaLosses, vitaWeightDictAt(o.vitaWeightDict, o.iteration), false),
  };
}
