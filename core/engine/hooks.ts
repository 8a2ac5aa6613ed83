/**
 * Training hooks, detectron2's `HookBase` in TypeScript: objects the {@link Trainer} calls before
 * training, after every iteration and after training (also when training failed). The built-in hooks,
 * in the order the trainer runs them:
 *
 * - {@link MetricsWriter}: appends each iteration's losses, rate and timings to `metrics.jsonl`;
 * - {@link PeriodicCheckpointer}: `model_XXXXXXX` every `SOLVER.CHECKPOINT_PERIOD` iterations and
 *   `model_final` after the last one;
 * - {@link EvalHook}: calls an evaluation function every `TEST.EVAL_PERIOD` iterations and after the
 *   last one, and logs its results;
 * - {@link LossCurveWriter}: redraws `loss_curve.svg` every N iterations and at the end;
 * - {@link ProgressHook}: a progress bar with ETA and the current loss.
 *
 * The metrics writer runs before the checkpointer so that every iteration up to a checkpoint is in
 * the log when the checkpoint exists (a resumed run keeps exactly those rows).
 *
 * @example
 * ```ts
 * import { EvalHook } from "./hooks.ts";
 * // Evaluate every 5000 iterations and at the end; the function returns nested numbers.
 * const hook = new EvalHook(5000, async (iteration) => ({ mevis_valid_u: { "J&F": 0.5 + iteration * 0 } }));
 * ```
 * @module
 */
import { join } from "node:path";
import type { Module } from "../tensor/nn/module.ts";
import { Progress, type ProgressOptions } from "../progress.ts";
import { type Checkpointer, checkpointName } from "./checkpointer.ts";
import { type LossCurveOptions, writeLossCurve } from "./loss_curve.ts";
import { flattenResults, type LossRow, type MetricsLog } from "./metrics_log.ts";

/** What hooks see of the trainer. */
export interface TrainerView {
  /** The iteration running or just finished (0-based). */
  readonly iteration: number;
  /** The first iteration of this run (after a resume, the checkpoint's iteration + 1). */
  readonly startIter: number;
  /** `SOLVER.MAX_ITER`: iterations `0 .. maxIter - 1` are run. */
  readonly maxIter: number;
  /** The model's root module. */
  readonly module: Module;
  /** `OUTPUT_DIR`. */
  readonly outputDir: string;
  /** The run's `metrics.jsonl`. */
  readonly metrics: MetricsLog;
  /** The model replicas in worker threads while training runs (`--replicas`), else null. */
  readonly replicas: ReplicaCalls | null;
}

/**
 * The trainer's replicas as an evaluation may use them: `call(r, request)` loads the model's current
 * weights into replica `r` and runs its service (`ReplicaModel.serve`) on `request`.
 */
export interface ReplicaCalls {
  readonly count: number;
  call(r: number, request: unknown, onReport?: (progress: unknown) => void): Promise<unknown>;
}

/** One finished iteration: the values the metrics row holds. */
export interface StepRecord {
  iteration: number;
  /** Every loss term (weighted, averaged over the micro-batches). */
  losses: Record<string, number>;
  /** The sum of the terms. */
  totalLoss: number;
  /** The rate the step used (the largest over the parameter groups, as detectron2 logs it). */
  lr: number;
  /** Seconds for the whole iteration, data included. */
  time: number;
  /** Seconds spent waiting for data. */
  dataTime: number;
  /** The joint gradient norm before clipping, with "full_model" clipping. */
  gradNorm?: number;
}

/** A training hook; every method is optional and may be async. */
export interface TrainerHook {
  beforeTrain?(trainer: TrainerView): void | Promise<void>;
  afterStep?(trainer: TrainerView, step: StepRecord): void | Promise<void>;
  /** `completed`: whether the last iteration finished (false after an error). */
  afterTrain?(trainer: TrainerView, completed: boolean): void | Promise<void>;
}

/** The metrics row of a step (`total_loss`, the terms, `lr`, `time`, `data_time`, maybe `grad_norm`). */
export function lossRow(step: StepRecord): LossRow {
  const row: LossRow = {
    iteration: step.iteration,
    total_loss: step.totalLoss,
    ...step.losses,
    lr: step.lr,
    time: step.time,
    data_time: step.dataTime,
  };
  if (step.gradNorm !== undefined) row.grad_norm = step.gradNorm;
  return row;
}

/** Appends a row to `metrics.jsonl` every `period` iterations (default every one) and at the last. */
export class MetricsWriter implements TrainerHook {
  constructor(readonly period = 1) {}

  async afterStep(trainer: TrainerView, step: StepRecord): Promise<void> {
    const last = step.iteration === trainer.maxIter - 1;
    if ((step.iteration + 1) % this.period === 0 || last) await trainer.metrics.append(lossRow(step));
  }
}

/**
 * detectron2's `PeriodicCheckpointer`: after iteration `i`, saves `model_<i>` when `(i + 1)` is a
 * multiple of `period`, and `model_final` after the last iteration (both when both apply).
 */
