/**
 * `deno task train`: trains a model on the config's training data set, as the original's
 * `train_net_dshmp.py` does, on one process (see `core/engine/trainer.ts`), with a model replica per core
 * in worker threads on the CPU backends (`--replicas`, `core/engine/replicas.ts`).
 *
 * - With no arguments, or options only (`--replicas 1`, `-q`, `--resume`, `--seed N`): the embedded
 *   default run. It generates the synthetic MeViS-format data set
 *   once into `DATASETS.SYNTH.CACHE_DIR` (`.cache/synth-mevis/<hash>/`), trains
 *   `configs/dshmp_synth_tiny.yaml` on its `train` split with `DATASETS.ROOT` pointing at the cache,
 *   then scores `valid_u` (`mevis_val`) through the evaluation machinery and prints J&F overall and per
 *   expression type, followed by the J&F of two reference predictors that read no motion (every object;
 *   every object of the named look), for scale.
 * - With `--config-file` (and `KEY VALUE` overrides): trains as configured. `DATASETS.SYNTH.ENABLED True`
 *   uses the synthetic data with any config. `MODEL.WEIGHTS` initialises the model (not strictly: the
 *   report lists what did not match; Mask2Former's `static_query` keys are renamed to `query_feat`).
 *   `--resume` continues from `OUTPUT_DIR/last_checkpoint`; `--eval-only` scores `MODEL.WEIGHTS` (or,
 *   with `--resume`, the last checkpoint); `--num-gpus` above 1 is refused with the reason.
 *
 * The merged config is written to `OUTPUT_DIR/config.yaml`; checkpoints, `metrics.jsonl` and
 * `loss_curve.svg` go to `OUTPUT_DIR`; the evaluation's masks and `results.json` to
 * `OUTPUT_DIR/inference/`, its error sheets (`--error-sheets`) to `OUTPUT_DIR/error_sheets/`.
 *
 * @example
 * ```sh
 * deno task train
 * deno task train --config-file configs/dshmp_swin_tiny.yaml OUTPUT_DIR output/dshmp_model
 * deno task train --config-file configs/dshmp_synth_tiny.yaml --resume
 * ```
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/cli/flags.ts";
import type { FlagSpecs } from "../core/cli/flags.ts";
import { get } from "../core/config/get.ts";
import type { Config } from "../core/config/merge.ts";
import { writeConfig } from "../core/config/write.ts";
import { configHash } from "../core/engine/checkpointer.ts";
import { checkSingleProcess, Trainer, trainerSettingsFromConfig } from "../core/engine/trainer.ts";
import { flattenResults } from "../core/engine/metrics_log.ts";
import type { ReplicaCalls } from "../core/engine/hooks.ts";
import { loadWeightsInto } from "../core/io/weights.ts";
import { Generator } from "../core/random.ts";
import * as ops from "../core/tensor/ops.ts";
import { activeBackend } from "../core/tensor/backend.ts";
import { writeSafetensors } from "../core/io/safetensors.ts";
import type { TensorInput } from "../core/io/safetensors.ts";
import type { DshmpConfig } from "../plugins/dshmp/config.ts";
import type { DsHmp } from "../plugins/dshmp/model/dshmp_model.ts";
import { dshmpPredictor } from "../plugins/dshmp/model/eval_adapter.ts";
import { createDshmpTraining, windowPaddingWarning } from "../plugins/dshmp/model/train_adapter.ts";
import type { TrainReplicaInit } from "./train_replica.ts";
import { evaluateTestSets, withKeys } from "./train_eval.ts";
import { RobertaModel } from "../plugins/dshmp/text_encoder/roberta.ts";
import type { ResultsDocument } from "../plugins/mevis/eval/results.ts";
import { createPredictor, MissingModelError, type VideoPredictor } from "../plugins/mevis/eval/predictor.ts";
import {
  type EnsuredSynthData,
  ensureSynthData,
  formatBaselines,
  scoreSynthBaselines,
} from "../plugins/mevis/synth/mod.ts";
import {
  buildTaskContext,
  COMMON_FLAGS,
  runTask,
  selectDevice,
  type TaskContext,
  type TaskSpec,
} from "./cli.ts";
import { ERROR_SHEETS_FLAG } from "./eval.ts";

/** Backends whose kernels run on this process's CPU, where replicas in worker threads add cores. */
const CPU_BACKENDS = new Set(["wasm", "cpu"]);

