/**
 * Tests of the FeatureResizer (layout against `reference_keys.json`, numbers against float64 loops
 * and against the original on the `full_after_text` parity case) and of the motion/static feature
 * assembly of `dshmp_model.py`.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import { loadSafetensors, type NamedTensor } from "../../core/io/safetensors.ts";
import {
  assembleTextFeatures,
  backboneLanguageInputs,
  encodeText,
  FeatureResizer,
  LANG_FEAT_MEAN_KEY,
  loadResizerFromCheckpoint,
  loadRobertaFromHfFolder,
  maskedTokenMean,
} from "../../plugins/dshmp/text_encoder/mod.ts";
import { ROBERTA_TINY_DIR } from "../fixtures/roberta_tiny/make_fixture.ts";

const SHARED = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const PARITY = Deno.env.get("DSHMP_PARITY_DIR") ?? join(SHARED, "parity");

function normals(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  new Generator(seed).fillNormal(out);
  return out;
}

/** `LN(x W^T + b)` per row in float64. */
function resize64(
  x: ArrayLike<number>,
  rows: number,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  g: ArrayLike<number> | null,
  beta: ArrayLike<number> | null,
  eps: number,
): number[] {
  const out: number[] = [];
  const o = b.length;
  const n = x.length / rows;
  for (let r = 0; r < rows; r++) {
    const y = Array.from({ length: o }, (_, k) => {
      let s = b[k];
      for (let i = 0; i < n; i++) s += x[r * n + i] * w[k * n + i];
      return s;
    });
    if (!g || !beta) {
      out.push(...y);
      continue;
    }
    const mu = y.reduce((a, v) => a + v, 0) / o;
    const v = y.reduce((a, t) => a + (t - mu) ** 2, 0) / o;
    out.push(...y.map((t, k) => ((t - mu) / Math.sqrt(v + eps)) * g[k] + beta[k]));
  }
  return out;
}

Deno.test("FeatureResizer has the original's resizer.* names and shapes (768 -> 256)", async () => {
  await useBackend("wasm");
  const ref = JSON.parse(await Deno.readTextFile(join(SHARED, "reference_keys.json")));
  const expected = Object.entries(ref.keys as Record<string, { shape: number[] }>)
    .filter(([k]) => k.startsWith("resizer."))
    .map(([k, v]) => [k, v.shape]);
  const resizer = new FeatureResizer({ inputFeatSize: 768, outputFeatSize: 256 });
  assertEquals([...resizer.stateDict()].map(([k, v]) => [`resizer.${k}`, [...v.shape]]), expected);
  assertEquals(resizer.layerNorm.eps, 1e-12);
  resizer.dispose();
});

Deno.test("FeatureResizer: Linear + LayerNorm(1e-12) against float64, do_ln off, dropout only in training", async () => {
  await useBackend("wasm");
  const resizer = new FeatureResizer({ inputFeatSize: 12, outputFeatSize: 6, generator: new Generator(4) });
  resizer.loadStateDict({
    "fc.weight": ops.tensor(normals(72, 1), [6, 12]),
    "fc.bias": ops.tensor(normals(6, 2), [6]),
    "layer_norm.weight": ops.tensor(normals(6, 3).map((v) => 1 + 0.1 * v), [6]),
    "layer_norm.bias": ops.tensor(normals(6, 5).map((v) => 0.1 * v), [6]),
  });
  const x = normals(3 * 12, 9);
  const sd = resizer.stateDict();
  const arr = (k: string) => ops.toArray(sd.get(k)!);
  const args = [arr("fc.weight"), arr("fc.bias")] as const;
  resizer.eval();
  // float32 Linear over 12 inputs then LayerNorm over 6: errors ~1e-7; 1e-5 as the other plain ops.
  const tol = { atol: 1e-5, rtol: 1e-5 };
  const y = resizer.forward(ops.tensor(x, [1, 3, 12]));
  assertEquals(y.shape, [1, 3, 6]);
  assertClose(
    ops.toArray(y),
    resize64(x, 3, ...args, arr("layer_norm.weight"), arr("layer_norm.bias"), 1e-12),
    tol,
  );

  const noLn = new FeatureResizer({ inputFeatSize: 12, outputFeatSize: 6, doLn: false }).eval();
  noLn.loadStateDict(resizer.stateDict());
  assertClose(ops.toArray(noLn.forward(ops.tensor(x, [3, 12]))), resize64(x, 3, ...args, null, null, 0), tol);

  resizer.train();
  const dropped = ops.toArray(resizer.forward(ops.tensor(x, [3, 12])));
  const zeros = dropped.filter((v) => v === 0).length;
  assert(zeros > 0 && zeros < dropped.length, `training-mode dropout should zero some values, got ${zeros}`);
  resizer.dispose();
  noLn.dispose();
});

