/**
 * Parity of {@link BiAttentionBlock} with the original `fuse_modules.py` on the stored cases, on every
 * backend under test: the module is built from the case's `constructor_args`, loaded strictly from the
 * case's state dict, and run in eval mode. Tolerance: the case's `suggested_tolerance` from
 * `parity_index.json` (atol 1e-4, rtol 1e-4 for this case: float32 with a different summation order
 * in the matmuls and LayerNorm statistics).
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase, suggestedTolerance } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import { Generator } from "../../core/random.ts";
import { BiAttentionBlock } from "../../plugins/dshmp/modeling/bi_attention_block.ts";

const cases = casesFor("bi_attention_block");

function toTensor(t: NamedTensor, dtype: ops.DType): ops.Tensor {
  if (dtype === "bool") {
    return ops.tensor(Uint8Array.from(t.data as Uint8Array, (x) => (x ? 1 : 0)), t.shape, "bool");
  }
  return ops.tensor(t.data as Float32Array, t.shape);
}

function build(c: ParityCase, generator?: Generator): BiAttentionBlock {
  const a = c.spec.constructor_args;
  return new BiAttentionBlock({
    vDim: a.v_dim,
    lDim: a.l_dim,
    embedDim: a.embed_dim,
    numHeads: a.num_heads,
    dropout: a.dropout,
    dropPath: a.drop_path,
    initValues: a.init_values,
    generator,
  });
}

Deno.test("bi_attention_block parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no bi_attention_block case in the parity folder");
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`bi_attention_block parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const block = build(c);
      block.loadStateDict(c.stateDict(), { strict: true });
      block.eval();
      const v = toTensor(c.input("v"), "float32");
      const l = toTensor(c.input("l"), "float32");
      const pad = toTensor(c.input("lang_pad_mask"), "bool");
      const before = ops.numTensors();
      const [vOut, lOut] = block.forward(v, l, null, pad);
      assertClose(ops.toArray(vOut), c.output("v_out").data as Float32Array, {
        ...tol,
        label: `${name} v_out`,
      });
      assertClose(ops.toArray(lOut), c.output("l_out").data as Float32Array, {
        ...tol,
        label: `${name} l_out`,
      });
      assert.deepStrictEqual(vOut.shape, c.output("v_out").shape);
      assert.deepStrictEqual(lOut.shape, c.output("l_out").shape);
      ops.dispose([vOut, lOut]);
      assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");
      ops.dispose([v, l, pad]);
      block.dispose();
    });
  }
}

Deno.test("bi_attention_block: training draws dropout and drop-path from the given generator", async () => {
  await useBackend(backendsUnderTest()[0]);
  const c = loadCase(cases[0]);
  const run = (seed: number | null) => {
    const block = build(c, seed === null ? undefined : new Generator(seed));
    block.loadStateDict(c.stateDict());
    if (seed === null) block.eval();
    const v = toTensor(c.input("v"), "float32");
    const l = toTensor(c.input("l"), "float32");
    const pad = toTensor(c.input("lang_pad_mask"), "bool");
    const out = block.forward(v, l, null, pad).map((t) => Array.from(ops.toArray(t)));
    block.dispose();
    return out;
  };
  const evalOut = run(null);
  const a = run(1);
  assert.deepStrictEqual(run(1), a, "same seed, same training output");
  assert.notDeepStrictEqual(a, evalOut, "training mode must differ from eval (dropout 0.1, drop path 0.1)");
  assert(a.flat().every(Number.isFinite));
});
