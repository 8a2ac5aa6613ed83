/**
 * One micro-batch of training, the same on the trainer's process and on a replica's worker
 * (`replicas.ts`): {@link reseedForMicroBatch} puts the model's generators in the state that belongs to
 * micro-batch `k` of the run, and {@link microBatchGrads} runs the loss terms and their gradients.
 *
 * Re-seeding per micro-batch (rather than letting the generators run on from one micro-batch to the
 * next) makes a micro-batch's dropout masks and sampled points depend on `k` alone, as each GPU of the
 * original draws from its own stream: micro-batches can then run on any replica, in any order, and a
 * resumed run draws what an uninterrupted one does.
 *
 * @example
 * ```ts ignore
 * import { microBatchGrads, reseedForMicroBatch } from "./micro_batch.ts";
 * reseedForMicroBatch({ model: generator }, seed, k);
 * const { names, values, grads } = microBatchGrads(model, batch, iteration, optimizer.params);
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { Tensor, Variable } from "../tensor/ops.ts";
import type { Generator } from "../random.ts";
import { itemSeed } from "../data/prefetch_loader.ts";
import type { BufferWrite } from "./buffer_writes.ts";

/** What {@link microBatchGrads} needs of a model (the trainer's `TrainableModel`). */
export interface LossModel<B> {
  lossTerms(batch: B, iteration: number): Record<string, Tensor>;
  readonly lossWeights?: Readonly<Record<string, number>>;
}

/** One micro-batch's loss terms (weighted, in the model's order) and the gradients of their sum. */
export interface MicroBatchResult {
  names: string[];
  values: number[];
  /** By variable name; the caller owns them. */
  grads: Record<string, Tensor>;
  /** The buffer elements the forward wrote, when the caller asked for them. */
  writes?: BufferWrite[];
}

/**
 * Re-seeds each generator for micro-batch `k` of the run: generator `i` (in key order) gets
 * `itemSeed(itemSeed(seed, k), i + 1)`, a stream apart from the data's `itemSeed(seed, k)`.
 */
export function reseedForMicroBatch(generators: Record<string, Generator>, seed: number, k: number): void {
  const base = itemSeed(seed, k);
  Object.keys(generators).sort().forEach((name, i) => generators[name].manualSeed(itemSeed(base, i + 1)));
}

/** The loss terms of `batch` and the gradients of their sum with respect to `params`. */
export function microBatchGrads<B>(
  model: LossModel<B>,
  batch: B,
  iteration: number,
  params: Variable[],
): MicroBatchResult {
  const weights = model.lossWeights;
  const out: { names: string[]; kept?: Tensor } = { names: [] };
  const { value, grads } = ops.valueAndGrads(() => {
    const terms = Object.entries(model.lossTerms(batch, iteration))
      .filter(([k]) => weights === undefined || weights[k] !== undefined)
      .map(([k, t]) => [k, ops.reshape(weights === undefined ? t : ops.mul(t, weights[k]), [])] as const);
    if (terms.length === 0) throw new Error(`iteration ${iteration}: the model returned no loss term`);
    out.names = terms.map(([k]) => k);
    // The terms' values leave the tape in one tensor (one read instead of one per term).
    out.kept = ops.keep(ops.stack(terms.map(([, t]) => t)));
    // Summed left to right, as Python's sum() over the loss dict.
    return terms.slice(1).reduce((a, [, t]) => ops.add(a, t), terms[0][1]);
  }, params);
  const values = Array.from(ops.toArray(out.kept!));
  ops.dispose([value, out.kept!]);
  return { names: out.names, values, grads };
}
