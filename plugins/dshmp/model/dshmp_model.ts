/**
 * The DsHmp meta-architecture (`dshmp_model.py`): a language-fused Swin backbone, Mask2Former's pixel
 * decoder and DsHmp's frame decoder (`sem_seg_head`), the clip decoder (`vita_module`), RoBERTa
 * (`text_encoder`) with its `resizer`, and the frame and clip criteria.
 *
 * Inference ({@link DsHmp.inference}, one video and one sentence): the sentence is encoded once; the
 * frames go through the backbone, pixel decoder and frame decoder in chunks of `testRunChunkSize`
 * (each frame is independent there), keeping only each frame's last-layer queries and its clip mask
 * features; the clip decoder then reads all frames at once, and {@link postprocessVideo} turns its
 * best queries into masks at the original size, `testInterpolateChunkSize` frames at a time. So the
 * backend holds at most one chunk's activations plus `T x fQ x C` queries and the mask features (kept
 * on the host beyond 36 frames, as the original moves them to CPU memory).
 *
 * Training ({@link DsHmp.trainModel}): one clip's frames at once, the frame criterion on the frame
 * decoder's predictions, the clip criterion on the clip decoder's, both weighted by their `weightDict`
 * (the contrastive weight ramps up over the first 2000 iterations). `train_adapter.ts` wraps it for the
 * trainer.
 *
 * @example
 * ```ts ignore
 * import { buildDshmp } from "./build.ts";
 * const model = buildDshmp(cfg, ctx).eval();
 * const pred = model.inference({ image: frames, lang_tokens, lang_mask, sentence, height, width, dataset_name: "mevis" });
 * pred.predMasks.shape; // [1, T, height, width]
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { checkMemory } from "../../../core/tensor/backend.ts";
import { Module } from "../../../core/tensor/nn/mod.ts";
import type { ShapeSpec } from "../../mask2former/modeling/backbone/swin.ts";
import type { ClipDecoderHeads, ClipDecoderOutput } from "../modeling/clip_decoder/clip_decoder.ts";
import type { FrameDecoderPredictions } from "../modeling/frame_decoder/dshmp_transformer_decoder.ts";
import type { FeatureResizer } from "../text_encoder/feature_resizer.ts";
import type { RobertaModel, RobertaOutput } from "../text_encoder/roberta.ts";
import {
  assembleTextFeatures,
  backboneLanguageInputs,
  type TextFeatures,
  type TokenMaps,
} from "../text_encoder/text_features.ts";
import { type ImageInput, type ImageList, imageListFromImages } from "./image_list.ts";
import type { MaskFormerHead } from "./mask_former_head.ts";
import { MaskFeatureStore, postprocessVideo, type VideoPrediction } from "./postprocess.ts";
import type { Generator } from "../../../core/random.ts";
import {
  generatorUniforms,
  type LossDict,
  type MatchIndices,
  type UniformSource,
  type WeightDict,
} from "../../mask2former/losses/mod.ts";
import {
  type ClipTarget,
  conSimWeight,
  type FrameTarget,
  type PreparedClipTarget,
  type PreparedFrameTarget,
  prepareTargets as prepareLossTargets,
  type TargetVideo,
  weightDsHmpLosses,
} from "../losses/mod.ts";

/** Videos longer than this keep their mask features on the host during inference (the original's rule). */
export const MAX_FRAMES_ON_DEVICE = 36;

/** What the model needs of a backbone (the `D2SwinTransformer` contract). */
export interface DshmpBackbone extends Module {
  /** `x` normalised images `[N, 3, H, W]`, `l` `[N, 768, Nl]`, `lMask` `[N, Nl, 1]`. */
  forward(x: Tensor, l: Tensor, lMask: Tensor): Record<string, Tensor>;
  outputShape(): Record<string, ShapeSpec>;
  readonly sizeDivisibility: number;
}

/** What the model needs of a clip decoder (the `DsHmpHierarchical` contract). */
export interface ClipDecoderLike extends Module {
  forward(frameQuery: Tensor, langFeat: Tensor, langMask: Tensor, motionFeat: Tensor): ClipDecoderOutput;
  readonly vitaMaskFeatures: { forward(x: Tensor): Tensor };
}

