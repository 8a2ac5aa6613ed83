/**
 * DsHmp's clip-level {@link VitaSetCriterion} (`vita_criterion.py`), on the clip decoder's outputs
 * `(L, B, ...)` (L = frame-decoder layers fed to the clip decoder, entry `l * B + b` matched against
 * clip `b`):
 *
 * - `loss_vita_ce`: cross-entropy over every clip query, the no-object class weighted by `eosCoef`
 *   (buffer `empty_weight`);
 * - `loss_vita_mask`, `loss_vita_dice`: sigmoid BCE and dice of matched clip masks at uncertainty-chosen
 *   points, each frame sampled separately and the frames then joined (`T * numPoints` per mask), over
 *   `numMasks = #objects * L`;
 * - `loss_vita_sim` (`fg_sim`): BCE between the dot products of matched frame and clip query embeddings
 *   and "same object" (ids offset by 1000 per entry), only between queries of the same entry;
 * - `loss_con_sim` (`contrastive_sim`): the matched contrastive embeddings of entry 2 (hard-coded as in
 *   the original: the last layer when B = 1) are averaged into an anchor, written into the memory bank
 *   (`train_memory_bank`, 0.1 old + 0.9 new) BEFORE its positives and negatives are drawn, and scored with
 *   {@link multiPosCrossEntropy} on unnormalised dot products plus cosine similarities. The original
 *   assumes one clip per batch: the anchor's expression is `clipTargets[0].referId`.
 *
 * Auxiliary outputs get the first two kinds under `_i` keys. Losses are raw; see {@link vitaWeightDict}
 * and {@link conSimWeight} for the weights.
 *
 * @example
 * ```ts
 * import { VitaHungarianMatcher } from "./vita_matcher.ts";
 * import { VitaSetCriterion, vitaWeightDict } from "./vita_criterion.ts";
 * const criterion = new VitaSetCriterion({
 *   numClasses: 1,
 *   matcher: new VitaHungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 12544 }),
 *   weightDict: vitaWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5, simWeight: 1 }),
 *   eosCoef: 0.1,
 *   numPoints: 12544,
 *   memoryBank: { numSamples: 100 },
 * });
 * [...criterion.stateDict().keys()]; // ["empty_weight", "train_memory_bank.features"]
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../core/tensor/ops.ts";
import { Module } from "../../../core/tensor/nn/mod.ts";
import {
  diceLoss,
  gatherMatched,
  generatorUniforms,
  type LossDict,
  type MaskTarget,
  type MatchIndices,
  sampleMaskPoints,
  sigmoidCeLoss,
  type UniformSource,
  type WeightDict,
  weightedCrossEntropy,
  withAuxWeights,
} from "../../mask2former/losses/mod.ts";
import { multiPosCrossEntropy } from "./contrastive_loss.ts";
import { MemoryConstruct, type MemoryConstructOptions } from "./memory_bank.ts";
import type { ClipMaskPrediction, VitaHungarianMatcher } from "./vita_matcher.ts";

/** The entry `l * B + b` whose matched contrastive embeddings form the anchor (the original's `== 2`). */
const CONTRASTIVE_ENTRY = 2;
/** Offset between entries in the similarity ids (the original's `MULTIPLIER`). */
const MULTIPLIER = 1000;

/** Ground truth of one clip after {@link prepareTargets}. */
export interface ClipTarget {
  labels: ArrayLike<number>;
  /** `[N][T]` object ids per frame, -1 where the object is absent. */
  ids: number[][];
  /** `[N, T, H, W]` 0/1 masks. */
  masks: Tensor;
  /** The expression's idx (memory-bank row). */
  referId?: number;
}

/** Ground truth of one frame after {@link prepareTargets}. */
export interface FrameTarget extends MaskTarget {
  ids: ArrayLike<number>;
}

