/**
 * The ops facade: every tensor operation model code uses, with PyTorch semantics where TF.js differs.
 * Model code imports this module (through `core/tensor/mod.ts`), never TF.js directly, so that another
 * engine can stand behind the same names.
 *
 * Conventions: shapes and axes as in PyTorch (negative axes allowed); `matmul` broadcasts batch
 * dimensions; `linear` takes PyTorch's `[out, in]` weight.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { defaultGenerator, type Generator } from "../random.ts";
import { gridSampleKernelAvailable, runGridSample } from "./kernels/grid_sample.ts";

/** A tensor of the active backend. */
export type Tensor = tf.Tensor;
/** A trainable tensor. */
export type Variable = tf.Variable;
/** Element types the facade supports. */
export type DType = "float32" | "int32" | "bool";
/** Nested arrays or typed arrays accepted as tensor data. */
export type TensorLike = tf.TensorLike;

// ---- creation -------------------------------------------------------------------------------

/** A tensor from data and an optional shape. */
export function tensor(data: TensorLike, shape?: number[], dtype: DType = "float32"): Tensor {
  return tf.tensor(data, shape, dtype);
}

/** A 0-d tensor. */
export function scalar(value: number, dtype: DType = "float32"): Tensor {
  return tf.scalar(value, dtype);
}

/** Zeros of `shape`. */
export function zeros(shape: number[], dtype: DType = "float32"): Tensor {
  return tf.zeros(shape, dtype);
}

/** Ones of `shape`. */
export function ones(shape: number[], dtype: DType = "float32"): Tensor {
  return tf.ones(shape, dtype);
}

/** `shape` filled with `value`. */
export function full(shape: number[], value: number, dtype: DType = "float32"): Tensor {
  return tf.fill(shape, value, dtype);
}

/** Zeros shaped like `x`. */
export function zerosLike(x: Tensor): Tensor {
  return tf.zerosLike(x);
}

/** Ones shaped like `x`. */
export function onesLike(x: Tensor): Tensor {
  return tf.onesLike(x);
}

/** `[start, stop)` with `step`, like `torch.arange`. */
export function arange(start: number, stop?: number, step = 1, dtype: DType = "float32"): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  return tf.range(start, stop, step, dtype === "bool" ? "float32" : dtype);
}

/** A trainable variable initialised from `init` (which the variable takes over). */
export function variable(init: Tensor, trainable = true, name?: string): Variable {
  return tf.variable(init, trainable, name);
}

// ---- elementwise ------------------------------------------------------------------------------

/** `a + b` with broadcasting. */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.add(a, b);
}
/** `a - b` with broadcasting. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.sub(a, b);
}
/** `a * b` with broadcasting. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.mul(a, b);
}
/** `a / b` with broadcasting (true division). */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.div(a, b);
}
/** `-x`. */
export function neg(x: Tensor): Tensor {
  return tf.neg(x);
}
/** `e^x`. */
export function exp(x: Tensor): Tensor {
  return tf.exp(x);
}
/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return tf.log(x);
}
/** Square root. */
export function sqrt(x: Tensor): Tensor {
  return tf.sqrt(x);
}
/** `x^2`. */
export function square(x: Tensor): Tensor {
  return tf.square(x);
}
/** `x^p` elementwise. */
export function pow(x: Tensor, p: Tensor | number): Tensor {
  return tf.pow(x, p);
}
/** `|x|`. */
export function abs(x: Tensor): Tensor {
  return tf.abs(x);
}
/** Logistic sigmoid. */
export function sigmoid(x: Tensor): Tensor {
  return tf.sigmoid(x);
}
/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return tf.tanh(x);
}
/** `max(x, 0)`. */
export function relu(x: Tensor): Tensor {
  return tf.relu(x);
}
/** `max(a, b)` elementwise. */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.maximum(a, b);
}
/** `min(a, b)` elementwise. */
export function minimum(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.minimum(a, b);
}
/** Clamps into `[min, max]` (like `torch.clamp`). */
export function clamp(x: Tensor, min: number, max: number): Tensor {
  return tf.clipByValue(x, min, max);
}
/** Casts to `dtype`. */
export function cast(x: Tensor, dtype: DType): Tensor {
  return tf.cast(x, dtype);
}

/** GELU in its exact erf form (PyTorch's default `nn.GELU()`). */
export function gelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

// ---- comparison and selection (no gradient flows through masks) ---------------------------------

/** `a > b` as bool. */
export function greater(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.greater(a, b);
}
/** `a < b` as bool. */
export function less(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.less(a, b);
}
/** `a == b` as bool. */
export function equal(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.equal(a, b);
}
/** Logical not of a bool tensor. */
export function logicalNot(x: Tensor): Tensor {
  return tf.logicalNot(x);
}
/** `cond ? a : b` with broadcasting. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return tf.tidy(() => {
    const ta = typeof a === "number" ? tf.scalar(a) : a;
    const tb = typeof b === "number" ? tf.scalar(b) : b;
    const shape = tf.broadcast_util.assertAndGetBroadcastShape(
      tf.broadcast_util.assertAndGetBroadcastShape(cond.shape, ta.shape),
      tb.shape,
    );
    return tf.where(tf.broadcastTo(cond, shape), tf.broadcastTo(ta, shape), tf.broadcastTo(tb, shape));
  });
}
/** `x` with `value` where `mask` is true (PyTorch `masked_fill`). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}

// ---- shape ------------------------------------------------------------------------------------

/** Reshape; one dimension may be -1. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  return tf.reshape(x, shape);
}
/** Permutes axes (PyTorch `permute`). */
export function permute(x: Tensor, perm: number[]): Tensor {
  return transposeAxes(x, perm);
}

/**
 * `tf.transpose(x, perm)` with size-1 axes dropped and axes that stay neighbours merged (reshapes cost
 * nothing), so that the backend sees the lowest rank possible. On `wasm`, whose kernel is fast up to
 * rank 4 but takes ~230 ns per element at rank 5 (axis 0 moving) and ~70 ns at rank 6, a transpose
 * still of rank 5 or more runs as a few rank-4 ones, each moving one axis to its place:
 * `[322, 49, 3, 3, 32]` by `[2, 0, 3, 1, 4]` goes from ~320 ms to ~10 ms. Gradients follow through
 * the steps.
 */
