/**
 * Gradient accumulation: the mean of micro-batch gradients equals the gradient of the mean loss over
 * the whole batch (on a tiny linear model), missing gradients count as zero, and nothing leaks.
 */
import { assertClose, assertEquals, assertStrictEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Linear } from "../../core/tensor/nn/mod.ts";
import { accumulateGradients, GradAccumulator, microBatchCount } from "../../core/engine/grad_accumulator.ts";

await useBackend("cpu");

const values = (t: ops.Tensor) => Array.from(ops.toArray(t));

Deno.test("two micro-batches of one give the gradient of the mean loss over a batch of two", () => {
  const model = new Linear(3, 2);
  const xs = [[0.5, -1, 2], [1.5, 0.25, -0.75]];
  const ys = [[1, 0], [-0.5, 2]];
  // Per-sample loss: mean squared error of one sample; the batch loss: its mean over the samples.
  const loss = (x: number[][], y: number[][]) => () =>
    ops.tidy(() => ops.mean(ops.square(ops.sub(model.forward(ops.tensor(x)), ops.tensor(y)))));
  const vars = model.trainableParameters();

  const whole = ops.valueAndGrads(loss(xs, ys), vars);
  const micro = accumulateGradients([loss([xs[0]], [ys[0]]), loss([xs[1]], [ys[1]])], vars);
  assertClose([micro.loss], values(whole.value), { atol: 0, rtol: 1e-6, label: "loss" });
  for (const v of vars) {
    assertEquals(micro.grads[v.name].shape, v.shape);
    assertClose(values(micro.grads[v.name]), values(whole.grads[v.name]), {
      atol: 1e-7,
      rtol: 1e-6,
      label: v.name,
    });
  }
  ops.dispose([whole.value, whole.grads, micro.grads, ...model.parameters()]);
});

Deno.test("GradAccumulator: sum over micro-batches divided by their number, absent gradients as zero", () => {
  const before = ops.numTensors();
  const acc = new GradAccumulator();
  acc.add({ a: ops.tensor([1, 2]), b: ops.tensor([6]) });
  acc.add({ a: ops.tensor([3, -4]) });
  acc.add({ a: ops.tensor([2, 5]) });
  assertStrictEquals(acc.count, 3);
  const mean = acc.mean();
  assertEquals(values(mean.a), [2, 1]);
  assertEquals(values(mean.b), [2]); // 6 / 3: zero in the micro-batches without it
  assertStrictEquals(acc.count, 0);
  assertThrows(() => acc.mean(), "no micro-batch");
  ops.dispose(mean);
  acc.add({ a: ops.tensor([1]) });
  acc.dispose();
  assertStrictEquals(ops.numTensors(), before);
});

Deno.test("microBatchCount: IMS_PER_BATCH split into micro-batches", () => {
  assertStrictEquals(microBatchCount(8, 1), 8);
  assertStrictEquals(microBatchCount(8, 2), 4);
  assertThrows(() => microBatchCount(8, 3), "not a multiple");
  assertThrows(() => microBatchCount(0, 1), "positive integers");
});
