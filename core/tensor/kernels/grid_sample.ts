/**
 * Bilinear grid sampling (`F.grid_sample`, zeros padding) as TF.js kernels written in plain TypeScript
 * for the `wasm` and `cpu` backends: `DshmpGridSample` (forward) and `DshmpGridSampleGrad` (the
 * gradients in the input and in the grid, in one pass).
 *
 * Why: the composite path (four gathers, weights, masks) costs 130-210 ms per MSDeformAttn level on
 * `wasm`; one loop over samples with channels contiguous does the same work several times faster.
 *
 * The arithmetic follows the composite in `ops.gridSample` in float32 (unnormalisation, floor, corner
 * weights); only the final sum of the four taps and the gradient accumulations are ordered differently
 * (within float32 rounding).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gridSampleKernelAvailable, runGridSample } from "./grid_sample.ts";
 * if (gridSampleKernelAvailable()) runGridSample(tf.ones([1, 1, 2, 2]), tf.zeros([1, 1, 1, 2]), false);
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The forward kernel's name: inputs `x` `[N, C, H, W]`, `grid` `[N, Hg, Wg, 2]`; attr `alignCorners`. */
export const GRID_SAMPLE = "DshmpGridSample";
/** The backward kernel's name: inputs `dy`, `x`, `grid`; outputs `[dx, dgrid]`. */
export const GRID_SAMPLE_GRAD = "DshmpGridSampleGrad";

/** Backends these kernels are registered for. */
export const GRID_SAMPLE_BACKENDS: readonly string[] = ["wasm", "cpu"];

const f32 = Math.fround;

// Scratch buffers reused across calls: fresh multi-megabyte arrays on every call cost time in the
// allocator and the garbage collector.
const scratch: Float32Array[] = [];
/** Scratch buffer `k` with at least `n` elements (contents undefined). */
function buffer(k: number, n: number): Float32Array {
  if (!scratch[k] || scratch[k].length < n) scratch[k] = new Float32Array(n);
  return scratch[k];
}

// ---- the loops ------------------------------------------------------------------------------------

/** `[C, H, W]` planes of batch item `b` of `x` into `[H, W, C]` (channels contiguous). */
function toChannelsLast(x: Float32Array, b: number, c: number, hw: number, out: Float32Array): void {
  const base = b * c * hw;
  for (let ch = 0; ch < c; ch++) {
    const src = base + ch * hw;
    for (let i = 0, o = ch; i < hw; i++, o += c) out[o] = x[src + i];
  }
}

/** `[L, C]` scratch `src` into the `[C, L]` block of batch item `b` of `out`. */
function fromChannelsLast(src: Float32Array, b: number, c: number, l: number, out: Float32Array): void {
  const base = b * c * l;
  for (let ch = 0; ch < c; ch++) {
    const dst = base + ch * l;
    for (let i = 0, o = ch; i < l; i++, o += c) out[dst + i] = src[o];
  }
}

/** The unnormalised coordinate of `g` on an axis of `size` pixels, in float32 like the composite. */
function unnormalise(g: number, size: number, align: boolean): number {
  return align ? f32(f32(g + 1) * f32((size - 1) / 2)) : f32(f32(f32(f32(g + 1) * size) - 1) / 2);
}

/**
 * The forward pass into `out` (`[N, C, P]`). Samples go to a `[P, C]` scratch first: writing them
 * straight into `[C, P]` (stride P per channel) runs at half the speed.
 */
