/**
 * Builds a {@link DsHmp} from the merged config, as the original's `DsHmp.from_config`: every part
 * comes from its registry under the config's name, so a third-party plugin can replace one:
 *
 * | part (state-dict prefix)       | registry     | config key / name                                   |
 * | ------------------------------ | ------------ | --------------------------------------------------- |
 * | `backbone`                     | `backbones`  | `MODEL.BACKBONE.NAME`                               |
 * | `sem_seg_head.pixel_decoder`   | `decoders`   | `MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME`             |
 * | `sem_seg_head.predictor`       | `decoders`   | `MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME`        |
 * | `criterion`                    | `losses`     | `SetCriterion` (when registered)                    |
 * | `vita_module`                  | `decoders`   | `DsHmpHierarchical` (fixed in the original)         |
 * | `vita_criterion`               | `losses`     | `VitaSetCriterion` (when registered)                |
 * | `resizer`                      | —            | FeatureResizer(encoder width -> `HIDDEN_DIM`)       |
 * | `text_encoder`                 | —            | RoBERTa (`ctx.textEncoder`, `TEXT_ENCODER_PATH`)    |
 *
 * The factories read from the build context: the pixel decoder `ctx.inputShape` (the backbone's output
 * shapes), the frame and clip decoders `ctx.inChannels`. A model without criteria can only infer.
 *
 * The text encoder: `ctx.textEncoder` may hold a loaded RoBERTa (e.g. from `loadRobertaFromHfFolder`),
 * or `null` for a model without one (encoded sentences are then given to `inferenceFromEncoded`);
 * otherwise {@link buildDshmpAsync} (and the `models` entry) loads `MODEL.DSHMP.TEXT_ENCODER_PATH` when
 * it is set, and without it a roberta-base-shaped encoder is built without drawing initial weights, to
 * be filled from `MODEL.WEIGHTS` (the DsHmp checkpoint holds `text_encoder.*`). The resizer's input
 * width and the backbone's language width (through the build context's `languageChannels`) follow the
 * encoder's hidden size (768, RoBERTa-base's, without one).
 *
 * @example
 * ```ts ignore
 * import { buildDshmp } from "./build.ts";
 * const model = buildDshmp(cfg, { registries, generator, textEncoder: null });
 * ```
 * @module
 */
import type { BuildContext, Factory } from "../../../core/registries.ts";
import type { Module } from "../../../core/tensor/nn/mod.ts";
import type { DshmpConfig } from "../config.ts";
import { dsHmpHierarchicalFromConfig } from "../modeling/clip_decoder/clip_decoder.ts";
import { dshmpFrameDecoderFromConfig } from "../modeling/frame_decoder/dshmp_transformer_decoder.ts";
import { FeatureResizer } from "../text_encoder/feature_resizer.ts";
import { loadRobertaFromHfFolder } from "../text_encoder/hf_folder.ts";
import { ROBERTA_BASE_CONFIG, RobertaModel } from "../text_encoder/roberta.ts";
import {
  type ClipCriterionLike,
  type ClipDecoderLike,
  DsHmp,
  type DshmpBackbone,
  type FrameCriterionLike,
} from "./dshmp_model.ts";
import { type FrameDecoderLike, MaskFormerHead, type PixelDecoderLike } from "./mask_former_head.ts";

/** The clip decoder's registry name (the original builds `DsHmpHierarchical` directly). */
export const CLIP_DECODER_NAME = "DsHmpHierarchical";
/** The frame criterion's registry name. */
export const FRAME_CRITERION_NAME = "SetCriterion";
/** The clip criterion's registry name. */
export const CLIP_CRITERION_NAME = "VitaSetCriterion";
/** RoBERTa-base's hidden size: the resizer's input width when the model has no text encoder. */
export const TEXT_FEATURE_SIZE = ROBERTA_BASE_CONFIG.hiddenSize;

/**
 * The `decoders` entry for the frame decoder: `dshmpFrameDecoderFromConfig` with `ctx.inChannels`
 * (the pixel decoder's `CONVS_DIM` by default).
 */
export const dshmpFrameDecoderFactory: Factory<FrameDecoderLike> = (cfg, ctx) => {
  const c = cfg as unknown as DshmpConfig;
  const inChannels = (ctx.inChannels as number | undefined) ?? c.MODEL.SEM_SEG_HEAD.CONVS_DIM;
  return dshmpFrameDecoderFromConfig(c, inChannels, { generator: ctx.generator });
};

/** The `decoders` entry for the clip decoder: `dsHmpHierarchicalFromConfig` with `ctx.inChannels`. */
export const dsHmpHierarchicalFactory: Factory<ClipDecoderLike> = (cfg, ctx) => {
  const c = cfg as unknown as DshmpConfig;
  const inChannels = (ctx.inChannels as number | undefined) ?? c.MODEL.MASK_FORMER.HIDDEN_DIM;
  return dsHmpHierarchicalFromConfig(c, inChannels, { generator: ctx.generator });
};

/** Extra build-context entries {@link buildDshmp} reads. */
export interface DshmpBuildContext extends BuildContext {
  /** A ready text encoder, or null for none; absent: an unfilled roberta-base. */
  textEncoder?: RobertaModel | null;
  /** The sentence decoupling (tokenizer + tagger) the model calls when a sample has no maps. */
  decouple?: DsHmp["decouple"];
}