function transposeAxes(x: Tensor, perm: number[]): Tensor {
  const r = x.rank;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((a) => !(a >= 0 && a < r))) {
    return tf.transpose(x, perm); // TF.js's own error
  }
  const outShape = perm.map((a) => x.shape[a]);
  const { shape, perm: p } = canonicalPermutation(x.shape, perm);
  if (p.every((a, i) => a === i)) return tf.reshape(x, outShape);
  if (p.length === r) {
    if (r < 5 || tf.getBackend() !== "wasm") return tf.transpose(x, perm);
  } else if (p.length < 5 || tf.getBackend() !== "wasm") {
    return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(x, shape), p), outShape));
  }
  return tf.tidy(() => {
    let y = tf.reshape(x, shape);
    let curShape = shape;
    let cur = p.map((_, i) => i); // the canonical axis at each position of y
    for (let i = 0; i < p.length; i++) {
      // Merge what is already in place; finish in one step once the rest is rank 4 or less.
      const target = p.map((a) => cur.indexOf(a)); // y's axis for each output position
      const c = canonicalPermutation(curShape, target);
      if (c.perm.every((a, k) => a === k)) break;
      if (c.perm.length < 5) {
        y = tf.reshape(tf.transpose(tf.reshape(y, c.shape), c.perm), p.map((a) => shape[a]));
        break;
      }
      // Move the axis wanted at position i there: [before, between, moved, after] -> [0, 2, 1, 3].
      const j = cur.indexOf(p[i]);
      if (j === i) continue;
      const size = (a: number, b: number) => curShape.slice(a, b).reduce((u, v) => u * v, 1);
      const four = [size(0, i), size(i, j), curShape[j], size(j + 1, curShape.length)];
      y = tf.transpose(tf.reshape(y, four), [0, 2, 1, 3]);
      cur = [...cur.slice(0, i), cur[j], ...cur.slice(i, j), ...cur.slice(j + 1)];
      curShape = cur.map((a) => shape[a]);
      y = tf.reshape(y, curShape);
    }
    return tf.reshape(y, outShape);
  });
}

/**
 * The same permutation of the same data with size-1 axes dropped and runs of axes that stay adjacent
 * and in order merged into one.
 */
function canonicalPermutation(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a] !== 1);
  // Groups: maximal runs in `kept` of consecutive input axes (size-1 axes between them are skipped).
  const groups: number[][] = [];
  const nextNonUnit = (a: number) => {
    let b = a + 1;
    while (b < shape.length && shape[b] === 1) b++;
    return b;
  };
  for (const a of kept) {
    const last = groups[groups.length - 1];
    if (last && nextNonUnit(last[last.length - 1]) === a) last.push(a);
    else groups.push([a]);
  }
  // Each group in input order gives one axis of the canonical input.
  const byInput = groups.map((g, k) => ({ first: g[0], k, size: g.reduce((u, a) => u * shape[a], 1) }))
    .sort((u, v) => u.first - v.first);
  const position = new Array<number>(groups.length);
  byInput.forEach((g, i) => (position[g.k] = i));
  return { shape: byInput.map((g) => g.size), perm: groups.map((_, k) => position[k]) };
}
/** Swaps two axes (PyTorch `transpose(d0, d1)`). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const r = x.rank;
  const a = normAxis(dim0, r);
  const b = normAxis(dim1, r);
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return transposeAxes(x, perm);
}
/** Inserts an axis of size 1. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  return tf.expandDims(x, axis < 0 ? x.rank + 1 + axis : axis);
}
/** Removes axes of size 1 (all, or the given ones). */
export function squeeze(x: Tensor, axes?: number[]): Tensor {
  return tf.squeeze(x, axes?.map((a) => normAxis(a, x.rank)));
}
/** Flattens axes `start..end` into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const s = normAxis(start, x.rank);
  const e = normAxis(end, x.rank);
  const shape = [
    ...x.shape.slice(0, s),
    x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1),
    ...x.shape.slice(e + 1),
  ];
  return tf.reshape(x, shape);
}
/** Concatenates along `axis`. */
export function cat(xs: Tensor[], axis = 0): Tensor {
  return tf.concat(xs, axis < 0 ? xs[0].rank + axis : axis);
}
/** Stacks along a new `axis`. */
export function stack(xs: Tensor[], axis = 0): Tensor {
  const a = axis < 0 ? xs[0].rank + 1 + axis : axis;
  if (
    xs.length > 1 && a > 0 && a <= xs[0].rank && sizeOf(xs[0].shape.slice(a)) < 64 &&
    xs.every((x) => x.rank === xs[0].rank && x.shape.every((d, i) => d === xs[0].shape[i])) &&
    tf.getBackend() === "wasm"
  ) {
    // wasm's Concat copies one inner row per input at a time: with short rows ([8, 32, 5880, 4] x 3
    // on axis 3) it runs at ~190 ms; stacking on axis 0 and moving that axis takes ~55 ms.
    return tf.tidy(() =>
      transposeAxes(tf.stack(xs, 0), [
        ...xs[0].shape.slice(0, a).map((_, i) => i + 1),
        0,
        ...xs[0].shape.slice(a).map((_, i) => a + i + 1),
      ])
    );
  }
  return tf.stack(xs, a);
}
/** Splits into pieces of the given sizes (or `n` equal pieces) along `axis`. */
export function split(x: Tensor, sizes: number[] | number, axis = 0): Tensor[] {
  return tf.split(x, sizes, normAxis(axis, x.rank));
}
/** Removes `axis`, returning its slices. */
export function unstack(x: Tensor, axis = 0): Tensor[] {
  return tf.unstack(x, normAxis(axis, x.rank));
}
/** A slice by `begin` and `size` (-1 = to the end). */
export function slice(x: Tensor, begin: number[], size?: number[]): Tensor {
  return sliceMerged(x, begin, size);
}

/**
 * `tf.slice` on the lowest rank that describes the same slice: size-1 axes dropped and every axis taken
 * whole merged into the axis before it. `wasm` slices rank > 4 element by element and copies one
 * innermost row at a time otherwise: a `[1, 5880, 8, 3, 4, 2]` slice of one level took ~150 ms, as
 * `[47040, 24]` -> `[47040, 8]` ~2 ms.
 */
