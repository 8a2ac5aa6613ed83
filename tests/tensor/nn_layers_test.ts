/**
 * Layers against PyTorch's formulas recomputed with plain float64 loops. Tolerance atol = rtol = 1e-5:
 * inputs are O(1) and the layers sum at most a few dozen float32 products, so float32 rounding stays
 * well below that.
 * @module
 */
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import {
  Conv1d,
  Conv2d,
  Embedding,
  GroupNorm,
  LayerNorm,
  Linear,
  MLP,
  PositionEmbeddingSine,
  PositionEmbeddingSine1D,
} from "../../core/tensor/nn/mod.ts";

await useBackend("wasm");
const TOL = { atol: 1e-5, rtol: 1e-5 };

function randomData(n: number, g: Generator): Float32Array {
  const out = new Float32Array(n);
  g.fillNormal(out);
  return out;
}
function data(t: ops.Tensor): Float32Array {
  return ops.toArray(t) as Float32Array;
}
/** Loads random values into every parameter, so that no test depends on an initialiser. */
function randomize(m: { stateDict(): Map<string, ops.Variable> }, g: Generator): void {
  for (const v of m.stateDict().values()) {
    const t = ops.tensor(randomData(v.size, g), v.shape);
    v.assign(t);
    t.dispose();
  }
}

Deno.test("Linear: x Wᵀ + b with weight [out, in], any leading shape", () => {
  const g = new Generator(10);
  const fc = new Linear(5, 3, { generator: g });
  randomize(fc, g);
  const x = randomData(2 * 4 * 5, g);
  const y = fc.forward(ops.tensor(x, [2, 4, 5]));
  assertEquals(y.shape, [2, 4, 3]);
  const W = data(fc.weight);
  const b = data(fc.bias!);
  const ref = new Float64Array(8 * 3);
  for (let r = 0; r < 8; r++) {
    for (let o = 0; o < 3; o++) {
      let s = b[o];
      for (let i = 0; i < 5; i++) s += x[r * 5 + i] * W[o * 5 + i];
      ref[r * 3 + o] = s;
    }
  }
  assertClose(data(y), ref, { ...TOL, label: "Linear" });
  const noBias = new Linear(5, 3, { bias: false });
  assertEquals([...noBias.stateDict().keys()], ["weight"]);
  assertThrows(() => fc.forward(ops.zeros([2, 4])), "Linear(5, 3): input [2,4] has 4 features");
});

/** Direct NCHW convolution with PyTorch's stride / padding / dilation / groups semantics. */
function convRef(
  x: Float32Array,
  [N, C, H, W]: number[],
  w: Float32Array,
  [O, Cg, KH, KW]: number[],
  b: Float32Array | null,
  s: number,
  p: number,
  d: number,
  groups: number,
): { out: Float64Array; shape: number[] } {
  const HO = Math.floor((H + 2 * p - d * (KH - 1) - 1) / s) + 1;
  const WO = Math.floor((W + 2 * p - d * (KW - 1) - 1) / s) + 1;
  const out = new Float64Array(N * O * HO * WO);
  const og = O / groups;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / og);
      for (let i = 0; i < HO; i++) {
        for (let j = 0; j < WO; j++) {
          let acc = b ? b[o] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let ki = 0; ki < KH; ki++) {
              for (let kj = 0; kj < KW; kj++) {
                const yy = i * s - p + ki * d;
                const xx = j * s - p + kj * d;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += x[((n * C + grp * Cg + c) * H + yy) * W + xx] * w[((o * Cg + c) * KH + ki) * KW + kj];
              }
            }
          }
          out[((n * O + o) * HO + i) * WO + j] = acc;
        }
      }
    }
  }
  return { out, shape: [N, O, HO, WO] };
}

Deno.test("Conv2d: stride, padding, dilation and groups match the direct sum", () => {
  const g = new Generator(11);
  const settings = [
    { s: 2, p: 1, d: 1, groups: 2, bias: true },
    { s: 1, p: 2, d: 2, groups: 1, bias: false },
    { s: 1, p: 0, d: 1, groups: 1, bias: true },
  ];
  for (const { s, p, d, groups, bias } of settings) {
    const conv = new Conv2d(4, 6, 3, { stride: s, padding: p, dilation: d, groups, bias, generator: g });
    randomize(conv, g);
    assertEquals(conv.weight.shape, [6, 4 / groups, 3, 3]);
    const xs = [2, 4, 7, 6];
    const x = randomData(2 * 4 * 7 * 6, g);
    const y = conv.forward(ops.tensor(x, xs));
    const ref = convRef(
      x,
      xs,
      data(conv.weight),
      conv.weight.shape,
      bias ? data(conv.bias!) : null,
      s,
      p,
      d,
      groups,
    );
    assertEquals(y.shape, ref.shape);
    assertClose(data(y), ref.out, { ...TOL, label: `Conv2d s${s} p${p} d${d} g${groups}` });
  }
});

