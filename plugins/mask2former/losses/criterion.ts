/**
 * Mask2Former's {@link SetCriterion} (`criterion.py`): after Hungarian matching, a class loss over every
 * query (cross-entropy with the no-object class down-weighted by `eosCoef`, the `empty_weight` buffer)
 * and, for matched queries, sigmoid BCE and dice on `numPoints` points per mask chosen by uncertainty
 * (see {@link getUncertainPointCoordsWithRandomness}). With auxiliary outputs every earlier layer gets
 * the same losses under `_i` keys (deep supervision). Losses are raw: the weights are applied by the
 * caller with {@link applyWeightDict}.
 *
 * It also returns the matches of its last `vitaLastLayerNum` layers (the original's `fg_indices`), which
 * DsHmp's clip-level similarity loss reuses.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { Generator } from "../../../core/random.ts";
 * import { HungarianMatcher } from "./matcher.ts";
 * import { SetCriterion, setCriterionWeightDict } from "./criterion.ts";
 * import { generatorUniforms } from "./point_features.ts";
 * const matcher = new HungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 16 });
 * const weightDict = setCriterionWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5 });
 * const criterion = new SetCriterion({ numClasses: 1, matcher, weightDict, eosCoef: 0.1, numPoints: 16 });
 * const g = new Generator(0);
 * const outputs = { predLogits: ops.randn([1, 4, 2], g), predMasks: ops.randn([1, 4, 8, 8], g) };
 * const targets = [{ labels: [0], masks: ops.ones([1, 32, 32]) }];
 * const { losses } = criterion.forward(outputs, targets, generatorUniforms(g));
 * Object.keys(losses); // ["loss_ce", "loss_mask", "loss_dice"]
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../core/tensor/ops.ts";
import { Module } from "../../../core/tensor/nn/mod.ts";
import { HungarianMatcher, type MaskPrediction, type MaskTarget, type MatchIndices } from "./matcher.ts";
import {
  generatorUniforms,
  getUncertainPointCoordsWithRandomness,
  pointSample,
  type UniformSource,
} from "./point_features.ts";

/** Loss name -> weight (the original's `weight_dict`). */
export type WeightDict = Record<string, number>;

/** Loss name -> scalar tensor. */
export type LossDict = Record<string, Tensor>;

/** Dice loss of matched logits `[M, P]` against targets `[M, P]`, summed and divided by `numMasks`. */
export function diceLoss(inputs: Tensor, targets: Tensor, numMasks: number): Tensor {
  return ops.tidy(() => {
    const p = ops.sigmoid(inputs);
    const numerator = ops.mul(ops.sum(ops.mul(p, targets), -1), 2);
    const denominator = ops.add(ops.sum(p, -1), ops.sum(targets, -1));
    const loss = ops.sub(1, ops.div(ops.add(numerator, 1), ops.add(denominator, 1)));
    return ops.div(ops.sum(loss), numMasks);
  });
}

/** Sigmoid BCE of matched logits `[M, P]`: the mean over points, summed over masks, over `numMasks`. */
export function sigmoidCeLoss(inputs: Tensor, targets: Tensor, numMasks: number): Tensor {
  return ops.tidy(() => {
    const loss = ops.binaryCrossEntropyWithLogits(inputs, targets, "none");
    return ops.div(ops.sum(ops.mean(loss, 1)), numMasks);
  });
}

/**
 * `F.cross_entropy(logits, target, weight)` for logits `[..., C]` and integer targets (one per
 * row): `sum_i w[t_i] * nll_i / sum_i w[t_i]`.
 */
