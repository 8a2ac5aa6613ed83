/**
 * Unit checks of the MSDeformAttn pixel decoder: reference points and level start indices, the
 * deformable sampling against a plain float64 loop, MSDeformAttn's initial state (the default sampling
 * grid, uniform attention), the encoder's clone-like initialisation, and the paper configuration's
 * parameter names and shapes against `reference_keys.json`.
 * @module
 */
import { fileURLToPath } from "node:url";
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import { createRegistries } from "../../core/registries.ts";
import {
  levelStartIndex,
  MSDeformAttn,
  msDeformAttnCorePytorch,
  MSDeformAttnPixelDecoder,
  msDeformAttnPixelDecoderFactory,
  MSDeformAttnTransformerEncoder,
  type SpatialShapes,
} from "../../plugins/mask2former/modeling/pixel_decoder/mod.ts";

await useBackend("wasm");

/** Reads a value tensor `[N, ΣHW, M, D]` at level `l`, head `m`, pixel (y, x), channel `d`; 0 outside. */
function naiveSample(
  value: Float32Array,
  dims: { s: number; m: number; d: number },
  shapes: SpatialShapes,
  b: number,
  l: number,
  m: number,
  ch: number,
  locX: number,
  locY: number,
): number {
  const [h, w] = shapes[l];
  const start = levelStartIndex(shapes)[l];
  // align_corners=False: pixel centres at (i + 0.5) / size.
  const x = locX * w - 0.5;
  const y = locY * h - 0.5;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  let acc = 0;
  for (const [xi, wx] of [[x0, x0 + 1 - x], [x0 + 1, x - x0]]) {
    for (const [yi, wy] of [[y0, y0 + 1 - y], [y0 + 1, y - y0]]) {
      if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
      const s = start + yi * w + xi;
      acc += wx * wy * value[((b * dims.s + s) * dims.m + m) * dims.d + ch];
    }
  }
  return acc;
}

Deno.test("levelStartIndex: cumulative H·W of the previous levels", () => {
  assertEquals(levelStartIndex([[2, 3], [4, 6], [8, 12]]), [0, 6, 30]);
  assertEquals(levelStartIndex([[5, 7]]), [0]);
});

Deno.test("getReferencePoints: pixel centres of each token's own level, (x, y), repeated over levels", () => {
  const ref = MSDeformAttnTransformerEncoder.getReferencePoints([[1, 2], [2, 2]], 2);
  assertEquals(ref.shape, [2, 6, 2, 2]);
  const got = Array.from(ops.toArray(ref));
  const tokens = [[0.25, 0.5], [0.75, 0.5], [0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]];
  const one = tokens.flatMap((xy) => [...xy, ...xy]);
  assertEquals(got, [...one, ...one]);
  // A level of 3 rows: centres at 1/6, 1/2, 5/6 rounded to float32 as torch's division does.
  const y = Array.from(ops.toArray(MSDeformAttnTransformerEncoder.getReferencePoints([[3, 1]], 1)))
    .filter((_, i) => i % 2 === 1);
  assertEquals(y, [1 / 6, 0.5, 5 / 6].map(Math.fround));
  ops.dispose(ref);
});

