/**
 * The fast paths of ops.ts against float64 references, forward and gradient, on wasm and cpu (and on
 * webgpu where an adapter exists): the gridSample kernels (kernels/grid_sample.ts), permutes through
 * merged axes and rank-4 steps, merged-axis slices and stacks on short rows.
 */
import { assert, assertClose } from "../assert.ts";
import { hasWebgpuAdapter, useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { naiveGridSample } from "./_reference.ts";
import { eq, normals, onBackends, t, uniforms, values } from "./_util.ts";

/** Float64 gradients of `sum(gridSample(x, grid) * r)` in `x` and in `grid` (bilinear, zeros). */
function naiveGridSampleGrads(
  x: ArrayLike<number>,
  [n, c, h, w]: number[],
  grid: ArrayLike<number>,
  p: number,
  r: ArrayLike<number>,
  align: boolean,
): { dx: Float64Array; dgrid: Float64Array } {
  const dx = new Float64Array(n * c * h * w);
  const dgrid = new Float64Array(n * p * 2);
  const un = (g: number, size: number) => (align ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2);
  const scale = (size: number) => (align ? (size - 1) / 2 : size / 2);
  for (let b = 0; b < n; b++) {
    for (let q = 0; q < p; q++) {
      const ix = un(grid[(b * p + q) * 2], w);
      const iy = un(grid[(b * p + q) * 2 + 1], h);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fx = ix - x0;
      const fy = iy - y0;
      // [tx, ty, weight, d weight / d ix, d weight / d iy]
      const taps: number[][] = [
        [x0, y0, (1 - fx) * (1 - fy), -(1 - fy), -(1 - fx)],
        [x0 + 1, y0, fx * (1 - fy), 1 - fy, -fx],
        [x0, y0 + 1, (1 - fx) * fy, -fy, 1 - fx],
        [x0 + 1, y0 + 1, fx * fy, fy, fx],
      ];
      for (const [tx, ty, wt, dwx, dwy] of taps) {
        if (!(tx >= 0 && tx < w && ty >= 0 && ty < h)) continue;
        for (let ch = 0; ch < c; ch++) {
          const g = r[(b * c + ch) * p + q];
          const xi = ((b * c + ch) * h + ty) * w + tx;
          dx[xi] += g * wt;
          dgrid[(b * p + q) * 2] += g * x[xi] * dwx * scale(w);
          dgrid[(b * p + q) * 2 + 1] += g * x[xi] * dwy * scale(h);
        }
      }
    }
  }
  return { dx, dgrid };
}

/** The float64 permutation of `x` (shape `shape`) by `perm`. */
function naivePermute(x: ArrayLike<number>, shape: number[], perm: number[]): Float64Array {
  const out = new Float64Array(x.length);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((a) => shape[a]);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += idx[k] * strides[perm[k]];
    out[o] = x[src];
    for (let k = perm.length - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** The float64 slice of `x` by full `begin` / `size`. */
function naiveSlice(x: ArrayLike<number>, shape: number[], begin: number[], size: number[]): Float64Array {
  const n = size.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let k = 0; k < shape.length; k++) src += (begin[k] + idx[k]) * strides[k];
    out[o] = x[src];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < size[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** A small seeded integer source for shapes and permutations. */
function ints(seed: number): (n: number) => number {
  const u = uniforms(4096, seed, 0, 1);
  let i = 0;
  return (n) => Math.floor(u[i++ % u.length] * n);
}

Deno.test("perf gridSample kernel: forward and both gradients match float64, borders and both conventions", async () => {
  const shape = [3, 5, 6, 7];
  const [n, c, h, w] = shape;
  const p = 4 * 9;
  const xd = Float64Array.from(Float32Array.from(normals(n * c * h * w, 11)));
  // Taps outside the map on every side, and a few far outside.
  const gd = Float64Array.from(Float32Array.from(uniforms(n * p * 2, 12, -1.4, 1.4)));
  gd[0] = 7.5;
  gd[3] = -9;
  const rd = Float64Array.from(Float32Array.from(normals(n * c * p, 13)));
  await onBackends((backend) => {
    for (const alignCorners of [false, true]) {
      const label = `${backend} align=${alignCorners}`;
      const init = [t(xd, shape), t(gd, [n, 4, 9, 2])];
      const before = ops.numTensors();
      const x = ops.variable(init[0]);
      const g = ops.variable(init[1]);
      const r = t(rd, [n, c, 4, 9]);
      const y = ops.gridSample(x, g, { alignCorners });
      eq(y.shape, [n, c, 4, 9]);
      assertClose(values(y), naiveGridSample(xd, shape, gd, 4, 9, alignCorners), {
        atol: 1e-5,
        rtol: 1e-5,
        label,
      });
      const { value, grads } = ops.valueAndGrads(
        () => ops.sum(ops.mul(ops.gridSample(x, g, { alignCorners }), r)),
        [x, g],
      );
      const ref = naiveGridSampleGrads(xd, shape, gd, p, rd, alignCorners);
      assertClose(values(grads[x.name]), ref.dx, { atol: 1e-5, rtol: 1e-5, label: `${label} dx` });
      assertClose(values(grads[g.name]), ref.dgrid, { atol: 1e-4, rtol: 1e-5, label: `${label} dgrid` });
      ops.dispose([x, g, r, y, value, grads]);
      assert(ops.numTensors() === before, `${label}: leaked ${ops.numTensors() - before} tensors`);
      ops.dispose(init);
    }
  });
});

Deno.test("perf gridSample kernel: the MSDeformAttn layout and a non-float32 input", async () => {
  // 2 heads x 8 channels over a 5x9 level, 12 queries x 3 points, as ms_deform_attn calls it.
  const shape = [2, 8, 5, 9];
  const xd = Float64Array.from(Float32Array.from(normals(2 * 8 * 5 * 9, 21)));
  const gd = Float64Array.from(Float32Array.from(uniforms(2 * 12 * 3 * 2, 22, -1.05, 1.05)));
  await onBackends((backend) => {
    const y = ops.gridSample(t(xd, shape), t(gd, [2, 12, 3, 2]));
    assertClose(values(y), naiveGridSample(xd, shape, gd, 12, 3, false), {
      atol: 1e-5,
      rtol: 1e-5,
      label: backend,
    });
    // int32 values are sampled as float32, like the composite does.
    const xi = ops.tensor(Int32Array.from({ length: 4 }, (_, i) => i + 1), [1, 1, 2, 2], "int32");
    assertClose(values(ops.gridSample(xi, t([0, 0], [1, 1, 1, 2]))), [2.5]);
  });
});

Deno.test("perf permute: merged axes and rank-4 steps give the float64 permutation and its gradient", async () => {
  const next = ints(31);
  const cases: { shape: number[]; perm: number[] }[] = [
    { shape: [6, 7, 3, 3, 4], perm: [2, 0, 3, 1, 4] }, // Swin's qkv split
    { shape: [3, 4, 5, 2, 3, 2], perm: [5, 4, 3, 2, 1, 0] },
    { shape: [2, 3, 1, 4, 5, 2, 3], perm: [6, 1, 3, 0, 5, 2, 4] },
    { shape: [1, 4, 3, 2, 3, 5], perm: [0, 1, 3, 2, 4, 5] }, // window partition: merges to rank 4
    { shape: [2, 1, 3], perm: [1, 0, 2] }, // a pure reshape
  ];
  for (let k = 0; k < 30; k++) {
    const r = 1 + next(7);
    const shape = Array.from({ length: r }, () => 1 + next(4));
    const perm = Array.from({ length: r }, (_, i) => i);
    for (let i = r - 1; i > 0; i--) {
      const j = next(i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    cases.push({ shape, perm });
  }
  await onBackends((backend) => {
    for (const { shape, perm } of cases) {
      const label = `${backend} [${shape}] by [${perm}]`;
      const size = shape.reduce((a, b) => a * b, 1);
      const xd = normals(size, size);
      const x = ops.variable(t(xd, shape));
      const y = ops.permute(x, perm);
      eq(y.shape, perm.map((a) => shape[a]), label);
      assertClose(values(y), naivePermute(Float32Array.from(xd), shape, perm), { atol: 0, rtol: 0, label });
      // d sum(permute(x) * r) / dx is r permuted back. (Flat product: wasm's elementwise kernels give
      // wrong values above rank 6, an XNNPACK limit.)
      const rd = normals(size, size + 1);
      const r = t(rd, [size]);
      const { value, grads } = ops.valueAndGrads(
        () => ops.sum(ops.mul(ops.reshape(ops.permute(x, perm), [-1]), r)),
        [x],
      );
      const inverse = perm.map((_, i) => perm.indexOf(i));
      assertClose(values(grads[x.name]), naivePermute(Float32Array.from(rd), y.shape, inverse), {
        atol: 0,
        rtol: 0,
        label: `${label} grad`,
      });
      ops.dispose([x, y, r, value, grads]);
    }
    // transpose and einsum go through the same path.
    const a = t(normals(2 * 3 * 4 * 5 * 6, 40), [2, 3, 4, 5, 6]);
    assertClose(values(ops.transpose(a, 0, 3)), naivePermute(values(a), a.shape, [3, 1, 2, 0, 4]), {
      atol: 0,
      rtol: 0,
    });
    assertClose(
      values(ops.einsum("abcde->ecadb", a)),
      naivePermute(values(a), a.shape, [4, 2, 0, 3, 1]),
      { atol: 0, rtol: 0 },
    );
    a.dispose();
  });
});

Deno.test("perf slice, narrow and stack: merged axes give the float64 values and gradients", async () => {
  const next = ints(51);
  await onBackends((backend) => {
    // The MSDeformAttn level slice, then random ones.
    const cases: { shape: number[]; begin: number[]; size: number[] }[] = [
      { shape: [1, 7, 2, 3, 4, 2], begin: [0, 0, 0, 1, 0, 0], size: [1, 7, 2, 1, 4, 2] },
    ];
    for (let k = 0; k < 40; k++) {
      const r = 1 + next(6);
      const shape = Array.from({ length: r }, () => 1 + next(4));
      const begin = shape.map((d) => next(d));
      const size = shape.map((d, i) => (next(3) === 0 ? d - begin[i] : 1 + next(d - begin[i])));
      if (next(3) === 0) {
        begin.fill(0);
        shape.forEach((d, i) => (size[i] = d));
        size[next(r)] = 1;
      }
      cases.push({ shape, begin, size });
    }
    for (const { shape, begin, size } of cases) {
      const label = `${backend} slice [${shape}] at [${begin}] size [${size}]`;
      const n = shape.reduce((a, b) => a * b, 1);
      const xd = Float32Array.from(normals(n, n + 7));
      const x = ops.variable(t(xd, shape));
      const y = ops.slice(x, begin, size.map((s, i) => (i === 0 && s === shape[0] - begin[0] ? -1 : s)));
      eq(y.shape, size, label);
      assertClose(values(y), naiveSlice(xd, shape, begin, size), { atol: 0, rtol: 0, label });
      // The gradient is r placed at the slice, zeros elsewhere.
      const rd = Float32Array.from(normals(y.size, n + 8));
      const r = t(rd, [y.size]);
      const { value, grads } = ops.valueAndGrads(
        () => ops.sum(ops.mul(ops.reshape(ops.slice(x, begin, size), [-1]), r)),
        [x],
      );
      const flatT = ops.tidy(() => ops.slice(ops.reshape(ops.arange(0, n), shape), begin, size));
      const at = values(flatT);
      flatT.dispose();
      const want = new Float64Array(n);
      at.forEach((flat, i) => (want[flat] = rd[i]));
      assertClose(values(grads[x.name]), want, { atol: 0, rtol: 0, label: `${label} grad` });
      ops.dispose([x, y, r, value, grads]);
    }
    const x = t(normals(2 * 3 * 4, 60), [2, 3, 4]);
    assertClose(values(ops.narrow(x, 1, -2, 2)), naiveSlice(values(x), [2, 3, 4], [0, 1, 0], [2, 2, 4]));
    x.dispose();

    for (const axis of [0, 1, 2, 3, -1]) {
      const label = `${backend} stack axis ${axis}`;
      const parts = [0, 1, 2].map((i) => ops.variable(t(normals(2 * 3 * 4, 70 + i), [2, 3, 4])));
      const y = ops.stack(parts, axis);
      const a = axis < 0 ? 4 + axis : axis;
      const perm = [1, 2, 3];
      perm.splice(a, 0, 0);
      // stack on axis a = stack on axis 0, then axis 0 moved to a.
      const stacked0 = Float64Array.from(parts.flatMap((p) => values(p)));
      assertClose(values(y), naivePermute(stacked0, [3, 2, 3, 4], perm), { atol: 0, rtol: 0, label });
      const rd = normals(y.size, 80);
      const r = t(rd, y.shape);
      const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.mul(ops.stack(parts, axis), r)), parts);
      const back = naivePermute(rd, y.shape, perm.map((_, i) => perm.indexOf(i)));
      parts.forEach((p, i) =>
        assertClose(values(grads[p.name]), back.subarray(i * 24, (i + 1) * 24), {
          atol: 1e-7,
          label: `${label} grad ${i}`,
        })
      );
      ops.dispose([...parts, y, r, value, grads]);
    }
  });
});

Deno.test({
  name: "perf kernels: webgpu keeps the composite gridSample and agrees with cpu's kernel",
  ignore: !(await hasWebgpuAdapter()),
  fn: async () => {
    const shape = [2, 3, 5, 6];
    const xd = normals(2 * 3 * 5 * 6, 91);
    const gd = uniforms(2 * 4 * 3 * 2, 92, -1.2, 1.2);
    const run = async () => {
      const x = ops.variable(t(xd, shape));
      const g = ops.variable(t(gd, [2, 4, 3, 2]));
      const { value, grads } = ops.valueAndGrads(
        () =>
          ops.sum(
            ops.square(ops.permute(ops.reshape(ops.gridSample(x, g), [2, 3, 2, 2, 3]), [4, 2, 0, 3, 1])),
          ),
        [x, g],
      );
      const out = await Promise.all(
        [value, grads[x.name], grads[g.name]].map(async (o) => Array.from(await o.data())),
      );
      ops.dispose([x, g, value, grads]);
      return out;
    };
    await useBackend("cpu");
    const cpu = await run();
    await useBackend("webgpu");
    const gpu = await run();
    await useBackend("wasm");
    cpu.forEach((c, i) => assertClose(gpu[i], c, { atol: 1e-4, rtol: 1e-4, label: `webgpu output ${i}` }));
  },
});
