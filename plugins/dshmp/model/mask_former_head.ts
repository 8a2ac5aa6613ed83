/**
 * Mask2Former's `MaskFormerHead` as DsHmp uses it (`sem_seg_head`): the pixel decoder followed by the
 * frame decoder (`predictor`) reading the pixel decoder's multi-scale features
 * (`TRANSFORMER_IN_FEATURE: multi_scale_pixel_decoder`, the only mode DsHmp's decoder supports), with
 * the sentence's word features, their mask and the static features passed through. State-dict keys:
 * `pixel_decoder.*`, `predictor.*`.
 *
 * @example
 * ```ts ignore
 * import { MaskFormerHead } from "./mask_former_head.ts";
 * const head = new MaskFormerHead({ pixelDecoder, predictor, numClasses: 1 });
 * const { outputs, frameQueries, clipMaskFeatures } = head.forward(features, langFeat, langMask, staticFeat);
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { Module } from "../../../core/tensor/nn/mod.ts";
import type { PixelDecoderOutput } from "../../mask2former/modeling/pixel_decoder/msdeformattn.ts";
import type { FrameDecoderOutput } from "../modeling/frame_decoder/dshmp_transformer_decoder.ts";

/** What the head needs of a pixel decoder (the mask2former `MSDeformAttnPixelDecoder` contract). */
export interface PixelDecoderLike extends Module {
  forwardFeatures(features: Readonly<Record<string, Tensor>>): PixelDecoderOutput;
}

/** What the head needs of a frame decoder (the `DshmpMultiScaleMaskedTransformerDecoder` contract). */
export interface FrameDecoderLike extends Module {
  forward(
    x: readonly Tensor[],
    maskFeatures: Tensor,
    clipMaskFeatures: Tensor,
    langFeat: Tensor,
    langMask: Tensor,
    staticFeat: Tensor,
  ): FrameDecoderOutput;
}

/** Options of {@link MaskFormerHead}. */
export interface MaskFormerHeadOptions {
  pixelDecoder: PixelDecoderLike;
  predictor: FrameDecoderLike;
  /** `MODEL.SEM_SEG_HEAD.NUM_CLASSES`. */
  numClasses: number;
}

/** The segmentation head: pixel decoder + frame decoder. */
export class MaskFormerHead extends Module {
  readonly pixelDecoder: PixelDecoderLike;
  readonly predictor: FrameDecoderLike;
  readonly numClasses: number;

  constructor(opts: MaskFormerHeadOptions) {
    super();
    this.pixelDecoder = this.registerModule("pixel_decoder", opts.pixelDecoder);
    this.predictor = this.registerModule("predictor", opts.predictor);
    this.numClasses = opts.numClasses;
  }

  /**
   * @param features backbone features by name (`res2`..`res5`)
   * @param langFeat `(1, Nl, C)` resized word features; `langMask` `(1, Nl)` 1 = token
   * @param staticFeat `(S, C)` static words and the sentence feature
   */
  forward(
    features: Readonly<Record<string, Tensor>>,
    langFeat: Tensor,
    langMask: Tensor,
    staticFeat: Tensor,
  ): FrameDecoderOutput {
    const [maskFeatures, clipMaskFeatures, , multiScale] = this.pixelDecoder.forwardFeatures(features);
    // The encoder output is multiScale[0]; clipMaskFeatures comes back in the predictor's output.
    const scratch = [maskFeatures, ...multiScale].filter((t) => t !== clipMaskFeatures);
    try {
      return this.predictor.forward(
        multiScale,
        maskFeatures,
        clipMaskFeatures,
        langFeat,
        langMask,
        staticFeat,
      );
    } catch (e) {
      ops.dispose(clipMaskFeatures);
      throw e;
    } finally {
      ops.dispose(scratch);
    }
  }
}
