/**
 * The Mask2Former plugin: the multimodal Swin backbone, the MSDeformAttn pixel decoder, the Hungarian
 * matcher and set criterion, and the conversion of Mask2Former / detectron2 checkpoints. Its config keys
 * are in `config.ts`. Registry entries: backbone `D2SwinTransformer`, pixel decoder
 * `MSDeformAttnPixelDecoder`, loss `SetCriterion`, and the checkpoint converters.
 *
 * @example
 * ```ts
 * import mask2former from "./mod.ts";
 * mask2former.name; // "mask2former"
 * ```
 * @module
 */
import { definePlugin } from "../../core/plugin.ts";
import { mask2formerDefaults } from "./config.ts";
import {
  MASK2FORMER_CONVERTER,
  mask2formerConverterFactory,
  RAW_CONVERTER,
  rawConverterFactory,
} from "./convert/mod.ts";
import type { Factory } from "../../core/registries.ts";
import { type SetCriterion, type SetCriterionConfig, setCriterionFromConfig } from "./losses/mod.ts";
import { d2SwinTransformerFactory } from "./modeling/backbone/mod.ts";
import { msDeformAttnPixelDecoderFactory } from "./modeling/pixel_decoder/mod.ts";

export { type Mask2FormerConfig, mask2formerDefaults } from "./config.ts";
export { loadReport, processCkpt, renameStaticQuery } from "./convert/mod.ts";

/** The `losses` entry `SetCriterion`: the frame-level set criterion from the config (`setCriterionFromConfig`). */
export const setCriterionFactory: Factory<SetCriterion> = (cfg) =>
  setCriterionFromConfig(cfg as unknown as SetCriterionConfig);

/** The mask2former plugin. */
export default definePlugin({
  name: "mask2former",
  defaults: mask2formerDefaults,
  register(registries) {
    const owner = { owner: "mask2former" };
    registries.backbones.register("D2SwinTransformer", d2SwinTransformerFactory, owner);
    registries.decoders.register("MSDeformAttnPixelDecoder", msDeformAttnPixelDecoderFactory, owner);
    registries.losses.register("SetCriterion", setCriterionFactory, owner);
    registries.converters.register(MASK2FORMER_CONVERTER, mask2formerConverterFactory, owner);
    registries.converters.register(RAW_CONVERTER, rawConverterFactory, owner);
  },
});
