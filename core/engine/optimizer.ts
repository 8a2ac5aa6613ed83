/**
 * AdamW with the update of `torch.optim.AdamW` (PyTorch 1.13, the original's version, single-tensor
 * path, no AMSGrad), per parameter with gradient `g`, step `t`, rate `lr` and decay `wd`:
 *
 * ```text
 * p  ← p · (1 − lr·wd)                       decoupled decay, before the Adam step
 * m  ← β1·m + (1 − β1)·g
 * v  ← β2·v + (1 − β2)·g²
 * p  ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * ```
 *
 * The scalar coefficients are formed in float64 and the tensor arithmetic runs in float32, in torch's
 * order. A parameter without a gradient is skipped (no decay, no step count), as torch skips a `None`
 * gradient. With `clip` set, the gradients are clipped over all the optimizer's parameters before the
 * update, the original's full-model clipping wrapper around the optimizer.
 *
 * The state (per parameter: step, `exp_avg`, `exp_avg_sq`) is created on a parameter's first step and
 * updated in place afterwards, so later steps leave the number of live tensors unchanged. It exports as
 * named tensors for checkpoints ({@link AdamW.stateDict}).
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { AdamW } from "./optimizer.ts";
 * const w = ops.variable(ops.tensor([1, 2]));
 * const opt = new AdamW([{ lr: 0.1, weightDecay: 0, names: ["w"], params: [w] }]);
 * const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.square(w)), [w]);
 * opt.step(grads);
 * ops.dispose([value, grads]);
 * ops.toArray(w); // ≈ [0.9, 1.9]: the first step moves each element by lr
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { Tensor, Variable } from "../tensor/ops.ts";
import { ConfigError } from "../config/error.ts";
import { get } from "../config/get.ts";
import { clipGradients, type GradClipOptions, type GradMap } from "./grad_clip.ts";
import type { ParamGroupOptions } from "./param_groups.ts";
import type { WarmupMultiStepOptions } from "./lr_scheduler.ts";

/** Options of {@link AdamW} (torch's defaults). */
export interface AdamWOptions {
  /** Moment decay rates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the bias-corrected root of the second moment (default 1e-8). */
  eps?: number;
  /** Clip the gradients of all parameters before each update (default none). */
  clip?: GradClipOptions | null;
}

/** A parameter group inside the optimizer; `lr` is what the next step uses (the scheduler sets it). */
export interface AdamWGroup {
  /** The rate the group was created with. */
  readonly initialLr: number;
  lr: number;
  readonly weightDecay: number;
  /** Names used in the exported state, parallel to `params`. */
  readonly names: readonly string[];
  readonly params: readonly Variable[];
}

/** A group to optimize, such as {@link buildParamGroups} returns. */
export interface AdamWGroupInput {
  lr: number;
  weightDecay: number;
  params: readonly Variable[];
  /** Names for the exported state, parallel to `params` (default: the variables' names). */
  names?: readonly string[];
}

/** What one {@link AdamW.step} did. */
export interface StepInfo {
  /** Joint gradient norm before clipping, with "full_model" clipping. */
  totalNorm?: number;
  /** Parameters updated (those with a gradient). */
  updated: number;
}

/**
 * The optimizer state for a checkpoint: `<name>.exp_avg` and `<name>.exp_avg_sq` tensors (copies
 * owned by the caller) and each parameter's step count.
 */
export interface AdamWState {
  tensors: Map<string, Tensor>;
  steps: Record<string, number>;
}

interface ParamState {
  step: number;
  expAvg: Variable;
  expAvgSq: Variable;
}

/** torch.optim.AdamW; see the module documentation for the update. */
export class AdamW {
  readonly groups: AdamWGroup[];
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #eps: number;
  readonly #clip: GradClipOptions | null;
  readonly #state = new Map<Variable, ParamState>();

