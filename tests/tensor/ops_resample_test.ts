/**
 * interpolate and gridSample against plain-TypeScript references of PyTorch's CPU kernels, on wasm and
 * cpu, plus values PyTorch gives for small inputs.
 */
import { assertClose, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { naiveBilinear, naiveGridSample } from "./_reference.ts";
import { eq, normals, onBackends, t, uniforms, values } from "./_util.ts";

const f32 = Math.fround;

/** PyTorch's legacy nearest on one plane. */
function naiveNearest(x: ArrayLike<number>, h: number, w: number, ho: number, wo: number, scale?: number) {
  const idx = (d: number, inS: number, outS: number) =>
    inS === outS ? d : Math.min(Math.floor(f32(d * (scale ? f32(1 / scale) : f32(inS / outS)))), inS - 1);
  const out = new Float64Array(ho * wo);
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) out[oy * wo + ox] = x[idx(oy, h, ho) * w + idx(ox, w, wo)];
  }
  return out;
}

function planes(
  x: Float64Array,
  planesN: number,
  h: number,
  w: number,
  fn: (p: Float64Array) => Float64Array,
) {
  const outs: number[] = [];
  for (let i = 0; i < planesN; i++) outs.push(...fn(x.subarray(i * h * w, (i + 1) * h * w)));
  return outs;
}

Deno.test("interpolate: PyTorch values for small inputs", async () => {
  await onBackends(() => {
    // F.interpolate([[1., 2.]], size=(1, 4), mode="bilinear", align_corners=False)
    assertClose(values(ops.interpolate(t([1, 2], [1, 1, 1, 2]), { size: [1, 4] })), [1, 1.25, 1.75, 2]);
    // align_corners=True: [1, 4/3, 5/3, 2]
    assertClose(
      values(ops.interpolate(t([1, 2], [1, 1, 1, 2]), { size: [1, 4], alignCorners: true })),
      [1, 4 / 3, 5 / 3, 2],
    );
    // nearest 3 -> 5: floor(d * 0.6) = [0, 0, 1, 1, 2]
    eq(values(ops.interpolate(t([7, 8, 9], [1, 1, 1, 3]), { size: [1, 5], mode: "nearest" })), [
      7,
      7,
      8,
      8,
      9,
    ]);
  });
});

Deno.test("interpolate: bilinear and nearest match the reference, sizes and scale factors", async () => {
  const cases: { h: number; w: number; opts: ops.InterpolateOptions }[] = [
    { h: 5, w: 7, opts: { size: [11, 3] } },
    { h: 6, w: 4, opts: { size: [3, 9], alignCorners: true } },
    { h: 5, w: 3, opts: { scaleFactor: 1.5 } }, // scale 1/1.5 differs from in/out = 3/4
    { h: 8, w: 8, opts: { scaleFactor: 0.3 } },
    { h: 4, w: 6, opts: { size: [4, 6] } },
    { h: 5, w: 7, opts: { size: [13, 4], mode: "nearest" } },
    { h: 5, w: 3, opts: { scaleFactor: 1.7, mode: "nearest" } },
  ];
  await onBackends((backend) => {
    for (const { h, w, opts } of cases) {
      const x = normals(2 * 3 * h * w, h * 10 + w);
      const y = ops.interpolate(t(x, [2, 3, h, w]), opts);
      const [ho, wo] = opts.size ?? [Math.floor(h * opts.scaleFactor!), Math.floor(w * opts.scaleFactor!)];
      eq(y.shape, [2, 3, ho, wo]);
      const ref = planes(
        x,
        6,
        h,
        w,
        (p) =>
          opts.mode === "nearest"
            ? naiveNearest(p, h, w, ho, wo, opts.scaleFactor)
            : naiveBilinear(p, h, w, ho, wo, opts.alignCorners ?? false, opts.scaleFactor),
      );
      // float32 inputs, two float32 matmul passes of 2 nonzero terms: ~1e-6 absolute on O(1) values.
      assertClose(values(y), ref, { atol: 2e-6, rtol: 1e-5, label: `${backend} ${JSON.stringify(opts)}` });
      y.dispose();
    }
  });
});

