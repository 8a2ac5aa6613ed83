/**
 * The training loop: detectron2's `SimpleTrainer` + `DefaultTrainer` on one process. Each iteration
 * draws `IMS_PER_BATCH / microBatchSize` micro-batches, runs the model's loss terms and their
 * gradients on each, averages the gradients (the gradient-accumulation equivalent of the original's
 * data-parallel batch), stops on a non-finite loss, clips and steps AdamW, then advances the
 * learning-rate schedule. Hooks (see `hooks.ts`) log `metrics.jsonl`, save checkpoints, evaluate,
 * draw `loss_curve.svg` and show a progress bar.
 *
 * Determinism: micro-batch `k` of the run (`k = iteration × micro-batches + m`) is built by the data
 * function from its own generator, seeded with `itemSeed(seed, k)`, so the data never depends on
 * timing, prefetching or where a run was resumed. The model's own randomness (dropout, point sampling)
 * comes from the generators passed in `generators`, whose states every checkpoint saves. On one
 * backend, `k` iterations + resume + `k` iterations give the same losses and weights, bit for bit, as
 * `2k` iterations without a stop.
 *
 * @example
 * ```ts ignore
 * import { Trainer, solverOptionsFromConfig } from "./mod.ts";
 * const trainer = new Trainer({
 *   model, // { module, lossTerms(batch, iteration) }
 *   data: (index, generator) => dataset.sample(index, generator),
 *   solver: solverOptionsFromConfig(cfg),
 *   outputDir: cfg.OUTPUT_DIR,
 *   seed: ctx.seed,
 *   checkpointPeriod: cfg.SOLVER.CHECKPOINT_PERIOD,
 *   evalPeriod: cfg.TEST.EVAL_PERIOD,
 *   evaluate: () => evaluateOnTestSets(model),
 *   generators: { model: ctx.generator },
 * });
 * await trainer.resumeOrLoad({ resume: args.resume, weights: cfg.MODEL.WEIGHTS });
 * await trainer.train();
 * ```
 * @module
 */
import { join } from "node:path";
import * as ops from "../tensor/ops.ts";
import type { Tensor, Variable } from "../tensor/ops.ts";
import type { LoadReport, Module } from "../tensor/nn/module.ts";
import { checkMemory } from "../tensor/backend.ts";
import { Generator } from "../random.ts";
import { itemSeed, prefetchLoader } from "../data/prefetch_loader.ts";
import { UsageError } from "../cli/flags.ts";
import type { ProgressOptions } from "../progress.ts";
import { ConfigError } from "../config/error.ts";
import { get } from "../config/get.ts";
import type { Config } from "../config/merge.ts";
import { AdamW, type SolverOptions, solverOptionsFromConfig } from "./optimizer.ts";
import { LRScheduler } from "./lr_scheduler.ts";
import { buildParamGroups } from "./param_groups.ts";
import { GradAccumulator, microBatchCount } from "./grad_accumulator.ts";
import { microBatchGrads, type MicroBatchResult, reseedForMicroBatch } from "./micro_batch.ts";
import { ReplicaPool, type ReplicaSpec, type StepWeights } from "./replicas.ts";
import {
  applyWrites,
  type BufferWrite,
  bufferWrites,
  snapshot,
  stateBuffers,
  undoWrites,
} from "./buffer_writes.ts";
import { Checkpointer, loadWeights, type ResumeInfo } from "./checkpointer.ts";
import {
  EvalHook,
  type EvaluateFn,
  LossCurveWriter,
  MetricsWriter,
  PeriodicCheckpointer,
  ProgressHook,
  type ReplicaCalls,
  type StepRecord,
  type TrainerHook,
  type TrainerView,
} from "./hooks.ts";
import type { LossCurveOptions } from "./loss_curve.ts";
import { flattenResults, MetricsLog } from "./metrics_log.ts";

/**
 * What the trainer needs of a model. `lossTerms` returns scalar loss tensors by name (already weighted,
 * or weighted by the trainer with `lossWeights`); it runs inside the gradient tape, so tensors it
 * creates from a batch's plain data are freed when the step ends.
 */
