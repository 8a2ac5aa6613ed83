/**
 * MultiheadAttention against PyTorch 1.13's `multi_head_attention_forward` recomputed with float64
 * loops, for every mask kind, plus a gradient check against central finite differences of that loop
 * reference. Forward tolerance atol = rtol = 1e-5 (O(1) values, sums of 8 products); gradient
 * tolerance atol 2e-4, rtol 1e-3 (float32 backward pass against float64 differences with step 1e-3,
 * whose truncation error is ~1e-6).
 * @module
 */
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import { MultiheadAttention } from "../../core/tensor/nn/mod.ts";

await useBackend("wasm");
const TOL = { atol: 1e-5, rtol: 1e-5 };
const [L, S, N, E, H] = [3, 4, 2, 8, 2];
const hd = E / H;

function randn(n: number, g: Generator): Float32Array {
  const out = new Float32Array(n);
  g.fillNormal(out);
  return out;
}
function data(t: ops.Tensor): Float32Array {
  return ops.toArray(t) as Float32Array;
}

interface Params {
  inW: ArrayLike<number>; // [3E, E]
  inB: ArrayLike<number>; // [3E]
  outW: ArrayLike<number>; // [E, E]
  outB: ArrayLike<number>; // [E]
}

/**
 * The reference: q/k/v projections, q scaled by hd^-1/2, scores + additive mask (true bool entries
 * -inf, key padding -inf), softmax over keys, heads merged, output projection. Masks are given
 * per (n·H + h, l, s) as additive numbers. Returns the output (L, N, E) and head-averaged weights.
 */
function reference(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  p: Params,
  mask: (bh: number, l: number, s: number) => number,
): { out: Float64Array; weights: Float64Array } {
  const proj = (x: ArrayLike<number>, len: number, part: number) => {
    const y = new Float64Array(len * N * E);
    for (let r = 0; r < len * N; r++) {
      for (let o = 0; o < E; o++) {
        let s = p.inB[part * E + o];
        for (let i = 0; i < E; i++) s += x[r * E + i] * p.inW[(part * E + o) * E + i];
        y[r * E + o] = s;
      }
    }
    return y;
  };
  const Q = proj(q, L, 0);
  const K = proj(k, S, 1);
  const V = proj(v, S, 2);
  const ctx = new Float64Array(L * N * E);
  const weights = new Float64Array(N * L * S);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let l = 0; l < L; l++) {
        const sc = new Float64Array(S);
        for (let s = 0; s < S; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) {
            dot += Q[(l * N + n) * E + h * hd + d] * K[(s * N + n) * E + h * hd + d];
          }
          sc[s] = dot / Math.sqrt(hd) + mask(n * H + h, l, s);
        }
        const m = Math.max(...sc);
        const e = Array.from(sc, (x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s < S; s++) {
          const w = e[s] / z;
          weights[(n * L + l) * S + s] += w / H;
          for (let d = 0; d < hd; d++) {
            ctx[(l * N + n) * E + h * hd + d] += w * V[(s * N + n) * E + h * hd + d];
          }
        }
      }
    }
  }
  const out = new Float64Array(L * N * E);
  for (let r = 0; r < L * N; r++) {
    for (let o = 0; o < E; o++) {
      let s = p.outB[o];
      for (let i = 0; i < E; i++) s += ctx[r * E + i] * p.outW[o * E + i];
      out[r * E + o] = s;
    }
  }
  return { out, weights };
}

function setup(seed: number) {
  const g = new Generator(seed);
  const mha = new MultiheadAttention(E, H, { generator: g });
  for (const v of mha.stateDict().values()) {
    const t = ops.tensor(randn(v.size, g), v.shape);
    v.assign(t);
    t.dispose();
  }
  const q = randn(L * N * E, g);
  const k = randn(S * N * E, g);
  const v = randn(S * N * E, g);
  const params = (): Params => ({
    inW: data(mha.inProjWeight),
    inB: data(mha.inProjBias!),
    outW: data(mha.outProj.weight),
    outB: data(mha.outProj.bias!),
  });
  return { g, mha, q, k, v, params };
}

