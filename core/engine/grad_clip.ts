/**
 * Gradient clipping as the original configures it with `SOLVER.CLIP_GRADIENTS`:
 *
 * - `"full_model"` (the paper's): `torch.nn.utils.clip_grad_norm_` over every gradient together. The
 *   total norm is the `NORM_TYPE`-norm of the per-tensor norms; every gradient is multiplied by
 *   `min(CLIP_VALUE / (total + 1e-6), 1)`, in float32 as torch does;
 * - `"norm"`: the same, each parameter's gradient on its own (detectron2's per-parameter clipper);
 * - `"value"`: each element clamped to `[-CLIP_VALUE, CLIP_VALUE]`.
 *
 * Gradients live in a {@link GradMap}, a record from variable name to gradient as `valueAndGrads`
 * returns it. Clipping rewrites the record in place, as torch rewrites `.grad`: a clipped entry is
 * replaced by a new tensor and the old one disposed; unclipped entries are left as they are.
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { clipGradNorm } from "./grad_clip.ts";
 * const grads = { w: ops.tensor([3, 4]) };
 * clipGradNorm(grads, 1); // 5 (the norm before clipping)
 * ops.toArray(grads.w); // ≈ [0.6, 0.8]
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { Tensor, Variable } from "../tensor/ops.ts";

/** Gradients by variable name (`Variable.name`), the shape of `valueAndGrads(...).grads`. */
export type GradMap = Record<string, Tensor>;

/** How to clip (`SOLVER.CLIP_GRADIENTS.*`). */
export interface GradClipOptions {
  /** `CLIP_TYPE`. */
  type: "full_model" | "norm" | "value";
  /** `CLIP_VALUE`: the maximum norm, or the maximum magnitude for "value". */
  value: number;
  /** `NORM_TYPE`: the p of the p-norm, `Infinity` for the max norm (default 2). */
  normType?: number;
}

// torch's clip_grad_norm_ adds this to the norm before dividing.
const NORM_EPS = 1e-6;

function tensorNorm(g: Tensor, p: number): Tensor {
  return ops.tidy(() => {
    if (p === Infinity) return ops.max(ops.abs(g));
    if (p === 2) return ops.sqrt(ops.sum(ops.square(g)));
    return ops.pow(ops.sum(ops.pow(ops.abs(g), p)), 1 / p);
  });
}

/**
 * Clips the gradients named by `names` (all of `grads` when omitted) to a joint norm of at most
 * `maxNorm`, in place, and returns their joint norm before clipping (0 when there are none).
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { clipGradNorm } from "./grad_clip.ts";
 * const grads = { a: ops.tensor([3]), b: ops.tensor([4]) };
 * clipGradNorm(grads, 10); // 5, nothing clipped
 * ```
 */
export function clipGradNorm(
  grads: GradMap,
  maxNorm: number,
  { normType = 2, names = Object.keys(grads) }: { normType?: number; names?: readonly string[] } = {},
): number {
  const present = names.filter((n) => grads[n] !== undefined);
  if (present.length === 0) return 0;
  const [total, coef] = ops.tidy(() => {
    const norms = ops.stack(present.map((n) => tensorNorm(grads[n], normType)));
    const total = tensorNorm(norms, normType);
    return [total, ops.minimum(ops.div(maxNorm, ops.add(total, NORM_EPS)), 1.0)];
  });
  const [totalValue] = ops.toArray(total);
  const [coefValue] = ops.toArray(coef);
  ops.dispose(total);
  // torch multiplies by the clamped coefficient unconditionally; a factor of exactly 1 changes nothing.
  if (coefValue < 1) {
    for (const n of present) {
      const clipped = ops.mul(grads[n], coef);
      ops.dispose(grads[n]);
      grads[n] = clipped;
    }
  }
  ops.dispose(coef);
  return totalValue;
}

/**
 * Clamps the gradients named by `names` (all when omitted) to `[-clipValue, clipValue]`, in place.
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { clipGradValue } from "./grad_clip.ts";
 * const grads = { w: ops.tensor([-2, 0.5]) };
 * clipGradValue(grads, 1);
 * ops.toArray(grads.w); // [-1, 0.5]
 * ```
 */
export function clipGradValue(
  grads: GradMap,
  clipValue: number,
  names: readonly string[] = Object.keys(grads),
): void {
  for (const n of names) {
    const g = grads[n];
    if (g === undefined) continue;
    grads[n] = ops.clamp(g, -clipValue, clipValue);
    ops.dispose(g);
  }
}

/**
 * Applies `opts` to the gradients of `params`, in place. Returns the joint norm before clipping for
 * "full_model", `undefined` otherwise.
 *
 * @example
 * ```ts
 * import * as ops from "../tensor/ops.ts";
 * import { clipGradients } from "./grad_clip.ts";
 * const w = ops.variable(ops.zeros([2]));
 * const grads = { [w.name]: ops.tensor([0.3, 0.4]) };
 * clipGradients(grads, [w], { type: "full_model", value: 0.01 }); // 0.5
 * ```
 */
export function clipGradients(
  grads: GradMap,
  params: readonly Variable[],
  opts: GradClipOptions,
): number | undefined {
  const names = params.map((p) => p.name);
  const normType = opts.normType ?? 2;
  switch (opts.type) {
    case "full_model":
      return clipGradNorm(grads, opts.value, { normType, names });
    case "norm":
      for (const n of names) clipGradNorm(grads, opts.value, { normType, names: [n] });
      return undefined;
    case "value":
      clipGradValue(grads, opts.value, names);
      return undefined;
    default:
      throw new RangeError(`unknown clip type "${opts.type}" (full_model, norm, value)`);
  }
}
