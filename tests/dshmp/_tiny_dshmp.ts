/**
 * A tiny DsHmp for the training and evaluation tests: the paper config with small widths by overrides
 * ({@link TINY_DSHMP_OVERRIDES}), a RoBERTa folder of hidden size 768 (the backbone's language fusion
 * reads 768-wide words; one layer, intermediate 32, the tiny fixture's tokenizer), and a MeViS-layout
 * data set (train split prepared with its contrastive tables, and a validation split).
 * @module
 */
import { ensureSynthTextEncoder } from "../../tasks/train.ts";
import { join } from "node:path";
import * as ops from "../../core/tensor/ops.ts";
import { loadConfig } from "../../core/config/load.ts";
import { createRegistries, type Registries } from "../../core/registries.ts";
import { registerPlugins } from "../../core/plugin.ts";
import type { Config } from "../../core/config/merge.ts";
import { type TensorInput, writeSafetensors } from "../../core/io/safetensors.ts";
import { builtinPlugins } from "../../mod.ts";
import { Generator } from "../../core/random.ts";
import { Trainer, type TrainerOptions, trainerSettingsFromConfig } from "../../core/engine/trainer.ts";
import { createDshmpTraining, type DshmpTraining } from "../../plugins/dshmp/model/train_adapter.ts";
import { prepareReferIds } from "../../plugins/mevis/prepare/get_refer_id.ts";
import { type FakeVideo, writeFakeSplit } from "../mevis/_fake_split.ts";

const PAPER = new URL("../../configs/dshmp_swin_tiny.yaml", import.meta.url).pathname;