export class PeriodicCheckpointer implements TrainerHook {
  constructor(readonly checkpointer: Checkpointer, readonly period: number) {
    if (!(Number.isInteger(period) && period > 0)) {
      throw new RangeError(`SOLVER.CHECKPOINT_PERIOD must be a positive integer, got ${period}`);
    }
  }

  async afterStep(trainer: TrainerView, step: StepRecord): Promise<void> {
    if ((step.iteration + 1) % this.period === 0) {
      await this.checkpointer.save(checkpointName(step.iteration), step.iteration);
    }
    if (step.iteration >= trainer.maxIter - 1) await this.checkpointer.save("model_final", step.iteration);
  }
}

/** An evaluation: gets the iteration just finished, returns nested numeric results (or nothing). */
export type EvaluateFn = (
  iteration: number,
  replicas: ReplicaCalls | null,
) => Record<string, unknown> | void | Promise<Record<string, unknown> | void>;

/**
 * detectron2's `EvalHook`: runs `evaluate` after iteration `i` when `(i + 1)` is a multiple of
 * `period` (0: never periodically), and once after the last iteration of a completed run; the model
 * is in eval mode meanwhile. Results are flattened (`"mevis_valid_u/J&F"`) and logged to
 * `metrics.jsonl` as `{ iteration, eval: {...} }`.
 */
export class EvalHook implements TrainerHook {
  /** The latest results, flattened. */
  lastResults: Record<string, number> | null = null;

  constructor(readonly period: number, readonly evaluate: EvaluateFn) {
    if (!(Number.isInteger(period) && period >= 0)) {
      throw new RangeError(`TEST.EVAL_PERIOD must be a non-negative integer, got ${period}`);
    }
  }

  async #run(trainer: TrainerView, iteration: number): Promise<void> {
    const wasTraining = trainer.module.training;
    trainer.module.eval();
    let results: Record<string, unknown> | void;
    try {
      results = await this.evaluate(iteration, trainer.replicas);
    } finally {
      trainer.module.train(wasTraining);
    }
    if (results) {
      this.lastResults = flattenResults(results);
      await trainer.metrics.append({ iteration, eval: this.lastResults });
    }
  }

  async afterStep(trainer: TrainerView, step: StepRecord): Promise<void> {
    const next = step.iteration + 1;
    // The last evaluation happens in afterTrain.
    if (this.period > 0 && next % this.period === 0 && next !== trainer.maxIter) {
      await this.#run(trainer, step.iteration);
    }
  }

  async afterTrain(trainer: TrainerView, completed: boolean): Promise<void> {
    if (completed) await this.#run(trainer, trainer.maxIter - 1);
  }
}

/** Redraws `OUTPUT_DIR/loss_curve.svg` from the log every `period` iterations and after training. */
export class LossCurveWriter implements TrainerHook {
  constructor(
    readonly period = 20,
    readonly options: LossCurveOptions = {},
    readonly file = "loss_curve.svg",
  ) {}

  #write(trainer: TrainerView): Promise<void> {
    return writeLossCurve(join(trainer.outputDir, this.file), trainer.metrics.rows, this.options);
  }

  async afterStep(trainer: TrainerView, step: StepRecord): Promise<void> {
    if ((step.iteration + 1) % this.period === 0) await this.#write(trainer);
  }

  async afterTrain(trainer: TrainerView): Promise<void> {
    await this.#write(trainer);
  }
}

/**
 * A progress bar over the run's iterations, with rate, ETA and the latest total loss:
 * `train 120/1000 12% 1m02s 1.9 it/s ETA 7m43s loss 3.214`.
 */
export class ProgressHook implements TrainerHook {
  #bar: Progress | null = null;
  #loss = "";

  constructor(readonly options: ProgressOptions = {}) {}

  beforeTrain(trainer: TrainerView): void {
    const write = this.options.write ?? ((t: string) => Deno.stderr.writeSync(new TextEncoder().encode(t)));
    // Progress owns the layout; the loss goes at the end of each line it writes.
    const withLoss = (text: string) => write(insertBeforeLineEnd(text, this.#loss));
    this.#bar = new Progress(trainer.maxIter - trainer.startIter, "train", {
      unit: "it",
      ...this.options,
      write: withLoss,
    });
  }

  afterStep(_trainer: TrainerView, step: StepRecord): void {
    this.#loss = ` loss ${step.totalLoss.toPrecision(4)}`;
    this.#bar?.tick();
  }

  afterTrain(): void {
    this.#bar?.done();
  }
}

// Progress ends a terminal redraw with "erase to end of line" (ESC [ K) and a log line with "\n".
function insertBeforeLineEnd(text: string, suffix: string): string {
  let end = text.endsWith("\n") ? text.length - 1 : text.length;
  if (text.slice(0, end).endsWith("\x1b[K")) end -= 3;
  return text.slice(0, end) + suffix + text.slice(end);
}