/** The frame criterion's contract (`SetCriterion`): raw losses and the matches of the last layers. */
export interface FrameCriterionLike {
  readonly weightDict: WeightDict;
  forward(outputs: FrameDecoderPredictions, targets: FrameTarget[], uniforms: UniformSource): {
    losses: LossDict;
    fgIndices: MatchIndices[][];
  };
}

/** The clip decoder's heads with their masks `(L, B, cQ, T, H, W)`. */
export type VitaHeads = ClipDecoderHeads & { predMasks: Tensor };

/** What the clip criterion receives: the clip decoder's output with masks added to every layer's heads. */
export type VitaOutputs = Omit<ClipDecoderOutput, "auxOutputs"> & {
  predMasks: Tensor;
  auxOutputs: VitaHeads[];
};

/** The clip criterion's contract (`VitaSetCriterion`): raw losses. */
export interface ClipCriterionLike {
  /** The weights before the `loss_con_sim` ramp (see `vitaWeightDictAt`). */
  readonly weightDict: WeightDict;
  forward(
    outputs: VitaOutputs,
    clipTargets: ClipTarget[],
    frameTargets: FrameTarget[],
    frameIndices: MatchIndices[][],
    uniforms: UniformSource,
  ): { losses: LossDict };
}

/** One frame's ground truth (detectron2's `Instances`; MeViS mapper's `FrameInstances`). */
export interface FrameInstancesInput {
  /** `(h, w)` of the frame after augmentation. */
  image_size: [number, number];
  /** Per object; -1 where the object is not annotated in this frame. */
  gt_classes: Int32Array;
  gt_ids: Int32Array;
  /** `[N, h, w]` 0/1. */
  gt_masks: Uint8Array;
}

/** Token ids, mask and decoupling maps of the sentence (`lang_tokens`, `lang_mask`, `[1, Nl]`). */
export interface SentenceInput {
  sentence: string;
  lang_tokens: Int32Array | null;
  lang_mask: Int32Array | null;
  /** Motion/static maps; computed with the model's `decouple` when absent. */
  maps?: TokenMaps;
}

/** One video at inference (the test mapper's output). */
export interface DsHmpVideoInput extends SentenceInput {
  image: readonly ImageInput[];
  /** Output size; the unpadded input size when absent. */
  height?: number;
  width?: number;
  /** `"mevis"` merges every query over the threshold; anything else takes the best query. */
  dataset_name: string;
}

/** One training clip (the train mapper's output). */
export interface DsHmpTrainInput extends SentenceInput {
  image: readonly ImageInput[];
  instances: readonly FrameInstancesInput[];
  video_len: number;
  frame_idx: number[];
  refer_id: number;
}

/** Word features given instead of running the text encoder (`last_hidden_state`, `pooler_output`). */
export interface EncodedSentence {
  encoded: RobertaOutput;
  /** `(1, Nl)` 1 = token. */
  langMask: Tensor;
  maps: TokenMaps;
}

/** Intermediate values {@link DsHmp.inferenceFromEncoded} can record (host copies). */
export type InferenceTrace = Map<string, { shape: number[]; data: Float32Array }>;

/** Constructor options of {@link DsHmp} (the original's, camelCased; unused ones left out). */
export interface DsHmpOptions {
  backbone: DshmpBackbone;
  semSegHead: MaskFormerHead;
  /** Frame criterion; null builds an inference-only model. */
  criterion: (FrameCriterionLike & Module) | null;
  /** `MODEL.VITA.NUM_OBJECT_QUERIES`. */
  numQueries: number;
  /** `MODEL.MASK_FORMER.SIZE_DIVISIBILITY`; negative: the backbone's. */
  sizeDivisibility: number;
  pixelMean: readonly number[];
  pixelStd: readonly number[];
  vitaModule: ClipDecoderLike;
  vitaCriterion: (ClipCriterionLike & Module) | null;
  /** `INPUT.SAMPLING_FRAME_NUM`: frames per training clip. */
  numFrames: number;
  numClasses: number;
  /** Freeze everything but `vita_module`. */
  freezeDetector: boolean;
  testRunChunkSize: number;
  testInterpolateChunkSize: number;
  /** `MODEL.VITA.TEST_OUTPUT_THRESHOLD`. */
  outputThreshold: number;
  /** RoBERTa; null when the caller always gives encoded sentences ({@link DsHmp.inferenceFromEncoded}). */
  textEncoder: RobertaModel | null;
  resizer: FeatureResizer;
  freezeTextEncoder: boolean;
  /** The original's `proceesing_text_decoupling` (tokenizer + part-of-speech tagger). */
  decouple?: (sentence: string) => TokenMaps;
  /** Draws the losses' random points (default: the process-wide generator). */
  generator?: Generator;
  /** `MODEL.DSHMP.TEXT_ENCODER_EVAL_IN_TRAINING`: keep the text encoder's dropout off in training. */
  textEncoderEvalInTraining?: boolean;
}

