/** The ops facade's additions on wasm and cpu, against hand-computed values and float64 references. */
import { assert, assertClose, assertThrows } from "../assert.ts";
import { Generator } from "../../core/random.ts";
import * as ops from "../../core/tensor/ops.ts";
import { naiveNormalize } from "./_reference.ts";
import { eq, normals, onBackends, t, values } from "./_util.ts";

Deno.test("elementwise: erf, softplus, logSigmoid, rsqrt, rounding, trig, sign", async () => {
  await onBackends((backend) => {
    const x = t([-2.5, -0.5, 0, 0.5, 1.5, 2.5, 30], [7]);
    const xs = [-2.5, -0.5, 0, 0.5, 1.5, 2.5, 30];
    const label = (op: string) => `${backend} ${op}`;
    // erf(0.5) = 0.5204998778, erf(1.5) = 0.9661051465, erf(2.5) = 0.9995930480
    assertClose(values(ops.erf(x)), [
      -0.999593048,
      -0.5204998778,
      0,
      0.5204998778,
      0.9661051465,
      0.999593048,
      1,
    ], {
      atol: 1e-6,
      label: label("erf"),
    });
    assertClose(values(ops.softplus(x)), xs.map((v) => Math.log1p(Math.exp(v))), {
      label: label("softplus"),
    });
    assertClose(values(ops.logSigmoid(x)), xs.map((v) => -Math.log1p(Math.exp(-v))), {
      label: label("logSigmoid"),
    });
    assertClose(values(ops.rsqrt(t([0.25, 4], [2]))), [2, 0.5], { label: label("rsqrt") });
    eq(values(ops.floor(x)), [-3, -1, 0, 0, 1, 2, 30]);
    // `+ 0` folds -0 into 0: PyTorch gives -0 for round(-0.5), TF.js 0; equal as numbers.
    eq(values(ops.ceil(x)).map((v) => v + 0), [-2, 0, 0, 1, 2, 3, 30]);
    eq(values(ops.round(x)).map((v) => v + 0), [-2, 0, 0, 0, 2, 2, 30]); // half to even, like torch.round
    assertClose(values(ops.sin(x)), xs.map(Math.sin), { label: label("sin") });
    assertClose(values(ops.cos(x)), xs.map(Math.cos), { label: label("cos") });
    eq(values(ops.sign(x)), [-1, -1, 0, 1, 1, 1, 1]);
    // Relative accuracy near 0 (a plain log(1 + x) in float32 is 19% off at 1e-7).
    assertClose(values(ops.log1p(t([1e-7, -3e-6, 1], [3]))), [1e-7, Math.log1p(-3e-6), Math.LN2], {
      atol: 0,
    });
  });
});

Deno.test("logic and reductions: logicalAnd/Or, any/all, argmin, prod, norm, cumsum", async () => {
  await onBackends(() => {
    const a = ops.greater(t([1, 0, 1, 0], [2, 2]), 0.5);
    const b = ops.greater(t([1, 1, 0, 0], [2, 2]), 0.5);
    eq(values(ops.logicalAnd(a, b)), [1, 0, 0, 0]);
    eq(values(ops.logicalOr(a, b)), [1, 1, 1, 0]);
    eq(values(ops.any(a, 1)), [1, 1]);
    eq(values(ops.all(a, 0)), [1, 0]);
    eq(values(ops.any(t([0, 0, 2], [3]))), [1]);
    eq(values(ops.all(t([1, 0, 2], [3]))), [0]);
    eq(values(ops.argmin(t([3, 1, 2, 0, 5, 4], [2, 3]), 1)), [1, 0]);
    assertClose(values(ops.prod(t([1, 2, 3, 4], [2, 2]), 1)), [2, 12]);
    assertClose(values(ops.norm(t([3, 4, 6, 8], [2, 2]), -1)), [5, 10]);
    eq(values(ops.cumsum(t([1, 2, 3, 4, 5, 6], [2, 3]), 1)), [1, 3, 6, 4, 9, 15]);
    eq(values(ops.cumsum(t([1, 2, 3, 4, 5, 6], [2, 3]), -2)), [1, 2, 3, 5, 7, 9]);
  });
});

