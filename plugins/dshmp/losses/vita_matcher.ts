/**
 * VITA's clip-level {@link VitaHungarianMatcher} (`vita_matcher.py`): the frame-level matcher's costs
 * with a clip query's masks over all T frames against an object's masks over the clip, the frames
 * flattened into the point axis (T * numPoints points, the same points in every frame). Predictions
 * come as `(L, B, ...)`, one entry per frame-decoder layer fed to the clip decoder and clip, and are
 * matched entry by entry `l * B + b` against the targets of clip `b`.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { Generator } from "../../../core/random.ts";
 * import { generatorUniforms } from "../../mask2former/losses/mod.ts";
 * import { VitaHungarianMatcher } from "./vita_matcher.ts";
 * const g = new Generator(0);
 * const matcher = new VitaHungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 16 });
 * const outputs = { predLogits: ops.randn([2, 1, 3, 2], g), predMasks: ops.randn([2, 1, 3, 4, 8, 8], g) };
 * const targets = [{ labels: [0], masks: ops.ones([1, 4, 32, 32]) }];
 * matcher.forward(outputs, targets, generatorUniforms(g)).length; // 2 = L * B
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import {
  matchByCost,
  type MatchIndices,
  pointSample,
  type UniformSource,
} from "../../mask2former/losses/mod.ts";

/** Clip-level predictions: `[L, B, cQ, K+1]` logits and `[L, B, cQ, T, h, w]` mask logits. */
export interface ClipMaskPrediction {
  predLogits: Tensor;
  predMasks: Tensor;
}

/** Ground truth of one clip: class ids and `[N, T, H, W]` 0/1 masks. */
export interface ClipMaskTarget {
  labels: ArrayLike<number>;
  masks: Tensor;
}

/** Costs of {@link VitaHungarianMatcher}. */
export interface VitaHungarianMatcherOptions {
  costClass?: number;
  costMask?: number;
  costDice?: number;
  /** Points per frame (`MODEL.MASK_FORMER.TRAIN_NUM_POINTS`). */
  numPoints?: number;
}

/** The clip-level Hungarian matcher. */
export class VitaHungarianMatcher {
  readonly costClass: number;
  readonly costMask: number;
  readonly costDice: number;
  readonly numPoints: number;
  /** Called with each cost matrix before it is solved (a debugging and testing hook). */
  onCost?: (cost: { rows: number; cols: number; data: Float32Array }) => void;

  constructor(
    { costClass = 1, costMask = 1, costDice = 1, numPoints = 0 }: VitaHungarianMatcherOptions = {},
  ) {
    if (costClass === 0 && costMask === 0 && costDice === 0) throw new Error("all costs can't be 0");
    this.costClass = costClass;
    this.costMask = costMask;
    this.costDice = costDice;
    this.numPoints = numPoints;
  }

  /**
   * One assignment per entry `l * B + b`; one `[1, numPoints, 2]` draw from `uniforms` per entry, in
   * entry order. Nothing here is differentiated.
   */
  forward(outputs: ClipMaskPrediction, targets: ClipMaskTarget[], uniforms: UniformSource): MatchIndices[] {
    const [l, b, cq, t, h, w] = outputs.predMasks.shape;
    if (targets.length !== b) throw new Error(`VitaHungarianMatcher: ${targets.length} targets for B = ${b}`);
    const p = this.numPoints;
    const indices: MatchIndices[] = [];
    for (let e = 0; e < l * b; e++) {
      const coords = uniforms.rand([1, p, 2]);
      const tgt = targets[e % b];
      const n = tgt.labels.length;
      if (n === 0) {
        indices.push({ src: [], tgt: [] });
        continue;
      }
      const [th, tw] = tgt.masks.shape.slice(-2);
      const { prob, outPoints, tgtPoints } = ops.tidy(() => {
        const pts = ops.tensor(coords, [1, p, 2]);
        const masks = ops.reshape(outputs.predMasks, [l * b, cq * t, h, w]);
        const logits = ops.slice(masks, [e, 0, 0, 0], [1, -1, -1, -1]);
        const logitRows = ops.reshape(
          ops.slice(ops.reshape(outputs.predLogits, [l * b, cq, -1]), [e, 0, 0], [1, -1, -1]),
          [cq, -1],
        );
        return {
          prob: ops.softmax(logitRows, -1),
          // [cQ*T, P] read as [cQ, T*P]: frames flattened into the point axis.
          outPoints: ops.reshape(pointSample(logits, pts), [cq, t * p]),
          tgtPoints: ops.reshape(pointSample(ops.reshape(tgt.masks, [1, n * t, th, tw]), pts), [n, t * p]),
        };
      });
      indices.push(matchByCost(this, prob, tgt.labels, outPoints, tgtPoints, this.onCost));
      ops.dispose([prob, outPoints, tgtPoints]);
    }
    return indices;
  }
}