export function gridSampleForward(
  x: Float32Array,
  grid: Float32Array,
  shape: readonly number[],
  p: number,
  align: boolean,
  out: Float32Array,
): void {
  // Small integers for V8 (`| 0`): shapes computed by division arrive as heap doubles, and index
  // arithmetic fed with them once made every later call of these functions 3x slower.
  const [n, c, h, w] = [shape[0] | 0, shape[1] | 0, shape[2] | 0, shape[3] | 0];
  p = p | 0;
  const hw = h * w;
  const xt = buffer(0, hw * c);
  const yt = buffer(1, p * c);
  for (let b = 0; b < n; b++) {
    toChannelsLast(x, b, c, hw, xt);
    for (let q = 0; q < p; q++) {
      const gi = (b * p + q) * 2;
      const ix = unnormalise(grid[gi], w, align);
      const iy = unnormalise(grid[gi + 1], h, align);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const x1 = x0 + 1;
      const y1 = y0 + 1;
      const ax = f32(x1 - ix); // weight of column x0
      const bx = f32(ix - x0); // weight of column x1
      const ay = f32(y1 - iy);
      const by = f32(iy - y0);
      const in0x = x0 >= 0 && x0 <= w - 1;
      const in1x = x1 >= 0 && x1 <= w - 1;
      const in0y = y0 >= 0 && y0 <= h - 1;
      const in1y = y1 >= 0 && y1 <= h - 1;
      // Outside taps read offset 0 with weight 0.
      const w00 = in0x && in0y ? f32(ax * ay) : 0;
      const w10 = in1x && in0y ? f32(bx * ay) : 0;
      const w01 = in0x && in1y ? f32(ax * by) : 0;
      const w11 = in1x && in1y ? f32(bx * by) : 0;
      const o00 = w00 !== 0 ? (y0 * w + x0) * c : 0;
      const o10 = w10 !== 0 ? (y0 * w + x1) * c : 0;
      const o01 = w01 !== 0 ? (y1 * w + x0) * c : 0;
      const o11 = w11 !== 0 ? (y1 * w + x1) * c : 0;
      const ob = q * c;
      for (let ch = 0; ch < c; ch++) {
        yt[ob + ch] = w00 * xt[o00 + ch] + w10 * xt[o10 + ch] + w01 * xt[o01 + ch] + w11 * xt[o11 + ch];
      }
    }
    fromChannelsLast(yt, b, c, p, out);
  }
}

/** The backward pass: `dx` (`[N, C, H, W]`, overwritten) and `dgrid` (`[N, P, 2]`, overwritten). */
export function gridSampleBackward(
  dy: Float32Array,
  x: Float32Array,
  grid: Float32Array,
  shape: readonly number[],
  p: number,
  align: boolean,
  dx: Float32Array,
  dgrid: Float32Array,
): void {
  // Small integers for V8 (`| 0`): shapes computed by division arrive as heap doubles, and index
  // arithmetic fed with them once made every later call of these functions 3x slower.
  const [n, c, h, w] = [shape[0] | 0, shape[1] | 0, shape[2] | 0, shape[3] | 0];
  p = p | 0;
  const hw = h * w;
  const xt = buffer(0, hw * c);
  const dxt = buffer(2, hw * c);
  const dyt = buffer(1, p * c);
  const sx = align ? (w - 1) / 2 : w / 2;
  const sy = align ? (h - 1) / 2 : h / 2;
  for (let b = 0; b < n; b++) {
    toChannelsLast(x, b, c, hw, xt);
    toChannelsLast(dy, b, c, p, dyt);
    dxt.fill(0, 0, hw * c);
    for (let q = 0; q < p; q++) {
      const gi = (b * p + q) * 2;
      const ix = unnormalise(grid[gi], w, align);
      const iy = unnormalise(grid[gi + 1], h, align);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const x1 = x0 + 1;
      const y1 = y0 + 1;
      const ax = f32(x1 - ix);
      const bx = f32(ix - x0);
      const ay = f32(y1 - iy);
      const by = f32(iy - y0);
      const in0x = x0 >= 0 && x0 <= w - 1;
      const in1x = x1 >= 0 && x1 <= w - 1;
      const in0y = y0 >= 0 && y0 <= h - 1;
      const in1y = y1 >= 0 && y1 <= h - 1;
      const m00 = in0x && in0y ? 1 : 0;
      const m10 = in1x && in0y ? 1 : 0;
      const m01 = in0x && in1y ? 1 : 0;
      const m11 = in1x && in1y ? 1 : 0;
      const w00 = m00 * f32(ax * ay);
      const w10 = m10 * f32(bx * ay);
      const w01 = m01 * f32(ax * by);
      const w11 = m11 * f32(bx * by);
      const o00 = m00 ? (y0 * w + x0) * c : 0;
      const o10 = m10 ? (y0 * w + x1) * c : 0;
      const o01 = m01 ? (y1 * w + x0) * c : 0;
      const o11 = m11 ? (y1 * w + x1) * c : 0;
      // Σ_c dy·v at each tap (zero for outside taps through the masks below).
      let s00 = 0, s10 = 0, s01 = 0, s11 = 0;
      const ob = q * c;
      for (let ch = 0; ch < c; ch++) {
        const g = dyt[ob + ch];
        if (g === 0) continue;
        s00 += g * xt[o00 + ch];
        s10 += g * xt[o10 + ch];
        s01 += g * xt[o01 + ch];
        s11 += g * xt[o11 + ch];
        if (m00) dxt[o00 + ch] += g * w00;
        if (m10) dxt[o10 + ch] += g * w10;
        if (m01) dxt[o01 + ch] += g * w01;
        if (m11) dxt[o11 + ch] += g * w11;
      }
      s00 *= m00;
      s10 *= m10;
      s01 *= m01;
      s11 *= m11;
      // d out / d ix: the corner weights' derivatives, (y1 - iy) and (iy - y0) along y.
      const dix = (s10 - s00) * ay + (s11 - s01) * by;
      const diy = (s01 - s00) * ax + (s11 - s10) * bx;
      dgrid[gi] = dix * sx;
      dgrid[gi + 1] = diy * sy;
    }
    fromChannelsLast(dxt, b, c, hw, dx);
  }
}