/** How training spreads over the cores: model replicas, and wasm threads for each. */
export interface ReplicaPlan {
  replicas: number;
  /** wasm threads per replica (`DSHMP_THREADS` when set); undefined: the backend's default. */
  threads?: number;
}

/**
 * `--replicas N` (0: one per core, at most one per micro-batch of `SOLVER.IMS_PER_BATCH`) and the wasm
 * threads each gets: the cores shared out, or `DSHMP_THREADS`.
 *
 * @example
 * ```ts ignore
 * planReplicas(cfg, 0, 2, undefined); // IMS_PER_BATCH 2 on two cores: { replicas: 2, threads: 1 }
 * ```
 */
export function planReplicas(
  cfg: Config,
  requested: number,
  cores = navigator.hardwareConcurrency || 1,
  threadsEnv = Deno.env.get("DSHMP_THREADS"),
): ReplicaPlan {
  const microBatches = Number(get(cfg, "SOLVER.IMS_PER_BATCH"));
  if (!Number.isInteger(requested) || requested < 0) {
    throw new UsageError(`--replicas expects 0 (one per core) or a positive integer, got ${requested}`);
  }
  if (requested > microBatches) {
    throw new UsageError(
      `--replicas ${requested}: more replicas than the ${microBatches} micro-batches of an iteration ` +
        "(SOLVER.IMS_PER_BATCH); the extra ones would have nothing to compute",
    );
  }
  const replicas = requested === 0 ? Math.max(1, Math.min(cores, microBatches)) : requested;
  const threads = threadsEnv ? Number(threadsEnv) : Math.max(1, Math.floor(cores / replicas));
  return { replicas, threads };
}

/** The config the no-argument run trains. */
export const DEFAULT_TRAIN_CONFIG = "configs/dshmp_synth_tiny.yaml";

/** The text encoder folder of the synthetic configs; written on first use by {@link ensureSynthTextEncoder}. */
export const SYNTH_TEXT_ENCODER = ".cache/roberta-synth-768";

const FLAGS = {
  "quiet": { type: "boolean", short: "q", doc: "no progress bars" },
  "error-sheets": ERROR_SHEETS_FLAG,
  "replicas": {
    type: "int",
    default: 0,
    doc: "model copies computing micro-batches at once on the CPU backends, one per worker thread " +
      "(0: one per core, up to SOLVER.IMS_PER_BATCH; 1: this process only)",
  },
} as const satisfies FlagSpecs;

/** The train task's command line. */
export const trainSpec = {
  name: "train",
  summary: [
    "Train a model on the config's training data set (DATASETS.TRAIN), then evaluate on",
    "DATASETS.TEST. Without a config or overrides: generate the synthetic MeViS-format data set once (cached in",
    `.cache/synth-mevis/), train ${DEFAULT_TRAIN_CONFIG} on it and print J&F on its valid_u split,`,
    "with two reference predictors that read no motion for scale.",
    "Checkpoints, metrics.jsonl, loss_curve.svg and config.yaml go to OUTPUT_DIR; predictions and",
    "results.json to OUTPUT_DIR/inference; pictures of right and wrong masks to OUTPUT_DIR/error_sheets.",
  ].join("\n"),
  datasetKey: "DATASETS.TRAIN",
  flags: FLAGS,
  examples: [
    "deno task train",
    "deno task train --config-file configs/dshmp_swin_tiny.yaml OUTPUT_DIR output/dshmp_model",
    "deno task train --config-file configs/dshmp_synth_tiny.yaml DATASETS.SYNTH.ENABLED True --resume",
    "deno task train --config-file configs/dshmp_synth_tiny.yaml --eval-only MODEL.WEIGHTS out/model_final.safetensors",
  ],
} as const satisfies TaskSpec<typeof FLAGS>;