function sliceMerged(x: Tensor, begin: number[], size?: number[]): Tensor {
  const r = x.rank;
  const b = x.shape.map((_, i) => begin[i] ?? 0);
  const s = x.shape.map((
    d,
    i,
  ) => (size === undefined || size[i] === undefined || size[i] === -1 ? d - b[i] : size[i]));
  const valid = begin.length <= r && (size === undefined || size.length <= r) &&
    x.shape.every((d, i) => Number.isInteger(b[i]) && b[i] >= 0 && s[i] >= 0 && b[i] + s[i] <= d);
  if (!valid || r < 2 || s.some((d) => d === 0)) return tf.slice(x, begin, size);
  // Merge from the inside out: axis i+1 taken whole folds into axis i.
  const dims: number[] = [];
  const bs: number[] = [];
  const ss: number[] = [];
  for (let i = r - 1; i >= 0; i--) {
    const d = x.shape[i];
    if (d === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && bs[k] === 0 && ss[k] === dims[k]) {
      dims[k] *= d;
      bs[k] = b[i] * dims[k] / d;
      ss[k] = s[i] * dims[k] / d;
    } else {
      dims.push(d);
      bs.push(b[i]);
      ss.push(s[i]);
    }
  }
  if (dims.length >= r) return tf.slice(x, b, s);
  if (dims.length === 0 || ss.every((d, k) => d === dims[k])) return tf.reshape(x, s);
  return tf.tidy(() => tf.reshape(tf.slice(tf.reshape(x, dims.reverse()), bs.reverse(), ss.reverse()), s));
}
/** `x[start:end]` along one axis (negative indices allowed). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis(axis, x.rank);
  const begin = x.shape.map(() => 0);
  const size = x.shape.map(() => -1);
  begin[a] = start < 0 ? x.shape[a] + start : start;
  size[a] = length;
  return sliceMerged(x, begin, size);
}
/** Broadcasts to `shape`. */
export function broadcastTo(x: Tensor, shape: number[]): Tensor {
  return tf.broadcastTo(x, shape);
}
/** Repeats the tensor along each axis (PyTorch `repeat`). */
export function tile(x: Tensor, reps: number[]): Tensor {
  return tf.tile(x, reps);
}

// ---- reductions -------------------------------------------------------------------------------

/** Sum over `axis` (all when omitted). */
export function sum(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.sum(x, axis, keepDims);
}
/** Mean over `axis` (all when omitted). */
export function mean(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.mean(x, axis, keepDims);
}
/** Max over `axis` (all when omitted). */
export function max(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.max(x, axis, keepDims);
}
/** Min over `axis` (all when omitted). */
export function min(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.min(x, axis, keepDims);
}
/** Index of the maximum along `axis` (int32). */
export function argmax(x: Tensor, axis = -1): Tensor {
  return tf.argMax(x, normAxis(axis, x.rank));
}
/** Softmax along `axis`. */
export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank);
  if (a === x.rank - 1) return tf.softmax(x);
  return tf.tidy(() => {
    const m = tf.max(x, a, true);
    const e = tf.exp(tf.sub(x, m)); // the max cancels in the gradient
    return tf.div(e, tf.sum(e, a, true));
  });
}
/** Log-softmax along `axis`. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank);
  return tf.tidy(() => {
    const m = tf.max(x, a, true);
    const shifted = tf.sub(x, m);
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), a, true)));
  });
}

// ---- linear algebra -----------------------------------------------------------------------------

/** Swaps the last two axes. */
function swapLast(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/**
 * `a @ b` for equal batch shapes, forward and backward without matMul's transpose flags: on `wasm`
 * a flagged 1024^3 product is 20x (transposeB) to 50x (transposeA) slower than an explicit transpose
 * followed by a plain one, and TF.js's own BatchMatMul gradient uses the flags.
 */
const plainMatmul = tf.customGrad(
  ((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (
        dy: Tensor,
        [sa, sb]: Tensor[],
      ) => [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as (a: Tensor, b: Tensor) => Tensor;

/** Matrix product with broadcast batch dimensions (PyTorch `matmul` for rank >= 2). */
export function matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  return tf.tidy(() => {
    let ea = transposeA ? swapLast(a) : a;
    let eb = transposeB ? swapLast(b) : b;
    const batchA = ea.shape.slice(0, -2);
    const batchB = eb.shape.slice(0, -2);
    if (batchA.length !== batchB.length || batchA.some((d, i) => d !== batchB[i])) {
      // TF.js's BatchMatMul gradient does not reduce broadcast batch dimensions: broadcast explicitly,
      // so that broadcastTo's gradient does the reduction.
      const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
      ea = tf.broadcastTo(ea, [...batch, ...ea.shape.slice(-2)]);
      eb = tf.broadcastTo(eb, [...batch, ...eb.shape.slice(-2)]);
    }
    return plainMatmul(ea, eb);
  });
}
/** `x @ weight^T + bias`, weight in PyTorch's `[out, in]` layout; `x` of any rank. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    let y = plainMatmul(tf.reshape(x, [-1, inF]), tf.transpose(weight));
    if (bias) y = tf.add(y, bias);
    return tf.reshape(y, [...lead, weight.shape[0]]);
  });
}

// ---- memory and autograd ----------------------------------------------------------------------

/** Runs `fn`, disposing every intermediate tensor it does not return. */
export function tidy<T extends tf.TensorContainer>(fn: () => T): T {
  return tf.tidy(fn);
}
/** Keeps a tensor alive past the enclosing `tidy`. */
export function keep<T extends Tensor>(x: T): T {
  return tf.keep(x);
}
/** Frees tensors (nested containers allowed). */
export function dispose(x: tf.TensorContainer): void {
  tf.dispose(x);
}
/** Blocks gradients through `x` (PyTorch `detach`). */
export function detach(x: Tensor): Tensor {
  return stopGradient(x);
}
// TF.js exports no stop-gradient op: an identity whose gradient is zero does the job.
const stopGradient = tf.customGrad(
  ((x: Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0],
) as (x: Tensor) => Tensor;
/** Tensors currently alive on the backend. */
export function numTensors(): number {
  return tf.memory().numTensors;
}
/**
 * The value of the scalar `f()` and its gradients with respect to `vars` (all trainable variables
 * it touches when omitted).
 */
export function valueAndGrads(
  f: () => Tensor,
  vars?: Variable[],
): { value: Tensor; grads: Record<string, Tensor> } {
  return tf.variableGrads(f as () => tf.Scalar, vars);
}

/** The values as a flat typed array (synchronous). */
export function toArray(x: Tensor): Float32Array | Int32Array | Uint8Array {
  return x.dataSync() as Float32Array | Int32Array | Uint8Array;
}

/** Normalises a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

// ---- more elementwise -----------------------------------------------------------------------------

/** The Gauss error function. */
export function erf(x: Tensor): Tensor {
  return tf.erf(x);
}
/** `log(1 + e^x)`, like `F.softplus` (beta 1; above its threshold 20 both give `x` to float precision). */
export function softplus(x: Tensor): Tensor {
  return tf.softplus(x);
}
/** `log(sigmoid(x))`, computed stably. */
export function logSigmoid(x: Tensor): Tensor {
  return tf.tidy(() => tf.neg(tf.softplus(tf.neg(x))));
}
/** `1 / sqrt(x)`. */
export function rsqrt(x: Tensor): Tensor {
  return tf.rsqrt(x);
}
/** Rounds down (zero gradient). */
export function floor(x: Tensor): Tensor {
  return tf.floor(x);
}
/** Rounds up (zero gradient). */
export function ceil(x: Tensor): Tensor {
  return tf.ceil(x);
}
/** Rounds half to even, like `torch.round`. */
export function round(x: Tensor): Tensor {
  return tf.round(x);
}
/** Sine. */
export function sin(x: Tensor): Tensor {
  return tf.sin(x);
}
/** Cosine. */
export function cos(x: Tensor): Tensor {
  return tf.cos(x);
}
/** -1, 0 or 1 by sign. */
export function sign(x: Tensor): Tensor {
  return tf.sign(x);
}
/** `log(1 + x)`, accurate near 0 (TF.js's `wasm` kernel computes `log(1 + x)` naively). */
export function log1p(x: Tensor): Tensor {
  return tf.tidy(() => {
    // With u = fl(1 + x): log(u) minus the rounding error of u, relative to u (its gradient is 1/u).
    const u = tf.add(x, 1);
    return tf.sub(tf.log(u), tf.div(tf.sub(tf.sub(u, 1), x), u));
  });
}
/** `a >= b` as bool. */
export function greaterEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.greaterEqual(a, b);
}
/** `a <= b` as bool. */
export function lessEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.lessEqual(a, b);
}
/** `a != b` as bool. */
export function notEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return tf.notEqual(a, b);
}
/** Logical and of bool tensors (broadcasting). */
export function logicalAnd(a: Tensor, b: Tensor): Tensor {
  return tf.logicalAnd(a, b);
}
/** Logical or of bool tensors (broadcasting). */
export function logicalOr(a: Tensor, b: Tensor): Tensor {
  return tf.logicalOr(a, b);
}
/** Whether any element over `axis` is true (all axes when omitted). */
export function any(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.any(x.dtype === "bool" ? x : tf.notEqual(x, 0), axis, keepDims);
}
/** Whether all elements over `axis` are true (all axes when omitted). */
export function all(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.all(x.dtype === "bool" ? x : tf.notEqual(x, 0), axis, keepDims);
}
/** Index of the minimum along `axis` (int32). */
export function argmin(x: Tensor, axis = -1): Tensor {
  return tf.argMin(x, normAxis(axis, x.rank));
}
/** Product over `axis` (all when omitted). */
export function prod(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.prod(x, axis, keepDims);
}
/** Euclidean norm over `axis` (all when omitted), like `torch.norm(x, dim=axis)`. */
export function norm(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), axis, keepDims)));
}
/** Inclusive cumulative sum along `axis`. */
export function cumsum(x: Tensor, axis: number): Tensor {
  return tf.cumsum(x, normAxis(axis, x.rank));
}

