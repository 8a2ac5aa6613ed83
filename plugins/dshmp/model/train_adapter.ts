/**
 * DsHmp for the trainer (`core/engine/trainer.ts`): {@link dshmpTrainableModel} turns the model into
 * a `TrainableModel` whose loss terms are {@link DsHmp.trainModel}'s weighted losses, and
 * {@link mevisBatchSource} feeds it MeViS training clips as plain data (typed arrays, numbers).
 * {@link createDshmpTraining} builds both from a config, as the original's `train_net_dshmp.py` does.
 *
 * Batches: micro-batch `k` of the run is the `k`-th expression of detectron2's `TrainingSampler`
 * order (a fresh shuffle per epoch, seeded by the run's seed) mapped into a clip with the generator
 * the trainer hands over for `k`, so a resumed run gets the same clips. A bad record is reported and
 * replaced by one drawn from that generator. With `SOLVER.IMS_PER_BATCH` 8 the trainer averages the
 * gradients of 8 such one-clip micro-batches (the original's 8 GPUs with one clip each).
 *
 * @example
 * ```ts ignore
 * const { trainable, data, generators } = await createDshmpTraining(cfg, ctx);
 * const trainer = new Trainer({ ...trainerSettingsFromConfig(cfg), model: trainable, data, seed: ctx.seed, generators });
 * await trainer.train();
 * ```
 * @module
 */
import type { BuildContext } from "../../../core/registries.ts";
import type { BatchSource, TrainableModel } from "../../../core/engine/trainer.ts";
import type { Config } from "../../../core/config/merge.ts";
import type { Generator } from "../../../core/random.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { BadDataError, type BadDataReport } from "../../mevis/data/bad_data.ts";
import {
  trainingOrder,
  type TrainMapperLike,
  trainMapperOptionsFromConfig,
} from "../../mevis/data/loader.ts";
import type { MevisSplit } from "../../mevis/data/mevis_dataset.ts";
import type { MevisSample } from "../../mevis/data/sample.ts";
import { MevisTrainMapper } from "../../mevis/data/train_mapper.ts";
import type { DshmpConfig } from "../config.ts";
import type { TokenMaps } from "../text_encoder/text_features.ts";
import { buildDshmpAsync, type DshmpBuildContext } from "./build.ts";
import { contrastiveTablesProblem, type DshmpCriteriaConfig } from "./criteria.ts";
import type { DsHmp, DsHmpTrainInput } from "./dshmp_model.ts";
import { loadDshmpText } from "./text_setup.ts";

/** One micro-batch: the clips of one `trainModel` call (one, as the original). */
export type DsHmpTrainBatch = DsHmpTrainInput[];

/**
 * The trainer's view of a DsHmp: its module and, per micro-batch, the weighted losses of
 * {@link DsHmp.trainModel} (no `lossWeights`: the terms are weighted already).
 *
 * @example
 * ```ts ignore
 * const trainable = dshmpTrainableModel(model);
 * ```
 */
export function dshmpTrainableModel(model: DsHmp): TrainableModel<DsHmpTrainBatch> {
  return {
    module: model,
    lossTerms: (batch, iteration): Record<string, Tensor> => model.trainModel(batch, iteration),
  };
}

/** A mapped sample as the model's training input, with its token maps. */
export function toTrainInput(sample: MevisSample, maps?: TokenMaps): DsHmpTrainInput {
  return {
    image: sample.image,
    instances: sample.instances,
    video_len: sample.video_len,
    frame_idx: sample.frame_idx,
    refer_id: sample.refer_id,
    sentence: sample.sentence,
    lang_tokens: sample.lang_tokens,
    lang_mask: sample.lang_mask,
    ...(maps ? { maps } : {}),
  };
}

/** Options of {@link mevisBatchSource}. */
export interface MevisBatchSourceOptions {
  split: MevisSplit;
  mapper: TrainMapperLike;
  /** The run's seed (the sampler's shuffles). */
  seed: number;
  /** The sentence's motion/static maps, computed here so that batches carry them. */
  decouple?: (sentence: string) => TokenMaps;
  /** Clips per micro-batch (default 1). */
  clipsPerBatch?: number;
  /** Where bad records are reported (default: the split's report). */
  report?: BadDataReport;
  /** Bad records in a row before giving up (default 100). */
  maxConsecutiveSkips?: number;
}

/** The trainer's data function over a MeViS split; see the module doc. */
export function mevisBatchSource(o: MevisBatchSourceOptions): BatchSource<DsHmpTrainBatch> {
  const n = o.split.records.length;
  if (n === 0) throw new Error(`${o.split.name}: no usable records to train on`);
  const perBatch = o.clipsPerBatch ?? 1;
  const order: number[] = [];
  const it = trainingOrder(n, o.seed);
  const at = (k: number): number => {
    while (order.length <= k) order.push(it.next().value as number);
    return order[k];
  };
  const report = o.report ?? o.split.report;
  const seen = new Set<string>();
  const maxSkips = o.maxConsecutiveSkips ?? 100;
  const one = async (position: number, generator: Generator): Promise<DsHmpTrainInput> => {
    let record = at(position);
    for (let skipped = 0;; skipped++) {
      try {
        const sample = await o.mapper.map(o.split.records[record], generator);
        return toTrainInput(sample, o.decouple?.(sample.sentence));
      } catch (e) {
        if (!(e instanceof BadDataError)) throw e;
        const key = JSON.stringify([e.issue.kind, e.issue.video, e.issue.expressions, e.issue.file]);
        if (!seen.has(key)) {
          seen.add(key);
          report.add(e.issue); // throws under a strict report
        }
        if (skipped >= maxSkips) {
          throw new Error(`${o.split.name}: ${skipped + 1} bad samples in a row (${e.message})`);
        }
        record = generator.randint(0, n);
      }
    }
  };
  return async (index, generator) => {
    const out: DsHmpTrainBatch = [];
    for (let j = 0; j < perBatch; j++) out.push(await one(index * perBatch + j, generator));
    return out;
  };
}