Deno.test("randn, rand and dropout draw from core/random, identically on every backend", async () => {
  const drawn: number[][] = [];
  await onBackends(() => {
    const g = new Generator(7);
    const ref = new Generator(7);
    const n = ops.randn([3, 4], g);
    eq(n.shape, [3, 4]);
    eq(values(n), Array.from(Float32Array.from({ length: 12 }, () => ref.normal())));
    const u = ops.rand([5], g);
    eq(values(u), Array.from(Float32Array.from({ length: 5 }, () => ref.uniform())));
    const d = ops.dropout(ops.ones([1000]), 0.25, true, g);
    const v = values(d);
    assert(v.every((e) => e === 0 || Math.abs(e - 4 / 3) < 1e-6), "dropout keeps x / (1 - p)");
    const dropped = v.filter((e) => e === 0).length;
    assert(dropped > 200 && dropped < 300, `about a quarter dropped, got ${dropped}`);
    drawn.push(v);
    const x = ops.ones([3]);
    assert(ops.dropout(x, 0.5, false) === x, "identity when not training");
    eq(values(ops.dropout(x, 1, true, g)), [0, 0, 0]);
    assertThrows(() => ops.dropout(x, 1.5, true), "dropout probability");
  });
  eq(drawn[0], drawn[1]);
});

Deno.test("pad and roll follow PyTorch", async () => {
  await onBackends(() => {
    const x = t([1, 2, 3, 4, 5, 6], [2, 3]);
    eq(ops.pad(x, [[1, 0], [0, 2]], -1).shape, [3, 5]);
    eq(values(ops.pad(x, [[1, 0], [0, 2]], -1)), [-1, -1, -1, -1, -1, 1, 2, 3, -1, -1, 4, 5, 6, -1, -1]);
    eq(values(ops.pad(x, [[0, 1]])), [1, 2, 3, 4, 5, 6, 0, 0, 0]);
    assertThrows(() => ops.pad(x, [[-1, 0]]), "non-negative");
    // torch.roll(x, 1, 1) -> [[3, 1, 2], [6, 4, 5]]; torch.roll(x, (-1, 1), (0, 1)) -> [[6, 4, 5], [3, 1, 2]]
    eq(values(ops.roll(x, 1, 1)), [3, 1, 2, 6, 4, 5]);
    eq(values(ops.roll(x, [-1, 1], [0, 1])), [6, 4, 5, 3, 1, 2]);
    eq(values(ops.roll(x, 4, -1)), [3, 1, 2, 6, 4, 5]);
    eq(values(ops.roll(x, 0, 0)), [1, 2, 3, 4, 5, 6]);
  });
});

Deno.test("indexSelect, embedding and gather select like PyTorch", async () => {
  await onBackends(() => {
    const x = t([1, 2, 3, 4, 5, 6], [2, 3]);
    eq(values(ops.indexSelect(x, 1, [2, 0, 2])), [3, 1, 3, 6, 4, 6]);
    eq(values(ops.indexSelect(x, 0, ops.tensor([1], [1], "int32"))), [4, 5, 6]);
    const w = t([0, 0.5, 1, 1.5, 2, 2.5], [3, 2]);
    const e = ops.embedding(w, ops.tensor([[2, 0], [1, 1]], [2, 2], "int32"));
    eq(e.shape, [2, 2, 2]);
    eq(values(e), [2, 2.5, 0, 0.5, 1, 1.5, 1, 1.5]);
    // torch.gather(x, 1, [[2, 0], [1, 1]]) -> [[3, 1], [5, 5]]
    eq(values(ops.gather(x, 1, ops.tensor([[2, 0], [1, 1]], [2, 2], "int32"))), [3, 1, 5, 5]);
    eq(values(ops.gather(x, 0, ops.tensor([[1, 0, 1]], [1, 3], "int32"))), [4, 2, 6]);
  });
});