Deno.test("msDeformAttnCorePytorch equals a plain loop over heads, levels, points and bilinear taps", () => {
  const g = new Generator(7);
  const shapes: SpatialShapes = [[2, 3], [3, 4]];
  const [n, m, d, lq, p] = [2, 2, 3, 5, 3];
  const l = shapes.length;
  const s = shapes.reduce((a, [h, w]) => a + h * w, 0);
  const value = ops.randn([n, s, m, d], g);
  // Locations spread over [-0.3, 1.3] so that border and fully outside taps are exercised.
  const loc = ops.sub(ops.mul(ops.rand([n, lq, m, l, p, 2], g), 1.6), 0.3);
  const attn = ops.softmax(ops.reshape(ops.randn([n, lq, m, l * p], g), [n, lq, m, l * p]), -1);
  const attn5 = ops.reshape(attn, [n, lq, m, l, p]);
  const out = msDeformAttnCorePytorch(value, shapes, loc, attn5);
  assertEquals(out.shape, [n, lq, m * d]);
  const v = ops.toArray(value) as Float32Array;
  const ls = ops.toArray(loc) as Float32Array;
  const ws = ops.toArray(attn5) as Float32Array;
  const expected = new Float64Array(n * lq * m * d);
  let outside = 0;
  for (let b = 0; b < n; b++) {
    for (let q = 0; q < lq; q++) {
      for (let h = 0; h < m; h++) {
        for (let lv = 0; lv < l; lv++) {
          for (let pt = 0; pt < p; pt++) {
            const k = (((b * lq + q) * m + h) * l + lv) * p + pt;
            const [x, y] = [ls[2 * k], ls[2 * k + 1]];
            if (x < 0 || x > 1 || y < 0 || y > 1) outside++;
            for (let ch = 0; ch < d; ch++) {
              expected[((b * lq + q) * m + h) * d + ch] += ws[k] *
                naiveSample(v, { s, m, d }, shapes, b, lv, h, ch, x, y);
            }
          }
        }
      }
    }
  }
  assert(outside > 10, "the case should sample outside the maps");
  // float32 against float64 sums of at most 24 products of O(1) values.
  assertClose(ops.toArray(out), expected, { atol: 1e-5, rtol: 1e-5, label: "deformable sampling" });
  ops.dispose([value, loc, attn, attn5, out]);
});

Deno.test("MSDeformAttn starts from the default star grid with uniform attention", () => {
  const attn = new MSDeformAttn({
    dModel: 16,
    nLevels: 2,
    nHeads: 8,
    nPoints: 3,
    generator: new Generator(0),
  });
  assert((ops.toArray(attn.samplingOffsets.weight) as Float32Array).every((x) => x === 0));
  assert((ops.toArray(attn.attentionWeights.weight) as Float32Array).every((x) => x === 0));
  assert((ops.toArray(attn.attentionWeights.bias!) as Float32Array).every((x) => x === 0));
  assert((ops.toArray(attn.valueProj.bias!) as Float32Array).every((x) => x === 0));
  // Head h points at angle 2πh/8, scaled so that max(|x|, |y|) = 1; point p is p + 1 steps out.
  const dirs = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]];
  const expected: number[] = [];
  for (const [dx, dy] of dirs) {
    for (let lv = 0; lv < 2; lv++) for (let p = 0; p < 3; p++) expected.push(dx * (p + 1), dy * (p + 1));
  }
  // Computed in float32 as the original does: cos(π/2) is ~4e-8, not 0, and |cos| / |sin| of the
  // diagonals differ by an ulp, hence a few-ulp tolerance.
  assertClose(ops.toArray(attn.samplingOffsets.bias!), expected, { atol: 1e-6, rtol: 1e-6, label: "grid" });

  // So a query at the centre of a 4x4 level samples (p + 1) pixels away along its head's direction.
  const x = ops.randn([1, 32, 16], new Generator(1));
  const ref = ops.full([1, 32, 2, 2], 0.5);
  const shapes: SpatialShapes = [[4, 4], [4, 4]];
  const s = attn.samplingInputs(x, ref, x, shapes);
  const locs = ops.toArray(s.samplingLocations);
  const perQuery = expected.map((e) => 0.5 + e / 4);
  const allQueries = Array.from({ length: 32 }, () => perQuery).flat();
  assertClose(locs, allQueries, { atol: 1e-6, rtol: 1e-6, label: "locations" });
  const weights = ops.toArray(s.attentionWeights) as Float32Array;
  assertClose(weights, new Float32Array(weights.length).fill(1 / 6), { atol: 1e-7, rtol: 0 });
  const y = attn.forward(x, ref, x, shapes);
  assertEquals(y.shape, [1, 32, 16]);
  ops.dispose([x, ref, s.value, s.samplingLocations, s.attentionWeights, y]);
  attn.dispose();
});