Deno.test("MultiheadAttention: PyTorch parameter names and shapes, Xavier in_proj and zero biases", () => {
  const mha = new MultiheadAttention(E, H, { generator: new Generator(1) });
  assertEquals([...mha.stateDict()].map(([k, t]) => [k, t.shape]), [
    ["in_proj_weight", [3 * E, E]],
    ["in_proj_bias", [3 * E]],
    ["out_proj.weight", [E, E]],
    ["out_proj.bias", [E]],
  ]);
  const bound = Math.sqrt(6 / (E + 3 * E)); // fans of the packed [3E, E] weight
  assert(data(mha.inProjWeight).every((x) => Math.abs(x) <= bound));
  assert(data(mha.inProjBias!).every((x) => x === 0) && data(mha.outProj.bias!).every((x) => x === 0));
  assertThrows(() => new MultiheadAttention(10, 3), "embedDim 10 is not divisible by numHeads 3");
});

Deno.test("MultiheadAttention: outputs and averaged weights for every mask kind", () => {
  const { mha, q, k, v, params } = setup(2);
  const g = new Generator(20);
  const blocked2 = Array.from({ length: L * S }, (_, i) => (i % S === (i / S | 0) % S ? 1 : 0)); // one key per query
  const float2 = Array.from(randn(L * S, g));
  const blocked3 = Array.from(
    { length: N * H * L * S },
    (_, i) => ((i * 7) % 5 === 0 && i % S !== 0 ? 1 : 0),
  );
  const float3 = Array.from(randn(N * H * L * S, g));
  const kpm = [0, 0, 1, 0, /* sample 1 */ 0, 1, 0, 1];
  const pad = (bh: number, s: number) => (kpm[Math.floor(bh / H) * S + s] ? -Infinity : 0);
  const cases: {
    name: string;
    attnMask?: () => ops.Tensor;
    keyPaddingMask?: boolean;
    mask: (bh: number, l: number, s: number) => number;
  }[] = [
    { name: "no mask", mask: () => 0 },
    {
      name: "bool (L, S)",
      attnMask: () => ops.tensor(blocked2, [L, S], "bool"),
      mask: (_, l, s) => (blocked2[l * S + s] ? -Infinity : 0),
    },
    {
      name: "float (L, S)",
      attnMask: () => ops.tensor(float2, [L, S]),
      mask: (_, l, s) => float2[l * S + s],
    },
    {
      name: "bool (N·H, L, S)",
      attnMask: () => ops.tensor(blocked3, [N * H, L, S], "bool"),
      mask: (bh, l, s) => (blocked3[(bh * L + l) * S + s] ? -Infinity : 0),
    },
    {
      name: "float (N·H, L, S)",
      attnMask: () => ops.tensor(float3, [N * H, L, S]),
      mask: (bh, l, s) => float3[(bh * L + l) * S + s],
    },
    { name: "key padding", keyPaddingMask: true, mask: (bh, _, s) => pad(bh, s) },
    {
      name: "key padding + bool (L, S)",
      attnMask: () => ops.tensor(blocked2, [L, S], "bool"),
      keyPaddingMask: true,
      mask: (bh, l, s) => (blocked2[l * S + s] ? -Infinity : pad(bh, s)),
    },
    {
      name: "key padding + float (N·H, L, S)",
      attnMask: () => ops.tensor(float3, [N * H, L, S]),
      keyPaddingMask: true,
      mask: (bh, l, s) => pad(bh, s) + float3[(bh * L + l) * S + s],
    },
  ];
  const tq = ops.tensor(q, [L, N, E]);
  const tk = ops.tensor(k, [S, N, E]);
  const tv = ops.tensor(v, [S, N, E]);
  for (const c of cases) {
    const attnMask = c.attnMask?.() ?? null;
    const keyPaddingMask = c.keyPaddingMask ? ops.tensor(kpm, [N, S], "bool") : null;
    const [out, w] = mha.eval().forward(tq, tk, tv, { attnMask, keyPaddingMask });
    const ref = reference(q, k, v, params(), c.mask);
    assertEquals(out.shape, [L, N, E]);
    assertEquals(w!.shape, [N, L, S]);
    assertClose(data(out), ref.out, { ...TOL, label: `${c.name}: output` });
    assertClose(data(w!), ref.weights, { ...TOL, label: `${c.name}: weights` });
    ops.dispose([out, w!, ...(attnMask ? [attnMask] : []), ...(keyPaddingMask ? [keyPaddingMask] : [])]);
  }
  const [out, none] = mha.forward(tq, tk, tv, { needWeights: false });
  assertEquals(none, null);
  const [, perHead] = mha.forward(tq, tk, tv, { averageAttnWeights: false });
  assertEquals(perHead!.shape, [N, H, L, S]);
  assertThrows(
    () => mha.forward(tq, tk, tv, { attnMask: ops.zeros([S, L]) }),
    "attnMask must be (3, 4) or (4, 3, 4), got [4,3]",
  );
  assertThrows(
    () => mha.forward(tq, tk, tv, { keyPaddingMask: ops.zeros([N, S]) }),
    "keyPaddingMask must be bool, got float32",
  );
  ops.dispose([out, perHead!, tq, tk, tv]);
});

