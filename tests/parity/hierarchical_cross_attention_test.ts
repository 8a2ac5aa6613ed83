/**
 * Parity of {@link HierarchicalCrossAttentionLayer} with the original `dshmp_decoder.py` on the stored
 * cases, on every backend under test. The module is built from the case's `constructor_args` and loaded
 * strictly. Checked: the Hungarian re-ordering (`match_indices`, `inverse_maps`) exactly, the re-ordered
 * queries, each level's output and the result at the index's `suggested_tolerance` (atol 1e-4,
 * rtol 1e-4: float32 with other summation orders in the matmuls, softmax and LayerNorm statistics).
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, suggestedTolerance } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  HierarchicalCrossAttentionLayer,
  type HierarchicalTrace,
  sortEmbedding,
} from "../../plugins/dshmp/modeling/clip_decoder/hierarchical_cross_attention.ts";

const cases = casesFor("hierarchical_cross_attention");

const f32 = (t: NamedTensor) => ops.tensor(t.data as Float32Array, t.shape);
const ints = (t: NamedTensor) => Array.from(t.data as BigInt64Array, Number);

Deno.test("hierarchical_cross_attention parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no hierarchical_cross_attention case in the parity folder");
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`hierarchical_cross_attention parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const a = c.spec.constructor_args;
      const hca = new HierarchicalCrossAttentionLayer({ dModel: a.d_model, eps: a.eps });
      hca.loadStateDict(c.stateDict(), { strict: true });
      hca.eval();
      const tgt = f32(c.input("tgt"));
      const memory = f32(c.input("memory"));
      const before = ops.numTensors();

      const { sorted, order } = sortEmbedding(tgt);
      assertClose(ops.toArray(sorted), c.output("sorted_tgt").data as Float32Array, {
        atol: 0,
        rtol: 0,
        label: `${name} sorted_tgt (a pure re-ordering)`,
      });
      ops.dispose(sorted);

      const trace: HierarchicalTrace = {};
      const y = hca.forward(tgt, memory, trace);
      for (
        const [key, maps] of [["match_indices", order.matchIndices], [
          "inverse_maps",
          order.inverseMaps,
        ]] as const
      ) {
        assert.deepStrictEqual(
          maps.flatMap((perFrame) => perFrame.flatMap((m) => [...m])),
          ints(c.output(key)),
          key,
        );
      }
      assert.deepStrictEqual(trace.order, order, "forward uses the same re-ordering");
      assert.strictEqual(trace.levels?.length, 3);
      trace.levels!.forEach((level, i) => {
        const expected = c.output(`level${i + 1}`);
        assert.deepStrictEqual(level.shape, expected.shape);
        assertClose(level.data, expected.data as Float32Array, { ...tol, label: `${name} level${i + 1}` });
      });
      assert.deepStrictEqual(y.shape, c.output("y").shape);
      assertClose(ops.toArray(y), c.output("y").data as Float32Array, { ...tol, label: `${name} y` });
      ops.dispose(y);
      assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");
      ops.dispose([tgt, memory]);
      hca.dispose();
    });
  }
}