/** The tiny model's widths and the tiny data's sizes, as `KEY VALUE` overrides of the paper config. */
export const TINY_DSHMP_OVERRIDES: readonly string[] = [
  ...[
    "MODEL.SWIN.EMBED_DIM",
    "16",
    "MODEL.SWIN.DEPTHS",
    "[1, 1, 1, 1]",
    "MODEL.SWIN.NUM_HEADS",
    "[1, 1, 1, 1]",
  ],
  ...["MODEL.SWIN.DROP_PATH_RATE", "0.0"],
  ...["MODEL.SEM_SEG_HEAD.CONVS_DIM", "32", "MODEL.SEM_SEG_HEAD.MASK_DIM", "16"],
  ...["MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "1"],
  ...["MODEL.MASK_FORMER.HIDDEN_DIM", "16", "MODEL.MASK_FORMER.DIM_FEEDFORWARD", "32"],
  ...["MODEL.MASK_FORMER.NHEADS", "2", "MODEL.MASK_FORMER.DEC_LAYERS", "4"],
  ...["MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "4", "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "64"],
  ...["MODEL.VITA.HIDDEN_DIM", "16", "MODEL.VITA.ENC_LAYERS", "2", "MODEL.VITA.DEC_LAYERS", "2"],
  ...["MODEL.VITA.NUM_OBJECT_QUERIES", "3", "MODEL.VITA.NHEADS", "2", "MODEL.VITA.DIM_FEEDFORWARD", "32"],
  ...["INPUT.SAMPLING_FRAME_NUM", "2", "INPUT.SAMPLING_FRAME_RANGE", "2"],
  ...["INPUT.MIN_SIZE_TRAIN", "(32,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.CROP.ENABLED", "False"],
  ...["INPUT.MIN_SIZE_TEST", "32", "INPUT.MAX_SIZE_TEST", "64"],
  ...["DATASETS.TRAIN", '("mevis_train",)', "DATASETS.TEST", '("mevis_val",)'],
  ...["DATALOADER.NUM_WORKERS", "1", "SOLVER.IMS_PER_BATCH", "1", "SOLVER.MAX_ITER", "2"],
  ...["SOLVER.CHECKPOINT_PERIOD", "1000"],
];

/** Frame size of the tiny videos. */
export const TINY_SIZE: [number, number] = [32, 48];

const box = (n: number, b: [number, number, number, number] | null) => Array(n).fill(b);

/** The tiny videos: objects moving right, sentences in the tiny tokenizer's words. */
export const TINY_VIDEOS: Record<string, FakeVideo> = {
  vidA: {
    frames: 4,
    objects: {
      "10": [[4, 2, 14, 12], [4, 6, 14, 16], [4, 10, 14, 20], [4, 14, 14, 24]],
      "11": box(4, [18, 30, 28, 44]),
    },
    expressions: {
      "0": { exp: "the red car moving right", obj_id: [0], anno_id: [10] },
      "1": { exp: "a dog jumps", obj_id: [0, 1], anno_id: [10, 11] },
    },
  },
  vidB: {
    frames: 3,
    objects: { "20": [[6, 6, 20, 20], [8, 8, 22, 22], null] },
    expressions: { "0": { exp: "the cat walking slowly", obj_id: [3], anno_id: [20] } },
  },
};

/** Writes a RoBERTa folder of hidden size 768 (one layer) with the tiny fixture's tokenizer. */
export function writeRoberta768(dir: string, seed = 5): Promise<string> {
  return ensureSynthTextEncoder(dir, seed);
}

/** A tiny data set under `root`: `mevis/train` (prepared: idx2positive / idx2negative) and `mevis/valid_u`. */
export async function writeTinyData(root: string): Promise<void> {
  await writeFakeSplit(root, "train", TINY_VIDEOS, TINY_SIZE);
  await writeFakeSplit(root, "valid_u", TINY_VIDEOS, TINY_SIZE);
  await prepareReferIds({ root: join(root, "mevis"), splits: ["train"] });
}

/** Writes a model's state dict as safetensors (float32 and int32 entries). */
export async function saveStateDict(path: string, sd: Map<string, ops.Tensor>, drop: readonly string[] = []) {
  const tensors = new Map<string, TensorInput>();
  for (const [name, v] of sd) {
    if (drop.includes(name)) continue;
    const data = ops.toArray(v);
    tensors.set(name, {
      dtype: v.dtype === "int32" ? "I32" : "F32",
      shape: v.shape,
      data: v.dtype === "int32" ? Int32Array.from(data) : Float32Array.from(data),
    });
  }
  await Deno.writeFile(path, writeSafetensors(tensors, { format: "pt" }));
}

/** The tiny config, data and registries. */
export interface TinySetup {
  cfg: Config;
  registries: Registries;
  root: string;
  overrides: string[];
}

/** Writes the tiny data and RoBERTa under `root` and loads the tiny config over them. */
export async function tinySetup(root: string, extra: readonly string[] = []): Promise<TinySetup> {
  await writeTinyData(root);
  await writeRoberta768(join(root, "roberta768"));
  return await tinyConfig(root, extra);
}

/** The overrides of the tiny config over the files {@link tinySetup} wrote under `root`. */
export function tinyOverrides(root: string, extra: readonly string[] = []): string[] {
  return [
    ...TINY_DSHMP_OVERRIDES,
    ...["DATASETS.ROOT", root, "MODEL.DSHMP.TEXT_ENCODER_PATH", join(root, "roberta768")],
    ...["OUTPUT_DIR", join(root, "out"), "MODEL.WEIGHTS", ""],
    ...extra,
  ];
}

/** Loads the tiny config (files already written under `root`) with its registries. */
export async function tinyConfig(root: string, extra: readonly string[] = []): Promise<TinySetup> {
  const overrides = tinyOverrides(root, extra);
  const loaded = await loadConfig({
    file: PAPER,
    overrides,
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
  });
  const registries = createRegistries();
  await registerPlugins(loaded.plugins, registries);
  return { cfg: loaded.cfg, registries, root, overrides };
}

/** The paper config file (for subprocess runs). */
export const PAPER_CONFIG = PAPER;

/**
 * The tiny DsHmp's training (model seed 3, run seed 11) and a quiet, unprefetched {@link Trainer} of it
 * writing to `outputDir`; `extra` adds trainer options (replicas).
 */
export async function tinyTrainer(
  { cfg, registries }: TinySetup,
  outputDir: string,
  extra: Partial<TrainerOptions<unknown>> = {},
): Promise<{ training: DshmpTraining; trainer: Trainer<unknown> }> {
  const training = await createDshmpTraining(cfg, { registries, generator: new Generator(3), seed: 11 });
  const trainer = new Trainer<unknown>({
    ...trainerSettingsFromConfig(cfg),
    outputDir,
    model: training.trainable as TrainerOptions<unknown>["model"],
    data: training.data as TrainerOptions<unknown>["data"],
    seed: 11,
    generators: training.generators,
    progress: false,
    prefetch: 0,
    log: () => {},
    ...extra,
  });
  return { training, trainer };
}