/** Builds the DsHmp model (see the module doc); the `models` entry `DsHmp`. */
export function buildDshmp(cfg: DshmpConfig, ctx: DshmpBuildContext): DsHmp {
  const { MODEL, INPUT } = cfg;
  const r = ctx.registries;
  const config = cfg as unknown as Parameters<Factory>[0];
  const textWidth = ctx.textEncoder?.config.hiddenSize ?? TEXT_FEATURE_SIZE;
  // The backbone's language fusion reads words as wide as the text encoder gives them.
  const backbone = r.backbones.get(MODEL.BACKBONE.NAME)(config, {
    ...ctx,
    languageChannels: textWidth,
  }) as DshmpBackbone;
  const pixelDecoder = r.decoders.get(MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME)(config, {
    ...ctx,
    inputShape: backbone.outputShape(),
  }) as PixelDecoderLike;
  if (MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE !== "multi_scale_pixel_decoder") {
    throw new Error(
      `MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE: DsHmp's frame decoder reads "multi_scale_pixel_decoder", got "${MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE}"`,
    );
  }
  const predictor = r.decoders.get(MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME)(config, {
    ...ctx,
    inChannels: MODEL.SEM_SEG_HEAD.CONVS_DIM,
  }) as FrameDecoderLike;
  const semSegHead = new MaskFormerHead({
    pixelDecoder,
    predictor,
    numClasses: MODEL.SEM_SEG_HEAD.NUM_CLASSES,
  });
  const criterion = r.losses.has(FRAME_CRITERION_NAME)
    ? r.losses.get(FRAME_CRITERION_NAME)(config, ctx) as FrameCriterionLike & Module
    : null;
  const vitaModule = r.decoders.get(CLIP_DECODER_NAME)(config, {
    ...ctx,
    inChannels: MODEL.MASK_FORMER.HIDDEN_DIM,
  }) as ClipDecoderLike;
  const vitaCriterion = r.losses.has(CLIP_CRITERION_NAME)
    ? r.losses.get(CLIP_CRITERION_NAME)(config, ctx) as ClipCriterionLike & Module
    : null;
  const resizer = new FeatureResizer({
    inputFeatSize: textWidth,
    outputFeatSize: MODEL.MASK_FORMER.HIDDEN_DIM,
    dropout: MODEL.DSHMP.RESIZER_DROPOUT,
    generator: ctx.generator,
  });
  const textEncoder = ctx.textEncoder !== undefined
    ? ctx.textEncoder
    : new RobertaModel(ROBERTA_BASE_CONFIG, { initialise: "none", generator: ctx.generator });
  return new DsHmp({
    backbone,
    semSegHead,
    criterion,
    numQueries: MODEL.VITA.NUM_OBJECT_QUERIES,
    sizeDivisibility: MODEL.MASK_FORMER.SIZE_DIVISIBILITY,
    pixelMean: MODEL.PIXEL_MEAN,
    pixelStd: MODEL.PIXEL_STD,
    vitaModule,
    vitaCriterion,
    numFrames: INPUT.SAMPLING_FRAME_NUM,
    numClasses: MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    freezeDetector: MODEL.VITA.FREEZE_DETECTOR,
    testRunChunkSize: MODEL.VITA.TEST_RUN_CHUNK_SIZE,
    testInterpolateChunkSize: MODEL.VITA.TEST_INTERPOLATE_CHUNK_SIZE,
    outputThreshold: MODEL.VITA.TEST_OUTPUT_THRESHOLD,
    textEncoder,
    resizer,
    freezeTextEncoder: MODEL.VITA.FREEZE_TEXT_ENCODER,
    decouple: ctx.decouple,
    generator: ctx.generator,
    textEncoderEvalInTraining: MODEL.DSHMP.TEXT_ENCODER_EVAL_IN_TRAINING,
  });
}

/**
 * {@link buildDshmp}, first loading the text encoder from `MODEL.DSHMP.TEXT_ENCODER_PATH` (frozen as
 * `MODEL.VITA.FREEZE_TEXT_ENCODER` says) when `ctx.textEncoder` is not given and the path is set.
 *
 * @example
 * ```ts ignore
 * const model = await buildDshmpAsync(cfg, { registries, generator });
 * ```
 */
export async function buildDshmpAsync(cfg: DshmpConfig, ctx: DshmpBuildContext): Promise<DsHmp> {
  const path = cfg.MODEL.DSHMP.TEXT_ENCODER_PATH;
  if (ctx.textEncoder !== undefined || !path) return buildDshmp(cfg, ctx);
  const { model } = await loadRobertaFromHfFolder(path, {
    frozen: cfg.MODEL.VITA.FREEZE_TEXT_ENCODER,
    generator: ctx.generator,
  });
  return buildDshmp(cfg, { ...ctx, textEncoder: model });
}

/**
 * The `models` registry entry `DsHmp` (the original's `MODEL.META_ARCHITECTURE`): the model itself, or
 * a promise of it when the text encoder has to be loaded from `MODEL.DSHMP.TEXT_ENCODER_PATH` (see
 * {@link buildDshmpAsync}; pass `ctx.textEncoder` to always get the model synchronously).
 */
export const dshmpModelFactory: Factory<DsHmp | Promise<DsHmp>> = (cfg, ctx) => {
  const c = cfg as unknown as DshmpConfig;
  const c2 = ctx as DshmpBuildContext;
  return c2.textEncoder === undefined && c.MODEL.DSHMP.TEXT_ENCODER_PATH
    ? buildDshmpAsync(c, c2)
    : buildDshmp(c, c2);
};