Deno.test("Conv2d (detectron2): norm then activation, keys weight + norm.*", () => {
  const g = new Generator(12);
  const conv = new Conv2d(3, 4, 1, {
    bias: false,
    norm: new GroupNorm(2, 4),
    activation: ops.relu,
    generator: g,
  });
  randomize(conv, g);
  assertEquals([...conv.stateDict().keys()], ["weight", "norm.weight", "norm.bias"]);
  const x = ops.tensor(randomData(2 * 3 * 3 * 3, g), [2, 3, 3, 3]);
  const expected = ops.relu(conv.norm!.forward(ops.conv2d(x, conv.weight, null)));
  assertClose(data(conv.forward(x)), data(expected), { ...TOL, label: "Conv2d+GN+ReLU" });
  assertThrows(() => conv.forward(ops.zeros([1, 2, 3, 3])), "input must be [N, 3, H, W], got [1,2,3,3]");
});

Deno.test("Conv1d: weight [out, in, k] over [N, C, L]", () => {
  const g = new Generator(13);
  const conv = new Conv1d(3, 2, 3, { padding: 1, generator: g });
  randomize(conv, g);
  const x = randomData(2 * 3 * 5, g);
  const y = conv.forward(ops.tensor(x, [2, 3, 5]));
  // A 1-row image padded only along its length: pad the reference input by hand.
  const padded = new Float32Array(2 * 3 * 7);
  for (let r = 0; r < 6; r++) padded.set(x.subarray(r * 5, r * 5 + 5), r * 7 + 1);
  const ref = convRef(padded, [2, 3, 1, 7], data(conv.weight), [2, 3, 1, 3], data(conv.bias!), 1, 0, 1, 1);
  assertEquals(y.shape, [2, 2, 5]);
  assertClose(data(y), ref.out, { ...TOL, label: "Conv1d" });
});

Deno.test("LayerNorm and GroupNorm: biased variance, eps inside the root, affine", () => {
  const g = new Generator(14);
  for (const eps of [1e-5, 1e-12]) {
    const ln = new LayerNorm(6, { eps });
    randomize(ln, g);
    const x = randomData(4 * 6, g);
    const w = data(ln.weight!);
    const b = data(ln.bias!);
    const ref = new Float64Array(24);
    for (let r = 0; r < 4; r++) {
      const row = Array.from(x.subarray(r * 6, r * 6 + 6));
      const mu = row.reduce((p, q) => p + q, 0) / 6;
      const v = row.reduce((p, q) => p + (q - mu) ** 2, 0) / 6;
      row.forEach((q, i) => (ref[r * 6 + i] = ((q - mu) / Math.sqrt(v + eps)) * w[i] + b[i]));
    }
    assertClose(data(ln.forward(ops.tensor(x, [2, 2, 6]))), ref, { ...TOL, label: `LayerNorm eps ${eps}` });
  }
  assertEquals(new LayerNorm(6, { elementwiseAffine: false }).parameters().length, 0);

  const gn = new GroupNorm(2, 4);
  randomize(gn, g);
  const [N, C, HW] = [2, 4, 3];
  const x = randomData(N * C * HW, g);
  const ref = new Float64Array(x.length);
  const w = data(gn.weight!);
  const b = data(gn.bias!);
  for (let n = 0; n < N; n++) {
    for (let grp = 0; grp < 2; grp++) {
      const start = (n * C + grp * 2) * HW;
      const vals = Array.from(x.subarray(start, start + 2 * HW));
      const mu = vals.reduce((p, q) => p + q, 0) / vals.length;
      const v = vals.reduce((p, q) => p + (q - mu) ** 2, 0) / vals.length;
      vals.forEach((q, i) => {
        const c = grp * 2 + Math.floor(i / HW);
        ref[start + i] = ((q - mu) / Math.sqrt(v + 1e-5)) * w[c] + b[c];
      });
    }
  }
  assertClose(data(gn.forward(ops.tensor(x, [N, C, 1, HW]))), ref, { ...TOL, label: "GroupNorm" });
  assertThrows(() => new GroupNorm(3, 4), "4 channels are not divisible into 3 groups");
});