// ---- random ---------------------------------------------------------------------------------------

/**
 * Standard normal values of `shape` drawn from `generator` (the process-wide one by default).
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { randn } from "./ops.ts";
 * const a = randn([2, 3], new Generator(0)); // the same numbers on every run and backend
 * ```
 */
export function randn(shape: number[], generator: Generator = defaultGenerator()): Tensor {
  const data = generator.fillNormal(new Float32Array(sizeOf(shape)));
  return tf.tensor(data, shape, "float32");
}
/** Uniform values in [0, 1) of `shape` drawn from `generator` (the process-wide one by default). */
export function rand(shape: number[], generator: Generator = defaultGenerator()): Tensor {
  const data = generator.fillUniform(new Float32Array(sizeOf(shape)));
  return tf.tensor(data, shape, "float32");
}

/**
 * Inverted dropout: zeroes elements with probability `p` and scales the rest by `1/(1-p)`; the mask
 * comes from `generator`. The identity when not `training` or `p` is 0.
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { dropout, ones } from "./ops.ts";
 * const y = dropout(ones([4, 4]), 0.5, true, new Generator(1)); // entries 0 or 2
 * ```
 */
export function dropout(
  x: Tensor,
  p: number,
  training: boolean,
  generator: Generator = defaultGenerator(),
): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return tf.zerosLike(x);
  const n = sizeOf(x.shape);
  const mask = new Float32Array(n);
  const scale = 1 / (1 - p);
  for (let i = 0; i < n; i++) mask[i] = generator.uniform() < p ? 0 : scale;
  return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape, "float32")));
}

// ---- shape ----------------------------------------------------------------------------------------

/**
 * Pads with a constant; `paddings[i] = [before, after]` for axis `i`, first axis first (unlike
 * `F.pad`, which lists the last axis first). Axes not listed are not padded.
 */
export function pad(x: Tensor, paddings: [number, number][], value = 0): Tensor {
  if (paddings.length > x.rank) throw new Error(`pad: ${paddings.length} paddings for rank ${x.rank}`);
  if (paddings.some(([a, b]) => a < 0 || b < 0 || !Number.isInteger(a) || !Number.isInteger(b))) {
    throw new Error(`pad: paddings must be non-negative integers, got ${JSON.stringify(paddings)}`);
  }
  const full = x.shape.map((_, i) => paddings[i] ?? [0, 0]) as [number, number][];
  return tf.pad(x, full, value);
}

/** Rolls elements along `dims` by `shifts` (wrapping around), like `torch.roll`. */
export function roll(x: Tensor, shifts: number | number[], dims: number | number[]): Tensor {
  const s = typeof shifts === "number" ? [shifts] : shifts;
  const d = typeof dims === "number" ? [dims] : dims;
  if (s.length !== d.length) throw new Error(`roll: ${s.length} shifts for ${d.length} dims`);
  return tf.tidy(() => {
    let y = x;
    for (let i = 0; i < s.length; i++) {
      const a = normAxis(d[i], x.rank);
      const n = x.shape[a];
      const k = ((s[i] % n) + n) % n;
      if (k === 0) continue;
      y = tf.concat([narrow(y, a, n - k, k), narrow(y, a, 0, n - k)], a);
    }
    return y === x ? tf.clone(x) : y;
  });
}

// ---- gathering with gradients that work on every backend ------------------------------------------

/**
 * Rows `idx` of a 2-d tensor. The gradient is a ScatterNd (summing repeated indices), because TF.js's
 * own gather gradient needs UnsortedSegmentSum, which `wasm` lacks.
 */
