/**
 * What `deno task eval` needs from a model: a {@link VideoPredictor} that turns one mapped test sample
 * (every frame of a video plus its sentence) into one 0/1 mask per frame at the video's original size.
 *
 * The task obtains one with {@link createPredictor}: it builds `MODEL.META_ARCHITECTURE` from the models
 * registry and hands the result to {@link adaptModel}. A registered factory may return a
 * `VideoPredictor` directly (tests and third-party plugins do); other models are adapted in
 * {@link adaptModel}, the one place that knows a model's own inference API.
 *
 * @example
 * ```ts
 * import type { VideoPredictor } from "./predictor.ts";
 * // A predictor that marks every pixel of every frame.
 * const everything: VideoPredictor = {
 *   predict(sample) {
 *     const masks = sample.file_names.map(() => new Uint8Array(sample.height * sample.width).fill(1));
 *     return Promise.resolve({ masks, height: sample.height, width: sample.width });
 *   },
 * };
 * ```
 * @module
 */
import type { Config } from "../../../core/config/merge.ts";
import { get } from "../../../core/config/get.ts";
import type { BuildContext } from "../../../core/registries.ts";
import type { MevisSample } from "../data/sample.ts";
import type { TestMapperOptions } from "../data/test_mapper.ts";
import { DsHmp } from "../../dshmp/model/dshmp_model.ts";
import { dshmpPredictor } from "../../dshmp/model/eval_adapter.ts";

/** The masks of one expression: one per frame of the sample, in the sample's frame order. */
export interface PredictedMasks {
  /** Per frame, `height * width` bytes, row-major; nonzero is foreground. */
  masks: Uint8Array[];
  height: number;
  width: number;
}

/** A model ready for inference on one expression at a time. */
export interface VideoPredictor {
  /** Predicts the masks of `sample` (all frames of one video, one sentence). */
  predict(sample: MevisSample): Promise<PredictedMasks>;
  /**
   * Mapper settings the model needs beyond the config's `INPUT.*` (a tokenizer filling `lang_tokens`,
   * the text options); merged over the config's.
   */
  mapper?: Partial<TestMapperOptions>;
  /** Frees the model's memory when the task is done. */
  dispose?(): void;
}

/** The configured model cannot serve as a predictor: it is not registered, or has no eval adapter. */
export class MissingModelError extends Error {
  override name = "MissingModelError";
  constructor(readonly model: string, message: string) {
    super(message);
  }
}

const WHERE = "A plugin can register a model whose factory returns a VideoPredictor " +
  "(see plugins/mevis/eval/predictor.ts)";

/**
 * Whether `x` has a `predict` method, i.e. can serve as a {@link VideoPredictor}.
 *
 * @example
 * ```ts
 * import { isVideoPredictor } from "./predictor.ts";
 * isVideoPredictor({ predict: () => Promise.resolve({ masks: [], height: 0, width: 0 }) }); // true
 * ```
 */
export function isVideoPredictor(x: unknown): x is VideoPredictor {
  return typeof x === "object" && x !== null && typeof (x as { predict?: unknown }).predict === "function";
}

/**
 * Turns a built model into a {@link VideoPredictor}. A model that already is one is returned as it is.
 * This is where a model with its own inference API (loading `MODEL.WEIGHTS`, tokenizing the sentence,
 * calling its inference and resizing to the original size) gets its adapter.
 *
 * @example
 * ```ts ignore
 * const predictor = await adaptModel("DsHmp", model, cfg);
 * ```
 */
export function adaptModel(name: string, model: unknown, cfg: Config): Promise<VideoPredictor> {
  if (isVideoPredictor(model)) return Promise.resolve(model);
  // DsHmp: weights, tokenizer and tagger, inference, masks at the original size.
  if (model instanceof DsHmp) return dshmpPredictor(model, cfg);
  (model as { dispose?: () => void } | null)?.dispose?.();
  return Promise.reject(
    new MissingModelError(
      name,
      `model "${name}" (MODEL.META_ARCHITECTURE) is registered but has no eval adapter yet: ` +
        `adaptModel() does not know how to run its inference; ${WHERE}`,
    ),
  );
}

/**
 * Builds `MODEL.META_ARCHITECTURE` from `ctx.registries.models` and adapts it; a name that is not
 * registered throws {@link MissingModelError} naming it.
 *
 * @example
 * ```ts ignore
 * const predictor = await createPredictor(cfg, ctx);
 * const { masks } = await predictor.predict(sample);
 * ```
 */
export async function createPredictor(cfg: Config, ctx: BuildContext): Promise<VideoPredictor> {
  const name = String(get(cfg, "MODEL.META_ARCHITECTURE"));
  const models = ctx.registries.models;
  if (!models.has(name)) {
    const known = models.list();
    throw new MissingModelError(
      name,
      `no model "${name}" is registered (MODEL.META_ARCHITECTURE), so there is nothing to evaluate; ` +
        `registered models: ${known.length ? known.join(", ") : "none"}. ${WHERE}`,
    );
  }
  const model = await models.get(name)(cfg, ctx);
  return adaptModel(name, model, cfg);
}