Deno.test("topk, sort and argsort: stable, descending, NaN last", async () => {
  await onBackends(() => {
    const x = t([3, 1, 3, 2, 1, 5], [6]);
    const top = ops.topk(x, 3);
    eq(values(top.values), [5, 3, 3]);
    eq(values(ops.topk(x, 2, 0, false).values), [1, 1]);
    const s = ops.sort(x);
    eq(values(s.values), [1, 1, 2, 3, 3, 5]);
    eq(values(s.indices), [1, 4, 3, 0, 2, 5]); // ties keep index order
    eq(values(ops.argsort(x, 0, true)), [5, 0, 2, 3, 1, 4]);
    const m = t([2, NaN, 1, 0, 5, 5], [2, 3]);
    eq(values(ops.argsort(m, 1)), [2, 0, 1, 0, 1, 2]);
    eq(values(ops.argsort(m, 0, true)), [0, 0, 1, 1, 1, 0]);
    eq(values(ops.sort(m, -1, true).indices), [1, 0, 2, 1, 2, 0]);
    const x2 = t([4, 1, 7, 0, 9, 3], [2, 3]);
    eq(values(ops.topk(x2, 1, 0).indices), [0, 1, 0]);
    eq(values(ops.topk(x2, 2, 1).values), [7, 4, 9, 3]);
  });
});

/** einsum by its definition, in float64. */
function naiveEinsum(spec: string, xs: { data: ArrayLike<number>; shape: number[] }[]): Float64Array {
  const [lhs, out] = spec.split("->");
  const ins = lhs.split(",");
  const size = new Map<string, number>();
  ins.forEach((s, k) => [...s].forEach((ch, i) => size.set(ch, xs[k].shape[i])));
  const letters = [...size.keys()];
  const result = new Float64Array([...out].reduce((p, ch) => p * size.get(ch)!, 1));
  const idx = new Map<string, number>();
  const offset = (s: string) => [...s].reduce((p, ch) => p * size.get(ch)! + idx.get(ch)!, 0);
  const rec = (i: number) => {
    if (i === letters.length) {
      result[offset(out)] += ins.reduce((p, s, k) => p * xs[k].data[offset(s)], 1);
      return;
    }
    for (let v = 0; v < size.get(letters[i])!; v++) {
      idx.set(letters[i], v);
      rec(i + 1);
    }
  };
  rec(0);
  return result;
}

Deno.test("einsum: the original's specs and others against the definition", async () => {
  const cases: [string, number[][]][] = [
    ["bqc,bchw->bqhw", [[2, 3, 4], [2, 4, 3, 5]]],
    ["lbqc,bchw->lbqhw", [[2, 2, 3, 4], [2, 4, 3, 2]]],
    ["bqc,btchw->bqthw", [[2, 3, 4], [2, 2, 4, 3, 2]]],
    ["btqc,btchw->btqhw", [[2, 2, 3, 4], [2, 2, 4, 2, 3]]],
    ["lbqc,btchw->lbqthw", [[2, 1, 3, 4], [1, 2, 4, 2, 2]]],
    ["qc,tchw->qthw", [[3, 4], [2, 4, 3, 2]]],
    ["nc,mc->nm", [[3, 4], [5, 4]]],
    ["qc,qhw->chw", [[3, 4], [3, 2, 2]]],
    ["ij,jk->ki", [[2, 3], [3, 4]]],
    ["abc->ca", [[2, 3, 4]]],
    ["ab,b->a", [[3, 4], [4]]],
  ];
  await onBackends((backend) => {
    cases.forEach(([spec, shapes], ci) => {
      const data = shapes.map((s, k) =>
        Float32Array.from(normals(s.reduce((p, d) => p * d, 1), ci * 10 + k))
      );
      const y = ops.einsum(spec, ...data.map((d, k) => t(d, shapes[k])));
      const ref = naiveEinsum(spec, data.map((d, k) => ({ data: d, shape: shapes[k] })));
      assertClose(values(y), ref, { atol: 1e-5, rtol: 1e-5, label: `${backend} ${spec}` });
    });
    eq(ops.einsum("ij,jk", ops.ones([2, 3]), ops.ones([3, 4])).shape, [2, 4]); // implicit output "ik"
    assertThrows(() => ops.einsum("ij,jk->ik", ops.ones([2, 3]), ops.ones([4, 4])), "letter j");
    assertThrows(() => ops.einsum("ii->i", ops.ones([2, 2])), "does not fit");
  });
});