/** The DsHmp model; see the module doc. */
export class DsHmp extends Module {
  readonly backbone: DshmpBackbone;
  readonly semSegHead: MaskFormerHead;
  readonly criterion: (FrameCriterionLike & Module) | null;
  readonly vitaModule: ClipDecoderLike;
  readonly vitaCriterion: (ClipCriterionLike & Module) | null;
  readonly resizer: FeatureResizer;
  readonly textEncoder: RobertaModel | null;
  readonly numQueries: number;
  readonly sizeDivisibility: number;
  readonly pixelMean: readonly number[];
  readonly pixelStd: readonly number[];
  readonly numFrames: number;
  readonly numClasses: number;
  readonly testRunChunkSize: number;
  readonly testInterpolateChunkSize: number;
  readonly outputThreshold: number;
  readonly decouple?: (sentence: string) => TokenMaps;
  readonly generator?: Generator;
  readonly textEncoderEvalInTraining: boolean;

  constructor(opts: DsHmpOptions) {
    super();
    // Registration order is the original's state-dict order.
    this.backbone = this.registerModule("backbone", opts.backbone);
    this.semSegHead = this.registerModule("sem_seg_head", opts.semSegHead);
    this.criterion = opts.criterion ? this.registerModule("criterion", opts.criterion) : null;
    this.vitaModule = this.registerModule("vita_module", opts.vitaModule);
    this.vitaCriterion = opts.vitaCriterion
      ? this.registerModule("vita_criterion", opts.vitaCriterion)
      : null;
    this.resizer = this.registerModule("resizer", opts.resizer);
    this.textEncoder = opts.textEncoder ? this.registerModule("text_encoder", opts.textEncoder) : null;
    this.numQueries = opts.numQueries;
    this.sizeDivisibility = opts.sizeDivisibility < 0
      ? opts.backbone.sizeDivisibility
      : opts.sizeDivisibility;
    if (opts.pixelMean.length !== 3 || opts.pixelStd.length !== 3) {
      throw new Error(
        `DsHmp: PIXEL_MEAN and PIXEL_STD need 3 values, got ${opts.pixelMean} / ${opts.pixelStd}`,
      );
    }
    this.pixelMean = [...opts.pixelMean];
    this.pixelStd = [...opts.pixelStd];
    this.numFrames = opts.numFrames;
    this.numClasses = opts.numClasses;
    for (
      const [key, v] of [["testRunChunkSize", opts.testRunChunkSize], [
        "testInterpolateChunkSize",
        opts.testInterpolateChunkSize,
      ]] as const
    ) {
      if (!(Number.isInteger(v) && v > 0)) {
        throw new Error(`DsHmp: ${key} must be a positive integer, got ${v}`);
      }
    }
    this.testRunChunkSize = opts.testRunChunkSize;
    this.testInterpolateChunkSize = opts.testInterpolateChunkSize;
    this.outputThreshold = opts.outputThreshold;
    this.decouple = opts.decouple;
    this.generator = opts.generator;
    this.textEncoderEvalInTraining = opts.textEncoderEvalInTraining ?? false;
    if (opts.freezeDetector) {
      for (const [name, child] of this.namedChildren()) if (name !== "vita_module") child.requiresGrad(false);
    }
    if (opts.freezeTextEncoder && this.textEncoder) this.textEncoder.requiresGrad(false);
  }

  /** Normalises and pads images (see {@link imageListFromImages}). */
  preprocess(images: readonly ImageInput[]): ImageList {
    return imageListFromImages(images, {
      pixelMean: this.pixelMean,
      pixelStd: this.pixelStd,
      sizeDivisibility: this.sizeDivisibility,
    });
  }

