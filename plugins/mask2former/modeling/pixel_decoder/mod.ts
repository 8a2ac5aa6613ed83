/**
 * The MSDeformAttn pixel decoder of Mask2Former as DsHmp uses it: the deformable attention
 * ({@link MSDeformAttn}, sampled through `grid_sample`), its transformer encoder, the
 * {@link MSDeformAttnPixelDecoder}, and {@link msDeformAttnPixelDecoderFactory}, the `decoders` registry
 * entry `MSDeformAttnPixelDecoder` (the original's `MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME`).
 *
 * @example
 * ```ts
 * import { createRegistries } from "../../../../core/registries.ts";
 * import { levelStartIndex, msDeformAttnPixelDecoderFactory } from "./mod.ts";
 * const registries = createRegistries();
 * registries.decoders.register("MSDeformAttnPixelDecoder", msDeformAttnPixelDecoderFactory);
 * levelStartIndex([[2, 3], [4, 6]]); // [0, 6]
 * ```
 * @module
 */
import type { Factory } from "../../../../core/registries.ts";
import type { ShapeSpec } from "../backbone/swin.ts";
import {
  MSDeformAttnPixelDecoder,
  msDeformAttnPixelDecoderFromConfig,
  type PixelDecoderConfig,
} from "./msdeformattn.ts";

export * from "./ms_deform_attn.ts";
export * from "./msdeformattn.ts";

/**
 * Builds the pixel decoder from the merged config (see {@link msDeformAttnPixelDecoderFromConfig}) and
 * the backbone's output shapes, given as `ctx.inputShape` (`backbone.outputShape()`), drawing its
 * initialisation from the build context's generator.
 *
 * @example
 * ```ts
 * import { msDeformAttnPixelDecoderFactory } from "./mod.ts";
 * import { createRegistries } from "../../../../core/registries.ts";
 * import { Generator } from "../../../../core/random.ts";
 * const cfg = {
 *   MODEL: {
 *     SEM_SEG_HEAD: {
 *       IN_FEATURES: ["res2", "res3", "res4", "res5"], CONVS_DIM: 64, MASK_DIM: 32, NORM: "GN",
 *       TRANSFORMER_ENC_LAYERS: 1, DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: ["res3", "res4", "res5"],
 *       COMMON_STRIDE: 4,
 *     },
 *     MASK_FORMER: { DROPOUT: 0.0, NHEADS: 4 },
 *   },
 * };
 * const inputShape = {
 *   res2: { channels: 12, stride: 4 }, res3: { channels: 24, stride: 8 },
 *   res4: { channels: 48, stride: 16 }, res5: { channels: 96, stride: 32 },
 * };
 * const ctx = { registries: createRegistries(), generator: new Generator(0), inputShape };
 * const decoder = msDeformAttnPixelDecoderFactory(cfg, ctx);
 * decoder.numFpnLevels; // 1: res2 joins through the FPN step
 * ```
 */
export const msDeformAttnPixelDecoderFactory: Factory<MSDeformAttnPixelDecoder> = (cfg, ctx) => {
  const inputShape = ctx.inputShape as Record<string, ShapeSpec> | undefined;
  if (!inputShape || typeof inputShape !== "object") {
    throw new Error(
      "MSDeformAttnPixelDecoder: the build context needs inputShape (the backbone's outputShape())",
    );
  }
  return msDeformAttnPixelDecoderFromConfig(cfg as unknown as PixelDecoderConfig, inputShape, {
    generator: ctx.generator,
  });
};
