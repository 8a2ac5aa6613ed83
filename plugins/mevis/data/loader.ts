/**
 * The MeViS data loaders: the training stream (an endless shuffled pass over the records, as detectron2's
 * `TrainingSampler`, mapped into clips and grouped into batches of `SOLVER.IMS_PER_BATCH`) and the test
 * stream (every record once, in order, batch size 1). Both prefetch with `core/data/prefetch_loader.ts`:
 * `DATALOADER.NUM_WORKERS` maps run at once and twice as many items are kept ahead (PyTorch's default
 * `prefetch_factor` of 2 per worker).
 *
 * Sample `i` of the stream draws its frames and augmentation from a generator seeded with
 * `itemSeed(seed, i)`, so the batches depend only on the seed, never on timing, and a run resumed at
 * `startIndex` continues exactly. A sample whose data is bad is reported (once per expression and problem)
 * and skipped, or under a strict report stops the loader.
 *
 * @example
 * ```ts
 * import { loadMevisSplit } from "./mevis_dataset.ts";
 * import { MevisTrainMapper } from "./train_mapper.ts";
 * import { mevisTrainLoader } from "./loader.ts";
 * const split = await loadMevisSplit("mevis_train", "datasets");
 * const mapper = new MevisTrainMapper(split, {
 *   sampling: { numFrames: 8, range: 10 },
 *   augmentation: { minSize: [288, 320], maxSize: 768, sampling: "choice_by_clip", flip: "flip_by_clip" },
 * });
 * for await (const batch of mevisTrainLoader(split, mapper, { seed: 0, batchSize: 8 })) {
 *   batch.samples.length; // 8
 *   break;
 * }
 * ```
 * @module
 */
import type {
  CropOptions,
  FlipMode,
  ResizeSampling,
  TrainAugmentationOptions,
} from "../../../core/data/clip_augmentations.ts";
import { prefetchLoader } from "../../../core/data/prefetch_loader.ts";
import type { Config } from "../../../core/config/merge.ts";
import { get } from "../../../core/config/get.ts";
import { Generator } from "../../../core/random.ts";
import { BadDataError, type BadDataReport } from "./bad_data.ts";
import type { MevisRecord, MevisSplit } from "./mevis_dataset.ts";
import { checkFormat, type MevisSample } from "./sample.ts";
import type { TestMapperOptions } from "./test_mapper.ts";
import type { TrainMapperOptions } from "./train_mapper.ts";

/** Options shared by both loaders. */
export interface LoaderOptions {
  /** Maps running at once (`DATALOADER.NUM_WORKERS`, at least 1; default 4). */
  concurrency?: number;
  /** Samples kept ahead of the consumer (default twice `concurrency`). */
  prefetch?: number;
  /** Where skipped samples are reported (default: the split's report). */
  report?: BadDataReport;
}

/** Options of {@link mevisTrainLoader}. */
export interface TrainLoaderOptions extends LoaderOptions {
  /** The run's seed: the shuffle and every sample's generator derive from it. */
  seed: number;
  /** Samples per batch (`SOLVER.IMS_PER_BATCH`). */
  batchSize: number;
  /** First sample of the stream to produce (resume from a batch's `nextIndex`). */
  startIndex?: number;
  /** Bad samples in a row before the loader gives up (default 100). */
  maxConsecutiveSkips?: number;
}

/** One training batch. */
export interface TrainBatch {
  samples: MevisSample[];
  /** Stream positions of the samples. */
  indices: number[];
  /** Where to resume after this batch. */
  nextIndex: number;
}

/** Something that maps a record, given a per-sample generator. */
export interface TrainMapperLike {
  map(record: MevisRecord, gen: Generator): Promise<MevisSample>;
}

/** Something that maps a record at test time. */
export interface TestMapperLike {
  map(record: MevisRecord): Promise<MevisSample>;
}

/**
 * detectron2's `TrainingSampler` order: endless epochs, each a fresh shuffle of `0 .. n-1` drawn from one
 * generator seeded with `seed`, starting at stream position `start`.
 *
 * @example
 * ```ts
 * import { trainingOrder } from "./loader.ts";
 * const it = trainingOrder(3, 0);
 * [it.next().value, it.next().value, it.next().value].sort(); // [0, 1, 2]
 * ```
 */