  /** Runs the text encoder on a sample's tokens (`[1, Nl]` each); the caller disposes the result. */
  encodeSentence(input: SentenceInput): EncodedSentence {
    if (!this.textEncoder) {
      throw new Error("DsHmp: built without a text encoder; pass encoded sentences to inferenceFromEncoded");
    }
    if (!input.lang_tokens || !input.lang_mask) {
      throw new Error("DsHmp: the sample has no lang_tokens / lang_mask (give the data mapper a tokenizer)");
    }
    const n = input.lang_tokens.length;
    const ids = ops.tensor(input.lang_tokens, [1, n], "int32");
    const langMask = ops.tensor(input.lang_mask, [1, n], "int32");
    try {
      return { encoded: this.textEncoder.forward(ids, langMask), langMask, maps: this.#maps(input) };
    } finally {
      ops.dispose(ids);
    }
  }

  #maps(input: SentenceInput): TokenMaps {
    if (input.maps) return input.maps;
    if (!this.decouple) {
      throw new Error("DsHmp: no motion/static maps in the sample and no decouple function in the model");
    }
    return this.decouple(input.sentence);
  }

  /** Inference on one video: encodes its sentence, then {@link DsHmp.inferenceFromEncoded}. */
  inference(video: DsHmpVideoInput): VideoPrediction {
    const sentence = this.encodeSentence(video);
    try {
      return this.inferenceFromEncoded(video, sentence);
    } finally {
      ops.dispose([sentence.encoded.lastHiddenState, sentence.encoded.poolerOutput ?? [], sentence.langMask]);
    }
  }