/** The clip decoder's outputs the criterion reads. */
export interface VitaOutputs extends ClipMaskPrediction {
  /** `[L, B, cQ, C]` clip-query similarity embeddings (with `SIM_USE_CLIP`). */
  predCqEmbed?: Tensor | null;
  /** `[L, B, T, fQ, C]` frame-query similarity embeddings. */
  predFqEmbed?: Tensor | null;
  /** `[L, B, cQ, C]` contrastive embeddings. */
  predContrastiveEmbed?: Tensor | null;
  auxOutputs?: ClipMaskPrediction[];
}

/** The clip-level losses by their original names. */
export type VitaLoss = "vita_labels" | "vita_masks" | "fg_sim" | "contrastive_sim";

/** Constructor options of {@link VitaSetCriterion}. */
export interface VitaSetCriterionOptions {
  numClasses: number;
  matcher: VitaHungarianMatcher;
  weightDict: WeightDict;
  eosCoef: number;
  /** Default: all four. */
  losses?: VitaLoss[];
  numPoints: number;
  oversampleRatio?: number;
  importanceSampleRatio?: number;
  /** Clip queries take part in `fg_sim` (`MODEL.VITA.SIM_USE_CLIP`, default true). */
  simUseClip?: boolean;
  /** The memory bank (defaults: 23051 x 256, 100 samples per anchor). */
  memoryBank?: MemoryConstructOptions;
}

/** Options of {@link vitaWeightDict}: the frame weights, `VITA.SIM_WEIGHT`, `DEEP_SUPERVISION`, `DEC_LAYERS`. */
export interface VitaWeightOptions {
  classWeight: number;
  maskWeight: number;
  diceWeight: number;
  simWeight: number;
  deepSupervision?: boolean;
  decLayers?: number;
}

/** The weight of `loss_con_sim` that the original fixes when `SIM_WEIGHT > 0`. */
export const CON_SIM_WEIGHT = 0.3;
/** Iterations over which `loss_con_sim`'s weight ramps up from 0. */
export const CON_SIM_RAMP_ITERS = 2000;

/**
 * The clip-level weight dict of the original's `from_config`: `loss_vita_ce/mask/dice`, with
 * `SIM_WEIGHT > 0` also `loss_vita_sim` (= SIM_WEIGHT) and `loss_con_sim` (0.3), then the `_i` copies
 * for `i < decLayers - 1` under deep supervision.
 *
 * @example
 * ```ts
 * import { vitaWeightDict } from "./vita_criterion.ts";
 * vitaWeightDict({ classWeight: 2, maskWeight: 5, diceWeight: 5, simWeight: 1 });
 * // { loss_vita_ce: 2, loss_vita_mask: 5, loss_vita_dice: 5, loss_vita_sim: 1, loss_con_sim: 0.3 }
 * ```
 */
export function vitaWeightDict(o: VitaWeightOptions): WeightDict {
  const base: WeightDict = {
    loss_vita_ce: o.classWeight,
    loss_vita_mask: o.maskWeight,
    loss_vita_dice: o.diceWeight,
  };
  if (o.simWeight > 0) {
    base.loss_vita_sim = o.simWeight;
    base.loss_con_sim = CON_SIM_WEIGHT;
  }
  return withAuxWeights(base, o.deepSupervision ?? false, o.decLayers ?? 1);
}

/**
 * The weight of `loss_con_sim` at `iteration`: `0.3 * iteration / 2000` for the first 2000 iterations,
 * then 0.3. (Only this key ramps; its `_i` copies keep 0.3 but are never produced.)
 *
 * @example
 * ```ts
 * import { conSimWeight } from "./vita_criterion.ts";
 * conSimWeight(500); // 0.075
 * conSimWeight(5000); // 0.3
 * ```
 */
export function conSimWeight(iteration: number): number {
  return iteration < CON_SIM_RAMP_ITERS ? (CON_SIM_WEIGHT * iteration) / CON_SIM_RAMP_ITERS : CON_SIM_WEIGHT;
}

