/**
 * The iteration-based learning-rate schedule of detectron2's `WarmupMultiStepLR` setting: a multi-step
 * decay (`GAMMA^k` after the k-th of `STEPS`) behind a warm-up stage, evaluated the way detectron2
 * evaluates it since it moved to fvcore's parameter schedulers (`WarmupParamScheduler` over a
 * `MultiStepParamScheduler`, driven by `LRMultiplier`). The value at iteration `i` is computed from the
 * training fraction `i / MAX_ITER` with fvcore's `1e-6` tolerance, in float64 exactly as Python does, so
 * every iteration's learning rate equals the original's bit for bit.
 *
 * With the paper config (`WARMUP_FACTOR` 1.0) the warm-up is flat; the multiplier is 1 up to iteration
 * 39999, 0.1 from 40000, 0.01 from 50000 to `MAX_ITER`.
 *
 * @example
 * ```ts
 * import { lrMultiplier } from "./lr_scheduler.ts";
 * const opts = { maxIter: 55000, steps: [40000, 50000], warmupFactor: 1, warmupIters: 10 };
 * lrMultiplier(39999, opts); // 1
 * lrMultiplier(40000, opts); // 0.1
 * ```
 * @module
 */

/** Options of the warm-up + multi-step schedule (detectron2's `SOLVER.*` names in the comments). */
export interface WarmupMultiStepOptions {
  /** `MAX_ITER`: the schedule spans iterations `0..maxIter`. */
  maxIter: number;
  /** `STEPS`: iterations at which the rate is multiplied by `gamma`; those above `maxIter` are dropped. */
  steps: readonly number[];
  /** `GAMMA` (default 0.1). */
  gamma?: number;
  /** `WARMUP_FACTOR`: the multiplier at iteration 0 (default 0.001). */
  warmupFactor?: number;
  /** `WARMUP_ITERS` (default 1000). */
  warmupIters?: number;
  /** `WARMUP_METHOD`: "linear" ramps from `warmupFactor` to 1, "constant" holds it (default "linear"). */
  warmupMethod?: "linear" | "constant";
  /** `RESCALE_INTERVAL`: stretch the decay stage over what follows the warm-up (default false). */
  rescaleInterval?: boolean;
}

// fvcore's ParamScheduler.WHERE_EPSILON: tolerance on the training fraction.
const WHERE_EPSILON = 1e-6;

type Schedule = (where: number) => number;

function multiStep(values: number[], milestones: number[], numUpdates: number): Schedule {
  if (numUpdates < values.length) {
    throw new RangeError(`MAX_ITER (${numUpdates}) must be at least the number of stages (${values.length})`);
  }
  let start = 0;
  for (const m of milestones) {
    if (m >= numUpdates) {
      throw new RangeError(`a step (${m}) must be smaller than MAX_ITER (${numUpdates})`);
    }
    if (start >= m) throw new RangeError(`steps must be increasing and positive, got [${milestones}]`);
    start = m;
  }
  return (where) => {
    if (where > 1) throw new RangeError(`schedule position must be in [0, 1], got ${where}`);
    const epoch = Math.trunc((where + WHERE_EPSILON) * numUpdates);
    return values[bisectRight(milestones, epoch)];
  };
}