  /**
   * Inference with the sentence already encoded (see the module doc). `trace` records intermediate
   * values under the parity fixture's names.
   */
  inferenceFromEncoded(
    video: Omit<DsHmpVideoInput, keyof SentenceInput>,
    sentence: EncodedSentence,
    trace?: InferenceTrace,
  ): VideoPrediction {
    const numFrames = video.image.length;
    if (numFrames === 0) throw new Error("DsHmp.inference: the video has no frames");
    const text = assembleTextFeatures(sentence.encoded, this.resizer, sentence.maps);
    record(trace, "lang_feat_fusion", text.langFeatFusion);
    record(trace, "lang_feat", text.langFeat);
    const store = new MaskFeatureStore({ onHost: numFrames > MAX_FRAMES_ON_DEVICE });
    const frameQueries: Tensor[] = [];
    let lastList: { padded: [number, number]; size: [number, number] } | null = null;
    try {
      for (let start = 0; start < numFrames; start += this.testRunChunkSize) {
        const chunk = video.image.slice(start, start + this.testRunChunkSize);
        const { queries, maskFeatures, padded, size } = this.#runFrames(
          chunk,
          text,
          sentence.langMask,
          trace,
        );
        frameQueries.push(queries);
        store.append(maskFeatures);
        lastList = { padded, size };
        checkMemory("DsHmp inference (frame chunk)");
      }
      const { padded, size } = lastList!;
      const [predLogits, predMaskEmbed] = ops.tidy(() => {
        const fq = ops.unsqueeze(ops.cat(frameQueries, 0), 0); // (1, T, fQ, C)
        record(trace, "frame_queries", fq);
        const out = this.vitaModule.forward(fq, text.langFeatFusion, sentence.langMask, text.motionFeat);
        for (
          const k of [
            "predLogits",
            "predMaskEmbed",
            "predFqEmbed",
            "predCqEmbed",
            "predContrastiveEmbed",
          ] as const
        ) {
          if (out[k]) record(trace, `vita.${snake(k)}`, out[k]!);
        }
        const last = (t: Tensor) =>
          ops.squeeze(ops.narrow(ops.narrow(t, 0, t.shape[0] - 1, 1), 1, 0, 1), [0, 1]);
        return [last(out.predLogits), last(out.predMaskEmbed)];
      });
      ops.dispose(frameQueries.splice(0));
      try {
        return postprocessVideo(predLogits, predMaskEmbed, store, {
          merge: video.dataset_name === "mevis",
          outputThreshold: this.outputThreshold,
          interpolateChunkSize: this.testInterpolateChunkSize,
          imageSize: size,
          paddedSize: padded,
          outSize: [video.height ?? size[0], video.width ?? size[1]],
        });
      } finally {
        ops.dispose([predLogits, predMaskEmbed]);
      }
    } finally {
      store.dispose();
      ops.dispose(frameQueries);
      ops.dispose(Object.values(text));
    }
  }

  /** One chunk of frames through backbone, pixel decoder and frame decoder. */
  #runFrames(
    images: readonly ImageInput[],
    text: TextFeatures,
    langMask: Tensor,
    trace?: InferenceTrace,
  ): { queries: Tensor; maskFeatures: Tensor; padded: [number, number]; size: [number, number] } {
    const list = this.preprocess(images);
    const padded = list.tensor.shape.slice(2) as [number, number];
    const size = list.imageSizes[0];
    const [queries, maskFeatures] = ops.tidy(() => {
      const bs = list.tensor.shape[0];
      const { l, lMask } = backboneLanguageInputs(text.langFeatSentence, langMask, bs);
      const features = this.backbone.forward(list.tensor, l, lMask);
      for (const [k, v] of Object.entries(features)) record(trace, `backbone.${k}`, v);
      const { outputs, frameQueries, clipMaskFeatures } = this.semSegHead.forward(
        features,
        text.langFeatFusion,
        langMask,
        text.staticFeat,
      );
      record(trace, "frame.pred_logits", outputs.predLogits);
      record(trace, "frame.pred_masks", outputs.predMasks);
      record(trace, "clip_mask_features", clipMaskFeatures);
      const vmf = this.vitaModule.vitaMaskFeatures.forward(clipMaskFeatures);
      record(trace, "vita_mask_features", vmf);
      // Only the last layer's queries: (BT, fQ, C).
      return [ops.squeeze(ops.narrow(frameQueries, 0, frameQueries.shape[0] - 1, 1), [0]), vmf];
    });
    ops.dispose(list.tensor);
    return { queries, maskFeatures, padded, size };
  }

  /**
   * The training step's weighted losses (the original's `train_model`): every frame of the clip
   * through backbone, pixel decoder and frame decoder; the frame criterion on the frame decoder's
   * predictions; the clip decoder on the last layers' frame queries; the clip criterion on its
   * predictions; both weighted by their weight dicts, `loss_con_sim` ramped by `iteration` (see
   * {@link weightDsHmpLosses}). The sum of the values is what the original back-propagates.
   *
   * One clip per call, as the original (its token maps come from the first sentence and index the
   * batch's word features, which only works for one clip; its contrastive loss takes the anchor of
   * clip 0): a batch of N clips is N calls whose gradients are averaged (the trainer's micro-batches).
   * The random points of both criteria come from `uniforms` (default: the model's generator).
   *
   * Call it inside a gradient tape or `ops.tidy`: the tensors it creates are not freed here.
   */
  trainModel(batch: readonly DsHmpTrainInput[], iteration: number, uniforms?: UniformSource): LossDict {
    const criterion = this.criterion;
    const vitaCriterion = this.vitaCriterion;
    if (!criterion || !vitaCriterion) {
      throw new Error(
        "DsHmp: built without criteria (inference only); training needs the losses SetCriterion and " +
          "VitaSetCriterion registered (the mask2former and dshmp plugins)",
      );
    }
    if (batch.length !== 1) {
      throw new Error(
        `DsHmp.trainModel: one clip per call (the original's token maps and contrastive anchor assume it), got ${batch.length}`,
      );
    }
    const video = batch[0];
    if (video.image.length !== this.numFrames || video.instances.length !== this.numFrames) {
      throw new Error(
        `DsHmp.trainModel: clips have INPUT.SAMPLING_FRAME_NUM = ${this.numFrames} frames, got ` +
          `${video.image.length} images and ${video.instances.length} frames of instances`,
      );
    }
    if (this.textEncoderEvalInTraining && this.textEncoder) this.textEncoder.eval();
    const draws = uniforms ?? generatorUniforms(this.generator);
    const sentence = this.encodeSentence(video);
    const list = this.preprocess(video.image);
    const [hp, wp] = list.tensor.shape.slice(2);
    const text = assembleTextFeatures(sentence.encoded, this.resizer, sentence.maps);
    const bt = list.tensor.shape[0];
    const { l, lMask } = backboneLanguageInputs(text.langFeatSentence, sentence.langMask, bt);
    const features = this.backbone.forward(list.tensor, l, lMask);
    const { outputs, frameQueries, clipMaskFeatures } = this.semSegHead.forward(
      features,
      text.langFeatFusion,
      sentence.langMask,
      text.staticFeat,
    );
    const vmf = this.vitaModule.vitaMaskFeatures.forward(clipMaskFeatures);
    const [, c, h, w] = vmf.shape;
    const maskFeatures = ops.reshape(vmf, [bt / this.numFrames, this.numFrames, c, h, w]);

    const { frameTargets, clipTargets } = prepareLossTargets(batch as unknown as TargetVideo[], {
      numFrames: this.numFrames,
      padSize: [hp, wp],
    });
    const { losses: frameLosses, fgIndices } = criterion.forward(outputs, frameTargets, draws);

    const vita = this.vitaModule.forward(
      frameQueries,
      text.langFeatFusion,
      sentence.langMask,
      text.motionFeat,
    );
    const masks = (embed: Tensor) => ops.einsum("lbqc,btchw->lbqthw", embed, maskFeatures);
    const vitaOutputs: VitaOutputs = {
      ...vita,
      predMasks: masks(vita.predMaskEmbed),
      auxOutputs: vita.auxOutputs.map((o) => ({ ...o, predMasks: masks(o.predMaskEmbed) })),
    };
    const { losses: vitaLosses } = vitaCriterion.forward(
      vitaOutputs,
      clipTargets,
      frameTargets,
      fgIndices,
      draws,
    );
    return weightDsHmpLosses({
      frameLosses,
      frameWeightDict: criterion.weightDict,
      vitaLosses,
      vitaWeightDict: vitaCriterion.weightDict,
      iteration,
    });
  }
}

