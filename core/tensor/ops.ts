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
  return tf.transpose(x, perm);
}
/** Swaps two axes (PyTorch `transpose(d0, d1)`). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const r = x.rank;
  const a = normAxis(dim0, r);
  const b = normAxis(dim1, r);
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return tf.transpose(x, perm);
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
  return tf.stack(xs, axis < 0 ? xs[0].rank + 1 + axis : axis);
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
  return tf.slice(x, begin, size);
}
/** `x[start:end]` along one axis (negative indices allowed). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis(axis, x.rank);
  const begin = x.shape.map(() => 0);
  const size = x.shape.map(() => -1);
  begin[a] = start < 0 ? x.shape[a] + start : start;
  size[a] = length;
  return tf.slice(x, begin, size);
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

/** Matrix product with broadcast batch dimensions (PyTorch `matmul` for rank >= 2). */
export function matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  return tf.matMul(a, b, transposeA, transposeB);
}
/** `x @ weight^T + bias`, weight in PyTorch's `[out, in]` layout; `x` of any rank. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return tf.tidy(() => {
    const inF = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    let y = tf.matMul(tf.reshape(x, [-1, inF]), weight, false, true);
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
