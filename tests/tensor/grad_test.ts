/**
 * Gradients of the facade's differentiable ops on wasm and cpu against central finite differences of
 * float64 references, and the tensor count after a forward + backward pass.
 *
 * Tolerance: the finite differences are float64 (step 1e-6: truncation ~1e-12, rounding ~1e-10), so
 * the error is TF.js's float32 backward pass: sums of up to ~100 O(1) products, ~1e-5 relative. We
 * allow atol 5e-5 + rtol 1e-4.
 */
import { assertClose, assertStrictEquals } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { type Case, naiveBilinear, naiveConv2d, naiveGridSample, naiveNormalize } from "./_reference.ts";
import { fdGrad, normals, onBackends, t, uniforms, values } from "./_util.ts";

const TOL = { atol: 5e-5, rtol: 1e-4 };

interface Input {
  data: Float64Array;
  shape: number[];
}

/** float32-representable copies, so the references see exactly what the backend sees. */
function input(data: Float64Array, shape: number[]): Input {
  return { data: Float64Array.from(Float32Array.from(data)), shape };
}

/**
 * Checks d sum(f(inputs) * r)/d input for each input in `wrt` against finite differences of `ref`.
 */
function checkGrads(
  label: string,
  inputs: Input[],
  f: (xs: ops.Tensor[]) => ops.Tensor,
  ref: (xs: Float64Array[]) => ArrayLike<number>,
  wrt: number[] = inputs.map((_, i) => i),
): void {
  const vars = inputs.map((x) => ops.variable(t(x.data, x.shape)));
  const outLen = ref(inputs.map((x) => x.data)).length;
  const r = Float64Array.from(Float32Array.from(normals(outLen, 99)));
  const rt = t(r, [outLen]);
  const { value, grads } = ops.valueAndGrads(
    () => ops.sum(ops.mul(ops.reshape(f(vars), [-1]), rt)),
    wrt.map((i) => vars[i]),
  );
  for (const i of wrt) {
    const fd = fdGrad((xi) => ref(inputs.map((x, j) => (j === i ? xi : x.data))), inputs[i].data.slice(), r);
    assertClose(values(grads[vars[i].name]), fd, { ...TOL, label: `${label} d/dinput${i}` });
  }
  ops.dispose([...vars, rt, value, grads]);
}

Deno.test("grad: gridSample in x and grid, inside and across the border", async () => {
  const [n, c, h, w, hg, wg] = [2, 2, 4, 5, 3, 3];
  // Sample positions whose fractional pixel part stays in [0.1, 0.9]: no kink within the FD step.
  const pix = uniforms(n * hg * wg * 2, 5, 0, 1);
  const gridData = new Float64Array(pix.length);
  for (let i = 0; i < pix.length; i++) {
    const size = i % 2 === 0 ? w : h;
    const whole = Math.floor(pix[i] * (size + 1)) - 1; // -1 .. size-1: some taps outside
    const pos = whole + 0.1 + 0.8 * ((i * 0.618) % 1);
    gridData[i] = align(false, pos, size);
  }
  await onBackends((backend) => {
    for (const alignCorners of [false, true]) {
      const g = alignCorners
        ? gridData.map((v, i) => align(true, unalign(v, i % 2 ? h : w), i % 2 ? h : w))
        : gridData;
      checkGrads(
        `${backend} gridSample align=${alignCorners}`,
        [input(normals(n * c * h * w, 6), [n, c, h, w]), input(g, [n, hg, wg, 2])],
        ([x, gr]) => ops.gridSample(x, gr, { alignCorners }),
        ([x, gr]) => naiveGridSample(x, [n, c, h, w], gr, hg, wg, alignCorners),
      );
    }
  });
});

/** Normalised coordinate of pixel position `pos` (inverse of grid_sample's unnormalisation). */
function align(corners: boolean, pos: number, size: number): number {
  return corners ? (2 * pos) / (size - 1) - 1 : (2 * pos + 1) / size - 1;
}
function unalign(g: number, size: number): number {
  return ((g + 1) * size - 1) / 2;
}