Deno.test("Embedding: rows by id, padding row zero at init and without gradient", () => {
  const g = new Generator(15);
  const emb = new Embedding(5, 3, { paddingIdx: -1, generator: g });
  assertEquals(emb.paddingIdx, 4);
  const w = data(emb.weight);
  assertEquals(Array.from(w.subarray(12, 15)), [0, 0, 0]);
  assert(w.subarray(0, 12).every((x) => x !== 0));
  const ids = ops.tensor([[1, 4], [0, 1]], [2, 2], "int32");
  const y = emb.forward(ids);
  assertEquals(y.shape, [2, 2, 3]);
  const rows = [1, 4, 0, 1].flatMap((i) => Array.from(w.subarray(i * 3, i * 3 + 3)));
  assertEquals(Array.from(data(y)), rows);
  // d(sum(y * c))/dW: row r gets c summed over its occurrences; the padding row gets nothing.
  const c = ops.tensor(randomData(12, g), [2, 2, 3]);
  const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.mul(emb.forward(ids), c)), [emb.weight]);
  const cv = data(c);
  const expected = new Float64Array(15);
  [1, 4, 0, 1].forEach((r, k) => {
    if (r !== 4) { for (let j = 0; j < 3; j++) expected[r * 3 + j] += cv[k * 3 + j]; }
  });
  assertClose(data(grads[emb.weight.name]), expected, { ...TOL, label: "Embedding grad" });
  ops.dispose([value, ...Object.values(grads)]);
});

Deno.test("MLP: Linear layers with ReLU between, keys layers.i", () => {
  const g = new Generator(16);
  const mlp = new MLP(4, 8, 2, 3, { generator: g });
  assertEquals(
    [...mlp.stateDict().keys()],
    [0, 1, 2].flatMap((i) => [`layers.${i}.weight`, `layers.${i}.bias`]),
  );
  assertEquals(mlp.layers.at(0).weight.shape, [8, 4]);
  assertEquals(mlp.layers.at(2).weight.shape, [2, 8]);
  const x = ops.tensor(randomData(12, g), [3, 4]);
  const [l0, l1, l2] = [...mlp.layers];
  const expected = l2.forward(ops.relu(l1.forward(ops.relu(l0.forward(x)))));
  assertClose(data(mlp.forward(x)), data(expected), { ...TOL, label: "MLP" });
});

/** The sine table in float64: channel j of n uses sin (even j) or cos (odd j) of p / T^(2⌊j/2⌋/n). */
function sineRef(p: number, j: number, n: number): number {
  const a = p / 10000 ** ((2 * Math.floor(j / 2)) / n);
  return j % 2 === 0 ? Math.sin(a) : Math.cos(a);
}

Deno.test("PositionEmbeddingSine: rows then columns, normalised by the last unpadded position", () => {
  const [B, H, W, n] = [2, 3, 4, 8];
  const mask = new Uint8Array(B * H * W);
  for (let h = 0; h < H; h++) mask[W * H + h * W + 3] = 1; // sample 1: last column padded
  for (const normalize of [false, true]) {
    const pe = new PositionEmbeddingSine(n, { normalize });
    const m = ops.tensor(mask, [B, H, W], "bool");
    const y = pe.forward(ops.zeros([B, 5, H, W]), m);
    assertEquals(y.shape, [B, 2 * n, H, W]);
    const ref = new Float64Array(B * 2 * n * H * W);
    for (let b = 0; b < B; b++) {
      const validW = b === 1 ? 3 : 4;
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          const padded = b === 1 && w === 3;
          // Running counts of unpadded pixels down the column / along the row (a fully padded
          // column counts 0; a padded pixel repeats the row count before it).
          let yv = padded ? 0 : h + 1;
          let xv = padded ? validW : w + 1;
          const colTotal = padded ? 0 : H;
          if (normalize) {
            yv = (yv / (colTotal + 1e-6)) * 2 * Math.PI;
            xv = (xv / (validW + 1e-6)) * 2 * Math.PI;
          }
          for (let j = 0; j < n; j++) {
            ref[((b * 2 * n + j) * H + h) * W + w] = sineRef(yv, j, n);
            ref[((b * 2 * n + n + j) * H + h) * W + w] = sineRef(xv, j, n);
          }
        }
      }
    }
    assertClose(data(y), ref, { ...TOL, label: `PositionEmbeddingSine normalize=${normalize}` });
  }
  assertThrows(() => new PositionEmbeddingSine(8, { scale: 1 }), "a scale needs normalize: true");
});

Deno.test("PositionEmbeddingSine1D: time axis of [T, Q, B, C], 2·numPosFeats channels", () => {
  const [T, Q, B, n] = [5, 2, 1, 4];
  const pe = new PositionEmbeddingSine1D(n, { normalize: true });
  const y = pe.forward(ops.zeros([T, Q, B, 3]));
  assertEquals(y.shape, [T, Q, B, 2 * n]);
  const ref = new Float64Array(T * Q * B * 2 * n);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < Q * B; k++) {
      const p = ((t + 1) / (T + 1e-6)) * 2 * Math.PI;
      for (let j = 0; j < 2 * n; j++) ref[(t * Q * B + k) * 2 * n + j] = sineRef(p, j, 2 * n);
    }
  }
  assertClose(data(y), ref, { ...TOL, label: "PositionEmbeddingSine1D" });
});