export function* trainingOrder(n: number, seed: number, start = 0): IterableIterator<number> {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`training order needs a non-empty data set, got ${n} records`);
  }
  const gen = new Generator(seed);
  let position = 0;
  while (true) {
    const perm = gen.shuffle(Array.from({ length: n }, (_, i) => i));
    for (const i of perm) {
      if (position++ >= start) yield i;
    }
  }
}

/** Reports a bad sample once per expression and problem; other errors and strict reports rethrow. */
function skipper(split: MevisSplit, report: BadDataReport | undefined) {
  const rep = report ?? split.report;
  const seen = new Set<string>();
  return (error: unknown): "skip" | "throw" => {
    if (!(error instanceof BadDataError)) return "throw";
    // The detail is left out: a decoder's message for one file can vary between attempts.
    const { kind, video, expressions, file } = error.issue;
    const key = JSON.stringify([kind, video, expressions, file]);
    if (!seen.has(key)) {
      seen.add(key);
      rep.add(error.issue); // throws under a strict report
    }
    return "skip";
  };
}

function depth(options: LoaderOptions): { concurrency: number; prefetch: number } {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  return { concurrency, prefetch: Math.max(concurrency, options.prefetch ?? 2 * concurrency) };
}

/**
 * The endless training stream of batches; see the module doc.
 *
 * @example
 * ```ts
 * import { mevisTrainLoader } from "./loader.ts";
 * // const it = mevisTrainLoader(split, mapper, { seed: 7, batchSize: 2, startIndex: 40 });
 * ```
 */
export async function* mevisTrainLoader(
  split: MevisSplit,
  mapper: TrainMapperLike,
  options: TrainLoaderOptions,
): AsyncGenerator<TrainBatch, never, undefined> {
  const { seed, batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  }
  if (split.records.length === 0) throw new Error(`${split.name}: no usable records to train on`);
  const start = options.startIndex ?? 0;
  const maxSkips = options.maxConsecutiveSkips ?? 100;
  const skip = skipper(split, options.report);
  let skipped = 0;
  const onError = (error: unknown): "skip" | "throw" => {
    const what = skip(error);
    if (what === "skip") {
      skipped++;
      if (skipped > maxSkips) {
        throw new Error(`${split.name}: ${skipped} bad samples in a row (last: ${(error as Error).message})`);
      }
    }
    return what;
  };
  const stream = prefetchLoader(
    trainingOrder(split.records.length, seed, start),
    (i, ctx) => mapper.map(split.records[i], ctx.generator),
    { seed, firstIndex: start, onError, ...depth(options) },
  );
  let samples: MevisSample[] = [];
  let indices: number[] = [];
  for await (const { index, value } of stream) {
    skipped = 0;
    samples.push(value);
    indices.push(index);
    if (samples.length === batchSize) {
      // Skipped samples before this one were handled already; those after it come later.
      yield { samples, indices, nextIndex: index + 1 };
      samples = [];
      indices = [];
    }
  }
  throw new Error("unreachable: the training order is endless");
}

/**
 * Every record once, in order (the test loader's batch size is 1); bad records are reported and skipped.
 *
 * @example
 * ```ts
 * import { mevisTestLoader } from "./loader.ts";
 * // for await (const sample of mevisTestLoader(split, mapper)) { ... }
 * ```
 */
export async function* mevisTestLoader(
  split: MevisSplit,
  mapper: TestMapperLike,
  options: LoaderOptions = {},
): AsyncGenerator<MevisSample, void, undefined> {
  const skip = skipper(split, options.report);
  const stream = prefetchLoader(split.records, (r) => mapper.map(r), {
    seed: 0,
    onError: (e) => skip(e),
    ...depth(options),
  });
  for await (const { value } of stream) yield value;
}

const num = (cfg: Config, key: string) => get(cfg, key) as number;
const str = (cfg: Config, key: string) => get(cfg, key) as string;