function gatherRows(x2d: Tensor, idx: Tensor): Tensor {
  const f = tf.customGrad(
    ((x: Tensor, save: (ts: Tensor[]) => void) => {
      save([idx]); // kept by the engine until backprop; the caller's tidy disposes `idx` itself
      return {
        value: tf.gatherND(x, tf.reshape(idx, [-1, 1])), // 10x faster than gather on wasm
        gradFunc: (dy: Tensor, [saved]: Tensor[]) => tf.scatterND(tf.reshape(saved, [-1, 1]), dy, x.shape),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: Tensor) => Tensor;
  return f(x2d);
}

function toIndexTensor(indices: number[] | Tensor): Tensor {
  if (Array.isArray(indices)) return tf.tensor1d(indices, "int32");
  return indices.dtype === "int32" ? indices : tf.cast(indices, "int32");
}

/**
 * Entries `indices` of `x` along `axis`, like `torch.index_select` (negative indices are not allowed);
 * differentiable in `x` on every backend.
 *
 * @example
 * ```ts
 * import { indexSelect, tensor } from "./ops.ts";
 * indexSelect(tensor([[1, 2], [3, 4]]), 0, [1, 1, 0]); // [[3, 4], [3, 4], [1, 2]]
 * ```
 */
export function indexSelect(x: Tensor, axis: number, indices: number[] | Tensor): Tensor {
  const a = normAxis(axis, x.rank);
  return tf.tidy(() => {
    const idx = tf.reshape(toIndexTensor(indices), [-1]);
    const perm = [a, ...x.shape.map((_, i) => i).filter((i) => i !== a)];
    const moved = a === 0 ? x : tf.transpose(x, perm);
    const rest = moved.shape.slice(1);
    const rows = gatherRows(tf.reshape(moved, [x.shape[a], -1]), idx);
    const y = tf.reshape(rows, [idx.shape[0], ...rest]);
    return a === 0 ? y : tf.transpose(y, inversePerm(perm));
  });
}

/**
 * Rows of an embedding table for integer `ids` of any shape, like `F.embedding`; the gradient reaches
 * `weight` on every backend. Output shape: `[...ids.shape, D]`.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) throw new Error(`embedding: weight must be [V, D], got [${weight.shape}]`);
  return tf.tidy(() => {
    const rows = gatherRows(weight, tf.reshape(toIndexTensor(ids), [-1]));
    return tf.reshape(rows, [...ids.shape, weight.shape[1] as number]);
  });
}

/**
 * `torch.gather(x, axis, index)`: `out[i][j] = x[i][index[i][j]]` along `axis`; `index` has the rank of
 * `x` and, off `axis`, the same sizes. Differentiable in `x`.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis(axis, x.rank);
  if (index.rank !== x.rank) throw new Error(`gather: index rank ${index.rank} != input rank ${x.rank}`);
  index.shape.forEach((d, i) => {
    if (i !== a && d !== x.shape[i]) {
      throw new Error(`gather: index shape [${index.shape}] does not match input [${x.shape}] off axis ${a}`);
    }
  });
  return tf.tidy(() => {
    // Flat offsets: strides of x for every axis but `a`, plus the index along `a`.
    const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((p, q) => p * q, 1));
    let flat = tf.mul(toIndexTensor(index), tf.scalar(strides[a], "int32"));
    for (let i = 0; i < x.rank; i++) {
      if (i === a) continue;
      const shape = index.shape.map((_, j) => (j === i ? index.shape[i] : 1));
      const r = tf.reshape(
        tf.mul(tf.range(0, index.shape[i], 1, "int32"), tf.scalar(strides[i], "int32")),
        shape,
      );
      flat = tf.add(flat, r);
    }
    const rows = gatherRows(tf.reshape(x, [-1, 1]), tf.reshape(flat, [-1]));
    return tf.reshape(rows, index.shape);
  });
}

// ---- sorting --------------------------------------------------------------------------------------

/**
 * The `k` largest (or smallest) entries along `axis` with their indices (int32), sorted; the values
 * are differentiable in `x`.
 */
export function topk(x: Tensor, k: number, axis = -1, largest = true): { values: Tensor; indices: Tensor } {
  const a = normAxis(axis, x.rank);
  if (!(Number.isInteger(k) && k >= 0 && k <= x.shape[a])) {
    throw new Error(`topk: k=${k} out of range for size ${x.shape[a]}`);
  }
  return tf.tidy(() => {
    const last = moveAxisLast(x, a);
    const src = largest ? last : tf.neg(last);
    const { indices } = tf.topk(src, k, true);
    const idx = moveLastAxisTo(indices, a);
    return { values: gather(x, a, idx), indices: idx };
  });
}

/**
 * Stable sort along `axis` (ties keep index order, NaN sorts as the largest, like `torch.sort(...,
 * stable=True)`); values are differentiable in `x`. Reads the values to the host to order them.
 */
export function sort(x: Tensor, axis = -1, descending = false): { values: Tensor; indices: Tensor } {
  const a = normAxis(axis, x.rank);
  return tf.tidy(() => {
    const indices = argsort(x, a, descending);
    return { values: gather(x, a, indices), indices };
  });
}

/** The indices (int32) that sort `x` stably along `axis` (see {@link sort}). */
export function argsort(x: Tensor, axis = -1, descending = false): Tensor {
  const a = normAxis(axis, x.rank);
  return tf.tidy(() => {
    const last = moveAxisLast(x, a);
    const n = last.shape[last.rank - 1];
    const vals = last.dataSync();
    const out = new Int32Array(vals.length);
    const order = Array.from({ length: n }, (_, i) => i);
    // NaN compares as larger than every number, as in PyTorch.
    const cmp = (p: number, q: number) => {
      const pn = Number.isNaN(p);
      const qn = Number.isNaN(q);
      if (pn || qn) return pn === qn ? 0 : pn ? 1 : -1;
      return p < q ? -1 : p > q ? 1 : 0;
    };
    for (let r = 0; r < vals.length / n; r++) {
      const base = r * n;
      const o = order.map((_, i) => i);
      o.sort((i, j) =>
        (descending ? cmp(vals[base + j], vals[base + i]) : cmp(vals[base + i], vals[base + j])) || i - j
      );
      for (let i = 0; i < n; i++) out[base + i] = o[i];
    }
    return moveLastAxisTo(tf.tensor(out, last.shape, "int32"), a);
  });
}

function moveAxisLast(x: Tensor, a: number): Tensor {
  if (a === x.rank - 1) return x;
  return tf.transpose(x, [...x.shape.map((_, i) => i).filter((i) => i !== a), a]);
}

function moveLastAxisTo(x: Tensor, a: number): Tensor {
  if (a === x.rank - 1) return x;
  const perm = [...x.shape.map((_, i) => i).filter((i) => i !== a), a];
  return tf.transpose(x, inversePerm(perm));
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function sizeOf(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

// ---- normalisation --------------------------------------------------------------------------------

function normalize(x: Tensor, axes: number | number[], eps: number): Tensor {
  const m = tf.mean(x, axes, true);
  const xc = tf.sub(x, m);
  const v = tf.mean(tf.square(xc), axes, true); // biased variance, as PyTorch's norms use
  return tf.mul(xc, tf.rsqrt(tf.add(v, eps)));
}

/**
 * Layer normalisation over the last dimension, like `F.layer_norm(x, (D,), weight, bias, eps)`.
 *
 * @example
 * ```ts
 * import { layerNorm, tensor } from "./ops.ts";
 * layerNorm(tensor([[1, 2, 3]]), null, null, 1e-5); // ~[[-1.2247, 0, 1.2247]]
 * ```
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  return tf.tidy(() => {
    let y = normalize(x, x.rank - 1, eps);
    if (weight) y = tf.mul(y, weight);
    if (bias) y = tf.add(y, bias);
    return y;
  });
}

/** Group normalisation of `[N, C, ...]` with per-channel affine, like `F.group_norm`. */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): Tensor {
  const [n, c] = x.shape;
  if (x.rank < 2 || c % numGroups !== 0) {
    throw new Error(`groupNorm: ${c} channels of [${x.shape}] not divisible into ${numGroups} groups`);
  }
  return tf.tidy(() => {
    let y = tf.reshape(normalize(tf.reshape(x, [n, numGroups, -1]), 2, eps), x.shape);
    const chan = [1, c, ...x.shape.slice(2).map(() => 1)];
    if (weight) y = tf.mul(y, tf.reshape(weight, chan));
    if (bias) y = tf.add(y, tf.reshape(bias, chan));
    return y;
  });
}

/** Instance normalisation of `[N, C, L...]` over `L...`, no affine (PyTorch `InstanceNorm1d` defaults). */
export function instanceNorm(x: Tensor, eps: number): Tensor {
  if (x.rank < 3) throw new Error(`instanceNorm: expected [N, C, L...], got [${x.shape}]`);
  return tf.tidy(() => normalize(x, x.shape.slice(2).map((_, i) => i + 2), eps));
}

// ---- losses ---------------------------------------------------------------------------------------

/**
 * `F.binary_cross_entropy_with_logits`: `max(x, 0) - x*t + log(1 + e^-|x|)`, stable for any logit.
 * `reduction` is `"mean"` (default), `"sum"` or `"none"`.
 */
export function binaryCrossEntropyWithLogits(
  logits: Tensor,
  targets: Tensor,
  reduction: "none" | "mean" | "sum" = "mean",
): Tensor {
  return tf.tidy(() => {
    const loss = tf.add(
      tf.sub(tf.relu(logits), tf.mul(logits, targets)),
      log1p(tf.exp(tf.neg(tf.abs(logits)))),
    );
    if (reduction === "none") return loss;
    return reduction === "sum" ? tf.sum(loss) : tf.mean(loss);
  });
}

// ---- convolution ----------------------------------------------------------------------------------

/** Options of {@link conv2d}, as in `F.conv2d`. */
export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

function pair(v: number | [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === "number" ? [v, v] : v;
}

/** Whether a gradient tape is recording (inside `valueAndGrads` and friends). */
function recordingGradients(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/**
 * 2-d convolution of NCHW `x` with a PyTorch-layout weight `[out, in/groups, kh, kw]`, like `F.conv2d`.
 *
 * Under a gradient tape it runs as im2col + matmul (differentiable on every backend: `wasm` has no
 * Conv2DBackpropFilter and TF.js has no dilated-conv gradient); otherwise, for `groups == 1`, the
 * backend's native convolution (faster), which agrees to float rounding.
 *
 * @example
 * ```ts
 * import { conv2d, ones } from "./ops.ts";
 * const y = conv2d(ones([1, 3, 8, 8]), ones([16, 3, 3, 3]), null, { padding: 1 }); // [1, 16, 8, 8]
 * ```
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  const [dh, dw] = pair(opts.dilation, 1);
  const groups = opts.groups ?? 1;
  if (x.rank !== 4 || weight.rank !== 4) {
    throw new Error(
      `conv2d: expected x [N, C, H, W] and weight [O, C/g, kh, kw], got [${x.shape}], [${weight.shape}]`,
    );
  }
  const [n, c, h, w] = x.shape;
  const [o, cg, kh, kw] = weight.shape;
  if (c !== cg * groups || o % groups !== 0) {
    throw new Error(`conv2d: input [${x.shape}] and weight [${weight.shape}] do not fit groups=${groups}`);
  }
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (ho <= 0 || wo <= 0) throw new Error(`conv2d: input [${x.shape}] too small for kernel ${kh}x${kw}`);
  return tf.tidy(() => {
    let y: Tensor;
    const native = groups === 1 && !recordingGradients() && (sh === 1 && sw === 1 || dh === 1 && dw === 1);
    if (native) {
      const xh = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
      const f = tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D;
      const pads: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [ph, ph],
        [pw, pw],
        [0, 0],
      ];
      y = tf.transpose(tf.conv2d(xh, f, [sh, sw], pads, "NHWC", [dh, dw]), [0, 3, 1, 2]);
    } else if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0) {
      y = groupedMatmul(tf.reshape(x, [n, groups, cg, h * w]), weight, n, groups, o, h, w);
    } else {
      // Pad so every strided window slice stays in bounds, then pick each kernel tap with slices
      // (strides through a reshape: StridedSlice has no gradient).
      const extraH = Math.max(0, (kh - 1) * dh + sh * ho - (h + 2 * ph));
      const extraW = Math.max(0, (kw - 1) * dw + sw * wo - (w + 2 * pw));
      const xp = tf.pad(x, [[0, 0], [0, 0], [ph, ph + extraH], [pw, pw + extraW]]);
      const taps: Tensor[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          let t = tf.slice(xp, [0, 0, i * dh, j * dw], [n, c, sh * ho, sw * wo]);
          if (sh > 1 || sw > 1) {
            // Rank 4, not 6: webgpu's Slice gradient (a Pad) is wrong above rank 4.
            t = tf.slice(tf.reshape(t, [n * c * ho, sh, wo, sw]), [0, 0, 0, 0], [n * c * ho, 1, wo, 1]);
          }
          taps.push(tf.reshape(t, [n, c, ho * wo]));
        }
      }
      const cols = tf.reshape(tf.stack(taps, 2), [n, groups, cg * kh * kw, ho * wo]);
      y = groupedMatmul(cols, weight, n, groups, o, ho, wo);
    }
    if (bias) y = tf.add(y, tf.reshape(bias, [1, o, 1, 1]));
    return y;
  });
}

/**
 * `weight [O, K]` per group times `cols [N, G, K, L]` -> `[N, O, ho, wo]`, with no broadcast batch
 * dimension (TF.js's BatchMatMul gradient does not reduce broadcast dimensions).
 */
function groupedMatmul(
  cols: Tensor,
  weight: Tensor,
  n: number,
  g: number,
  o: number,
  ho: number,
  wo: number,
): Tensor {
  const k = cols.shape[2] as number;
  const l = ho * wo;
  const c = tf.reshape(tf.transpose(cols, [1, 2, 0, 3]), [g, k, n * l]);
  const y = plainMatmul(tf.reshape(weight, [g, o / g, k]), c); // [G, O/G, N*L]
  return tf.reshape(tf.transpose(tf.reshape(y, [g, o / g, n, l]), [2, 0, 1, 3]), [n, o, ho, wo]);
}

// ---- resampling -----------------------------------------------------------------------------------

const f32 = Math.fround;

/** Options of {@link interpolate}, as in `F.interpolate`. */
export interface InterpolateOptions {
  size?: [number, number];
  scaleFactor?: number;
  mode?: InterpolationMode;
  alignCorners?: boolean;
}

/** The resampling modes of {@link interpolate}. */
export type InterpolationMode = "bilinear" | "bicubic" | "nearest";

/** PyTorch's cubic convolution constant (`upsample_bicubic2d`). */
const CUBIC_A = -0.75;

/** The four weights of cubic convolution at fractional offset `t` (PyTorch's `get_cubic_upsample_coefficients`). */
function cubicCoefficients(t: number): [number, number, number, number] {
  const a = CUBIC_A;
  const near = (x: number) => f32(f32(f32(f32(f32((a + 2) * x) - (a + 3)) * x) * x) + 1);
  const far = (x: number) => f32(f32(f32(f32(f32(f32(a * x) - 5 * a) * x) + 8 * a) * x) - 4 * a);
  const u = f32(1 - t);
  return [far(f32(t + 1)), near(t), near(u), far(f32(u + 1))];
}

/**
 * The `[out, in]` matrix that resamples one axis the way PyTorch's CPU kernels do, in float32
 * arithmetic: bilinear (`area_pixel_compute_source_index`), bicubic (cubic convolution with A = -0.75,
 * source positions not clamped, taps clamped to the edge) or legacy nearest (`floor(dst * scale)`).
 * `scale` is the user's scale factor, when one was given.
 */
export function interpolationMatrix(
  inSize: number,
  outSize: number,
  mode: InterpolationMode,
  alignCorners = false,
  scale?: number,
): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const ratio = scale !== undefined && scale > 0 ? f32(1 / scale) : f32(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (mode === "nearest") {
      const src = outSize === inSize ? d : Math.min(Math.floor(f32(d * ratio)), inSize - 1);
      m[d * inSize + src] = 1;
      continue;
    }
    let src: number;
    if (alignCorners) {
      const r = outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0;
      src = f32(r * d);
    } else {
      src = f32(f32(ratio * f32(d + 0.5)) - 0.5);
      if (src < 0 && mode === "bilinear") src = 0;
    }
    if (mode === "bicubic") {
      const i = Math.floor(src);
      cubicCoefficients(f32(src - i)).forEach((c, k) => {
        m[d * inSize + Math.min(Math.max(i - 1 + k, 0), inSize - 1)] += c;
      });
      continue;
    }
    const i0 = Math.floor(src);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = f32(src - i0);
    const l0 = f32(1 - l1);
    m[d * inSize + i0] += l0;
    m[d * inSize + i1] += l1;
  }
  return m;
}

/**
 * Resizes the last two axes of `x` (`[..., H, W]`), like `F.interpolate` with `mode` `"bilinear"`
 * (default; `alignCorners` false by default), `"bicubic"` or `"nearest"` (PyTorch's legacy nearest). With
 * `scaleFactor`, the output is `floor(size * scaleFactor)` and the factor itself sets the sampling
 * positions, as in PyTorch. Runs as two matmuls with precomputed matrices: exact gradients everywhere.
 *
 * @example
 * ```ts
 * import { interpolate, ones } from "./ops.ts";
 * interpolate(ones([1, 1, 4, 4]), { scaleFactor: 2 }).shape; // [1, 1, 8, 8]
 * ```
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const mode = opts.mode ?? "bilinear";
  const align = opts.alignCorners ?? false;
  if (mode === "nearest" && opts.alignCorners !== undefined) {
    throw new Error("interpolate: alignCorners only applies to bilinear and bicubic modes");
  }
  if (x.rank < 3) throw new Error(`interpolate: expected [..., H, W], got [${x.shape}]`);
  const h = x.shape[x.rank - 2];
  const w = x.shape[x.rank - 1];
  let ho: number;
  let wo: number;
  let scale: number | undefined;
  if (opts.size) {
    if (opts.scaleFactor !== undefined) throw new Error("interpolate: give size or scaleFactor, not both");
    [ho, wo] = opts.size;
  } else if (opts.scaleFactor !== undefined) {
    scale = opts.scaleFactor;
    ho = Math.floor(h * scale);
    wo = Math.floor(w * scale);
  } else {
    throw new Error("interpolate: size or scaleFactor is required");
  }
  if (!(ho > 0 && wo > 0)) throw new Error(`interpolate: output size ${ho}x${wo} must be positive`);
  const identity = (i: number, o: number) =>
    i === o && (mode === "nearest" || align || scale === undefined || scale === 1);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -2);
    let y = tf.reshape(x, [-1, w]);
    if (!identity(w, wo)) {
      y = plainMatmul(y, tf.transpose(tf.tensor2d(interpolationMatrix(w, wo, mode, align, scale), [wo, w])));
    }
    y = tf.reshape(y, [-1, h, wo]);
    if (!identity(h, ho)) {
      const t = tf.reshape(tf.transpose(y, [0, 2, 1]), [-1, h]);
      const r = plainMatmul(
        t,
        tf.transpose(tf.tensor2d(interpolationMatrix(h, ho, mode, align, scale), [ho, h])),
      );
      y = tf.transpose(tf.reshape(r, [-1, wo, ho]), [0, 2, 1]);
    }
    return tf.reshape(y, [...lead, ho, wo]);
  });
}

/**
 * Bilinear `F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners)`: `x` is
 * `[N, C, H, W]`, `grid` `[N, Hg, Wg, 2]` holds (x, y) in [-1, 1]; out-of-range taps read zero. The
 * result `[N, C, Hg, Wg]` is differentiable in `x` and in `grid`.
 */
export function gridSample(x: Tensor, grid: Tensor, opts: { alignCorners?: boolean } = {}): Tensor {
  const align = opts.alignCorners ?? false;
  if (x.rank !== 4 || grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0]) {
    throw new Error(
      `gridSample: expected x [N, C, H, W] and grid [N, Hg, Wg, 2], got [${x.shape}], [${grid.shape}]`,
    );
  }
  if (gridSampleKernelAvailable()) {
    // wasm and cpu: one JS loop over the samples (kernels/grid_sample.ts), 4-7x the composite below.
    return tf.tidy(() =>
      runGridSample(
        x.dtype === "float32" ? x : tf.cast(x, "float32"),
        grid.dtype === "float32" ? grid : tf.cast(grid, "float32"),
        align,
      )
    );
  }
  return gridSampleComposite(x, grid, align);
}

/** {@link gridSample} from TF.js ops (four gathers): the path on webgpu and the other backends. */
function gridSampleComposite(x: Tensor, grid: Tensor, align: boolean): Tensor {
  const [n, c, h, w] = x.shape;
  const [, hg, wg] = grid.shape;
  const p = hg * wg;
  return tf.tidy(() => {
    const [gx, gy] = tf.split(tf.reshape(grid, [n, p, 2]), 2, 2);
    const unnorm = (g: Tensor, size: number) =>
      align ? tf.mul(tf.add(g, 1), (size - 1) / 2) : tf.div(tf.sub(tf.mul(tf.add(g, 1), size), 1), 2);
    const ix = unnorm(gx, w);
    const iy = unnorm(gy, h);
    const x0 = tf.floor(ix);
    const y0 = tf.floor(iy);
    const x1 = tf.add(x0, 1);
    const y1 = tf.add(y0, 1);
    // Masks via step (zero gradient) rather than comparisons, which have no gradient at all.
    const inside = (v: Tensor, size: number) =>
      tf.mul(tf.step(tf.add(v, 0.5)), tf.step(tf.sub(size - 0.5, v)));
    const batch = tf.reshape(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(h * w, "int32")), [n, 1, 1]);
    const values = tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [n * h * w, c]);
    const corner = (cx: Tensor, cy: Tensor, weight: Tensor) => {
      const xi = tf.cast(tf.clipByValue(cx, 0, w - 1), "int32");
      const yi = tf.cast(tf.clipByValue(cy, 0, h - 1), "int32");
      const idx = tf.reshape(tf.add(batch, tf.add(tf.mul(yi, tf.scalar(w, "int32")), xi)), [-1]);
      const v = tf.reshape(gatherRows(values, idx), [n, p, c]);
      return tf.mul(v, tf.mul(weight, tf.mul(inside(cx, w), inside(cy, h))));
    };
    const out = tf.addN([
      corner(x0, y0, tf.mul(tf.sub(x1, ix), tf.sub(y1, iy))),
      corner(x1, y0, tf.mul(tf.sub(ix, x0), tf.sub(y1, iy))),
      corner(x0, y1, tf.mul(tf.sub(x1, ix), tf.sub(iy, y0))),
      corner(x1, y1, tf.mul(tf.sub(ix, x0), tf.sub(iy, y0))),
    ]);
    return tf.transpose(tf.reshape(out, [n, hg, wg, c]), [0, 3, 1, 2]);
  });
}

// ---- einsum ---------------------------------------------------------------------------------------

/**
 * `torch.einsum` for one or two operands without repeated letters inside an operand, through
 * transpose / reshape / matmul (TF.js's Einsum kernel is missing on `wasm` and has no gradient).
 * Without `->` the output is the letters that appear once, in alphabetical order.
 *
 * @example
 * ```ts
 * import { einsum, ones } from "./ops.ts";
 * einsum("bqc,bchw->bqhw", ones([2, 5, 8]), ones([2, 8, 4, 4])).shape; // [2, 5, 4, 4]
 * ```
 */
export function einsum(spec: string, ...xs: Tensor[]): Tensor {
  const clean = spec.replace(/\s+/g, "");
  const [lhs, given] = clean.split("->");
  const ins = lhs.split(",");
  if (ins.length !== xs.length || ins.length < 1 || ins.length > 2) {
    throw new Error(
      `einsum "${spec}": ${ins.length} operand specs for ${xs.length} tensors (1 or 2 supported)`,
    );
  }
  const sizes = new Map<string, number>();
  ins.forEach((s, k) => {
    if (!/^[a-zA-Z]*$/.test(s) || new Set(s).size !== s.length || s.length !== xs[k].rank) {
      throw new Error(`einsum "${spec}": operand ${k} "${s}" does not fit shape [${xs[k].shape}]`);
    }
    [...s].forEach((ch, i) => {
      const d = xs[k].shape[i];
      if (sizes.has(ch) && sizes.get(ch) !== d) {
        throw new Error(`einsum "${spec}": letter ${ch} is ${sizes.get(ch)} and ${d}`);
      }
      sizes.set(ch, d);
    });
  });
  const count = (ch: string) => ins.join("").split(ch).length - 1;
  const out = given ?? [...sizes.keys()].filter((ch) => count(ch) === 1).sort().join("");
  for (const ch of out) {
    if (!sizes.has(ch)) throw new Error(`einsum "${spec}": output letter ${ch} not in inputs`);
  }
  const dims = (s: string) => [...s].map((ch) => sizes.get(ch)!);
  return tf.tidy(() => {
    // Sum letters that only one operand has and the output lacks.
    const reduced = xs.map((t, k) => {
      const others = ins.filter((_, j) => j !== k).join("") + out;
      const axes = [...ins[k]].map((ch, i) => (others.includes(ch) ? -1 : i)).filter((i) => i >= 0);
      return {
        t: axes.length ? tf.sum(t, axes) : t,
        s: [...ins[k]].filter((ch) => others.includes(ch)).join(""),
      };
    });
    if (reduced.length === 1) {
      const { t, s } = reduced[0];
      return transposeAxes(t, [...out].map((ch) => s.indexOf(ch)));
    }
    const [a, b] = reduced;
    const batch = [...a.s].filter((ch) => b.s.includes(ch) && out.includes(ch)).join("");
    const contract = [...a.s].filter((ch) => b.s.includes(ch) && !out.includes(ch)).join("");
    const freeA = [...a.s].filter((ch) => !b.s.includes(ch)).join("");
    const freeB = [...b.s].filter((ch) => !a.s.includes(ch)).join("");
    const size = (s: string) => dims(s).reduce((p, d) => p * d, 1);
    const at = tf.reshape(
      transposeAxes(a.t, [...(batch + freeA + contract)].map((ch) => a.s.indexOf(ch))),
      [size(batch), size(freeA), size(contract)],
    );
    const bt = tf.reshape(
      transposeAxes(b.t, [...(batch + contract + freeB)].map((ch) => b.s.indexOf(ch))),
      [size(batch), size(contract), size(freeB)],
    );
    const prodLetters = batch + freeA + freeB;
    const y = tf.reshape(plainMatmul(at, bt), dims(prodLetters));
    return transposeAxes(y, [...out].map((ch) => prodLetters.indexOf(ch)));
  });
}