Deno.test("MSDeformAttn rejects tokens that do not fit the spatial shapes", () => {
  const attn = new MSDeformAttn({ dModel: 8, nLevels: 2, nHeads: 2, nPoints: 1 });
  const x = ops.zeros([1, 10, 8]);
  const ref = ops.zeros([1, 10, 2, 2]);
  assertThrows(() => attn.forward(x, ref, x, [[2, 2], [2, 2]]), /10 input tokens/);
  assertThrows(() => new MSDeformAttn({ dModel: 10, nHeads: 4 }), /not divisible/);
  ops.dispose([x, ref]);
  attn.dispose();
});

Deno.test("paper config: pixel decoder names and shapes equal reference_keys.json, 5.4M parameters", () => {
  const refPath = fileURLToPath(new URL("../../../shared/fixtures/reference_keys.json", import.meta.url));
  const ref = JSON.parse(Deno.readTextFileSync(refPath));
  const prefix = "sem_seg_head.pixel_decoder.";
  const expected = Object.entries(ref.keys as Record<string, { shape: number[] }>)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]) => [k.slice(prefix.length), v.shape]);
  // Swin-T's output shapes, as the backbone reports them.
  const inputShape = {
    res2: { channels: 96, stride: 4 },
    res3: { channels: 192, stride: 8 },
    res4: { channels: 384, stride: 16 },
    res5: { channels: 768, stride: 32 },
  };
  const decoder = msDeformAttnPixelDecoderFactory(ref.config, {
    registries: createRegistries(),
    generator: new Generator(0),
    inputShape,
  });
  const got = [...decoder.stateDict()].map(([k, v]) => [k, v.shape]);
  assertEquals(got, expected);
  const params = decoder.parameters().reduce((a, p) => a + p.size, 0);
  assert.strictEqual(params, ref.totals_per_prefix["sem_seg_head.pixel_decoder"].parameters);
  assertEquals(decoder.inFeatures, ["res2", "res3", "res4", "res5"]);
  assertEquals(decoder.transformerInFeatures, ["res3", "res4", "res5"]);
  assert.strictEqual(decoder.numFpnLevels, 1);
  // Encoder layers are clones in the original: the FFN biases start equal, the matrices do not.
  const layers = [...decoder.transformer.encoder.layers];
  assert.strictEqual(layers.length, 6);
  assertEquals(ops.toArray(layers[5].linear1.bias!), ops.toArray(layers[0].linear1.bias!));
  assert.notDeepStrictEqual(ops.toArray(layers[5].linear1.weight), ops.toArray(layers[0].linear1.weight));
  decoder.dispose();
  assertThrows(
    () =>
      msDeformAttnPixelDecoderFactory(ref.config, {
        registries: createRegistries(),
        generator: new Generator(0),
      }),
    /inputShape/,
  );
});

Deno.test("forwardFeatures: shapes, level order, and a missing feature is named", () => {
  const inputShape = {
    res2: { channels: 8, stride: 4 },
    res3: { channels: 8, stride: 8 },
    res4: { channels: 16, stride: 16 },
    res5: { channels: 16, stride: 32 },
  };
  const cfg = {
    MODEL: {
      SEM_SEG_HEAD: {
        IN_FEATURES: ["res2", "res3", "res4", "res5"],
        CONVS_DIM: 32,
        MASK_DIM: 16,
        NORM: "GN",
        TRANSFORMER_ENC_LAYERS: 1,
        DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: ["res3", "res4", "res5"],
        COMMON_STRIDE: 4,
      },
      MASK_FORMER: { DROPOUT: 0.0, NHEADS: 4 },
    },
  };
  const g = new Generator(3);
  const decoder = msDeformAttnPixelDecoderFactory(cfg, {
    registries: createRegistries(),
    generator: g,
    inputShape,
  })
    .eval();
  const features = {
    res2: ops.randn([1, 8, 16, 20], g),
    res3: ops.randn([1, 8, 8, 10], g),
    res4: ops.randn([1, 16, 4, 5], g),
    res5: ops.randn([1, 16, 2, 3], g),
  };
  const before = ops.numTensors();
  const [mask, clip, enc, multi] = decoder.forwardFeatures(features);
  assertEquals(mask.shape, [1, 16, 16, 20]);
  assertEquals(clip.shape, [1, 32, 16, 20]);
  assertEquals(multi.map((t) => t.shape), [[1, 32, 2, 3], [1, 32, 4, 5], [1, 32, 8, 10]]);
  assert.strictEqual(enc, multi[0]);
  ops.dispose([mask, clip, ...multi]);
  assert.strictEqual(ops.numTensors(), before);
  const { res4: _dropped, ...partial } = features;
  assertThrows(() => decoder.forwardFeatures(partial), /"res4" is missing/);
  ops.dispose(Object.values(features));
  decoder.dispose();
});

