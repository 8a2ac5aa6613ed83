/**
 * Normalisation layers with PyTorch's parameter names: {@link LayerNorm} (last dimension) and
 * {@link GroupNorm} (channels of `[N, C, ...]`). Weights start at one, biases at zero.
 *
 * @example
 * ```ts
 * import { GroupNorm, LayerNorm } from "./norm.ts";
 * import * as ops from "../ops.ts";
 * const ln = new LayerNorm(256, { eps: 1e-12 }); // FeatureResizer's eps
 * const gn = new GroupNorm(32, 256);
 * gn.forward(ops.ones([1, 256, 4, 4]));
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor, Variable } from "../ops.ts";
import { Module } from "./module.ts";

/** Options of {@link LayerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learn `weight` and `bias` (default true). */
  elementwiseAffine?: boolean;
}

/** PyTorch's `nn.LayerNorm` over the last dimension (biased variance). */
export class LayerNorm extends Module {
  readonly weight: Variable | null;
  readonly bias: Variable | null;
  readonly eps: number;

  constructor(readonly normalizedShape: number, opts: LayerNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter("weight", ops.ones([normalizedShape])) : null;
    this.bias = affine ? this.registerParameter("bias", ops.zeros([normalizedShape])) : null;
  }

  /** Normalises `x` `[..., normalizedShape]`. */
  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.normalizedShape) {
      throw new Error(
        `LayerNorm(${this.normalizedShape}): input [${x.shape}] has a different last dimension`,
      );
    }
    return ops.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Options of {@link GroupNorm}. */
export interface GroupNormOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learn per-channel `weight` and `bias` (default true). */
  affine?: boolean;
}

/** PyTorch's `nn.GroupNorm(num_groups, num_channels)`. */
export class GroupNorm extends Module {
  readonly weight: Variable | null;
  readonly bias: Variable | null;
  readonly eps: number;

  constructor(readonly numGroups: number, readonly numChannels: number, opts: GroupNormOptions = {}) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter("weight", ops.ones([numChannels])) : null;
    this.bias = affine ? this.registerParameter("bias", ops.zeros([numChannels])) : null;
  }

  /** Normalises `x` `[N, numChannels, ...]`. */
  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numChannels) {
      throw new Error(
        `GroupNorm(${this.numGroups}, ${this.numChannels}): input must be [N, ${this.numChannels}, ...], got [${x.shape}]`,
      );
    }
    return ops.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}
