/**
 * Mask2Former's {@link HungarianMatcher}: a one-to-one assignment of queries to ground-truth masks per
 * image, minimising `costClass * (-p[target class]) + costMask * mean BCE + costDice * dice` with the
 * mask costs measured at `numPoints` uniform points shared by every mask of the image. Solved with the
 * SciPy-exact {@link linearSumAssignment}; the pairs come sorted by query index.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { Generator } from "../../../core/random.ts";
 * import { HungarianMatcher } from "./matcher.ts";
 * import { generatorUniforms } from "./point_features.ts";
 * const matcher = new HungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 16 });
 * const g = new Generator(0);
 * const outputs = { predLogits: ops.randn([1, 4, 2], g), predMasks: ops.randn([1, 4, 8, 8], g) };
 * const targets = [{ labels: [0], masks: ops.ones([1, 32, 32]) }];
 * const [m] = matcher.forward(outputs, targets, generatorUniforms(g));
 * m.src.length; // 1: one query matched to the one target
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { linearSumAssignment } from "../../../core/math/linear_sum_assignment.ts";
import { pointSample, type UniformSource } from "./point_features.ts";

/** Matched pairs of one image: query `src[k]` goes with target `tgt[k]`; `src` ascends. */
export interface MatchIndices {
  src: number[];
  tgt: number[];
}

/** Mask-level predictions of one decoder layer: `[B, Q, K+1]` logits, `[B, Q, h, w]` mask logits. */
export interface MaskPrediction {
  predLogits: Tensor;
  predMasks: Tensor;
}

/** Ground truth of one image: class ids and `[n, H, W]` 0/1 masks. */
export interface MaskTarget {
  labels: ArrayLike<number>;
  masks: Tensor;
}

/** Costs of {@link HungarianMatcher}, as in the original's constructor. */
export interface HungarianMatcherOptions {
  costClass?: number;
  costMask?: number;
  costDice?: number;
  /** Points shared by every mask of an image (`MODEL.MASK_FORMER.TRAIN_NUM_POINTS`). */
  numPoints?: number;
}

/**
 * Pairwise dice cost of logits `[N, P]` against 0/1 targets `[M, P]`:
 * `1 - (2 p.t + 1) / (sum p + sum t + 1)` with `p = sigmoid(logits)`, `[N, M]`.
 */
export function batchDiceLoss(inputs: Tensor, targets: Tensor): Tensor {
  return ops.tidy(() => {
    const p = ops.sigmoid(inputs);
    const numerator = ops.mul(ops.matmul(p, targets, false, true), 2);
    const denominator = ops.add(ops.unsqueeze(ops.sum(p, -1), 1), ops.unsqueeze(ops.sum(targets, -1), 0));
    return ops.sub(1, ops.div(ops.add(numerator, 1), ops.add(denominator, 1)));
  });
}

/** Pairwise mean sigmoid cross-entropy of logits `[N, P]` against 0/1 targets `[M, P]`, `[N, M]`. */
export function batchSigmoidCeLoss(inputs: Tensor, targets: Tensor): Tensor {
  return ops.tidy(() => {
    const hw = (inputs.shape as number[])[1];
    const pos = ops.binaryCrossEntropyWithLogits(inputs, ops.onesLike(inputs), "none");
    const neg = ops.binaryCrossEntropyWithLogits(inputs, ops.zerosLike(inputs), "none");
    const loss = ops.add(
      ops.matmul(pos, targets, false, true),
      ops.matmul(neg, ops.sub(1, targets), false, true),
    );
    return ops.div(loss, hw);
  });
}

/**
 * The assignment for one image from its predictions `prob` `[Q, K+1]` (softmaxed), `outPoints`
 * `[Q, P]` and `tgtPoints` `[n, P]` (mask logits and targets at shared points). Shared with the clip
 * level (`VitaHungarianMatcher`), which flattens frames into the point axis.
 */
export function matchByCost(
  costs: { costClass: number; costMask: number; costDice: number },
  prob: Tensor,
  labels: ArrayLike<number>,
  outPoints: Tensor,
  tgtPoints: Tensor,
  onCost?: (cost: { rows: number; cols: number; data: Float32Array }) => void,
): MatchIndices {
  const q = prob.shape[0];
  const n = labels.length;
  const c = ops.tidy(() => {
    const costClass = ops.neg(ops.indexSelect(prob, 1, Array.from(labels)));
    const costMask = batchSigmoidCeLoss(outPoints, tgtPoints);
    const costDice = batchDiceLoss(outPoints, tgtPoints);
    return ops.add(
      ops.add(ops.mul(costMask, costs.costMask), ops.mul(costClass, costs.costClass)),
      ops.mul(costDice, costs.costDice),
    );
  });
  const data = Float32Array.from(ops.toArray(c));
  ops.dispose(c);
  const cost = { rows: q, cols: n, data };
  onCost?.(cost);
  const { rowInd, colInd } = linearSumAssignment(cost);
  return { src: Array.from(rowInd), tgt: Array.from(colInd) };
}

/** Mask2Former's Hungarian matcher (`matcher.py`, its memory-efficient per-image loop). */
export class HungarianMatcher {
  readonly costClass: number;
  readonly costMask: number;
  readonly costDice: number;
  readonly numPoints: number;
  /** Called with each cost matrix before it is solved (a debugging and testing hook). */
  onCost?: (cost: { rows: number; cols: number; data: Float32Array }) => void;

  constructor({ costClass = 1, costMask = 1, costDice = 1, numPoints = 0 }: HungarianMatcherOptions = {}) {
    if (costClass === 0 && costMask === 0 && costDice === 0) throw new Error("all costs can't be 0");
    this.costClass = costClass;
    this.costMask = costMask;
    this.costDice = costDice;
    this.numPoints = numPoints;
  }

  /**
   * One assignment per image. Draws one `[1, numPoints, 2]` set of points per image from `uniforms`,
   * in image order. Nothing here is differentiated.
   */
  forward(outputs: MaskPrediction, targets: MaskTarget[], uniforms: UniformSource): MatchIndices[] {
    const [bs, q] = outputs.predLogits.shape;
    const [, , h, w] = outputs.predMasks.shape;
    if (targets.length !== bs) {
      throw new Error(`HungarianMatcher: ${targets.length} targets for ${bs} images`);
    }
    const indices: MatchIndices[] = [];
    for (let b = 0; b < bs; b++) {
      const coords = uniforms.rand([1, this.numPoints, 2]);
      const t = targets[b];
      const n = t.labels.length;
      if (n === 0) {
        indices.push({ src: [], tgt: [] });
        continue;
      }
      const [th, tw] = t.masks.shape.slice(-2);
      const { prob, outPoints, tgtPoints } = ops.tidy(() => {
        const pts = ops.tensor(coords, [1, this.numPoints, 2]);
        // Masks as channels of one image: the same numbers as repeating the points per mask.
        const logits = ops.reshape(ops.slice(outputs.predMasks, [b, 0, 0, 0], [1, q, h, w]), [1, q, h, w]);
        return {
          prob: ops.softmax(ops.reshape(ops.slice(outputs.predLogits, [b, 0, 0], [1, -1, -1]), [q, -1]), -1),
          outPoints: ops.reshape(pointSample(logits, pts), [q, this.numPoints]),
          tgtPoints: ops.reshape(pointSample(ops.reshape(t.masks, [1, n, th, tw]), pts), [n, this.numPoints]),
        };
      });
      indices.push(matchByCost(this, prob, t.labels, outPoints, tgtPoints, this.onCost));
      ops.dispose([prob, outPoints, tgtPoints]);
    }
    return indices;
  }
}