Deno.test("gradients reach every parameter; the offset gradient matches a finite difference", () => {
  const g = new Generator(11);
  const inputShape = {
    res2: { channels: 4, stride: 4 },
    res3: { channels: 4, stride: 8 },
    res4: { channels: 8, stride: 16 },
    res5: { channels: 8, stride: 32 },
  };
  const decoder = new MSDeformAttnPixelDecoder({
    inputShape,
    convDim: 32,
    maskDim: 8,
    transformerNheads: 2,
    transformerDimFeedforward: 16,
    transformerEncLayers: 1,
    generator: g,
  });
  const features = {
    res2: ops.randn([1, 4, 8, 12], g),
    res3: ops.randn([1, 4, 4, 6], g),
    res4: ops.randn([1, 8, 2, 3], g),
    res5: ops.randn([1, 8, 1, 2], g),
  };
  const weight = ops.randn([1, 8, 8, 12], g);
  const loss = () =>
    ops.tidy(() => {
      const [mask, , , multi] = decoder.forwardFeatures(features);
      return ops.add(ops.sum(ops.mul(mask, weight)), ops.sum(multi[0]));
    });
  // One sampling-offset bias entry (head 0, finest level, first point, x). The default offsets put
  // every sample on a pixel centre, where bilinear sampling has a kink, so they are jittered first;
  // between kinks the sampling is linear and a central difference of ±1e-3 pixel is exact up to
  // float32 noise (~1e-5 in a loss of size ~10, i.e. up to ~5e-3 in the quotient; measured 4e-4).
  const bias = decoder.transformer.encoder.layers.at(0).selfAttn.samplingOffsets.bias!;
  const k = 16;
  const jittered = Float32Array.from(ops.toArray(bias) as Float32Array, (b) => b + g.uniform() - 0.5);
  const at = (delta: number) => {
    const moved = Float32Array.from(jittered);
    moved[k] += delta;
    const t = ops.tensor(moved);
    bias.assign(t);
    ops.dispose(t);
  };
  at(0);
  const params = decoder.namedParameters();
  const { value, grads } = ops.valueAndGrads(loss, params.map(([, p]) => p));
  for (const [name, p] of params) {
    const grad = grads[p.name];
    assert(grad !== undefined, `no gradient for ${name}`);
    assert((ops.toArray(grad) as Float32Array).every(Number.isFinite), `non-finite gradient for ${name}`);
  }
  const analytic = (ops.toArray(grads[bias.name]) as Float32Array)[k];
  assert(Math.abs(analytic) > 0.1, `the offset gradient should not vanish (${analytic})`);
  const lossAt = (delta: number) => {
    at(delta);
    const l = loss();
    const v = (ops.toArray(l) as Float32Array)[0];
    ops.dispose(l);
    return v;
  };
  const numeric = (lossAt(1e-3) - lossAt(-1e-3)) / 2e-3;
  assertClose([analytic], [numeric], { atol: 5e-3, rtol: 1e-2, label: "d loss / d offset" });
  ops.dispose([value, ...Object.values(grads), weight, ...Object.values(features)]);
  decoder.dispose();
});
