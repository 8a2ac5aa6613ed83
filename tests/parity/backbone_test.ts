/**
 * Parity of the language-fused Swin backbone ({@link D2SwinTransformer}) with the original
 * `mask2former/modeling/backbone/swin.py` on the stored cases, on every backend under test: the module
 * is built from the case's `config` through {@link d2SwinTransformerFromConfig} (its
 * `constructor_equivalent` is checked against what that builds), loaded strictly from the case's state
 * dict (unprefixed keys, `relative_position_index` buffers included), run in eval mode on
 * `input.x`, `input.l`, `input.l_mask`, and every `res2`..`res5` compared.
 *
 * Tolerance: the case's `suggested_tolerance` from `parity_index.json` (atol 1e-3 rtol 1e-3 for this
 * case): float32 through ~30 matmul/LayerNorm/instance-norm layers with a different summation order.
 * Measured: max |err| 3.7e-5 on `wasm` and 1.5e-5 on `cpu` for outputs up to |6.6|, well inside it.
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase, suggestedTolerance } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  D2SwinTransformer,
  d2SwinTransformerFromConfig,
} from "../../plugins/mask2former/modeling/backbone/swin.ts";

const cases = casesFor("backbone");

function floatTensor(t: NamedTensor): ops.Tensor {
  const data = t.data instanceof Float32Array
    ? t.data
    : Float32Array.from(t.data as ArrayLike<number>, Number);
  return ops.tensor(data, t.shape);
}

/** The model from the case's config; its structure must be the one `constructor_equivalent` names. */
function build(c: ParityCase): D2SwinTransformer {
  const model = d2SwinTransformerFromConfig(c.spec.config);
  const a = c.spec.constructor_equivalent;
  assert.deepStrictEqual(model.numFeatures, a.depths.map((_: number, i: number) => a.embed_dim * 2 ** i));
  assert.deepStrictEqual(model.outIndices, a.out_indices);
  assert.strictEqual(a.ape, false);
  return model;
}

Deno.test("backbone parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no backbone case in the parity folder");
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`backbone parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const model = build(c);
      model.loadStateDict(c.stateDict(), { strict: true });
      model.eval();
      const x = floatTensor(c.input("x"));
      const l = floatTensor(c.input("l"));
      const lMask = floatTensor(c.input("l_mask")); // int64 0/1, used by the original as a float multiplier
      const before = ops.numTensors();
      const outs = model.forward(x, l, lMask);
      assert.deepStrictEqual(Object.keys(outs).sort(), ["res2", "res3", "res4", "res5"]);
      for (const [key, value] of Object.entries(outs)) {
        const expected = c.output(key);
        assert.deepStrictEqual(value.shape, expected.shape, `${name} ${key} shape`);
        assertClose(ops.toArray(value), expected.data as Float32Array, { ...tol, label: `${name} ${key}` });
      }
      ops.dispose(outs);
      assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");
      ops.dispose([x, l, lMask]);
      model.dispose();
    });
  }
}