export function weightedCrossEntropy(
  logits: Tensor,
  targets: ArrayLike<number>,
  weight: ArrayLike<number>,
): Tensor {
  const c = logits.shape[logits.rank - 1];
  const rows = logits.size / c;
  if (targets.length !== rows) {
    throw new Error(`weightedCrossEntropy: ${targets.length} targets for ${rows} rows`);
  }
  const w = new Float32Array(rows * c);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    w[i * c + targets[i]] = weight[targets[i]];
    total = Math.fround(total + weight[targets[i]]); // float32, as PyTorch sums the weights
  }
  return ops.tidy(() => {
    const logp = ops.logSoftmax(ops.reshape(logits, [rows, c]), -1);
    return ops.div(ops.neg(ops.sum(ops.mul(logp, ops.tensor(w, [rows, c])))), total);
  });
}

/**
 * The matched rows of `x` (first axis = image) as `[M, ...]`: `x[b][src]` for every image in order
 * (the original's `_get_src_permutation_idx` indexing).
 */
export function gatherMatched(x: Tensor, indices: MatchIndices[]): Tensor {
  const q = (x.shape as number[])[1];
  const flat: number[] = [];
  indices.forEach((m, b) => m.src.forEach((s) => flat.push(b * q + s)));
  return ops.tidy(() => ops.indexSelect(ops.reshape(x, [-1, ...x.shape.slice(2)]), 0, flat));
}

/** The deep-supervision copies of `base`: `k_0 .. k_{layers-2}` after the plain keys. */
export function withAuxWeights(base: WeightDict, deepSupervision: boolean, decLayers: number): WeightDict {
  const out: WeightDict = { ...base };
  if (!deepSupervision) return out;
  for (let i = 0; i < decLayers - 1; i++) {
    for (const [k, v] of Object.entries(base)) out[`${k}_${i}`] = v;
  }
  return out;
}

/** Options of {@link setCriterionWeightDict}: `MODEL.MASK_FORMER.*_WEIGHT`, `DEEP_SUPERVISION`, `DEC_LAYERS`. */
export interface SetCriterionWeightOptions {
  classWeight: number;
  maskWeight: number;
  diceWeight: number;
  deepSupervision?: boolean;
  decLayers?: number;
}

/**
 * The frame-level weight dict of the original's `from_config`: `loss_ce`, `loss_mask`, `loss_dice`
 * plus their `_i` copies for `i < decLayers - 1` under deep supervision.
 *
 * @example
 * ```ts
 * import { setCriterionWeightDict } from "./criterion.ts";
 * setCriterionWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5, deepSupervision: true, decLayers: 2 });
 * // { loss_ce: 2, loss_mask: 5, loss_dice: 5, loss_ce_0: 2, loss_mask_0: 5, loss_dice_0: 5 }
 * ```
 */
export function setCriterionWeightDict(o: SetCriterionWeightOptions): WeightDict {
  const base = { loss_ce: o.classWeight, loss_mask: o.maskWeight, loss_dice: o.diceWeight };
  return withAuxWeights(base, o.deepSupervision ?? false, o.decLayers ?? 1);
}

/**
 * Scales each loss by its weight. With `dropUnweighted` (the frame level in the original) losses
 * missing from `weightDict` are dropped; otherwise (the clip level) they are kept unscaled. Returns a
 * new dict; the inputs are not disposed.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { applyWeightDict } from "./criterion.ts";
 * const w = applyWeightDict({ loss_ce: ops.scalar(1), extra: ops.scalar(3) }, { loss_ce: 2 }, true);
 * Object.keys(w); // ["loss_ce"] (value 2)
 * ```
 */
export function applyWeightDict(losses: LossDict, weightDict: WeightDict, dropUnweighted: boolean): LossDict {
  const out: LossDict = {};
  for (const [k, v] of Object.entries(losses)) {
    if (k in weightDict) out[k] = ops.mul(v, weightDict[k]);
    else if (!dropUnweighted) out[k] = v;
  }
  return out;
}

/** A decoder's predictions with the earlier layers' (`aux_outputs`). */
export interface MaskPredictions extends MaskPrediction {
  auxOutputs?: MaskPrediction[];
}