  /** Takes the groups of {@link buildParamGroups}; a group without names uses the variables' names. */
  constructor(groups: readonly AdamWGroupInput[], opts: AdamWOptions = {}) {
    const [beta1, beta2] = opts.betas ?? [0.9, 0.999];
    this.#beta1 = beta1;
    this.#beta2 = beta2;
    this.#eps = opts.eps ?? 1e-8;
    this.#clip = opts.clip ?? null;
    const seen = new Set<string>();
    this.groups = groups.map((g) => {
      const names = g.names ?? g.params.map((p) => p.name);
      if (names.length !== g.params.length) {
        throw new Error("AdamW: a group's names and params differ in length");
      }
      for (const n of names) {
        if (seen.has(n)) throw new Error(`AdamW: parameter "${n}" appears twice`);
        seen.add(n);
      }
      return { initialLr: g.lr, lr: g.lr, weightDecay: g.weightDecay, names, params: [...g.params] };
    });
  }

  /** Every parameter the optimizer updates. */
  get params(): Variable[] {
    return this.groups.flatMap((g) => g.params);
  }

  /**
   * One update from `grads` (by variable name, as `valueAndGrads` returns them). The caller keeps
   * and disposes the record; with clipping, its entries are first clipped in place (see
   * {@link clipGradients}).
   */
  step(grads: GradMap): StepInfo {
    const info: StepInfo = { updated: 0 };
    if (this.#clip !== null) {
      const total = clipGradients(grads, this.params, this.#clip);
      if (total !== undefined) info.totalNorm = total;
    }
    const beta1 = this.#beta1;
    const beta2 = this.#beta2;
    for (const group of this.groups) {
      const { lr, weightDecay } = group;
      for (const p of group.params) {
        const g = grads[p.name];
        if (g === undefined) continue;
        const s = this.#stateOf(p);
        s.step++;
        const stepSize = lr / (1 - beta1 ** s.step);
        const bc2Sqrt = Math.sqrt(1 - beta2 ** s.step);
        ops.tidy(() => {
          const decayed = weightDecay === 0 ? p : ops.mul(p, 1 - lr * weightDecay);
          const m = ops.add(ops.mul(s.expAvg, beta1), ops.mul(g, 1 - beta1));
          const v = ops.add(ops.mul(s.expAvgSq, beta2), ops.mul(ops.mul(g, 1 - beta2), g));
          const denom = ops.add(ops.div(ops.sqrt(v), bc2Sqrt), this.#eps);
          const next = ops.sub(decayed, ops.mul(ops.div(m, denom), stepSize));
          s.expAvg.assign(m);
          s.expAvgSq.assign(v);
          p.assign(next);
        });
        info.updated++;
      }
    }
    return info;
  }

  #stateOf(p: Variable): ParamState {
    let s = this.#state.get(p);
    if (s === undefined) {
      s = { step: 0, expAvg: zeroMoment(p), expAvgSq: zeroMoment(p) };
      this.#state.set(p, s);
    }
    return s;
  }

  /**
   * The state as named tensors (copies the caller disposes) and step counts; parameters not yet
   * stepped have no entries.
   *
   * @example
   * ```ts
   * import * as ops from "../tensor/ops.ts";
   * import { AdamW } from "./optimizer.ts";
   * const w = ops.variable(ops.tensor([1]));
   * const opt = new AdamW([{ lr: 0.1, weightDecay: 0, names: ["w"], params: [w] }]);
   * opt.step({ [w.name]: ops.tensor([1]) });
   * const state = opt.stateDict();
   * [...state.tensors.keys()]; // ["w.exp_avg", "w.exp_avg_sq"]
   * state.steps; // { w: 1 }
   * ```
   */
  stateDict(): AdamWState {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const { name, state } of this.#namedStates()) {
      if (state === undefined) continue;
      tensors.set(`${name}.exp_avg`, state.expAvg.clone());
      tensors.set(`${name}.exp_avg_sq`, state.expAvgSq.clone());
      steps[name] = state.step;
    }
    return { tensors, steps };
  }