type TrainContext = TaskContext<typeof FLAGS>;

function say(line: string): void {
  console.log(`train: ${line}`);
}

/**
 * Writes the synthetic configs' text encoder when missing: a frozen, randomly initialised one-layer
 * RoBERTa of hidden size 768 (roberta-base's width, as the paper model reads) with the tiny test
 * fixture's tokenizer, from a fixed seed (so every copy is the same). Returns the folder.
 */
export async function ensureSynthTextEncoder(dir: string = SYNTH_TEXT_ENCODER, seed = 5): Promise<string> {
  const done = join(dir, "model.safetensors");
  try {
    await Deno.stat(done);
    return dir;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const fixture = new URL("../tests/fixtures/roberta_tiny/", import.meta.url);
  const base = JSON.parse(await Deno.readTextFile(new URL("config.json", fixture)));
  const config = {
    ...base,
    hidden_size: 768,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 32,
  };
  const model = new RobertaModel({
    vocabSize: config.vocab_size,
    hiddenSize: 768,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: config.max_position_embeddings,
    typeVocabSize: 1,
  }, { generator: new Generator(seed) });
  const tensors = new Map<string, TensorInput>();
  try {
    for (const [name, v] of model.stateDict()) {
      if (v.dtype !== "float32") continue; // position_ids: the loader fills them
      tensors.set(`roberta.${name}`, {
        dtype: "F32",
        shape: v.shape,
        data: Float32Array.from(ops.toArray(v)),
      });
    }
  } finally {
    model.dispose();
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir, prefix: ".tmp-" });
  await Deno.writeTextFile(join(tmp, "config.json"), JSON.stringify(config, null, 2));
  await Deno.copyFile(new URL("tokenizer.json", fixture), join(tmp, "tokenizer.json"));
  await Deno.writeFile(join(tmp, "model.safetensors"), writeSafetensors(tensors, { format: "pt" }));
  for (const f of ["config.json", "tokenizer.json", "model.safetensors"]) {
    await Deno.rename(join(tmp, f), join(dir, f)); // model.safetensors last: it marks the folder complete
  }
  await Deno.remove(tmp, { recursive: true });
  return dir;
}

/** The synthetic data options of `DATASETS.SYNTH.*`. */
export function synthOptionsFromConfig(cfg: Config) {
  const pair = (key: string): [number, number] => {
    const v = get(cfg, key) as readonly number[];
    if (v.length !== 2) throw new UsageError(`${key} expects two numbers, got ${JSON.stringify(v)}`);
    return [v[0], v[1]];
  };
  const videos = get(cfg, "DATASETS.SYNTH.VIDEOS") as readonly number[];
  if (videos.length !== 3) {
    throw new UsageError(
      `DATASETS.SYNTH.VIDEOS expects [train, valid_u, valid], got ${JSON.stringify(videos)}`,
    );
  }
  const [height, width] = pair("DATASETS.SYNTH.SIZE");
  const [minFrames, maxFrames] = pair("DATASETS.SYNTH.FRAMES");
  return {
    seed: Number(get(cfg, "DATASETS.SYNTH.SEED")),
    videos: { train: videos[0], valid_u: videos[1], valid: videos[2] },
    height,
    width,
    minFrames,
    maxFrames,
  };
}

/** The numbers the trainer logs of an evaluation: J, F, J&F overall and per type, by data set. */
function loggedResults(results: Record<string, ResultsDocument>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [dataset, doc] of Object.entries(results)) {
    const types = Object.fromEntries(
      Object.entries(doc.per_type ?? {}).map(([t, g]) => [t, { "J&F": g.JF }]),
    );
    out[dataset] = { J: doc.J, F: doc.F, "J&F": doc.JF, ...types };
  }
  return out;
}