export interface TrainableModel<B> {
  /** The root module: its trainable parameters are optimized, its state dict is checkpointed. */
  readonly module: Module;
  /** The loss terms of one micro-batch at `iteration`. */
  lossTerms(batch: B, iteration: number): Record<string, Tensor>;
  /**
   * The original's `weight_dict`: when given, each term is multiplied by its weight and terms without
   * a weight are dropped (as DsHmp's `forward` does); when absent, terms are taken as they are.
   */
  readonly lossWeights?: Readonly<Record<string, number>>;
}

/**
 * Builds micro-batch `index` of the run from its own generator. Return plain data (typed arrays,
 * numbers): a prefetched batch may be dropped unused at the end of training, and tensors in it would
 * leak.
 */
export type BatchSource<B> = (index: number, generator: Generator) => B | Promise<B>;

/** Options of {@link Trainer}. */
export interface TrainerOptions<B> {
  model: TrainableModel<B>;
  data: BatchSource<B>;
  /** The solver settings, e.g. `solverOptionsFromConfig(cfg)` (`MAX_ITER` is `schedule.maxIter`). */
  solver: SolverOptions;
  /** `OUTPUT_DIR`: checkpoints, `metrics.jsonl`, `loss_curve.svg`. */
  outputDir: string;
  /** The run's seed (the data's item seeds derive from it). */
  seed: number;
  /** Clips per `lossTerms` call; `IMS_PER_BATCH` must be a multiple (default 1, one clip per GPU). */
  microBatchSize?: number;
  /** `SOLVER.CHECKPOINT_PERIOD`. */
  checkpointPeriod: number;
  /** `TEST.EVAL_PERIOD` (default 0: only after the last iteration, if `evaluate` is given). */
  evalPeriod?: number;
  /** The evaluation to run every `evalPeriod` iterations and at the end. */
  evaluate?: EvaluateFn;
  /**
   * Generators the model draws from (dropout, point sampling): re-seeded for each micro-batch from the
   * seed and the micro-batch's index (`micro_batch.ts`); their states are checkpointed too.
   */
  generators?: Record<string, Generator>;
  /**
   * Model replicas in worker threads that compute micro-batches alongside this process (`replicas.ts`);
   * `count` 0 runs everything here. Only useful when `IMS_PER_BATCH` has more than one micro-batch.
   */
  replicas?: { count: number; spec: ReplicaSpec };
  /** `configHash(cfg)`, recorded in checkpoints. */
  configHash?: string;
  /** Write a metrics row every N iterations (default 1). */
  metricsPeriod?: number;
  /** Redraw the loss curve every N iterations (default 20). */
  curvePeriod?: number;
  /** How to draw the loss curve (default: log scale, per-layer terms grouped). */
  curve?: LossCurveOptions;
  /** Progress bar options, or false for none. */
  progress?: ProgressOptions | false;
  /** Micro-batches loaded ahead (default 2; 0 loads each when needed). */
  prefetch?: number;
  /** Hooks run after the built-in ones. */
  hooks?: TrainerHook[];
  /** Where notes (resume, weights loaded) go (default: console.error). */
  log?: (line: string) => void;
}

/** The trainer settings a config holds (the rest of {@link TrainerOptions} comes from the task). */
export interface TrainerSettings {
  solver: SolverOptions;
  outputDir: string;
  checkpointPeriod: number;
  evalPeriod: number;
}

/**
 * Reads `SOLVER.*`, `SOLVER.CHECKPOINT_PERIOD`, `TEST.EVAL_PERIOD` and `OUTPUT_DIR` from a merged
 * config.
 *
 * @example
 * ```ts ignore
 * import { Trainer, trainerSettingsFromConfig } from "./trainer.ts";
 * const trainer = new Trainer({ ...trainerSettingsFromConfig(cfg), model, data, seed: ctx.seed });
 * ```
 */
