/**
 * The training engine's optimisation parts: parameter groups as the original's `build_optimizer`
 * forms them, AdamW, the warm-up + multi-step learning-rate schedule, gradient clipping and gradient
 * accumulation over micro-batches.
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { Linear } from "../tensor/nn/mod.ts";
 * import { AdamW, buildParamGroups, LRScheduler } from "./mod.ts";
 * const model = new Linear(2, 1);
 * const groups = buildParamGroups(model, {
 *   baseLr: 1e-3, weightDecay: 0.05, weightDecayNorm: 0, weightDecayEmbed: 0, backboneMultiplier: 0.1,
 * });
 * const opt = new AdamW(groups, { clip: { type: "full_model", value: 0.01 } });
 * const sched = new LRScheduler(opt.groups, { maxIter: 100, steps: [80], warmupFactor: 1, warmupIters: 10 });
 * const x = ops.tensor([[1, 2]]);
 * const { value, grads } = ops.valueAndGrads(() => ops.sum(model.forward(x)));
 * opt.step(grads);
 * sched.step();
 * ops.dispose([value, grads, x]);
 * ```
 * @module
 */
export * from "./param_groups.ts";
export * from "./optimizer.ts";
export * from "./lr_scheduler.ts";
export * from "./grad_clip.ts";
export * from "./grad_accumulator.ts";
export * from "./trainer.ts";
export * from "./checkpointer.ts";
export * from "./hooks.ts";
export * from "./metrics_log.ts";
export * from "./loss_curve.ts";