/**
 * The contrastive loss weight at `iteration` (the losses' `conSimWeight`): `0.3 * iteration / 2000`,
 * then 0.3.
 *
 * @example
 * ```ts
 * import { contrastiveWeight } from "./dshmp_model.ts";
 * contrastiveWeight(1000); // 0.15
 * contrastiveWeight(5000); // 0.3
 * ```
 */
export const contrastiveWeight: (iteration: number) => number = conSimWeight;

/**
 * The original's `prepare_targets` with a positional signature: the losses' `prepareTargets` for
 * `numFrames`-frame clips padded to `[hp, wp]`. The mask tensors are the caller's.
 *
 * @example
 * ```ts
 * import { prepareTargets } from "./dshmp_model.ts";
 * const frame = (on: number) => ({
 *   image_size: [2, 2] as [number, number], gt_classes: Int32Array.of(0), gt_ids: Int32Array.of(5), gt_masks: Uint8Array.of(on, 0, 0, 0),
 * });
 * const { frameTargets, clipTargets } = prepareTargets(
 *   [{ instances: [frame(1), frame(0)], video_len: 9, frame_idx: [3, 4], refer_id: 7 }], 2, [4, 4],
 * );
 * clipTargets[0].ids; // [[0, -1]]
 * frameTargets[1].labels.length; // 0
 * ```
 */
export function prepareTargets(
  batch: readonly (Omit<TargetVideo, "instances"> & {
    instances: readonly (Omit<TargetVideo["instances"][number], "image_size"> & {
      image_size: readonly [number, number];
    })[];
  })[],
  numFrames: number,
  [hp, wp]: readonly number[],
): { frameTargets: PreparedFrameTarget[]; clipTargets: PreparedClipTarget[] } {
  const videos: TargetVideo[] = batch.map((v) => ({
    ...v,
    instances: v.instances.map((f) => ({ ...f, image_size: [f.image_size[0], f.image_size[1]] })),
  }));
  return prepareLossTargets(videos, { numFrames, padSize: [hp, wp] });
}

function record(trace: InferenceTrace | undefined, key: string, t: Tensor): void {
  if (!trace) return;
  const data = Float32Array.from(ops.toArray(t));
  const prev = trace.get(key);
  if (prev && prev.shape.slice(1).every((d, i) => d === t.shape[i + 1])) {
    // Chunks of frames: concatenate along the first axis.
    const joined = new Float32Array(prev.data.length + data.length);
    joined.set(prev.data);
    joined.set(data, prev.data.length);
    trace.set(key, { shape: [prev.shape[0] + t.shape[0], ...t.shape.slice(1)], data: joined });
  } else {
    trace.set(key, { shape: [...t.shape], data });
  }
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