Deno.test("resizer matches the original on full_after_text (lang_feat_fusion, lang_feat), loaded from resizer.*", async () => {
  await useBackend("wasm");
  const file = join(PARITY, "full_after_text.safetensors");
  const t = (await loadSafetensors(file)).tensors;
  const get = (k: string): NamedTensor => {
    const v = t.get(k);
    if (!v) throw new Error(`${file}: no ${k}`);
    return v;
  };
  const resizer = new FeatureResizer({ inputFeatSize: 768, outputFeatSize: 32 }).eval();
  loadResizerFromCheckpoint(resizer, t, { source: file });
  const hidden = get("input.last_hidden_state");
  const pooled = get("input.pooler_output");
  const encoded = {
    lastHiddenState: ops.tensor(hidden.data as Float32Array, hidden.shape),
    poolerOutput: ops.tensor(pooled.data as Float32Array, pooled.shape),
  };
  const motion = get("input.motion_map").data as Float32Array;
  const stat = get("input.static_map").data as Float32Array;
  const f = assembleTextFeatures(encoded, resizer, { motion, static: stat });
  // float32 with another summation order over 768 inputs, then LayerNorm: measured max |err| 1.5e-6
  // on values up to 3; 1e-5 as DESIGN's plain-op tolerance (the case's 2e-3 is for the whole model).
  const tol = { atol: 1e-5, rtol: 1e-5 };
  const fusion = get("output.intermediate.lang_feat_fusion").data as Float32Array;
  const langFeat = get("output.intermediate.lang_feat").data as Float32Array;
  assertClose(ops.toArray(f.langFeatFusion), fusion, { ...tol, label: "lang_feat_fusion" });
  assertClose(ops.toArray(f.langFeat), langFeat, { ...tol, label: "lang_feat" });
  // motion_feat = cat([lang_feat_fusion[motion_map.bool()], lang_feat]) from the original's own outputs.
  for (
    const [name, map, got] of [["motion", motion, f.motionFeat], ["static", stat, f.staticFeat]] as const
  ) {
    const rows = [...map].flatMap((v, i) => (v !== 0 ? [i] : []));
    assert(rows.length > 0, `${name} map of the case selects nothing`);
    const expected = [...rows.flatMap((i) => [...fusion.subarray(i * 32, (i + 1) * 32)]), ...langFeat];
    assertEquals(got.shape, [rows.length + 1, 32]);
    assertClose(ops.toArray(got), expected, { ...tol, label: `${name}_feat` });
  }
  assertEquals(f.langFeatSentence.shape, [1, 768, 40]);
  assertEquals(ops.toArray(f.langFeatSentence)[5 * 40 + 3], (hidden.data as Float32Array)[3 * 768 + 5]);
  resizer.dispose();
});