/**
 * The training mapper's options from a config, as the original's `build_augmentation(cfg, True)` and
 * mapper `from_config` read it. The crop branch takes its size from `INPUT.PSEUDO.CROP.SIZE` and type
 * from `INPUT.PSEUDO.CROP.TYPE` (the original's choice), enabled by `INPUT.CROP.ENABLED`. Large-scale
 * jitter and the colour/rotation augmentations are not ported: enabling them is an error.
 *
 * @example
 * ```ts
 * import { trainMapperOptionsFromConfig } from "./loader.ts";
 * // const opts = trainMapperOptionsFromConfig(cfg); opts.sampling.numFrames === 8 under the paper config
 * ```
 */
export function trainMapperOptionsFromConfig(cfg: Config): TrainMapperOptions {
  if (get(cfg, "INPUT.LSJ_AUG.ENABLED") === true) {
    throw new Error("INPUT.LSJ_AUG.ENABLED: large-scale jitter is not ported; set it to False");
  }
  const extra = get(cfg, "INPUT.AUGMENTATIONS") as readonly string[];
  if (extra.length > 0) {
    throw new Error(
      `INPUT.AUGMENTATIONS ${
        JSON.stringify(extra)
      }: brightness, contrast, saturation and rotation are not ported; use []`,
    );
  }
  let crop: CropOptions | null = null;
  if (get(cfg, "INPUT.CROP.ENABLED") === true) {
    const type = str(cfg, "INPUT.PSEUDO.CROP.TYPE");
    if (type !== "absolute_range") {
      throw new Error(`INPUT.PSEUDO.CROP.TYPE "${type}": only "absolute_range" is ported`);
    }
    const size = get(cfg, "INPUT.PSEUDO.CROP.SIZE") as readonly number[];
    crop = { size: [size[0], size[1]] };
  }
  const augmentation: TrainAugmentationOptions = {
    minSize: [...(get(cfg, "INPUT.MIN_SIZE_TRAIN") as readonly number[])],
    maxSize: num(cfg, "INPUT.MAX_SIZE_TRAIN"),
    sampling: str(cfg, "INPUT.MIN_SIZE_TRAIN_SAMPLING") as ResizeSampling,
    crop,
    flip: str(cfg, "INPUT.RANDOM_FLIP") as FlipMode,
  };
  return {
    sampling: {
      numFrames: num(cfg, "INPUT.SAMPLING_FRAME_NUM"),
      range: num(cfg, "INPUT.SAMPLING_FRAME_RANGE"),
      shuffle: get(cfg, "INPUT.SAMPLING_FRAME_SHUFFLE") === true,
    },
    augmentation,
    format: checkFormat(str(cfg, "INPUT.FORMAT")),
    swapLeftRightOnFlip: get(cfg, "INPUT.FLIP_SWAPS_LEFT_RIGHT") === true,
  };
}

/**
 * The test mapper's options from a config (`INPUT.MIN_SIZE_TEST`, `MAX_SIZE_TEST`, `FORMAT`).
 *
 * @example
 * ```ts
 * import { testMapperOptionsFromConfig } from "./loader.ts";
 * // testMapperOptionsFromConfig(cfg).minSizeTest === 448 under the paper config
 * ```
 */
export function testMapperOptionsFromConfig(cfg: Config): TestMapperOptions {
  return {
    minSizeTest: num(cfg, "INPUT.MIN_SIZE_TEST"),
    maxSizeTest: num(cfg, "INPUT.MAX_SIZE_TEST"),
    format: checkFormat(str(cfg, "INPUT.FORMAT")),
  };
}

/**
 * Loader options from a config: `DATALOADER.NUM_WORKERS` maps at once, `SOLVER.IMS_PER_BATCH` samples
 * per batch, `SEED` (a negative seed must be resolved by the caller first).
 */
export function trainLoaderOptionsFromConfig(cfg: Config, seed: number): TrainLoaderOptions {
  return {
    seed,
    batchSize: num(cfg, "SOLVER.IMS_PER_BATCH"),
    concurrency: Math.max(1, num(cfg, "DATALOADER.NUM_WORKERS")),
  };
}