  /**
   * Replaces the state with a saved one (the values are copied; the caller still owns `state`).
   * Every problem (an unknown name, a missing moment, a wrong shape) is checked first and reported
   * together; nothing is loaded then.
   */
  loadStateDict(state: AdamWState): void {
    const problems: string[] = [];
    const known = new Set<string>();
    const incoming: [Variable, number, Tensor, Tensor][] = [];
    for (const { name, param } of this.#namedStates()) {
      known.add(name);
      const step = state.steps[name];
      if (step === undefined) continue;
      const m = state.tensors.get(`${name}.exp_avg`);
      const v = state.tensors.get(`${name}.exp_avg_sq`);
      for (const [key, t] of [[`${name}.exp_avg`, m], [`${name}.exp_avg_sq`, v]] as const) {
        if (t === undefined) problems.push(`missing ${key}`);
        else if (t.dtype !== "float32") problems.push(`${key}: dtype ${t.dtype}, float32 expected`);
        else if (t.shape.join() !== param.shape.join()) {
          problems.push(`${key}: shape [${t.shape}] where the parameter has [${param.shape}]`);
        }
      }
      if (m !== undefined && v !== undefined) incoming.push([param, step, m, v]);
    }
    for (const name of Object.keys(state.steps)) {
      if (!known.has(name)) problems.push(`unknown parameter ${name}`);
    }
    for (const key of state.tensors.keys()) {
      const name = key.replace(/\.exp_avg(_sq)?$/, "");
      if (state.steps[name] === undefined) problems.push(`${key} has no step count`);
    }
    if (problems.length > 0) throw new Error(`AdamW.loadStateDict: ${problems.join("; ")}`);
    this.#disposeState();
    for (const [param, step, m, v] of incoming) {
      this.#state.set(param, {
        step,
        // A variable shares the tensor's (immutable) data, so the caller may dispose its copy.
        expAvg: ops.variable(m, false),
        expAvgSq: ops.variable(v, false),
      });
    }
  }

  *#namedStates(): Generator<{ name: string; param: Variable; state: ParamState | undefined }> {
    for (const g of this.groups) {
      for (let i = 0; i < g.params.length; i++) {
        yield { name: g.names[i], param: g.params[i], state: this.#state.get(g.params[i]) };
      }
    }
  }

  #disposeState(): void {
    for (const s of this.#state.values()) ops.dispose([s.expAvg, s.expAvgSq]);
    this.#state.clear();
  }

  /** Frees the state tensors (the parameters are the model's). */
  dispose(): void {
    this.#disposeState();
  }
}

function zeroMoment(p: Variable): Variable {
  const zeros = ops.zerosLike(p);
  const v = ops.variable(zeros, false);
  ops.dispose(zeros); // the variable keeps the data alive
  return v;
}

/** Every solver setting the engine reads, from `SOLVER.*`. */
export interface SolverOptions {
  paramGroups: ParamGroupOptions;
  adamW: AdamWOptions;
  schedule: WarmupMultiStepOptions;
  /** `IMS_PER_BATCH`: clips per optimizer step. */
  imsPerBatch: number;
}

function need<T>(cfg: object, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = get(cfg as Parameters<typeof get>[0], `SOLVER.${key}`);
  if (!check(v)) throw new ConfigError(`SOLVER.${key} expects ${what}, got ${JSON.stringify(v)}`);
  return v;
}
const isNumber = (v: unknown): v is number => typeof v === "number" && !Number.isNaN(v);
const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every(isNumber);
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isString = (v: unknown): v is string => typeof v === "string";