/** Constructor options of {@link SetCriterion}. */
export interface SetCriterionOptions {
  numClasses: number;
  matcher: HungarianMatcher;
  weightDict: WeightDict;
  /** Weight of the no-object class in the class loss (`NO_OBJECT_WEIGHT`). */
  eosCoef: number;
  /** Which losses: `"labels"`, `"masks"` (default both). */
  losses?: ("labels" | "masks")[];
  numPoints: number;
  oversampleRatio?: number;
  importanceSampleRatio?: number;
  /** How many of the last layers' matches {@link SetCriterion.forward} returns (`VITA.LAST_LAYER_NUM`). */
  vitaLastLayerNum?: number;
}

/** What {@link SetCriterion.forward} returns. */
export interface SetCriterionResult {
  /** Raw losses: `loss_ce`, `loss_mask`, `loss_dice`, and `_i` for auxiliary layer `i`. */
  losses: LossDict;
  /** Matches of the last `vitaLastLayerNum` layers, oldest first (the last layer last). */
  fgIndices: MatchIndices[][];
}

/** Mask2Former's set criterion with DsHmp's `fg_indices`. Buffer: `empty_weight` `[numClasses + 1]`. */
export class SetCriterion extends Module {
  readonly numClasses: number;
  readonly matcher: HungarianMatcher;
  readonly weightDict: WeightDict;
  readonly eosCoef: number;
  readonly losses: ("labels" | "masks")[];
  readonly numPoints: number;
  readonly oversampleRatio: number;
  readonly importanceSampleRatio: number;
  readonly vitaLastLayerNum: number;
  readonly emptyWeight: Variable;
  /** Called with each set of mask-loss point coordinates `[M, numPoints, 2]` (a debugging and testing hook). */
  onPointCoords?: (coords: Tensor) => void;

  constructor(o: SetCriterionOptions) {
    super();
    this.numClasses = o.numClasses;
    this.matcher = o.matcher;
    this.weightDict = o.weightDict;
    this.eosCoef = o.eosCoef;
    this.losses = o.losses ?? ["labels", "masks"];
    this.numPoints = o.numPoints;
    this.oversampleRatio = o.oversampleRatio ?? 3;
    this.importanceSampleRatio = o.importanceSampleRatio ?? 0.75;
    this.vitaLastLayerNum = o.vitaLastLayerNum ?? 3;
    const w = new Float32Array(o.numClasses + 1).fill(1);
    w[o.numClasses] = o.eosCoef;
    this.emptyWeight = this.registerBuffer("empty_weight", ops.tensor(w, [o.numClasses + 1]));
  }

  /** Class loss over every query; unmatched queries target the no-object class. */
  lossLabels(outputs: MaskPrediction, targets: MaskTarget[], indices: MatchIndices[]): LossDict {
    const [bs, q] = outputs.predLogits.shape;
    const classes = new Int32Array(bs * q).fill(this.numClasses);
    indices.forEach((m, b) => m.src.forEach((s, k) => (classes[b * q + s] = targets[b].labels[m.tgt[k]])));
    const weight = ops.toArray(this.emptyWeight);
    return { loss_ce: weightedCrossEntropy(outputs.predLogits, classes, weight) };
  }

  /** BCE and dice of the matched masks at uncertainty-chosen points. */
  lossMasks(
    outputs: MaskPrediction,
    targets: MaskTarget[],
    indices: MatchIndices[],
    numMasks: number,
    uniforms: UniformSource,
  ): LossDict {
    return ops.tidy(() => {
      const src = ops.unsqueeze(gatherMatched(outputs.predMasks, indices), 1); // [M, 1, h, w]
      const tgt = ops.unsqueeze(matchedTargetMasks(targets, indices), 1); // [M, 1, H, W]
      const { logits, labels } = sampleMaskPoints(src, tgt, this, uniforms, this.onPointCoords);
      // No match: the original's sums over zero masks are 0 (the draws above still happen).
      if (logits.shape[0] === 0) return { loss_mask: ops.scalar(0), loss_dice: ops.scalar(0) };
      return {
        loss_mask: sigmoidCeLoss(logits, labels, numMasks),
        loss_dice: diceLoss(logits, labels, numMasks),
      };
    });
  }

