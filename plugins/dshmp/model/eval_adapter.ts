/**
 * DsHmp as the evaluation's `VideoPredictor` (`plugins/mevis/eval/predictor.ts`): loads
 * `MODEL.WEIGHTS`, the tokenizer and part-of-speech tagger of `MODEL.DSHMP.TEXT_ENCODER_PATH`, and for
 * each mapped test sample (every frame of a video, one sentence) runs {@link DsHmp.inference} and
 * returns one 0/1 mask per frame at the video's original size.
 *
 * `predict` runs in eval mode and restores the model's mode afterwards, so the same model can keep
 * training between evaluations; `dispose` frees the model.
 *
 * Weights: every tensor the model infers with must come from the file; the criteria's buffers
 * (`criterion.*`, `vita_criterion.*`, including the contrastive memory bank) and RoBERTa's
 * `position_ids` may be absent or extra, anything else missing, unused or mis-shaped is an error that
 * lists the keys. Without `MODEL.WEIGHTS` the model keeps its initialisation (a warning says so).
 *
 * @example
 * ```ts ignore
 * const predictor = await dshmpPredictor(model, cfg);
 * const { masks } = await predictor.predict(sample); // masks[t]: height * width bytes
 * ```
 * @module
 */
import { get } from "../../../core/config/get.ts";
import type { Config } from "../../../core/config/merge.ts";
import { formatLoadPlan, loadWeightsInto, WeightsLoadError } from "../../../core/io/weights.ts";
import type { MevisSample } from "../../mevis/data/sample.ts";
import type { PredictedMasks, VideoPredictor } from "../../mevis/eval/predictor.ts";
import type { DshmpConfig } from "../config.ts";
import type { DsHmp } from "./dshmp_model.ts";
import { loadDshmpText } from "./text_setup.ts";

/** A {@link VideoPredictor} over a DsHmp (the model is exposed for inspection). */
export interface DshmpPredictor extends VideoPredictor {
  readonly model: DsHmp;
}

/** Options of {@link dshmpPredictor}. */
export interface DshmpPredictorOptions {
  /** Where notes go (the weights report, warnings); default `console.error`. */
  log?: (line: string) => void;
}

/** Keys a checkpoint may lack or carry beyond the model without affecting inference. */
export function isInferenceIrrelevantKey(key: string): boolean {
  return key.startsWith("criterion.") || key.startsWith("vita_criterion.") || key.endsWith("position_ids");
}

/**
 * Loads `path` into `model`: everything that takes part in inference must match (see the module doc).
 *
 * @example
 * ```ts ignore
 * await loadDshmpWeights(model, "output/dshmp_model/model_final.safetensors");
 * ```
 */
export async function loadDshmpWeights(
  model: DsHmp,
  path: string,
  log: (line: string) => void = (l) => console.error(l),
): Promise<void> {
  const { plan } = await loadWeightsInto(model, path, { strict: false, log: () => {} });
  const problems = [
    ...plan.missing.filter((k) => !isInferenceIrrelevantKey(k) && !plan.skipped.some((s) => s.key === k)),
    ...plan.unused.filter((k) => !isInferenceIrrelevantKey(k)),
    ...plan.skipped.filter((s) => !isInferenceIrrelevantKey(s.key)).map((s) => s.key),
  ];
  if (problems.length > 0) {
    throw new WeightsLoadError(
      `MODEL.WEIGHTS ${path} does not match the DsHmp of this config (${problems.length} keys: ` +
        `${problems.slice(0, 8).join(", ")}${problems.length > 8 ? ", ..." : ""}):\n` +
        formatLoadPlan(plan, { source: path }),
    );
  }
  log(`loaded ${plan.filled.length} tensors from ${path}`);
}

/** Builds the predictor: weights, tokenizer, tagger, eval mode (see the module doc). */
export async function dshmpPredictor(
  model: DsHmp,
  cfg: Config,
  opts: DshmpPredictorOptions = {},
): Promise<DshmpPredictor> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const c = cfg as unknown as DshmpConfig;
  try {
    const text = await loadDshmpText(c);
    const weights = String(get(cfg, "MODEL.WEIGHTS") ?? "");
    if (weights) await loadDshmpWeights(model, weights, log);
    else log("warning: MODEL.WEIGHTS is empty: DsHmp predicts with its initial weights");
    if (!model.textEncoder) throw new Error("DsHmp eval: the model was built without a text encoder");
    return {
      model,
      mapper: { tokenizer: text.tokenizer, text: text.encoding },
      predict(sample: MevisSample): Promise<PredictedMasks> {
        // Eval mode for the call only: a predictor used between training steps leaves the mode as it was.
        const wasTraining = model.training;
        model.eval();
        try {
          const pred = model.inference({
            image: sample.image,
            sentence: sample.sentence,
            lang_tokens: sample.lang_tokens,
            lang_mask: sample.lang_mask,
            maps: text.decouple(sample.sentence),
            height: sample.height,
            width: sample.width,
            dataset_name: sample.dataset_name,
          });
          const [, t, h, w] = pred.predMasks.shape;
          if (t !== sample.image.length) {
            throw new Error(`DsHmp predicted ${t} frames for ${sample.image.length}`);
          }
          const plane = h * w;
          const masks = Array.from(
            { length: t },
            (_, i) => pred.predMasks.data.slice(i * plane, (i + 1) * plane),
          );
          return Promise.resolve({ masks, height: h, width: w });
        } catch (e) {
          return Promise.reject(e);
        } finally {
          if (wasTraining) model.train();
        }
      },
      dispose: () => model.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
