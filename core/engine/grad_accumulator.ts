/**
 * Gradient accumulation: one optimizer step over `SOLVER.IMS_PER_BATCH` clips made of several
 * micro-batches. The gradients of the micro-batches are summed and divided by their number, which is
 * the gradient of the mean of the micro-batch losses. The original trains the paper config on 8 GPUs
 * with one clip each, and distributed data parallel averages the 8 gradients the same way, so 8
 * micro-batches of one clip reproduce its step on one device.
 *
 * A parameter without a gradient in some micro-batch contributes zero there (torch's `None` gradient);
 * one without a gradient in any stays absent from the result.
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { GradAccumulator } from "./grad_accumulator.ts";
 * const acc = new GradAccumulator();
 * acc.add({ w: ops.tensor([1, 2]) });
 * acc.add({ w: ops.tensor([3, 4]) });
 * const grads = acc.mean();
 * ops.toArray(grads.w); // [2, 3]
 * ops.dispose(grads);
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { Tensor, Variable } from "../tensor/ops.ts";
import type { GradMap } from "./grad_clip.ts";

/** Sums gradient records of micro-batches and hands back their mean. */
export class GradAccumulator {
  #sums: GradMap = {};
  #count = 0;

  /** Micro-batches added since the last {@link GradAccumulator.mean}. */
  get count(): number {
    return this.#count;
  }

  /** Adds one micro-batch's gradients; the accumulator takes them over (and disposes them). */
  add(grads: GradMap): void {
    for (const [name, g] of Object.entries(grads)) {
      const sum = this.#sums[name];
      if (sum === undefined) {
        this.#sums[name] = g;
        continue;
      }
      this.#sums[name] = ops.add(sum, g);
      ops.dispose([sum, g]);
    }
    this.#count++;
  }

  /** The mean gradients (the caller owns them) and a fresh start. */
  mean(): GradMap {
    if (this.#count === 0) throw new Error("GradAccumulator.mean: no micro-batch was added");
    const out: GradMap = {};
    for (const [name, sum] of Object.entries(this.#sums)) {
      out[name] = ops.div(sum, this.#count);
      ops.dispose(sum);
    }
    this.#sums = {};
    this.#count = 0;
    return out;
  }

  /** Drops what was accumulated. */
  dispose(): void {
    ops.dispose(Object.values(this.#sums));
    this.#sums = {};
    this.#count = 0;
  }
}

/**
 * The number of micro-batches of `microBatchSize` clips that make a batch of `imsPerBatch`.
 *
 * @example
 * ```ts
 * import { microBatchCount } from "./grad_accumulator.ts";
 * microBatchCount(8, 2); // 4
 * ```
 */
export function microBatchCount(imsPerBatch: number, microBatchSize: number): number {
  if (
    !(Number.isInteger(imsPerBatch) && imsPerBatch > 0 && Number.isInteger(microBatchSize) &&
      microBatchSize > 0)
  ) {
    throw new RangeError(`batch sizes must be positive integers, got ${imsPerBatch} and ${microBatchSize}`);
  }
  if (imsPerBatch % microBatchSize !== 0) {
    throw new RangeError(
      `IMS_PER_BATCH (${imsPerBatch}) is not a multiple of the micro-batch (${microBatchSize})`,
    );
  }
  return imsPerBatch / microBatchSize;
}

/**
 * Runs each micro-batch loss, accumulates the gradients with respect to `vars` (all trainable
 * variables when omitted) and returns the mean loss and mean gradients (owned by the caller).
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { accumulateGradients } from "./grad_accumulator.ts";
 * const w = ops.variable(ops.tensor([1]));
 * const { loss, grads } = accumulateGradients([() => ops.sum(w), () => ops.sum(ops.mul(w, 3))], [w]);
 * loss; // 2
 * ops.toArray(grads[w.name]); // [2]
 * ops.dispose(grads);
 * ```
 */
export function accumulateGradients(
  losses: readonly (() => Tensor)[],
  vars?: Variable[],
): { loss: number; grads: GradMap } {
  const acc = new GradAccumulator();
  let total = 0;
  for (const f of losses) {
    const { value, grads } = ops.valueAndGrads(f, vars);
    total += ops.toArray(value)[0];
    ops.dispose(value);
    acc.add(grads);
  }
  return { loss: total / losses.length, grads: acc.mean() };
}
