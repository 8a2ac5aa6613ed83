/**
 * DsHmp's `FeatureResizer`: maps RoBERTa's 768-wide features to the decoders' width with
 * `Linear(in, out)`, then (when `doLn`) `LayerNorm(out, eps=1e-12)`, then dropout. The original
 * builds it with dropout 0.1 and `do_ln` true, and applies one instance to both the token features
 * (`lang_feat_fusion`) and the pooled sentence feature (`lang_feat`). State-dict names: `fc.*`,
 * `layer_norm.*` (under `resizer.` in a DsHmp checkpoint); the LayerNorm exists even without `doLn`.
 *
 * @example
 * ```ts
 * import { FeatureResizer } from "./feature_resizer.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const resizer = new FeatureResizer({ inputFeatSize: 768, outputFeatSize: 256 }).eval();
 * resizer.forward(ops.zeros([1, 40, 768])).shape; // [1, 40, 256]
 * ```
 * @module
 */
import type { Tensor } from "../../../core/tensor/ops.ts";
import * as ops from "../../../core/tensor/ops.ts";
import type { Generator } from "../../../core/random.ts";
import { Dropout, LayerNorm, Linear, Module } from "../../../core/tensor/nn/mod.ts";

/** The LayerNorm epsilon the original hard-codes in `FeatureResizer`. */
export const FEATURE_RESIZER_EPS = 1e-12;

/** Constructor options of {@link FeatureResizer}. */
export interface FeatureResizerOptions {
  /** Input width (DsHmp: 768, RoBERTa-base's hidden size). */
  inputFeatSize: number;
  /** Output width (DsHmp: `MODEL.MASK_FORMER.HIDDEN_DIM`, 256). */
  outputFeatSize: number;
  /** Dropout after the normalisation, training mode only (default 0.1, the original's value). */
  dropout?: number;
  /** Apply the LayerNorm (default true). */
  doLn?: boolean;
  /** Draws the initial `fc` weights and the dropout masks. */
  generator?: Generator;
}

/** `dropout(LN(fc(x)))` over the last dimension. */
export class FeatureResizer extends Module {
  readonly doLn: boolean;
  readonly fc: Linear;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(opts: FeatureResizerOptions) {
    super();
    this.doLn = opts.doLn ?? true;
    const g = { generator: opts.generator };
    this.fc = this.registerModule("fc", new Linear(opts.inputFeatSize, opts.outputFeatSize, g));
    this.layerNorm = this.registerModule(
      "layer_norm",
      new LayerNorm(opts.outputFeatSize, { eps: FEATURE_RESIZER_EPS }),
    );
    this.dropout = this.registerModule("dropout", new Dropout(opts.dropout ?? 0.1, g));
  }

  /** `[..., in]` -> `[..., out]`. */
  forward(x: Tensor): Tensor {
    return ops.tidy(() => {
      let y = this.fc.forward(x);
      if (this.doLn) y = this.layerNorm.forward(y);
      return this.dropout.forward(y);
    });
  }
}