function bisectRight(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The multiplier schedule as a function of the training fraction `where = iter / maxIter`: fvcore's
 * composite of a warm-up stage of relative length `min(warmupIters / maxIter, 1)` and the multi-step
 * stage.
 */
function warmupMultiStep(opts: WarmupMultiStepOptions): Schedule {
  const { maxIter, gamma = 0.1, warmupFactor = 0.001, warmupIters = 1000 } = opts;
  const { warmupMethod = "linear", rescaleInterval = false } = opts;
  const steps = opts.steps.filter((s) => s <= maxIter);
  const decay = multiStep(steps.map((_, k) => gamma ** k).concat(gamma ** steps.length), steps, maxIter);
  const warmupLength = Math.min(warmupIters / maxIter, 1.0);
  const endValue = rescaleInterval ? decay(0) : decay(warmupLength);
  const startValue = warmupFactor * decay(0);
  let warmup: Schedule;
  if (warmupMethod === "linear") warmup = (w) => endValue * w + startValue * (1 - w);
  else if (warmupMethod === "constant") warmup = () => startValue;
  else throw new RangeError(`unknown warm-up method "${warmupMethod}" (linear, constant)`);
  const lengths = [warmupLength, 1.0 - warmupLength];
  const stages = [warmup, decay];
  const rescaled = [true, rescaleInterval];
  return (where) => {
    let i = 0;
    let runningTotal = lengths[0];
    while (where + WHERE_EPSILON > runningTotal && i < stages.length - 1) {
      i++;
      runningTotal += lengths[i];
    }
    const local = rescaled[i] ? (where - (runningTotal - lengths[i])) / lengths[i] : where;
    return stages[i](local);
  };
}

/**
 * The learning-rate multiplier at iteration `iter` (0-based; the rate the `iter`-th optimizer step
 * uses). Defined for `0 <= iter <= maxIter`.
 *
 * @example
 * ```ts
 * import { lrMultiplier } from "./lr_scheduler.ts";
 * lrMultiplier(0, { maxIter: 100, steps: [80], warmupFactor: 0.5, warmupIters: 10 }); // 0.5
 * ```
 */
export function lrMultiplier(iter: number, opts: WarmupMultiStepOptions): number {
  if (!(iter >= 0 && iter <= opts.maxIter)) {
    throw new RangeError(`iteration ${iter} is outside the schedule [0, ${opts.maxIter}]`);
  }
  return warmupMultiStep(opts)(iter / opts.maxIter);
}

/** A parameter group as the scheduler sees it: its configured rate and the rate in use. */
export interface ScheduledGroup {
  /** The group's rate before scheduling (`BASE_LR`, times the backbone multiplier where it applies). */
  readonly initialLr: number;
  /** The rate the next optimizer step uses; the scheduler writes it. */
  lr: number;
}

/** What {@link LRScheduler.stateDict} saves: the last iteration it was stepped to. */
export interface LRSchedulerState {
  lastIter: number;
}

/**
 * Sets each group's rate to `initialLr × multiplier(iteration)`, like detectron2's `LRMultiplier`: it
 * starts at iteration `lastIter + 1` (0 for a fresh run) and {@link LRScheduler.step} is called once
 * after every optimizer step.
 *
 * @example
 * ```ts
 * import { LRScheduler } from "./lr_scheduler.ts";
 * const groups = [{ initialLr: 1e-4, lr: 1e-4 }];
 * const sched = new LRScheduler(groups, { maxIter: 20, steps: [10], warmupFactor: 1, warmupIters: 0 });
 * for (let i = 0; i < 10; i++) sched.step();
 * groups[0].lr; // 1e-5 (iteration 10)
 * ```
 */
export class LRScheduler {
  readonly #groups: readonly ScheduledGroup[];
  readonly #opts: WarmupMultiStepOptions;
  readonly #schedule: Schedule;
  #lastIter: number;

  constructor(groups: readonly ScheduledGroup[], opts: WarmupMultiStepOptions, { lastIter = -1 } = {}) {
    this.#groups = groups;
    this.#opts = opts;
    this.#schedule = warmupMultiStep(opts); // validates the options once
    this.#lastIter = lastIter;
    this.step();
  }

  /** The iteration whose rate the groups now hold. */
  get iteration(): number {
    return this.#lastIter;
  }

  /** Advances one iteration and writes the new rates. */
  step(): void {
    this.#lastIter++;
    const iter = this.#lastIter;
    if (iter > this.#opts.maxIter) {
      throw new RangeError(`iteration ${iter} is past MAX_ITER (${this.#opts.maxIter})`);
    }
    const m = this.#schedule(iter / this.#opts.maxIter);
    for (const g of this.#groups) g.lr = g.initialLr * m;
  }

  /** The state to checkpoint. */
  stateDict(): LRSchedulerState {
    return { lastIter: this.#lastIter };
  }

  /** Restores a saved state and rewrites the rates for that iteration. */
  loadStateDict(state: LRSchedulerState): void {
    this.#lastIter = state.lastIter - 1;
    this.step();
  }
}
