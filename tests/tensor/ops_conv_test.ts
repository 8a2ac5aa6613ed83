/** conv2d against a naive float64 convolution, on wasm and cpu, through both of its code paths. */
import { assertClose, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { type Case, naiveConv2d } from "./_reference.ts";
import { eq, normals, onBackends, t, values } from "./_util.ts";

const CONV_CASES: Case[] = [
  { n: 2, c: 3, h: 7, w: 6, o: 4, k: [3, 3], opts: { padding: 1 } },
  { n: 1, c: 4, h: 9, w: 8, o: 6, k: [3, 3], opts: { stride: 2, padding: 1 } },
  { n: 1, c: 3, h: 8, w: 8, o: 5, k: [4, 4], opts: { stride: 4 } }, // Swin's patch embedding
  { n: 2, c: 5, h: 6, w: 5, o: 3, k: [1, 1], opts: {} },
  { n: 1, c: 4, h: 9, w: 9, o: 4, k: [3, 3], opts: { dilation: 2, padding: 2 } },
  { n: 1, c: 6, h: 7, w: 5, o: 4, k: [3, 2], opts: { groups: 2, stride: [2, 1], padding: [1, 0] } },
  { n: 1, c: 4, h: 5, w: 5, o: 4, k: [3, 3], opts: { groups: 4, padding: 1 } }, // depthwise
];

Deno.test("conv2d: matches the float64 definition (native and im2col paths)", async () => {
  await onBackends((backend) => {
    CONV_CASES.forEach((cs, ci) => {
      const { n, c, h, w, o, k } = cs;
      const g = cs.opts.groups ?? 1;
      const xd = Float32Array.from(normals(n * c * h * w, 10 + ci));
      const wd = Float32Array.from(normals(o * (c / g) * k[0] * k[1], 20 + ci, 0.3));
      const bd = Float32Array.from(normals(o, 30 + ci));
      const ref = naiveConv2d(xd, wd, bd, cs);
      const x = t(xd, [n, c, h, w]);
      const wt = t(wd, [o, c / g, ...k]);
      const b = t(bd, [o]);
      // Outside a tape: the native kernel where it applies.
      const y = ops.conv2d(x, wt, b, cs.opts);
      eq(y.shape, ref.shape);
      // Sums of <= 54 float32 products of O(1) terms.
      assertClose(values(y), ref.out, { atol: 2e-5, rtol: 1e-5, label: `${backend} case ${ci} native` });
      // Under a tape: im2col + matmul (the path gradients take).
      const wv = ops.variable(wt.clone());
      const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.conv2d(x, wv, b, cs.opts)), [wv]);
      const total = ref.out.reduce((p, v) => p + v, 0);
      assertClose(values(value), [total], { atol: 1e-3, rtol: 1e-5, label: `${backend} case ${ci} taped` });
      ops.dispose([x, wt, b, y, value, wv, grads]);
    });
  });
});

Deno.test("conv2d: im2col path equals the definition elementwise", async () => {
  await onBackends((backend) => {
    CONV_CASES.forEach((cs, ci) => {
      const { n, c, h, w, o, k } = cs;
      const g = cs.opts.groups ?? 1;
      const xd = Float32Array.from(normals(n * c * h * w, 40 + ci));
      const wd = Float32Array.from(normals(o * (c / g) * k[0] * k[1], 50 + ci, 0.3));
      const ref = naiveConv2d(xd, wd, null, cs);
      const x = t(xd, [n, c, h, w]);
      const wv = ops.variable(t(wd, [o, c / g, ...k]));
      let captured: number[] = [];
      // Read the forward value from inside the tape, where conv2d takes the differentiable path.
      ops.valueAndGrads(() => {
        const y = ops.conv2d(x, wv, null, cs.opts);
        captured = values(y);
        return ops.sum(y);
      }, [wv]);
      assertClose(captured, ref.out, { atol: 2e-5, rtol: 1e-5, label: `${backend} case ${ci} im2col` });
      ops.dispose([x, wv]);
    });
  });
});

Deno.test("conv2d: rejects mismatched shapes", () => {
  const x = ops.zeros([1, 3, 4, 4]);
  assertThrows(() => ops.conv2d(x, ops.zeros([4, 2, 3, 3]), null), "groups=1");
  assertThrows(() => ops.conv2d(x, ops.zeros([4, 3, 5, 5]), null), "too small");
  x.dispose();
});