Deno.test("motion/static assembly: map checks, empty maps, batches with one map per sample", async () => {
  await useBackend("wasm");
  const resizer = new FeatureResizer({ inputFeatSize: 4, outputFeatSize: 3, generator: new Generator(2) })
    .eval();
  const hidden = ops.tensor(normals(2 * 5 * 4, 6), [2, 5, 4]);
  const pooled = ops.tensor(normals(2 * 4, 7), [2, 4]);
  const encoded = { lastHiddenState: hidden, poolerOutput: pooled };
  const one = [0, 1, 0, 0, 0];
  assertThrows(
    () => assembleTextFeatures(encoded, resizer, { motion: one, static: one }),
    /motion map: 1 map\(s\) for a batch of 2; .*only works with B = 1/,
  );
  assertThrows(
    () => assembleTextFeatures(encoded, resizer, { motion: [one, [1, 0]], static: [one, one] }),
    /motion map 1: length 2, but the text features have 5 tokens/,
  );
  const f = assembleTextFeatures(encoded, resizer, {
    motion: [[0, 0, 1, 0, 0], [1, 0, 0, 0, 1]],
    static: [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
  });
  const fusion = ops.toArray(f.langFeatFusion);
  const lf = ops.toArray(f.langFeat);
  // Rows in row-major order over (batch, token), then both pooled rows, as torch's x[mask] + cat.
  const expected = [
    ...fusion.subarray(2 * 3, 3 * 3),
    ...fusion.subarray(5 * 3, 6 * 3),
    ...fusion.subarray(9 * 3, 10 * 3),
    ...lf,
  ];
  assertEquals(Array.from(ops.toArray(f.motionFeat)), expected);
  assertEquals(Array.from(ops.toArray(f.staticFeat)), Array.from(lf));
  const noPool = { lastHiddenState: hidden, poolerOutput: null };
  assertThrows(() => assembleTextFeatures(noPool, resizer, { motion: one, static: one }), /without a pooler/);
  resizer.dispose();
});

Deno.test("encodeText runs the tiny encoder end to end; masked mean and backbone inputs", async () => {
  await useBackend("wasm");
  const { model } = await loadRobertaFromHfFolder(ROBERTA_TINY_DIR, { frozen: true });
  model.eval();
  const resizer = new FeatureResizer({ inputFeatSize: 16, outputFeatSize: 8, generator: new Generator(5) })
    .eval();
  const ids = ops.tensor([[0, 300, 301, 2, 0, 0]], [1, 6], "int32");
  const mask = ops.tensor([[1, 1, 1, 1, 0, 0]], [1, 6], "int32");
  const before = ops.numTensors();
  const f = encodeText(model, resizer, ids, mask, { motion: [0, 0, 1, 0, 0, 0], static: [0, 1, 0, 0, 0, 0] });
  assertEquals(ops.numTensors(), before + 5, "encodeText should leave only its five outputs");
  assertEquals(f.motionFeat.shape, [2, 8]);
  assertEquals(f.staticFeat.shape, [2, 8]);
  const encoded = model.forward(ids, mask);
  assertEquals(
    Array.from(ops.toArray(f.langFeatFusion)),
    Array.from(ops.toArray(resizer.forward(encoded.lastHiddenState))),
  );

  const mean = ops.toArray(maskedTokenMean(f.langFeatFusion, mask));
  const fusion = ops.toArray(f.langFeatFusion);
  const expected = Array.from(
    { length: 8 },
    (_, c) => [0, 1, 2, 3].reduce((s, i) => s + fusion[i * 8 + c], 0) / 4,
  );
  assertClose(mean, expected, { atol: 1e-6, rtol: 1e-6 });
  assertEquals(LANG_FEAT_MEAN_KEY, " ");

  const { l, lMask } = backboneLanguageInputs(f.langFeatSentence, mask, 3);
  assertEquals(l.shape, [3, 16, 6]);
  assertEquals(lMask.shape, [3, 6, 1]);
  assertEquals(Array.from(ops.toArray(lMask)), [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0]);
  assertEquals(
    Array.from(ops.toArray(ops.slice(l, [2, 0, 0], [1, 16, 6]))),
    Array.from(ops.toArray(f.langFeatSentence)),
  );
  ops.dispose([...Object.values(f), encoded.lastHiddenState, encoded.poolerOutput!, l, lMask]);
  model.dispose();
  resizer.dispose();
});