Deno.test("MultiheadAttention: a fully masked query row is NaN, as in PyTorch", () => {
  const { mha, q, k, v } = setup(3);
  const mask = ops.tensor(Array.from({ length: L * S }, (_, i) => (i < S ? 1 : 0)), [L, S], "bool");
  const [out] = mha.forward(ops.tensor(q, [L, N, E]), ops.tensor(k, [S, N, E]), ops.tensor(v, [S, N, E]), {
    attnMask: mask,
  });
  const o = data(out);
  assert(o.subarray(0, N * E).every(Number.isNaN), "row 0 (all keys blocked) should be NaN");
  assert(o.subarray(N * E).every(Number.isFinite), "other rows stay finite");
});

Deno.test("MultiheadAttention: dropout on the weights only in training", () => {
  const g = new Generator(4);
  const mha = new MultiheadAttention(E, H, { dropout: 0.5, generator: g });
  const x = ops.tensor(randn(L * N * E, g), [L, N, E]);
  const [, wEval] = mha.eval().forward(x, x, x, { averageAttnWeights: false });
  const [, wEval2] = mha.forward(x, x, x, { averageAttnWeights: false });
  assertEquals(Array.from(data(wEval!)), Array.from(data(wEval2!)));
  const [, wTrain] = mha.train().forward(x, x, x, { averageAttnWeights: false });
  const e = data(wEval!);
  const t = data(wTrain!);
  let zeros = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === 0) zeros++;
    else assertClose([t[i]], [e[i] * 2], { ...TOL, label: "kept weights are scaled by 1/(1-p)" });
  }
  assert(zeros > 0 && zeros < t.length, `dropout zeroed ${zeros} of ${t.length}`);
});

Deno.test("MultiheadAttention: gradients match finite differences (key padding included)", () => {
  const { mha, q, k, v, params } = setup(5);
  const g = new Generator(21);
  const kpm = [0, 1, 0, 0, 0, 0, 0, 1];
  const mask = (bh: number, _l: number, s: number) => (kpm[Math.floor(bh / H) * S + s] ? -Infinity : 0);
  const R = randn(L * N * E, g); // loss = sum(out * R)
  const loss = (p: Params) => reference(q, k, v, p, mask).out.reduce((a, o, i) => a + o * R[i], 0);
  const tq = ops.tensor(q, [L, N, E]);
  const tk = ops.tensor(k, [S, N, E]);
  const tv = ops.tensor(v, [S, N, E]);
  const tm = ops.tensor(kpm, [N, S], "bool");
  const tr = ops.tensor(R, [L, N, E]);
  const vars = [mha.inProjWeight, mha.inProjBias!, mha.outProj.weight, mha.outProj.bias!];
  const { value, grads } = ops.valueAndGrads(
    () => ops.sum(ops.mul(mha.forward(tq, tk, tv, { keyPaddingMask: tm, needWeights: false })[0], tr)),
    vars,
  );
  const base = params();
  assertClose([ops.toArray(value)[0]], [loss(base)], { atol: 1e-4, rtol: 1e-5, label: "loss" });
  const keys: (keyof Params)[] = ["inW", "inB", "outW", "outB"];
  const h = 1e-3;
  keys.forEach((key, vi) => {
    const analytic = data(grads[vars[vi].name]);
    const numeric = new Float64Array(analytic.length);
    for (let i = 0; i < analytic.length; i++) {
      const plus = Float64Array.from(base[key]);
      const minus = Float64Array.from(base[key]);
      plus[i] += h;
      minus[i] -= h;
      numeric[i] = (loss({ ...base, [key]: plus }) - loss({ ...base, [key]: minus })) / (2 * h);
    }
    assert(numeric.some((x) => Math.abs(x) > 1e-3), `${key}: gradient should not vanish`);
    assertClose(analytic, numeric, { atol: 2e-4, rtol: 1e-3, label: `d loss / d ${key}` });
  });
  ops.dispose([value, ...Object.values(grads), tq, tk, tv, tm, tr]);
});