/**
 * Reads the solver settings from a merged config (a plain nested object with a `SOLVER` node, as
 * the config system produces). Only `ADAMW` and the `WarmupMultiStepLR` schedule are supported;
 * clipping is on when `CLIP_GRADIENTS.ENABLED` (the original also ignores a "full_model" clip whose
 * value is not positive).
 *
 * @example
 * ```ts
 * import { solverOptionsFromConfig } from "./optimizer.ts";
 * const SOLVER = {
 *   OPTIMIZER: "ADAMW", LR_SCHEDULER_NAME: "WarmupMultiStepLR", BASE_LR: 5e-5, WEIGHT_DECAY: 0.05,
 *   WEIGHT_DECAY_NORM: 0, WEIGHT_DECAY_EMBED: 0, BACKBONE_MULTIPLIER: 0.1, MAX_ITER: 55000,
 *   STEPS: [40000, 50000], GAMMA: 0.1, WARMUP_FACTOR: 1, WARMUP_ITERS: 10, WARMUP_METHOD: "linear",
 *   RESCALE_INTERVAL: false, IMS_PER_BATCH: 8,
 *   CLIP_GRADIENTS: { ENABLED: true, CLIP_TYPE: "full_model", CLIP_VALUE: 0.01, NORM_TYPE: 2 },
 * };
 * solverOptionsFromConfig({ SOLVER }).adamW.clip; // { type: "full_model", value: 0.01, normType: 2 }
 * ```
 */
export function solverOptionsFromConfig(cfg: object): SolverOptions {
  const optimizer = need(cfg, "OPTIMIZER", isString, "a string");
  if (optimizer !== "ADAMW") {
    throw new ConfigError(`SOLVER.OPTIMIZER: only ADAMW is supported, got ${optimizer}`);
  }
  const scheduler = need(cfg, "LR_SCHEDULER_NAME", isString, "a string");
  if (scheduler !== "WarmupMultiStepLR") {
    throw new ConfigError(`SOLVER.LR_SCHEDULER_NAME: only WarmupMultiStepLR is supported, got ${scheduler}`);
  }
  const warmupMethod = need(cfg, "WARMUP_METHOD", isString, "a string");
  if (warmupMethod !== "linear" && warmupMethod !== "constant") {
    throw new ConfigError(`SOLVER.WARMUP_METHOD expects linear or constant, got ${warmupMethod}`);
  }
  const clipType = need(cfg, "CLIP_GRADIENTS.CLIP_TYPE", isString, "a string");
  if (clipType !== "full_model" && clipType !== "norm" && clipType !== "value") {
    throw new ConfigError(
      `SOLVER.CLIP_GRADIENTS.CLIP_TYPE expects full_model, norm or value, got ${clipType}`,
    );
  }
  const clipValue = need(cfg, "CLIP_GRADIENTS.CLIP_VALUE", isNumber, "a number");
  const clipOn = need(cfg, "CLIP_GRADIENTS.ENABLED", isBool, "a bool") &&
    !(clipType === "full_model" && clipValue <= 0);
  return {
    paramGroups: {
      baseLr: need(cfg, "BASE_LR", isNumber, "a number"),
      weightDecay: need(cfg, "WEIGHT_DECAY", isNumber, "a number"),
      weightDecayNorm: need(cfg, "WEIGHT_DECAY_NORM", isNumber, "a number"),
      weightDecayEmbed: need(cfg, "WEIGHT_DECAY_EMBED", isNumber, "a number"),
      backboneMultiplier: need(cfg, "BACKBONE_MULTIPLIER", isNumber, "a number"),
    },
    adamW: {
      clip: clipOn
        ? {
          type: clipType,
          value: clipValue,
          normType: need(cfg, "CLIP_GRADIENTS.NORM_TYPE", isNumber, "a number"),
        }
        : null,
    },
    schedule: {
      maxIter: need(cfg, "MAX_ITER", isNumber, "a number"),
      steps: need(cfg, "STEPS", isNumbers, "a list of numbers"),
      gamma: need(cfg, "GAMMA", isNumber, "a number"),
      warmupFactor: need(cfg, "WARMUP_FACTOR", isNumber, "a number"),
      warmupIters: need(cfg, "WARMUP_ITERS", isNumber, "a number"),
      warmupMethod,
      rescaleInterval: need(cfg, "RESCALE_INTERVAL", isBool, "a bool"),
    },
    imsPerBatch: need(cfg, "IMS_PER_BATCH", isNumber, "a number"),
  };
}