Deno.test("grad: interpolate bilinear (size, scale factor, corners) and nearest", async () => {
  const [h, w] = [4, 5];
  const cases: ops.InterpolateOptions[] = [
    { size: [7, 3] },
    { scaleFactor: 1.5 },
    { size: [6, 9], alignCorners: true },
    { size: [7, 8], mode: "nearest" },
  ];
  await onBackends((backend) => {
    for (const opts of cases) {
      const [ho, wo] = opts.size ?? [Math.floor(h * opts.scaleFactor!), Math.floor(w * opts.scaleFactor!)];
      checkGrads(
        `${backend} interpolate ${JSON.stringify(opts)}`,
        [input(normals(2 * h * w, 7), [1, 2, h, w])],
        ([x]) => ops.interpolate(x, opts),
        ([x]) => {
          const out: number[] = [];
          for (let p = 0; p < 2; p++) {
            const plane = x.subarray(p * h * w, (p + 1) * h * w);
            if (opts.mode === "nearest") {
              for (let oy = 0; oy < ho; oy++) {
                for (let ox = 0; ox < wo; ox++) {
                  out.push(plane[Math.floor((oy * h) / ho) * w + Math.floor((ox * w) / wo)]);
                }
              }
            } else {out.push(
                ...naiveBilinear(plane, h, w, ho, wo, opts.alignCorners ?? false, opts.scaleFactor),
              );}
          }
          return out;
        },
      );
    }
  });
});

Deno.test("grad: conv2d in input, weight and bias (stride, padding, dilation, groups)", async () => {
  const cases: Case[] = [
    { n: 1, c: 2, h: 5, w: 4, o: 3, k: [3, 3], opts: { padding: 1 } },
    { n: 2, c: 2, h: 6, w: 6, o: 2, k: [2, 2], opts: { stride: 2 } },
    { n: 1, c: 2, h: 6, w: 5, o: 2, k: [3, 2], opts: { dilation: [2, 1], padding: [2, 1] } },
    { n: 1, c: 4, h: 4, w: 4, o: 2, k: [3, 3], opts: { groups: 2, padding: 1, stride: [1, 2] } },
  ];
  await onBackends((backend) => {
    cases.forEach((cs, ci) => {
      const g = cs.opts.groups ?? 1;
      checkGrads(
        `${backend} conv2d case ${ci}`,
        [
          input(normals(cs.n * cs.c * cs.h * cs.w, 11 + ci), [cs.n, cs.c, cs.h, cs.w]),
          input(normals(cs.o * (cs.c / g) * cs.k[0] * cs.k[1], 12 + ci, 0.5), [cs.o, cs.c / g, ...cs.k]),
          input(normals(cs.o, 13 + ci), [cs.o]),
        ],
        ([x, wt, b]) => ops.conv2d(x, wt, b, cs.opts),
        ([x, wt, b]) => naiveConv2d(x, wt, b, cs).out,
      );
    });
  });
});

Deno.test("grad: layerNorm and groupNorm in input, weight and bias", async () => {
  await onBackends((backend) => {
    const eps = 1e-5;
    checkGrads(
      `${backend} layerNorm`,
      [input(normals(3 * 6, 21, 2), [3, 6]), input(normals(6, 22), [6]), input(normals(6, 23), [6])],
      ([x, wt, b]) => ops.layerNorm(x, wt, b, eps),
      ([x, wt, b]) => naiveNormalize(x, 6, eps).map((v, i) => v * wt[i % 6] + b[i % 6]),
    );
    checkGrads(
      `${backend} groupNorm`,
      [input(normals(2 * 4 * 3, 24, 2), [2, 4, 3]), input(normals(4, 25), [4]), input(normals(4, 26), [4])],
      ([x, wt, b]) => ops.groupNorm(x, 2, wt, b, eps),
      ([x, wt, b]) =>
        naiveNormalize(x, 6, eps).map((v, i) => v * wt[Math.floor(i / 3) % 4] + b[Math.floor(i / 3) % 4]),
    );
  });
});

Deno.test("grad: embedding and indexSelect reach the table, repeated indices summed", async () => {
  await onBackends((backend) => {
    const ids = [[3, 0, 3], [1, 3, 0]];
    checkGrads(
      `${backend} embedding`,
      [input(normals(5 * 4, 31), [5, 4])],
      ([wt]) => ops.embedding(wt, ops.tensor(ids, [2, 3], "int32")),
      ([wt]) => ids.flat().flatMap((id) => Array.from(wt.subarray(id * 4, id * 4 + 4))),
    );
    const idx = [2, 0, 2, 2];
    checkGrads(
      `${backend} indexSelect`,
      [input(normals(2 * 3 * 2, 32), [2, 3, 2])],
      ([x]) => ops.indexSelect(x, 1, idx),
      ([x]) => {
        const out: number[] = [];
        for (let a = 0; a < 2; a++) {
          for (const i of idx) for (let b = 0; b < 2; b++) out.push(x[(a * 3 + i) * 2 + b]);
        }
        return out;
      },
    );
  });
});

