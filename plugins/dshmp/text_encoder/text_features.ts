/**
 * The language features DsHmp's `train_model` / `inference` build from RoBERTa's output, in the
 * original's order and shapes:
 *
 * | name               | value                                                        | shape           |
 * | ------------------ | ------------------------------------------------------------ | --------------- |
 * | `langFeat`         | `resizer(pooler_output)`                                     | `[B, C]`        |
 * | `langFeatFusion`   | `resizer(last_hidden_state)`                                 | `[B, L, C]`     |
 * | `motionFeat`       | `cat([langFeatFusion[motion_map.bool()], langFeat], 0)`      | `[Nm + B, C]`   |
 * | `staticFeat`       | `cat([langFeatFusion[static_map.bool()], langFeat], 0)`      | `[Ns + B, C]`   |
 * | `langFeatSentence` | `last_hidden_state.permute(0, 2, 1)` (raw, not resized)      | `[B, hidden, L]`|
 *
 * The maps index the RESIZED token features; the selected rows come first (row-major over batch
 * and token), then the pooled feature(s). `motionFeat` and `staticFeat` are token-first `[N, C]`
 * sequences: the clip decoder repeats `motionFeat` over its batch as `[N, LB, C]`, the frame decoder
 * takes `staticFeat` likewise. As in PyTorch's boolean indexing, there must be one map per batch
 * row: the original passes a single `[1, 40]` map, so it only runs with B = 1.
 *
 * The backbone gets `langFeatSentence` and the mask `[B, L, 1]` repeated once per image
 * ({@link backboneLanguageInputs}); the decoders get `langFeatFusion` and the `[B, L]` mask.
 *
 * The clip decoder's output key `' '` (a single space) holds `lang_feat_mean[-1]`, the masked mean
 * over tokens of the language features AFTER its fusion layers (not of `langFeatFusion` here):
 * {@link maskedTokenMean} computes that mean given those features.
 *
 * @example
 * ```ts
 * import { FeatureResizer } from "./feature_resizer.ts";
 * import { assembleTextFeatures } from "./text_features.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const resizer = new FeatureResizer({ inputFeatSize: 16, outputFeatSize: 8 }).eval();
 * const motion = new Float32Array(40);
 * motion[2] = 1;
 * const stat = new Float32Array(40);
 * stat[1] = stat[3] = 1;
 * const f = assembleTextFeatures(
 *   { lastHiddenState: ops.ones([1, 40, 16]), poolerOutput: ops.ones([1, 16]) },
 *   resizer,
 *   { motion, static: stat },
 * );
 * [f.motionFeat.shape, f.staticFeat.shape]; // [[2, 8], [3, 8]]
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import type { FeatureResizer } from "./feature_resizer.ts";
import type { RobertaModel, RobertaOutput } from "./roberta.ts";

/** The clip decoder's output key for the masked language mean (the original's `' '`). */
export const LANG_FEAT_MEAN_KEY = " ";

/** Token maps: one 0/1 array of length L per batch row (a single array means B = 1). */
export interface TokenMaps {
  motion: ArrayLike<number> | readonly ArrayLike<number>[];
  static: ArrayLike<number> | readonly ArrayLike<number>[];
}

/** The features of {@link assembleTextFeatures} (see the module doc for their meaning). */
export type TextFeatures = {
  langFeat: Tensor;
  langFeatFusion: Tensor;
  motionFeat: Tensor;
  staticFeat: Tensor;
  langFeatSentence: Tensor;
};

/**
 * Resizes RoBERTa's output and assembles the motion and static features, as `dshmp_model.py`.
 * `encoded.poolerOutput` must exist (DsHmp builds RoBERTa with its pooler).
 */
