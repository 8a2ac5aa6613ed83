/**
 * Point sampling for the mask losses (detectron2's PointRend `point_features`): {@link pointSample}
 * reads mask logits at normalised (x, y) points, and {@link getUncertainPointCoordsWithRandomness}
 * picks training points: oversample uniformly, keep the most uncertain (logits nearest 0), fill up with
 * fresh uniform points.
 *
 * Every uniform draw goes through a {@link UniformSource}: {@link generatorUniforms} draws from a
 * {@link Generator}; {@link ReplayedUniforms} hands back recorded draws in call order (how the parity
 * test injects the original's `torch.rand` values).
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { Generator } from "../../../core/random.ts";
 * import { generatorUniforms, getUncertainPointCoordsWithRandomness } from "./point_features.ts";
 * const logits = ops.randn([2, 1, 8, 8], new Generator(1));
 * const coords = getUncertainPointCoordsWithRandomness(logits, 10, 3, 0.75, generatorUniforms(new Generator(2)));
 * coords.shape; // [2, 10, 2]: 7 uncertain points, then 3 random ones
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { defaultGenerator, type Generator } from "../../../core/random.ts";

/** Where uniform [0, 1) float32 draws come from (the original's `torch.rand`). */
export interface UniformSource {
  /** `shape`'s worth of uniform values, row-major. */
  rand(shape: number[]): Float32Array;
}

/**
 * Uniform draws from a {@link Generator} (the process-wide one by default).
 *
 * @example
 * ```ts
 * import { Generator } from "../../../core/random.ts";
 * import { generatorUniforms } from "./point_features.ts";
 * generatorUniforms(new Generator(0)).rand([1, 4, 2]).length; // 8
 * ```
 */
export function generatorUniforms(generator: Generator = defaultGenerator()): UniformSource {
  return {
    rand(shape) {
      const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
      for (let i = 0; i < out.length; i++) {
        // A double just below 1 can round up to 1 in float32; torch.rand never returns 1.
        const u = Math.fround(generator.uniform());
        out[i] = u < 1 ? u : 0.99999994;
      }
      return out;
    },
  };
}

/** One recorded draw: its shape and values. */
export interface RecordedDraw {
  shape: number[];
  data: Float32Array;
}

/**
 * Recorded draws handed back in order; a draw of another shape than recorded is an error, so a
 * mismatch in call order shows at the first wrong call.
 *
 * @example
 * ```ts
 * import { ReplayedUniforms } from "./point_features.ts";
 * const src = new ReplayedUniforms([{ shape: [1, 1, 2], data: new Float32Array([0.25, 0.5]) }]);
 * src.rand([1, 1, 2]); // Float32Array [0.25, 0.5]
 * src.remaining; // 0
 * ```
 */
export class ReplayedUniforms implements UniformSource {
  #draws: RecordedDraw[];
  #next = 0;

  constructor(draws: RecordedDraw[]) {
    this.#draws = draws;
  }

  /** How many recorded draws are still unused. */
  get remaining(): number {
    return this.#draws.length - this.#next;
  }

  rand(shape: number[]): Float32Array {
    const k = this.#next;
    const d = this.#draws[k];
    if (!d) throw new Error(`ReplayedUniforms: draw #${k} of shape [${shape}] requested, only ${k} recorded`);
    if (d.shape.length !== shape.length || d.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`ReplayedUniforms: draw #${k} requested with shape [${shape}], recorded [${d.shape}]`);
    }
    this.#next++;
    return d.data;
  }
}

/**
 * Bilinear samples of `input` `[N, C, H, W]` at `coords` `[N, P, 2]` holding (x, y) in [0, 1]
 * (`align_corners=False`, zeros outside): `[N, C, P]`, differentiable in `input`.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { pointSample } from "./point_features.ts";
 * const x = ops.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
 * pointSample(x, ops.tensor([0.25, 0.25, 0.5, 0.5], [1, 2, 2])); // [[[1, 2.5]]]
 * ```
 */
export function pointSample(input: Tensor, coords: Tensor): Tensor {
  if (coords.rank !== 3 || coords.shape[2] !== 2) {
    throw new Error(`pointSample: coords must be [N, P, 2], got [${coords.shape}]`);
  }
  return ops.tidy(() => {
    const grid = ops.sub(ops.mul(ops.unsqueeze(coords, 2), 2), 1); // [N, P, 1, 2] in [-1, 1]
    return ops.squeeze(ops.gridSample(input, grid, { alignCorners: false }), [3]);
  });
}

/**
 * Uncertainty of class-agnostic mask logits `[R, 1, ...]`: `-|logit|`, highest where the prediction
 * is least sure.
 */
export function calculateUncertainty(logits: Tensor): Tensor {
  if (logits.shape[1] !== 1) {
    throw new Error(`calculateUncertainty: expected [R, 1, ...], got [${logits.shape}]`);
  }
  return ops.neg(ops.abs(logits));
}

/**
 * Training points for `coarseLogits` `[R, 1, H, W]`: `int(numPoints * oversampleRatio)` uniform
 * candidates, of which the `int(importanceSampleRatio * numPoints)` most uncertain are kept (in
 * descending uncertainty), followed by uniform points up to `numPoints`. Returns `[R, numPoints, 2]`
 * (x, y) in [0, 1]; no gradient. Two draws from `uniforms`, in the original's order: the candidates,
 * then the random points (the second only when there are any).
 */
export function getUncertainPointCoordsWithRandomness(
  coarseLogits: Tensor,
  numPoints: number,
  oversampleRatio: number,
  importanceSampleRatio: number,
  uniforms: UniformSource,
): Tensor {
  if (!(oversampleRatio >= 1)) throw new Error(`oversampleRatio must be >= 1, got ${oversampleRatio}`);
  if (!(importanceSampleRatio >= 0 && importanceSampleRatio <= 1)) {
    throw new Error(`importanceSampleRatio must be in [0, 1], got ${importanceSampleRatio}`);
  }
  const r = coarseLogits.shape[0];
  const numSampled = Math.trunc(numPoints * oversampleRatio);
  const candidates = uniforms.rand([r, numSampled, 2]);
  const numUncertain = Math.trunc(importanceSampleRatio * numPoints);
  const numRandom = numPoints - numUncertain;
  const out = new Float32Array(r * numPoints * 2);
  if (r > 0 && numUncertain > 0) {
    const idx = ops.tidy(() => {
      const logits = pointSample(coarseLogits, ops.tensor(candidates, [r, numSampled, 2]));
      const unc = ops.squeeze(calculateUncertainty(logits), [1]);
      return ops.topk(unc, numUncertain, 1).indices;
    });
    const top = ops.toArray(idx);
    ops.dispose(idx);
    for (let b = 0; b < r; b++) {
      for (let k = 0; k < numUncertain; k++) {
        const src = (b * numSampled + top[b * numUncertain + k]) * 2;
        const dst = (b * numPoints + k) * 2;
        out[dst] = candidates[src];
        out[dst + 1] = candidates[src + 1];
      }
    }
  }
  if (numRandom > 0) {
    const extra = uniforms.rand([r, numRandom, 2]);
    for (let b = 0; b < r; b++) {
      out.set(extra.subarray(b * numRandom * 2, (b + 1) * numRandom * 2), (b * numPoints + numUncertain) * 2);
    }
  }
  return ops.tensor(out, [r, numPoints, 2]);
}
