/**
 * Gradient clipping against norms worked out by hand: torch's clip_grad_norm_ over all gradients
 * (the "full_model" type), per parameter ("norm"), the max norm, and element clamping ("value").
 */
import { assertClose, assertEquals, assertStrictEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import {
  clipGradients,
  clipGradNorm,
  clipGradValue,
  type GradClipOptions,
} from "../../core/engine/grad_clip.ts";

await useBackend("cpu");

const values = (t: ops.Tensor) => Array.from(ops.toArray(t));

Deno.test("clipGradNorm: joint L2 norm of all gradients, coefficient max/(norm + 1e-6)", () => {
  // |[1, 2, 2]| = 3, |[[4], [0]]| = 4, |[12]| = 12: joint norm √(9 + 16 + 144) = 13.
  const grads = { a: ops.tensor([1, 2, 2]), b: ops.tensor([[4], [0]]), c: ops.tensor([12]) };
  const total = clipGradNorm(grads, 0.5);
  assertClose([total], [13], { atol: 0, rtol: 1e-7 });
  const k = 0.5 / (13 + 1e-6);
  assertClose(values(grads.a), [k, 2 * k, 2 * k], { atol: 0, rtol: 1e-6 });
  assertClose(values(grads.b), [4 * k, 0], { atol: 0, rtol: 1e-6 });
  assertClose(values(grads.c), [12 * k], { atol: 0, rtol: 1e-6 });
  assertEquals(grads.b.shape, [2, 1]);
  ops.dispose(grads);
});

Deno.test("clipGradNorm: below the maximum nothing changes (the same tensors stay)", () => {
  const a = ops.tensor([3, 4]);
  const grads = { a };
  assertClose([clipGradNorm(grads, 5.1)], [5], { atol: 0, rtol: 1e-7 });
  assertStrictEquals(grads.a, a);
  assertEquals(values(a), [3, 4]);
  // No gradients: norm 0, as torch returns.
  assertStrictEquals(clipGradNorm({}, 1), 0);
  ops.dispose(a);
});

Deno.test("clipGradNorm: infinity and p norms", () => {
  // Max norm: max(|−5|, |2|, |3|) = 5.
  const g = { a: ops.tensor([-5, 2]), b: ops.tensor([3]) };
  assertClose([clipGradNorm(g, 1, { normType: Infinity })], [5], { atol: 0, rtol: 1e-7 });
  assertClose(values(g.a), [-5 / (5 + 1e-6), 2 / (5 + 1e-6)], { atol: 0, rtol: 1e-6 });
  ops.dispose(g);
  // 1-norm: per tensor 7 and 3, joint 10.
  const h = { a: ops.tensor([-5, 2]), b: ops.tensor([3]) };
  assertClose([clipGradNorm(h, 100, { normType: 1 })], [10], { atol: 0, rtol: 1e-7 });
  ops.dispose(h);
});

Deno.test("clipGradients: full_model, per-parameter norm and value types over the given parameters", () => {
  const p = ops.variable(ops.zeros([2]));
  const q = ops.variable(ops.zeros([1]));
  const make = () => ({
    [p.name]: ops.tensor([3, 4]),
    [q.name]: ops.tensor([-12]),
    other: ops.tensor([100]),
  });

  const full = make();
  const total = clipGradients(full, [p, q], { type: "full_model", value: 1.3, normType: 2 });
  assertClose([total!], [13], { atol: 0, rtol: 1e-7 }); // "other" is not a parameter of the list
  const k = 1.3 / (13 + 1e-6);
  assertClose([...values(full[p.name]), ...values(full[q.name])], [3 * k, 4 * k, -12 * k], {
    atol: 0,
    rtol: 1e-6,
  });
  assertEquals(values(full.other), [100]);

  const each = make();
  assertStrictEquals(clipGradients(each, [p, q], { type: "norm", value: 1 }), undefined);
  assertClose(values(each[p.name]), [3 / (5 + 1e-6), 4 / (5 + 1e-6)], { atol: 0, rtol: 1e-6 });
  assertClose(values(each[q.name]), [-12 / (12 + 1e-6)], { atol: 0, rtol: 1e-6 });

  const byValue = make();
  clipGradients(byValue, [p, q], { type: "value", value: 3.5 });
  assertEquals([...values(byValue[p.name]), ...values(byValue[q.name])], [3, 3.5, -3.5]);
  assertThrows(
    () => clipGradients(make(), [p], { type: "bogus" } as unknown as GradClipOptions),
    "unknown clip type",
  );
  ops.dispose([full, each, byValue, p, q]);
});

Deno.test("clipping leaks no tensors", () => {
  const before = ops.numTensors();
  const grads = { a: ops.tensor([30, 40]), b: ops.tensor([-2]) };
  clipGradNorm(grads, 1);
  clipGradValue(grads, 0.5);
  assertStrictEquals(ops.numTensors(), before + 2);
  ops.dispose(grads);
  assertStrictEquals(ops.numTensors(), before);
});