/**
 * A warning when training clips do not fill the clip decoder's windows: the encoder pads the
 * `SAMPLING_FRAME_NUM` frames of a clip to a multiple of `MODEL.VITA.ENC_WINDOW_SIZE` with empty frames,
 * which inference on whole videos rarely sees (the paper config uses 8 and 8). `null` when they fit.
 *
 * @example
 * ```ts
 * import { windowPaddingWarning } from "./train_adapter.ts";
 * windowPaddingWarning({ INPUT: { SAMPLING_FRAME_NUM: 8 }, MODEL: { VITA: { ENC_WINDOW_SIZE: 8 } } }); // null
 * windowPaddingWarning({ INPUT: { SAMPLING_FRAME_NUM: 4 }, MODEL: { VITA: { ENC_WINDOW_SIZE: 8 } } }); // "... 4 of 8 frames are padding ..."
 * ```
 */
export function windowPaddingWarning(
  cfg: { INPUT: { SAMPLING_FRAME_NUM: number }; MODEL: { VITA: { ENC_WINDOW_SIZE: number } } },
): string | null {
  const frames = cfg.INPUT.SAMPLING_FRAME_NUM;
  const window = cfg.MODEL.VITA.ENC_WINDOW_SIZE;
  if (window <= 0 || frames % window === 0) return null;
  const padded = Math.ceil(frames / window) * window;
  return `INPUT.SAMPLING_FRAME_NUM ${frames} is not a multiple of MODEL.VITA.ENC_WINDOW_SIZE ${window}: ` +
    `the clip decoder trains on windows where ${padded - frames} of ${padded} frames are padding ` +
    `(${frames} of ${padded} real); make the window divide the clip length`;
}

/** What {@link createDshmpTraining} returns. */
export interface DshmpTraining {
  model: DsHmp;
  trainable: TrainableModel<DsHmpTrainBatch>;
  data: BatchSource<DsHmpTrainBatch>;
  split: MevisSplit;
  /** The generators the model draws from (for the trainer to checkpoint). */
  generators: Record<string, Generator>;
}

/**
 * Builds the model (text encoder from `MODEL.DSHMP.TEXT_ENCODER_PATH`), the tokenizer and tagger, the
 * first training split (`DATASETS.TRAIN[0]` from the datasets registry) with its mapper, and checks
 * that the contrastive loss has its tables.
 *
 * @example
 * ```ts ignore
 * const training = await createDshmpTraining(cfg, { registries, generator, seed: 0 });
 * ```
 */
export async function createDshmpTraining(
  cfg: Config,
  ctx: BuildContext & { seed: number },
): Promise<DshmpTraining> {
  const c = cfg as unknown as DshmpConfig;
  const [name, ...rest] = c.DATASETS.TRAIN;
  if (name === undefined) throw new Error("DATASETS.TRAIN is empty: nothing to train on");
  if (rest.length > 0) {
    throw new Error(`DATASETS.TRAIN ${JSON.stringify(c.DATASETS.TRAIN)}: training reads one data set`);
  }
  const text = await loadDshmpText(c);
  const split = await (ctx.registries.datasets.get(name)(cfg, ctx) as Promise<MevisSplit>);
  const { model, trainable, generators } = await buildTrainable(c, ctx, text);
  try {
    const mapper = new MevisTrainMapper(split, {
      ...trainMapperOptionsFromConfig(cfg),
      tokenizer: text.tokenizer,
      text: text.encoding,
    });
    return {
      model,
      trainable,
      data: mevisBatchSource({ split, mapper, seed: ctx.seed, decouple: text.decouple }),
      split,
      generators,
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * The model alone, as {@link createDshmpTraining} builds it, for a replica in a worker thread
 * (`core/engine/replicas.ts`): batches come from the trainer's process, so no data set is read.
 *
 * @example
 * ```ts ignore
 * const { model, trainable, generators } = await createDshmpReplica(cfg, ctx);
 * ```
 */
export async function createDshmpReplica(
  cfg: Config,
  ctx: BuildContext,
): Promise<Pick<DshmpTraining, "model" | "trainable" | "generators">> {
  const c = cfg as unknown as DshmpConfig;
  return await buildTrainable(c, ctx, await loadDshmpText(c));
}

async function buildTrainable(
  c: DshmpConfig,
  ctx: BuildContext,
  text: Awaited<ReturnType<typeof loadDshmpText>>,
): Promise<Pick<DshmpTraining, "model" | "trainable" | "generators">> {
  const model = await buildDshmpAsync(c, { ...(ctx as DshmpBuildContext), decouple: text.decouple });
  try {
    if (!model.criterion || !model.vitaCriterion) {
      throw new Error("DsHmp training needs the SetCriterion and VitaSetCriterion losses registered");
    }
    const problem = contrastiveTablesProblem(
      model.vitaCriterion as unknown as Parameters<typeof contrastiveTablesProblem>[0],
      c as unknown as DshmpCriteriaConfig,
    );
    if (problem) throw new Error(problem);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, trainable: dshmpTrainableModel(model), generators: { model: ctx.generator } };
}