/** `weightDict` with `loss_con_sim` set for `iteration` (a copy; the original mutates its dict). */
export function vitaWeightDictAt(weightDict: WeightDict, iteration: number): WeightDict {
  return { ...weightDict, loss_con_sim: conSimWeight(iteration) };
}

/** `x / max(||x||, 1e-12)` along the last axis (`F.normalize`). */
function normalize(x: Tensor): Tensor {
  return ops.tidy(() => ops.div(x, ops.maximum(ops.norm(x, -1, true), 1e-12)));
}

/** The clip-level criterion. Buffers: `empty_weight`, `train_memory_bank.features`. */
export class VitaSetCriterion extends Module {
  readonly numClasses: number;
  readonly matcher: VitaHungarianMatcher;
  readonly weightDict: WeightDict;
  readonly eosCoef: number;
  readonly losses: VitaLoss[];
  readonly numPoints: number;
  readonly oversampleRatio: number;
  readonly importanceSampleRatio: number;
  readonly simUseClip: boolean;
  readonly emptyWeight: Variable;
  readonly trainMemoryBank: MemoryConstruct;
  /** Called with each set of mask-loss point coordinates `[M*T, numPoints, 2]` (a debugging and testing hook). */
  onPointCoords?: (coords: Tensor) => void;

  constructor(o: VitaSetCriterionOptions) {
    super();
    this.numClasses = o.numClasses;
    this.matcher = o.matcher;
    this.weightDict = o.weightDict;
    this.eosCoef = o.eosCoef;
    this.losses = o.losses ?? ["vita_labels", "vita_masks", "fg_sim", "contrastive_sim"];
    this.numPoints = o.numPoints;
    this.oversampleRatio = o.oversampleRatio ?? 3;
    this.importanceSampleRatio = o.importanceSampleRatio ?? 0.75;
    this.simUseClip = o.simUseClip ?? true;
    const w = new Float32Array(o.numClasses + 1).fill(1);
    w[o.numClasses] = o.eosCoef;
    this.emptyWeight = this.registerBuffer("empty_weight", ops.tensor(w, [o.numClasses + 1]));
    this.trainMemoryBank = this.registerModule("train_memory_bank", new MemoryConstruct(o.memoryBank));
  }

  /** Class loss over every clip query of every entry. */
  lossLabels(outputs: ClipMaskPrediction, targets: ClipTarget[], indices: MatchIndices[]): LossDict {
    const [l, b, cq] = outputs.predLogits.shape;
    const classes = new Int32Array(l * b * cq).fill(this.numClasses);
    indices.forEach((m, e) =>
      m.src.forEach((s, k) => (classes[e * cq + s] = targets[e % b].labels[m.tgt[k]]))
    );
    return { loss_vita_ce: weightedCrossEntropy(outputs.predLogits, classes, ops.toArray(this.emptyWeight)) };
  }

  /** BCE and dice of matched clip masks, points drawn per frame, frames joined per mask. */
  lossMasks(
    outputs: ClipMaskPrediction,
    targets: ClipTarget[],
    indices: MatchIndices[],
    numMasks: number,
    uniforms: UniformSource,
  ): LossDict {
    const [l, b, cq, t, h, w] = outputs.predMasks.shape;
    return ops.tidy(() => {
      const src = gatherMatched(ops.reshape(outputs.predMasks, [l * b, cq, t, h, w]), indices); // [M, T, h, w]
      const m = src.shape[0];
      const parts = indices.flatMap((
        x,
        e,
      ) => (x.tgt.length ? [ops.indexSelect(targets[e % b].masks, 0, x.tgt)] : []));
      const tgt = parts.length ? ops.cat(parts, 0) : ops.zeros([0, t, 1, 1]);
      const [th, tw] = tgt.shape.slice(-2);
      const sampled = sampleMaskPoints(
        ops.reshape(src, [m * t, 1, h, w]),
        ops.reshape(tgt, [m * t, 1, th, tw]),
        this,
        uniforms,
        this.onPointCoords,
      );
      // No match: the original's sums over zero masks are 0 (the draws above still happen).
      if (m === 0) return { loss_vita_mask: ops.scalar(0), loss_vita_dice: ops.scalar(0) };
      const logits = ops.reshape(sampled.logits, [m, t * this.numPoints]);
      const labels = ops.reshape(sampled.labels, [m, t * this.numPoints]);
      return {
        loss_vita_mask: sigmoidCeLoss(logits, labels, numMasks),
        loss_vita_dice: diceLoss(logits, labels, numMasks),
      };
    });
  }