  /**
   * Raw losses of the last layer and, under `_i`, of auxiliary layer `i`. Random draws, in the
   * original's order: per layer (last first, then the auxiliary ones) the matcher's points per image,
   * then the mask loss's candidate and random points.
   */
  forward(
    outputs: MaskPredictions,
    targets: MaskTarget[],
    uniforms: UniformSource = generatorUniforms(),
  ): SetCriterionResult {
    const indices = this.matcher.forward(outputs, targets, uniforms);
    const numMasks = Math.max(targets.reduce((s, t) => s + t.labels.length, 0), 1);
    const losses: LossDict = {};
    const layerLosses = (out: MaskPrediction, ind: MatchIndices[], suffix: string) => {
      for (const loss of this.losses) {
        const l = loss === "labels"
          ? this.lossLabels(out, targets, ind)
          : this.lossMasks(out, targets, ind, numMasks, uniforms);
        for (const [k, v] of Object.entries(l)) losses[k + suffix] = v;
      }
    };
    layerLosses(outputs, indices, "");
    const fgIndices: MatchIndices[][] = [];
    (outputs.auxOutputs ?? []).forEach((aux, i) => {
      const auxIndices = this.matcher.forward(aux, targets, uniforms);
      layerLosses(aux, auxIndices, `_${i}`);
      fgIndices.push(auxIndices);
    });
    fgIndices.push(indices);
    return { losses, fgIndices: fgIndices.slice(-this.vitaLastLayerNum) };
  }
}

/** The matched target masks `[M, H, W]`, zero-padded to the largest target size as the original's batching. */
function matchedTargetMasks(targets: MaskTarget[], indices: MatchIndices[]): Tensor {
  const hMax = Math.max(...targets.map((t) => (t.masks.shape as number[])[1]));
  const wMax = Math.max(...targets.map((t) => (t.masks.shape as number[])[2]));
  return ops.tidy(() => {
    const parts = indices.flatMap((m, b) => {
      if (m.tgt.length === 0) return [];
      const masks = targets[b].masks;
      const [, h, w] = masks.shape as number[];
      const padded = h === hMax && w === wMax
        ? masks
        : ops.pad(masks, [[0, 0], [0, hMax - h], [0, wMax - w]]);
      return [ops.indexSelect(padded, 0, m.tgt)];
    });
    return parts.length ? ops.cat(parts, 0) : ops.zeros([0, hMax, wMax]);
  });
}

/**
 * Point logits and labels `[M, numPoints]` of `src` `[M, 1, h, w]` against `tgt` `[M, 1, H, W]`: the
 * points come from the (detached) logits' uncertainty, the gradient flows through the logits only.
 */
export function sampleMaskPoints(
  src: Tensor,
  tgt: Tensor,
  o: { numPoints: number; oversampleRatio: number; importanceSampleRatio: number },
  uniforms: UniformSource,
  onPointCoords?: (coords: Tensor) => void,
): { logits: Tensor; labels: Tensor } {
  return ops.tidy(() => {
    const coords = getUncertainPointCoordsWithRandomness(
      ops.detach(src),
      o.numPoints,
      o.oversampleRatio,
      o.importanceSampleRatio,
      uniforms,
    );
    onPointCoords?.(coords);
    if (src.shape[0] === 0) {
      return { logits: ops.zeros([0, o.numPoints]), labels: ops.zeros([0, o.numPoints]) };
    }
    return {
      logits: ops.squeeze(pointSample(src, coords), [1]),
      labels: ops.squeeze(pointSample(tgt, coords), [1]),
    };
  });
}