Deno.test("grad: attention softmax(Q K^T / sqrt(d)) V in q, k and v", async () => {
  const [lq, lk, d, dv] = [3, 4, 5, 2];
  const scale = 1 / Math.sqrt(d);
  await onBackends((backend) => {
    checkGrads(
      `${backend} attention`,
      [
        input(normals(lq * d, 41), [lq, d]),
        input(normals(lk * d, 42), [lk, d]),
        input(normals(lk * dv, 43), [lk, dv]),
      ],
      ([q, k, v]) => ops.matmul(ops.softmax(ops.mul(ops.matmul(q, k, false, true), scale), -1), v),
      ([q, k, v]) => {
        const out: number[] = [];
        for (let i = 0; i < lq; i++) {
          const s = Array.from({ length: lk }, (_, j) => {
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[i * d + e] * k[j * d + e];
            return dot * scale;
          });
          const m = Math.max(...s);
          const ex = s.map((x) => Math.exp(x - m));
          const z = ex.reduce((p, x) => p + x, 0);
          for (let e = 0; e < dv; e++) out.push(ex.reduce((p, x, j) => p + (x / z) * v[j * dv + e], 0));
        }
        return out;
      },
    );
  });
});

Deno.test("grad: einsum, topk values and gather", async () => {
  await onBackends((backend) => {
    checkGrads(
      `${backend} einsum`,
      [input(normals(2 * 3 * 4, 51), [2, 3, 4]), input(normals(2 * 4 * 2 * 2, 52), [2, 4, 2, 2])],
      ([a, b]) => ops.einsum("bqc,bchw->bqhw", a, b),
      ([a, b]) => {
        const out: number[] = [];
        for (let bb = 0; bb < 2; bb++) {
          for (let q = 0; q < 3; q++) {
            for (let p = 0; p < 4; p++) {
              let s = 0;
              for (let c = 0; c < 4; c++) s += a[(bb * 3 + q) * 4 + c] * b[(bb * 4 + c) * 4 + p];
              out.push(s);
            }
          }
        }
        return out;
      },
    );
    const x = input(Float64Array.from([0.3, -1.2, 2.5, 0.9, 1.7, -0.4]), [2, 3]);
    checkGrads(`${backend} topk`, [x], ([v]) => ops.topk(v, 2, 1).values, ([v]) => [v[2], v[0], v[4], v[3]]);
    checkGrads(
      `${backend} gather`,
      [x],
      ([v]) => ops.gather(v, 0, ops.tensor([[1, 1, 0]], [1, 3], "int32")),
      ([v]) => [v[3], v[4], v[2]],
    );
  });
});

Deno.test("memory: forward + backward through several ops inside tidy leaves no tensors behind", async () => {
  await onBackends(() => {
    const x = ops.variable(ops.randn([1, 2, 6, 6]));
    const w = ops.variable(ops.randn([3, 2, 3, 3]));
    const before = ops.numTensors();
    const kept = ops.tidy(() => {
      const { value, grads } = ops.valueAndGrads(() => {
        const y = ops.conv2d(x, w, null, { padding: 1 });
        const up = ops.interpolate(y, { size: [9, 9] });
        const g = ops.gridSample(up, ops.mul(ops.rand([1, 4, 4, 2]), 1.6), {});
        const n = ops.groupNorm(g, 3, null, null, 1e-5);
        const e = ops.einsum("bchw,bdhw->bcd", n, n);
        return ops.sum(ops.softmax(ops.layerNorm(e, null, null, 1e-5), -1));
      }, [x, w]);
      return [value, ...Object.values(grads)];
    });
    assertStrictEquals(kept.length, 3);
    assertStrictEquals(ops.numTensors(), before + 3); // only the loss and the two gradients survive
    ops.dispose(kept);
    assertStrictEquals(ops.numTensors(), before);
    ops.dispose([x, w]);
  });
});