  /**
   * Foreground similarity between matched frame queries (`frameIndices`: the frame criterion's last
   * L layers, B*T images each) and, with `simUseClip`, matched clip queries.
   */
  lossFgSim(
    outputs: VitaOutputs,
    clipTargets: ClipTarget[],
    frameTargets: FrameTarget[],
    clipIndices: MatchIndices[],
    frameIndices: MatchIndices[][],
  ): LossDict {
    if (!outputs.predFqEmbed) throw new Error("fg_sim needs predFqEmbed");
    const [l, b, t, fq, c] = outputs.predFqEmbed.shape;
    const flatFrame = frameIndices.flat();
    if (flatFrame.length !== l * b * t) {
      throw new Error(`fg_sim: ${flatFrame.length} frame matches for L*B*T = ${l * b * t}`);
    }
    const ids: number[] = [];
    const batch: number[] = [];
    const keepFrame: number[] = [];
    let row = 0;
    flatFrame.forEach((m, e) => {
      const tg = frameTargets[e % (b * t)];
      const entry = Math.floor(e / t);
      m.tgt.forEach((j) => {
        const id = tg.ids[j];
        if (id !== -1) {
          keepFrame.push(row);
          ids.push(id + entry * MULTIPLIER);
          batch.push(entry);
        }
        row++;
      });
    });
    const keepClip: number[] = [];
    if (this.simUseClip) {
      row = 0;
      clipIndices.forEach((m, e) => {
        m.tgt.forEach((j) => {
          const id = Math.max(...clipTargets[e % b].ids[j]);
          if (id !== -1) {
            keepClip.push(row);
            ids.push(id + e * MULTIPLIER);
            batch.push(e);
          }
          row++;
        });
      });
    }
    const n = ids.length;
    const same = new Float32Array(n * n);
    const sameClip = new Float32Array(n * n);
    let sameClipSum = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        same[i * n + j] = ids[i] === ids[j] ? 1 : 0;
        if (batch[i] === batch[j]) {
          sameClip[i * n + j] = 1;
          sameClipSum++;
        }
      }
    }
    return ops.tidy(() => {
      const frameQ = gatherMatched(ops.reshape(outputs.predFqEmbed!, [l * b * t, fq, c]), flatFrame);
      const qs = [ops.indexSelect(frameQ, 0, keepFrame)];
      if (this.simUseClip) {
        if (!outputs.predCqEmbed) throw new Error("fg_sim with SIM_USE_CLIP needs predCqEmbed");
        const [cl, cb, cq] = outputs.predCqEmbed.shape;
        const clipQ = gatherMatched(ops.reshape(outputs.predCqEmbed, [cl * cb, cq, -1]), clipIndices);
        qs.push(ops.indexSelect(clipQ, 0, keepClip));
      }
      const q = ops.cat(qs, 0);
      const logits = ops.matmul(q, q, false, true);
      const loss = ops.binaryCrossEntropyWithLogits(logits, ops.tensor(same, [n, n]), "none");
      const masked = ops.sum(ops.mul(loss, ops.tensor(sameClip, [n, n])));
      return { loss_vita_sim: ops.div(masked, Math.fround(sameClipSum + 1e-6)) };
    });
  }

  /** The contrastive loss of the clip's anchor against the memory bank (updates the bank first). */
  lossContrastiveSim(outputs: VitaOutputs, targets: ClipTarget[], indices: MatchIndices[]): LossDict {
    if (!outputs.predContrastiveEmbed) throw new Error("contrastive_sim needs predContrastiveEmbed");
    const referId = targets[0].referId;
    if (referId === undefined) throw new Error("contrastive_sim needs clipTargets[0].referId");
    const [l, b, cq, c] = outputs.predContrastiveEmbed.shape;
    const rows: number[] = [];
    let row = 0;
    indices.forEach((m, e) =>
      m.src.forEach(() => {
        if (e === CONTRASTIVE_ENTRY) rows.push(row);
        row++;
      })
    );
    const anchor = ops.tidy(() => {
      const matched = gatherMatched(ops.reshape(outputs.predContrastiveEmbed!, [l * b, cq, c]), indices);
      return ops.mean(ops.indexSelect(matched, 0, rows), 0, true); // [1, C]
    });
    this.trainMemoryBank.update(referId, anchor);
    const { positive, negative } = this.trainMemoryBank.getTrainingSamples(referId);
    const numPos = positive.shape[0];
    const numNeg = negative.shape[0];
    const loss = ops.tidy(() => {
      const posNeg = ops.cat([positive, negative], 0);
      const dot = ops.matmul(anchor, posNeg, false, true);
      const cosine = ops.matmul(normalize(anchor), normalize(posNeg), false, true);
      const label = [[...new Array(numPos).fill(1), ...new Array(numNeg).fill(0)]];
      // One anchor: the mean over anchors is this loss.
      return multiPosCrossEntropy(dot, cosine, label);
    });
    ops.dispose([anchor, positive, negative]);
    return { loss_con_sim: loss };
  }

  /**
   * Raw clip-level losses (`_i` keys for auxiliary layer `i`). Random draws from `uniforms`, in the
   * original's order: per layer (last first) the matcher's points per entry, then the mask loss's
   * candidate and random points; the memory bank draws its negatives from its own sampler.
   */
  forward(
    outputs: VitaOutputs,
    clipTargets: ClipTarget[],
    frameTargets: FrameTarget[],
    frameIndices: MatchIndices[][],
    uniforms: UniformSource = generatorUniforms(),
  ): { losses: LossDict; indices: MatchIndices[] } {
    const clipIndices = this.matcher.forward(outputs, clipTargets, uniforms);
    const l = outputs.predMasks.shape[0];
    const numMasks = Math.max(clipTargets.reduce((s, t) => s + t.labels.length, 0) * l, 1);
    const losses: LossDict = {};
    const run = (loss: VitaLoss, out: ClipMaskPrediction, ind: MatchIndices[]): LossDict => {
      switch (loss) {
        case "vita_labels":
          return this.lossLabels(out, clipTargets, ind);
        case "vita_masks":
          return this.lossMasks(out, clipTargets, ind, numMasks, uniforms);
        case "fg_sim":
          return this.lossFgSim(outputs, clipTargets, frameTargets, ind, frameIndices);
        case "contrastive_sim":
          return this.lossContrastiveSim(outputs, clipTargets, ind);
      }
    };
    for (const loss of this.losses) Object.assign(losses, run(loss, outputs, clipIndices));
    (outputs.auxOutputs ?? []).forEach((aux, i) => {
      const auxIndices = this.matcher.forward(aux, clipTargets, uniforms);
      for (const loss of this.losses) {
        if (loss === "fg_sim" || loss === "contrastive_sim") continue;
        for (const [k, v] of Object.entries(run(loss, aux, auxIndices))) losses[`${k}_${i}`] = v;
      }
    });
    return { losses, indices: clipIndices };
  }
}