Deno.test("interpolate: scaleFactor positions differ from the size-derived ones, as in PyTorch", async () => {
  await onBackends(() => {
    const x = t([0, 1, 2], [1, 1, 1, 3]);
    const bySize = values(ops.interpolate(x, { size: [1, 4] }));
    const byScale = values(ops.interpolate(x, { scaleFactor: 1.5 }));
    // size: scale 3/4 -> src = 0.75*(d+0.5)-0.5 = [0, 0.625, 1.375, 2]; factor: 1/1.5 -> [0, 0.5, 1.1667, 1.8333]
    assertClose(bySize, [0, 0.625, 1.375, 2]);
    assertClose(byScale, [0, 0.5, 7 / 6, 11 / 6], { atol: 1e-6 });
  });
});

Deno.test("interpolate: rejects bad arguments", () => {
  const x = ops.zeros([1, 1, 2, 2]);
  assertThrows(() => ops.interpolate(x, {}), "size or scaleFactor");
  assertThrows(() => ops.interpolate(x, { size: [2, 2], scaleFactor: 2 }), "not both");
  assertThrows(
    () => ops.interpolate(x, { size: [2, 2], mode: "nearest", alignCorners: false }),
    "alignCorners",
  );
  x.dispose();
});

Deno.test("gridSample: PyTorch values and the reference, both corner conventions", async () => {
  await onBackends((backend) => {
    const x = t([1, 2, 3, 4], [1, 1, 2, 2]);
    const g = t([0, 0, -1, -1, 1, 1, 0.5, -0.25], [1, 1, 4, 2]);
    // F.grid_sample(x, g, align_corners=False) -> [2.5, 0.25, 1.0, 2.5]
    assertClose(values(ops.gridSample(x, g)), [2.5, 0.25, 1, 2.5]);
    // align_corners=True -> [2.5, 1.0, 4.0, 2.5]
    assertClose(values(ops.gridSample(x, g, { alignCorners: true })), [2.5, 1, 4, 2.5]);

    const shape = [2, 3, 5, 6];
    const data = normals(2 * 3 * 5 * 6, 3);
    const grid = uniforms(2 * 4 * 7 * 2, 4, -1.3, 1.3); // some taps fall outside: zero padding
    for (const align of [false, true]) {
      const y = ops.gridSample(t(data, shape), t(grid, [2, 4, 7, 2]), { alignCorners: align });
      eq(y.shape, [2, 3, 4, 7]);
      const ref = naiveGridSample(Float32Array.from(data), shape, Float32Array.from(grid), 4, 7, align);
      assertClose(values(y), ref, { atol: 1e-5, rtol: 1e-5, label: `${backend} align=${align}` });
    }
  });
});

Deno.test("interpolate bicubic: PyTorch's values and gradients (A = -0.75, edge taps clamped)", async () => {
  const url = new URL("../fixtures/torch/interpolate_bicubic.json", import.meta.url);
  const { cases } = JSON.parse(await Deno.readTextFile(url)) as {
    cases: {
      inSize: [number, number];
      outSize: [number, number];
      alignCorners: boolean;
      y: number[];
      grad: number[];
    }[];
  };
  await onBackends(() => {
    for (const c of cases) {
      const [h, w] = c.inSize;
      const [ho, wo] = c.outSize;
      const label = `${h}x${w} -> ${ho}x${wo}, alignCorners ${c.alignCorners}`;
      const x = ops.variable(t(Array.from({ length: h * w }, (_, i) => Math.sin(0.37 * i)), [1, 1, h, w]));
      const g = t(Array.from({ length: ho * wo }, (_, i) => Math.cos(0.11 * i)), [1, 1, ho, wo]);
      let y: number[] = [];
      const { value, grads } = ops.valueAndGrads(() => {
        const out = ops.interpolate(x, { size: [ho, wo], mode: "bicubic", alignCorners: c.alignCorners });
        y = values(out);
        return ops.sum(ops.mul(out, g));
      }, [x]);
      // The fixture keeps 6 decimals; float32 sums in another order differ by a few ulp.
      assertClose(y, c.y, { atol: 2e-6, rtol: 1e-5, label: `${label}: values` });
      assertClose(values(Object.values(grads)[0]), c.grad, {
        atol: 2e-6,
        rtol: 1e-5,
        label: `${label}: grad`,
      });
      ops.dispose([x, g, value, ...Object.values(grads)]);
    }
  });
});