export function trainerSettingsFromConfig(cfg: Config): TrainerSettings {
  const int = (key: string, min: number): number => {
    const v = get(cfg, key);
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new ConfigError(`${key} expects an integer of at least ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const outputDir = get(cfg, "OUTPUT_DIR");
  if (typeof outputDir !== "string" || outputDir === "") {
    throw new ConfigError(`OUTPUT_DIR expects a folder, got ${JSON.stringify(outputDir)}`);
  }
  return {
    solver: solverOptionsFromConfig(cfg),
    outputDir,
    checkpointPeriod: int("SOLVER.CHECKPOINT_PERIOD", 1),
    evalPeriod: int("TEST.EVAL_PERIOD", 0),
  };
}

/** What {@link Trainer.train} returns. */
export interface TrainResult {
  /** The last iteration run. */
  iteration: number;
  /** The last evaluation's flattened results, if any ran. */
  evalResults: Record<string, number> | null;
}

/**
 * A loss that is NaN or infinite: training stops before the update, so the weights and the last
 * checkpoint stay good (as detectron2 raises `FloatingPointError`).
 */
export class NonFiniteLossError extends Error {
  override name = "NonFiniteLossError";
  constructor(readonly iteration: number, readonly losses: Readonly<Record<string, number>>) {
    const terms = Object.entries(losses).map(([k, v]) => `${k}=${v}`).join(", ");
    super(`Loss became infinite or NaN at iteration ${iteration}: ${terms}`);
  }
}

/**
 * Refuses more than one device or machine: TF.js has no collective communication (no all-reduce), so
 * there is no data parallelism. The original's batch of 8 clips on 8 GPUs is reproduced on one
 * process by gradient accumulation: `SOLVER.IMS_PER_BATCH 8` with one clip per micro-batch averages 8
 * gradients exactly as distributed data parallel does.
 *
 * @example
 * ```ts
 * import { checkSingleProcess } from "./trainer.ts";
 * checkSingleProcess({ numGpus: 1, numMachines: 1 }); // fine
 * // checkSingleProcess({ numGpus: 8 }) throws a UsageError explaining IMS_PER_BATCH
 * ```
 */
export function checkSingleProcess(
  { numGpus = 1, numMachines = 1 }: { numGpus?: number; numMachines?: number },
) {
  if (numGpus <= 1 && numMachines <= 1) return;
  throw new UsageError(
    `--num-gpus ${numGpus} --num-machines ${numMachines}: training runs on one process. TF.js has no ` +
      "collective communication (no all-reduce between devices), so multi-device training is not " +
      "available. Train on one device instead: the original's 8-GPU batch (one clip per GPU) is " +
      "SOLVER.IMS_PER_BATCH 8 here, and the trainer accumulates the 8 clips' gradients before each " +
      "step, which averages them as distributed data parallel does. On the CPU backends, --replicas N " +
      "computes N of those clips at once in worker threads (one per core by default).",
  );
}

/** The training loop; see the module documentation. */
export class Trainer<B> implements TrainerView {
  readonly model: TrainableModel<B>;
  readonly optimizer: AdamW;
  readonly scheduler: LRScheduler;
  readonly checkpointer: Checkpointer;
  readonly hooks: readonly TrainerHook[];
  readonly outputDir: string;
  readonly maxIter: number;
  readonly microBatches: number;
  readonly #data: BatchSource<B>;
  readonly #seed: number;
  readonly #prefetch: number;
  readonly #evalHook: EvalHook | null;
  readonly #log: (line: string) => void;
  readonly #generators: Record<string, Generator>;
  readonly #buffers: Variable[];
  readonly #replicas: { count: number; spec: ReplicaSpec } | null;
  #pool: ReplicaPool | null = null;
  #startIter = 0;
  #iter = 0;
  #metrics: MetricsLog | null = null;

  constructor(opts: TrainerOptions<B>) {
    this.model = opts.model;
    this.outputDir = opts.outputDir;
    this.maxIter = opts.solver.schedule.maxIter;
    this.microBatches = microBatchCount(opts.solver.imsPerBatch, opts.microBatchSize ?? 1);
    this.#data = opts.data;
    this.#seed = opts.seed;
    this.#prefetch = opts.prefetch ?? 2;
    this.#log = opts.log ?? ((line) => console.error(line));
    this.#generators = opts.generators ?? {};
    this.#buffers = stateBuffers(opts.model.module);
    const replicas = Math.min(opts.replicas?.count ?? 0, this.microBatches - 1);
    this.#replicas = replicas > 0 ? { count: replicas, spec: opts.replicas!.spec } : null;
    const groups = buildParamGroups(opts.model.module, opts.solver.paramGroups);
    this.optimizer = new AdamW(groups, opts.solver.adamW);
    this.scheduler = new LRScheduler(this.optimizer.groups, opts.solver.schedule);
    this.checkpointer = new Checkpointer(opts.outputDir, {
      module: opts.model.module,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      generators: opts.generators,
      configHash: opts.configHash,
    });
    this.#evalHook = opts.evaluate ? new EvalHook(opts.evalPeriod ?? 0, opts.evaluate) : null;
    const hooks: TrainerHook[] = [
      new MetricsWriter(opts.metricsPeriod ?? 1),
      new PeriodicCheckpointer(this.checkpointer, opts.checkpointPeriod),
    ];
    if (this.#evalHook) hooks.push(this.#evalHook);
    hooks.push(new LossCurveWriter(opts.curvePeriod ?? 20, { logScale: true, ...opts.curve }));
    if (opts.progress !== false) hooks.push(new ProgressHook(opts.progress ?? {}));
    this.hooks = [...hooks, ...(opts.hooks ?? [])];
  }

  get module(): Module {
    return this.model.module;
  }
  get iteration(): number {
    return this.#iter;
  }
  get startIter(): number {
    return this.#startIter;
  }
  get replicas(): ReplicaCalls | null {
    const pool = this.#pool;
    if (pool === null) return null;
    let weights: StepWeights | null = null;
    return {
      count: pool.size,
      call: (r, request, onReport) => {
        // The weights as they are now, read once for all calls through this view.
        weights ??= {
          params: this.optimizer.params.map((p) => ops.toArray(p) as Float32Array),
          buffers: snapshot(this.#buffers),
        };
        return pool.call(r, request, weights, onReport);
      },
    };
  }
  get metrics(): MetricsLog {
    if (this.#metrics === null) throw new Error("Trainer: the metrics log opens when train() starts");
    return this.#metrics;
  }

  /**
   * detectron2's `resume_or_load`: with `resume` and a `last_checkpoint` in the output folder, restores
   * the whole training state and continues after its iteration; otherwise loads `weights` into the
   * model (when given, not strictly) and starts at 0. Returns the first iteration to run.
   */
  async resumeOrLoad({ resume = false, weights = "" }: { resume?: boolean; weights?: string } = {}): Promise<
    number
  > {
    let info: ResumeInfo | null = null;
    if (resume) info = await this.checkpointer.resume();
    if (info !== null) {
      this.#log(`resumed from ${info.path} (iteration ${info.iteration})`);
      if (info.configWarning) this.#log(`warning: ${info.configWarning}`);
      this.#startIter = info.iteration + 1;
    } else {
      if (weights !== "") logReport(this.#log, weights, await loadWeights(this.module, weights));
      this.#startIter = 0;
    }
    this.#iter = this.#startIter;
    return this.#startIter;
  }

  /**
   * Runs iterations `startIter .. maxIter - 1` with the hooks. A non-finite loss throws
   * {@link NonFiniteLossError} before that iteration's update and checkpoint.
   */
  async train(): Promise<TrainResult> {
    await Deno.mkdir(this.outputDir, { recursive: true });
    this.#metrics = await MetricsLog.open(join(this.outputDir, "metrics.jsonl"), {
      keepBefore: this.#startIter,
    });
    this.module.train();
    const batches = this.#batches();
    let failure: { error: unknown } | null = null;
    try {
      if (this.#replicas) {
        const { count, spec } = this.#replicas;
        this.#pool = await ReplicaPool.start(count, spec, this.module, this.optimizer.params, this.#seed);
        this.#log(`${count} replica(s) in worker threads compute micro-batches alongside this process`);
      }
      for (const h of this.hooks) await h.beforeTrain?.(this);
      for (this.#iter = this.#startIter; this.#iter < this.maxIter; this.#iter++) {
        const step = await this.#step(batches);
        for (const h of this.hooks) await h.afterStep?.(this, step);
      }
    } catch (error) {
      failure = { error };
    }
    await batches.return(undefined);
    try {
      // The replicas stay up for the hooks: the last evaluation may use them.
      for (const h of this.hooks) {
        try {
          await h.afterTrain?.(this, failure === null);
        } catch (e) {
          if (failure === null) throw e;
          // Keep the error that stopped training; a hook's later one is only reported.
          this.#log(`after the failure, a hook failed too: ${(e as Error).message}`);
        }
      }
    } finally {
      this.#pool?.close();
      this.#pool = null;
    }
    if (failure !== null) throw failure.error;
    return { iteration: this.maxIter - 1, evalResults: this.#evalHook?.lastResults ?? null };
  }

  /** Micro-batches from the current start, in order, each from its own seeded generator. */
  async *#batches(): AsyncGenerator<B, void, undefined> {
    const first = this.#startIter * this.microBatches;
    if (this.#prefetch === 0) {
      for (let k = first;; k++) yield await this.#data(k, new Generator(itemSeed(this.#seed, k)));
    } else {
      yield* this.#prefetched(first);
    }
  }

  async *#prefetched(first: number): AsyncGenerator<B, void, undefined> {
    const indices = function* () {
      for (let k = first;; k++) yield k;
    };
    const loader = prefetchLoader(indices(), async (k, ctx) => await this.#data(k, ctx.generator), {
      seed: this.#seed,
      firstIndex: first,
      prefetch: this.#prefetch,
    });
    for await (const { value } of loader) yield value;
  }

  async #step(batches: AsyncGenerator<B, void, undefined>): Promise<StepRecord> {
    const iteration = this.#iter;
    const start = performance.now();
    let dataTime = 0;
    const acc = new GradAccumulator();
    const sums = new Map<string, number>();
    const params = this.optimizer.params;
    const pool = this.#pool;
    const buffers = this.#buffers;
    // Every micro-batch reads the buffers as the iteration started (`buffer_writes.ts`).
    const initial = this.microBatches > 1 && buffers.length > 0 ? snapshot(buffers) : null;
    const weights = pool
      ? { params: params.map((p) => ops.toArray(p) as Float32Array), buffers: initial! }
      : null;
    const writes: BufferWrite[][] = [];
    // Micro-batches run in groups: the first of a group here, the others on the replicas at once.
    const group = 1 + (pool?.size ?? 0);
    try {
      for (let m0 = 0; m0 < this.microBatches; m0 += group) {
        const items: B[] = [];
        for (let m = m0; m < Math.min(m0 + group, this.microBatches); m++) {
          const t = performance.now();
          const next = await batches.next();
          dataTime += performance.now() - t;
          if (next.done) throw new Error("Trainer: the data source ended");
          items.push(next.value);
        }
        const k0 = iteration * this.microBatches + m0;
        const remote = items.slice(1).map((b, j) =>
          pool!.microBatch(j, b, iteration, k0 + 1 + j, weights!, params)
        );
        const results = await settleAll([
          // A throw here rejects this promise, so that the replicas' gradients are freed too.
          new Promise<MicroBatchResult>((resolve) => {
            reseedForMicroBatch(this.#generators, this.#seed, k0);
            const result = microBatchGrads(this.model, items[0], iteration, params);
            if (initial) {
              result.writes = bufferWrites(buffers, initial);
              undoWrites(buffers, result.writes, initial);
            }
            resolve(result);
          }),
          ...remote,
        ]);
        // Added in micro-batch order, so the sums are the same wherever each micro-batch ran.
        for (const { names, values, grads, writes: w } of results) {
          acc.add(grads);
          names.forEach((n, i) => sums.set(n, (sums.get(n) ?? 0) + values[i]));
          writes.push(w ?? []);
        }
      }
    } catch (e) {
      acc.dispose();
      throw e;
    }
    // The buffers are as the iteration started: the writes go in, in micro-batch order.
    for (const w of writes) applyWrites(buffers, w);
    // Averaged over the micro-batches, as detectron2 averages the workers' metrics.
    const losses = Object.fromEntries([...sums].map(([k, v]) => [k, v / this.microBatches]));
    const totalLoss = Object.values(losses).reduce((a, b) => a + b, 0);
    if (!Number.isFinite(totalLoss)) {
      acc.dispose();
      throw new NonFiniteLossError(iteration, losses);
    }
    const lr = Math.max(...this.optimizer.groups.map((g) => g.lr));
    const grads = acc.mean();
    let gradNorm: number | undefined;
    try {
      gradNorm = this.optimizer.step(grads).totalNorm;
    } finally {
      ops.dispose(grads);
    }
    this.scheduler.step();
    checkMemory(`training iteration ${iteration}`);
    const step: StepRecord = {
      iteration,
      losses,
      totalLoss,
      lr,
      time: (performance.now() - start) / 1000,
      dataTime: dataTime / 1000,
    };
    if (gradNorm !== undefined) step.gradNorm = gradNorm;
    return step;
  }

  /** Frees the optimizer's state (the model stays the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Waits for every micro-batch; on a failure frees the others' gradients and throws the first error. */
async function settleAll(runs: Promise<MicroBatchResult>[]): Promise<MicroBatchResult[]> {
  const settled = await Promise.allSettled(runs);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<MicroBatchResult>).value);
  for (const s of settled) if (s.status === "fulfilled") ops.dispose(Object.values(s.value.grads));
  throw (failed as PromiseRejectedResult).reason;
}

function logReport(log: (line: string) => void, path: string, report: LoadReport): void {
  log(`loaded weights from ${path}`);
  if (report.missing.length) log(`  not in the file (left as initialised): ${report.missing.join(", ")}`);
  if (report.unexpected.length) {
    log(`  in the file but not in the model (ignored): ${report.unexpected.join(", ")}`);
  }
  for (const m of report.mismatched) {
    log(`  shape mismatch (skipped): ${m.key} [${m.got}] vs [${m.expected}]`);
  }
}

/** Options of {@link evalOnly}. */
export interface EvalOnlyOptions {
  /** The model's root module. */
  module: Module;
  /** `MODEL.WEIGHTS`: the weights to evaluate (any format `readCheckpoint` reads). */
  weights: string;
  /** The evaluation; gets -1 as the iteration (no training iteration). */
  evaluate: EvaluateFn;
  /** With `resume` and a `last_checkpoint` in `outputDir`, that checkpoint's model is used instead. */
  resume?: boolean;
  outputDir?: string;
  /** Load strictly (default true: every key must match). */
  strict?: boolean;
  log?: (line: string) => void;
}

/**
 * The `--eval-only` path: loads the weights (or, with `resume`, the last checkpoint of `outputDir`,
 * as detectron2's `resume_or_load`), puts the model in eval mode and returns the evaluation's
 * flattened results.
 *
 * @example
 * ```ts ignore
 * import { evalOnly } from "./trainer.ts";
 * const results = await evalOnly({ module: model, weights: cfg.MODEL.WEIGHTS, evaluate: () => score(model) });
 * results["mevis_valid_u/J&F"];
 * ```
 */
export async function evalOnly(opts: EvalOnlyOptions): Promise<Record<string, number>> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const last = opts.resume && opts.outputDir !== undefined
    ? await new Checkpointer(opts.outputDir, { module: opts.module }).lastCheckpoint()
    : null;
  const path = last ?? opts.weights;
  if (path === "") throw new UsageError("--eval-only needs weights: set MODEL.WEIGHTS");
  logReport(log, path, await loadWeights(opts.module, path, { strict: opts.strict ?? true }));
  opts.module.eval();
  return flattenResults((await opts.evaluate(-1, null)) ?? {});
}