// ---- backend glue ---------------------------------------------------------------------------------

interface BackendLike {
  readSync(dataId: unknown): Float32Array;
  /** wasm: a fresh heap tensor. */
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** wasm: the heap view of a tensor. */
  typedArrayFromHeap?(t: tf.TensorInfo): Float32Array;
  /** cpu: a tensor over `values`. */
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/**
 * Runs `body` over the float32 arrays of `inputs` and of fresh outputs of `outShapes` on either
 * backend, without copies on `wasm` (the loops read and write the heap).
 */
function withArrays(
  backend: unknown,
  inputs: tf.TensorInfo[],
  outShapes: number[][],
  body: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.TensorInfo[] {
  for (const t of inputs) {
    if (t.dtype !== "float32") throw new Error(`${GRID_SAMPLE}: expected float32 inputs, got ${t.dtype}`);
  }
  const be = backend as BackendLike;
  if (be.makeOutput && be.typedArrayFromHeap) {
    // Allocate first: a heap growth would detach views taken earlier.
    const outs = outShapes.map((s) => be.makeOutput!(s, "float32"));
    body(inputs.map((t) => be.typedArrayFromHeap!(t)), outs.map((t) => be.typedArrayFromHeap!(t)));
    return outs;
  }
  const outs = outShapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  body(inputs.map((t) => be.readSync(t.dataId)), outs);
  return outShapes.map((s, i) => be.makeTensorInfo!(s, "float32", outs[i]));
}

function register(): void {
  for (const backendName of GRID_SAMPLE_BACKENDS) {
    if (!tf.getKernel(GRID_SAMPLE, backendName)) {
      tf.registerKernel({
        kernelName: GRID_SAMPLE,
        backendName,
        kernelFunc: ({ inputs, backend, attrs }) => {
          const { x, grid } = inputs as { x: tf.TensorInfo; grid: tf.TensorInfo };
          const align = Boolean((attrs as { alignCorners?: boolean }).alignCorners);
          const [n, c] = x.shape;
          const [, hg, wg] = grid.shape;
          const [out] = withArrays(backend, [x, grid], [[n, c, hg, wg]], ([xa, ga], [oa]) => {
            gridSampleForward(xa, ga, x.shape, hg * wg, align, oa);
          });
          return out;
        },
      });
    }
    if (!tf.getKernel(GRID_SAMPLE_GRAD, backendName)) {
      tf.registerKernel({
        kernelName: GRID_SAMPLE_GRAD,
        backendName,
        kernelFunc: ({ inputs, backend, attrs }) => {
          const { dy, x, grid } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; grid: tf.TensorInfo };
          const align = Boolean((attrs as { alignCorners?: boolean }).alignCorners);
          const [, hg, wg] = grid.shape;
          return withArrays(
            backend,
            [dy, x, grid],
            [x.shape, grid.shape],
            ([da, xa, ga], [dxa, dga]) => gridSampleBackward(da, xa, ga, x.shape, hg * wg, align, dxa, dga),
          );
        },
      });
    }
  }
}

register();

/** Whether the active backend has these kernels. */
export function gridSampleKernelAvailable(): boolean {
  return GRID_SAMPLE_BACKENDS.includes(tf.getBackend());
}

/**
 * `F.grid_sample` (bilinear, zeros) through the kernels, differentiable in `x` and `grid`; `x`
 * `[N, C, H, W]` and `grid` `[N, Hg, Wg, 2]`, both float32. Use only where
 * {@link gridSampleKernelAvailable}.
 */
export function runGridSample(x: tf.Tensor, grid: tf.Tensor, alignCorners: boolean): tf.Tensor {
  const f = tf.customGrad(
    ((xs: tf.Tensor, gs: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
      save([xs, gs]);
      return {
        value: tf.engine().runKernel(GRID_SAMPLE, { x: xs, grid: gs }, { alignCorners }) as tf.Tensor,
        gradFunc: (dy: tf.Tensor, [sx, sg]: tf.Tensor[]) =>
          tf.engine().runKernel(GRID_SAMPLE_GRAD, { dy, x: sx, grid: sg }, { alignCorners }) as tf.Tensor[],
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor, grid: tf.Tensor) => tf.Tensor;
  return f(x, grid);
}
