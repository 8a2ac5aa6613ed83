/**
 * DsHmp's language-fused Swin backbone: {@link D2SwinTransformer} (Swin stages, each followed by a
 * {@link PWAM} fusion with the sentence), its parts, and {@link d2SwinTransformerFactory}, the
 * `backbones` registry entry `D2SwinTransformer` (the original's `MODEL.BACKBONE.NAME`).
 *
 * @example
 * ```ts
 * import { createRegistries } from "../../../../core/registries.ts";
 * import { d2SwinTransformerFactory } from "./mod.ts";
 * const registries = createRegistries();
 * registries.backbones.register("D2SwinTransformer", d2SwinTransformerFactory);
 * ```
 * @module
 */
import type { Factory } from "../../../../core/registries.ts";
import type { Mask2FormerConfig } from "../../config.ts";
import { D2SwinTransformer, d2SwinTransformerFromConfig } from "./swin.ts";

export * from "./swin.ts";
export * from "./pwam.ts";
export * from "./window.ts";

/**
 * Builds the backbone from the merged config's `MODEL.SWIN`, drawing its initialisation (and later its
 * dropout masks) from the build context's generator.
 *
 * @example
 * ```ts
 * import { d2SwinTransformerFactory } from "./mod.ts";
 * import { createRegistries } from "../../../../core/registries.ts";
 * import { Generator } from "../../../../core/random.ts";
 * const SWIN = {
 *   PRETRAIN_IMG_SIZE: 224, PATCH_SIZE: 4, EMBED_DIM: 12, DEPTHS: [2, 2, 2, 2], NUM_HEADS: [1, 2, 4, 8],
 *   WINDOW_SIZE: 7, MLP_RATIO: 4.0, QKV_BIAS: true, QK_SCALE: null, DROP_RATE: 0.0, ATTN_DROP_RATE: 0.0,
 *   DROP_PATH_RATE: 0.3, APE: false, PATCH_NORM: true, OUT_FEATURES: ["res2", "res3", "res4", "res5"],
 * };
 * const ctx = { registries: createRegistries(), generator: new Generator(0) };
 * const backbone = d2SwinTransformerFactory({ MODEL: { SWIN } }, ctx);
 * ```
 */
export const d2SwinTransformerFactory: Factory<D2SwinTransformer> = (cfg, ctx) =>
  d2SwinTransformerFromConfig(cfg as unknown as Mask2FormerConfig, {
    generator: ctx.generator,
    // The model builder passes its text encoder's width; RoBERTa-base's 768 otherwise.
    languageChannels: typeof ctx.languageChannels === "number" ? ctx.languageChannels : undefined,
  });