Deno.test("binaryCrossEntropyWithLogits: stable for large logits, reductions", async () => {
  await onBackends(() => {
    const logits = [-100, -3, 0, 2.5, 100];
    const targets = [0, 1, 0.5, 0, 1];
    const ref = logits.map((x, i) => Math.max(x, 0) - x * targets[i] + Math.log1p(Math.exp(-Math.abs(x))));
    const l = t(logits, [5]);
    const y = t(targets, [5]);
    assertClose(values(ops.binaryCrossEntropyWithLogits(l, y, "none")), ref, { atol: 1e-6 });
    assertClose(values(ops.binaryCrossEntropyWithLogits(l, y)), [ref.reduce((p, v) => p + v) / 5], {
      atol: 1e-5,
    });
    assertClose(values(ops.binaryCrossEntropyWithLogits(l, y, "sum")), [ref.reduce((p, v) => p + v)], {
      atol: 1e-5,
    });
    // F.binary_cross_entropy_with_logits(0., 1.) = log 2
    assertClose(values(ops.binaryCrossEntropyWithLogits(t([0], [1]), t([1], [1]))), [Math.LN2]);
  });
});

Deno.test("layerNorm, groupNorm, instanceNorm against float64 references", async () => {
  await onBackends((backend) => {
    const xd = Float32Array.from(normals(2 * 4 * 3 * 5, 1, 2));
    const x = t(xd, [2, 4, 3, 5]);
    const w5 = Float32Array.from(normals(5, 2));
    const b5 = Float32Array.from(normals(5, 3));
    const ln = naiveNormalize(xd, 5, 1e-5).map((v, i) => v * w5[i % 5] + b5[i % 5]);
    const tol = { atol: 1e-5, rtol: 1e-5 };
    assertClose(values(ops.layerNorm(x, t(w5, [5]), t(b5, [5]), 1e-5)), ln, {
      ...tol,
      label: `${backend} LN`,
    });
    assertClose(values(ops.layerNorm(x, null, null, 1e-12)), naiveNormalize(xd, 5, 1e-12), tol);

    const w4 = Float32Array.from(normals(4, 4));
    const b4 = Float32Array.from(normals(4, 5));
    // 2 groups of 2 channels x 15 positions.
    const gn = naiveNormalize(xd, 30, 1e-5).map((v, i) => {
      const ch = Math.floor(i / 15) % 4;
      return v * w4[ch] + b4[ch];
    });
    assertClose(values(ops.groupNorm(x, 2, t(w4, [4]), t(b4, [4]), 1e-5)), gn, {
      ...tol,
      label: `${backend} GN`,
    });
    assertThrows(() => ops.groupNorm(x, 3, null, null, 1e-5), "not divisible");

    const x3 = t(xd, [2, 4, 15]);
    assertClose(values(ops.instanceNorm(x3, 1e-5)), naiveNormalize(xd, 15, 1e-5), {
      ...tol,
      label: `${backend} IN`,
    });
    assertClose(values(ops.instanceNorm(x, 1e-5)), naiveNormalize(xd, 15, 1e-5), tol);
  });
});

Deno.test("matmul broadcasts batch dimensions, gradients included", async () => {
  await onBackends(() => {
    const a = ops.variable(t(normals(2 * 3, 1), [2, 3]));
    const b = ops.variable(t(normals(4 * 3 * 2, 2), [4, 3, 2]));
    const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.matmul(a, b)), [a, b]);
    eq(grads[a.name].shape, [2, 3]);
    eq(grads[b.name].shape, [4, 3, 2]);
    // d/da sum(a @ b_k) = sum_k sum_j b_k[:, j] broadcast over rows.
    const bv = values(b);
    const ga = [0, 1, 2].map((i) => {
      let s = 0;
      for (let k = 0; k < 4; k++) for (let j = 0; j < 2; j++) s += bv[k * 6 + i * 2 + j];
      return s;
    });
    assertClose(values(grads[a.name]), [...ga, ...ga], { atol: 1e-5 });
    ops.dispose([a, b, value, grads]);
  });
});