export function assembleTextFeatures(
  encoded: RobertaOutput,
  resizer: FeatureResizer,
  maps: TokenMaps,
): TextFeatures {
  const hidden = encoded.lastHiddenState;
  const pooled = encoded.poolerOutput;
  if (!pooled) {
    throw new Error("assembleTextFeatures: RoBERTa was built without a pooler (pooler_output is null)");
  }
  if (hidden.rank !== 3) {
    throw new Error(`assembleTextFeatures: last_hidden_state must be [B, L, H], got [${hidden.shape}]`);
  }
  const [b, l] = hidden.shape as number[];
  const motionRows = selectedRows(maps.motion, b, l, "motion");
  const staticRows = selectedRows(maps.static, b, l, "static");
  return ops.tidy(() => {
    // The training step resizes the pooled feature first; the order only matters for dropout draws.
    const langFeat = resizer.forward(pooled);
    const langFeatFusion = resizer.forward(hidden);
    const flat = ops.reshape(langFeatFusion, [b * l, (langFeatFusion.shape as number[])[2]]);
    const pick = (rows: number[]) =>
      rows.length === 0 ? langFeat : ops.cat([ops.indexSelect(flat, 0, rows), langFeat], 0);
    return {
      langFeat,
      langFeatFusion,
      motionFeat: pick(motionRows),
      staticFeat: pick(staticRows),
      langFeatSentence: ops.permute(hidden, [0, 2, 1]),
    };
  });
}

/**
 * Runs the encoder and assembles the features: DsHmp's text pathway from token ids to
 * `motionFeat` / `staticFeat`.
 *
 * @example
 * ```ts
 * const f = encodeText(roberta, resizer, ids, mask, { motion, static: stat });
 * ```
 */
export function encodeText(
  encoder: RobertaModel,
  resizer: FeatureResizer,
  inputIds: Tensor,
  attentionMask: Tensor,
  maps: TokenMaps,
): TextFeatures {
  return ops.tidy(() => assembleTextFeatures(encoder.forward(inputIds, attentionMask), resizer, maps));
}

/**
 * The backbone's language inputs: `l = langFeatSentence.repeat(numImages, 1, 1)` `[B*numImages,
 * hidden, L]` and `lMask = mask.unsqueeze(-1).repeat(numImages, 1, 1)` `[B*numImages, L, 1]` (float32).
 */
export function backboneLanguageInputs(
  langFeatSentence: Tensor,
  attentionMask: Tensor,
  numImages: number,
): { l: Tensor; lMask: Tensor } {
  return ops.tidy(() => ({
    l: ops.tile(langFeatSentence, [numImages, 1, 1]),
    lMask: ops.tile(ops.unsqueeze(ops.cast(attentionMask, "float32"), -1), [numImages, 1, 1]),
  }));
}

/**
 * `sum(feat * mask, tokens) / sum(mask, tokens)`: `feat` `[B, L, C]` (batch-first), `mask` `[B, L]`
 * -> `[B, C]`. A row with no valid token divides by zero, as the original.
 */
export function maskedTokenMean(feat: Tensor, mask: Tensor): Tensor {
  return ops.tidy(() => {
    const m = ops.cast(mask, "float32");
    return ops.div(ops.sum(ops.mul(feat, ops.unsqueeze(m, -1)), 1), ops.sum(m, 1, true));
  });
}

/** Flat row indices `b * L + i` where map `b` is nonzero, after checking one map of length L per row. */
function selectedRows(
  maps: ArrayLike<number> | readonly ArrayLike<number>[],
  batch: number,
  length: number,
  which: string,
): number[] {
  const list: readonly ArrayLike<number>[] = isMapList(maps) ? maps : [maps];
  if (list.length !== batch) {
    throw new Error(
      `${which} map: ${list.length} map(s) for a batch of ${batch}; boolean indexing needs one per sample ` +
        `(the original's single [1, ${length}] map only works with B = 1)`,
    );
  }
  const rows: number[] = [];
  list.forEach((map, b) => {
    if (map.length !== length) {
      throw new Error(`${which} map ${b}: length ${map.length}, but the text features have ${length} tokens`);
    }
    for (let i = 0; i < length; i++) if (map[i] !== 0) rows.push(b * length + i);
  });
  return rows;
}

function isMapList(m: ArrayLike<number> | readonly ArrayLike<number>[]): m is readonly ArrayLike<number>[] {
  return m.length > 0 && typeof m[0] !== "number";
}