/** Loads `MODEL.WEIGHTS` into a fresh model to train from (not strictly; the report is printed). */
async function initialiseFrom(model: DsHmp, weights: string): Promise<void> {
  await loadWeightsInto(model, weights, {
    strict: false,
    rename: (k) => k.replaceAll("static_query", "query_feat"),
    log: (text) => console.error(text),
  });
}

/**
 * `--eval-only`: scores `MODEL.WEIGHTS` (or, with `--resume`, the checkpoint `OUTPUT_DIR/last_checkpoint`
 * names, as detectron2's `resume_or_load`) on `DATASETS.TEST`, loading it as `deno task eval` does:
 * every tensor inference uses must come from the file.
 */
async function evalOnlyMain(ctx: TrainContext): Promise<number> {
  const { cfg, args } = ctx;
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  let weights = String(get(cfg, "MODEL.WEIGHTS"));
  if (args.resume) {
    try {
      const name = (await Deno.readTextFile(join(outputDir, "last_checkpoint"))).trim();
      if (name) weights = join(outputDir, name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  if (weights === "") throw new UsageError("--eval-only needs weights: set MODEL.WEIGHTS (or --resume)");
  let predictor: VideoPredictor;
  try {
    predictor = await createPredictor(withKeys(cfg, { "MODEL.WEIGHTS": weights }), ctx);
  } catch (e) {
    if (e instanceof MissingModelError) throw new UsageError(e.message);
    throw e;
  }
  try {
    const results = flattenResults(loggedResults(
      await evaluateTestSets({
        cfg,
        ctx,
        predictor,
        outputDir,
        label: weights,
        quiet: args.flags.quiet,
        errorSheets: args.flags["error-sheets"],
      }),
    ));
    await Deno.writeTextFile(join(outputDir, "eval_results.json"), JSON.stringify(results, null, 2) + "\n");
    say(`results -> ${join(outputDir, "eval_results.json")}`);
  } finally {
    predictor.dispose?.();
  }
  return 0;
}

async function trainMain(ctx: TrainContext, argv: readonly string[], plan: ReplicaPlan): Promise<number> {
  const { cfg, args } = ctx;
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  const c = cfg as unknown as DshmpConfig;
  const training = await createDshmpTraining(cfg, ctx);
  const model = training.model;
  const padding = windowPaddingWarning(c);
  if (padding) console.warn(`train: warning: ${padding}`);
  const evalCfg = withKeys(cfg, { "MODEL.WEIGHTS": "" });
  let predictor: VideoPredictor | null = null;
  const evaluate = async (iteration: number, replicas: ReplicaCalls | null) => {
    // The model being trained, in eval mode for the evaluation only.
    predictor ??= await dshmpPredictor(model, evalCfg, { log: () => {} });
    model.eval();
    try {
      const label = `${join(outputDir, "training")}@${iteration}`;
      return loggedResults(
        await evaluateTestSets({
          cfg,
          ctx,
          predictor,
          outputDir,
          label,
          quiet: args.flags.quiet,
          errorSheets: args.flags["error-sheets"],
          replicas,
        }),
      );
    } finally {
      model.train();
    }
  };
  const hasTest = (get(cfg, "DATASETS.TEST") as readonly string[]).length > 0;
  const trainer = new Trainer({
    ...trainerSettingsFromConfig(cfg),
    model: training.trainable,
    data: training.data,
    seed: ctx.seed,
    generators: training.generators,
    replicas: plan.replicas > 1
      ? {
        count: plan.replicas - 1,
        spec: {
          workerUrl: new URL("./train_replica.ts", import.meta.url),
          init: {
            argv: [...argv],
            backend: activeBackend()!.name,
            threads: plan.threads ?? 1,
          } satisfies TrainReplicaInit,
        },
      }
      : undefined,
    configHash: await configHash(cfg),
    evaluate: hasTest ? evaluate : undefined,
    progress: args.flags.quiet ? false : {},
    log: (line) => console.error(`train: ${line}`),
  });
  try {
    const start = await trainer.resumeOrLoad({ resume: args.resume });
    const weights = c.MODEL.WEIGHTS;
    if (start === 0 && weights) await initialiseFrom(model, weights);
    if (start >= trainer.maxIter) {
      say(
        `already trained: the last checkpoint is at iteration ${
          start - 1
        } of SOLVER.MAX_ITER ${trainer.maxIter}`,
      );
      return 0;
    }
    const threads = activeBackend()?.threads ?? 1;
    // A seed drawn from the clock is printed so that the run can be repeated.
    const seedNote = Number(get(cfg, "SEED")) < 0 ? ` (from the clock: --seed ${ctx.seed} repeats it)` : "";
    say(
      `${training.split.records.length} training expressions; iterations ${start}..${trainer.maxIter - 1}, ` +
        `${trainer.microBatches} clip(s) each; backend ${activeBackend()?.name} ` +
        `(${plan.replicas} replica(s), ${threads} thread(s) each); seed ${ctx.seed}${seedNote}; ` +
        `output -> ${outputDir}`,
    );
    const t0 = performance.now();
    const result = await trainer.train();
    const seconds = (performance.now() - t0) / 1000;
    say(`trained ${trainer.maxIter - start} iterations in ${seconds.toFixed(1)} s -> ${outputDir}`);
    if (result.evalResults) {
      const flat = flattenResults(result.evalResults);
      await Deno.writeTextFile(join(outputDir, "eval_results.json"), JSON.stringify(flat, null, 2) + "\n");
    }
  } finally {
    trainer.dispose();
    model.dispose();
  }
  return 0;
}

/**
 * The task's body after the command line is parsed; returns the exit code.
 *
 * @example
 * ```ts ignore
 * await runTask(trainSpec, (ctx) => trainTaskMain(ctx, Deno.args));
 * ```
 */
export async function trainTaskMain(first: TrainContext, argv: readonly string[]): Promise<number> {
  checkSingleProcess(first.args);
  let ctx = first;
  let synth: EnsuredSynthData | null = null;
  if (get(ctx.cfg, "DATASETS.SYNTH.ENABLED") === true) {
    const opts = synthOptionsFromConfig(ctx.cfg);
    const cacheDir = String(get(ctx.cfg, "DATASETS.SYNTH.CACHE_DIR"));
    say("synthetic data: checking the cache (the first run generates it)");
    const ensured = await ensureSynthData(cacheDir, opts);
    const counts = Object.entries(ensured.manifest.splits)
      .map(([s, n]) => `${s} ${n.videos} videos / ${n.expressions} expressions`).join(", ");
    say(`synthetic data ${ensured.generated ? "generated" : "cached"} at ${ensured.root} (${counts})`);
    ctx = await buildTaskContext([...argv, "DATASETS.ROOT", ensured.root], trainSpec);
    synth = ensured;
  }
  if (!ctx.args.evalOnly && (get(ctx.cfg, "DATASETS.TRAIN") as readonly string[]).length === 0) {
    throw new UsageError(
      `DATASETS.TRAIN is empty: nothing to train on. \`deno task train\` without a config (options such as ` +
        `--replicas or --resume allowed) trains ${DEFAULT_TRAIN_CONFIG}; with KEY VALUE overrides, ` +
        "name a config with --config-file FILE",
    );
  }
  // Evaluation runs on this process alone, on every core.
  const plan = ctx.args.evalOnly
    ? { replicas: 1, threads: undefined }
    : planReplicas(ctx.cfg, ctx.args.flags.replicas);
  const backend = await selectDevice(ctx.cfg, ctx.args, { threads: plan.threads });
  if (!CPU_BACKENDS.has(backend.name) && plan.replicas > 1) {
    if (ctx.args.flags.replicas > 1) {
      say(`--replicas ${ctx.args.flags.replicas}: backend ${backend.name} trains on one process`);
    }
    plan.replicas = 1;
  }
  const textPath = String(get(ctx.cfg, "MODEL.DSHMP.TEXT_ENCODER_PATH"));
  if (textPath === SYNTH_TEXT_ENCODER) await ensureSynthTextEncoder(textPath);
  const outputDir = String(get(ctx.cfg, "OUTPUT_DIR"));
  await writeConfig(ctx.cfg, join(outputDir, "config.yaml"));
  const runArgv = synth ? [...argv, "DATASETS.ROOT", synth.root] : argv;
  const code = ctx.args.evalOnly ? await evalOnlyMain(ctx) : await trainMain(ctx, runArgv, plan);
  if (code === 0 && synth && synth.manifest.options.videos.valid_u > 0) {
    // What the numbers above mean on this data: J&F of two predictors that read no motion.
    const docs = await scoreSynthBaselines(
      synth.manifest.options,
      "valid_u",
      join(synth.root, "mevis", "valid_u"),
    );
    console.log(formatBaselines(docs, "valid_u"));
  }
  return code;
}

/**
 * Moves the options that stand among the trailing `KEY VALUE` overrides to the front, so that
 * `MODEL.WEIGHTS w --frames dir` reads like `--frames dir MODEL.WEIGHTS w`. Only the names in `flags`
 * move (with their value unless boolean); everything else keeps its order.
 *
 * @example
 * ```ts
 * import { hoistFlags } from "./train.ts";
 * hoistFlags(["A", "1", "--out", "d"], { out: { type: "string" } }); // ["--out", "d", "A", "1"]
 * ```
 */
export function hoistFlags(argv: readonly string[], flags: FlagSpecs): string[] {
  const { options, rest } = splitOptions(argv, flags);
  return [...options, ...rest];
}

/** The options named in `flags` (long, or short as `-q`; with their values) and everything else, in order. */
function splitOptions(argv: readonly string[], flags: FlagSpecs): { options: string[]; rest: string[] } {
  const options: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith("--")
      ? a.slice(2).split("=")[0]
      : /^-[a-zA-Z]$/.test(a)
      ? Object.keys(flags).find((k) => flags[k].short === a[1]) ?? ""
      : "";
    const spec = name ? flags[name] : undefined;
    if (spec === undefined) {
      rest.push(a);
    } else if (spec.type === "boolean" || a.includes("=")) {
      options.push(a);
    } else {
      options.push(a);
      if (i + 1 < argv.length) options.push(argv[++i]);
    }
  }
  return { options, rest };
}

/**
 * `argv` of the default run when it names no config and overrides nothing (options only, such as
 * `--replicas 1`, `-q` or `--resume`): the default config on the synthetic data, with those options.
 * Returns null for any other command line, and for `--help`.
 */
export function defaultArgv(argv: readonly string[], flags: FlagSpecs): string[] | null {
  const { options, rest } = splitOptions(argv, flags);
  const named = (a: string) => a === "--config-file" || a.startsWith("--config-file=");
  if (rest.length > 0 || options.some((a) => named(a) || a === "--help" || a === "-h")) return null;
  return [...options, "--config-file", DEFAULT_TRAIN_CONFIG, "DATASETS.SYNTH.ENABLED", "True"];
}

if (import.meta.main) {
  const flags = { ...COMMON_FLAGS, ...FLAGS };
  const defaults = defaultArgv(Deno.args, flags);
  const argv = hoistFlags(defaults ?? Deno.args, flags);
  if (defaults) {
    say(`no config: the default run (${DEFAULT_TRAIN_CONFIG} on the synthetic data set); --help for more`);
  }
  await runTask(trainSpec, async (ctx) => {
    try {
      return await trainTaskMain(ctx, argv);
    } catch (e) {
      if (e instanceof UsageError || !(e instanceof Error)) throw e;
      if (
        ["NonFiniteLossError", "WeightsLoadError", "CheckpointFormatError", "DeviceError"].includes(e.name)
      ) {
        console.error(`train: ${e.message}`);
        return 1;
      }
      throw e;
    }
  }, argv);
}
