/**
 * Convolutions in PyTorch's NCHW layout with weight `[out, in/groups, kh, kw]`: detectron2's
 * {@link Conv2d} (an optional `norm` module and `activation` after the convolution) and a plain
 * {@link Conv1d}.
 *
 * @example
 * ```ts
 * import { Conv2d } from "./conv.ts";
 * import { GroupNorm } from "./norm.ts";
 * import * as ops from "../ops.ts";
 * // detectron2: Conv2d(8, 16, 3, padding=1, bias=False, norm=GroupNorm(4, 16), activation=F.relu)
 * const conv = new Conv2d(8, 16, 3, { padding: 1, bias: false, norm: new GroupNorm(4, 16), activation: ops.relu });
 * const y = conv.forward(ops.ones([1, 8, 5, 5])); // [1, 16, 5, 5]; keys weight, norm.weight, norm.bias
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor, Variable } from "../ops.ts";
import type { Generator } from "../../random.ts";
import { Module, type UnaryModule } from "./module.ts";
import { defaultLinearInit } from "./init.ts";

/** A size per spatial axis, or one for all. */
export type Pair = number | [number, number];

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** A normalisation applied after the convolution, registered as child `norm`. */
  norm?: UnaryModule | null;
  /** A function applied last (not a module: it has no state). */
  activation?: ((x: Tensor) => Tensor) | null;
  /** Where the default initialisation draws from. */
  generator?: Generator;
}

/** detectron2's `Conv2d`: `activation(norm(conv(x)))`, input `[N, C, H, W]`. */
export class Conv2d extends Module {
  readonly weight: Variable;
  readonly bias: Variable | null;
  readonly norm: UnaryModule | null;
  readonly activation: ((x: Tensor) => Tensor) | null;
  readonly #opts: { stride: Pair; padding: Pair; dilation: Pair; groups: number };

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: Conv2dOptions = {},
  ) {
    super();
    const groups = opts.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv2d: channels ${inChannels} -> ${outChannels} not divisible by groups ${groups}`);
    }
    const [kh, kw] = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
    this.weight = this.registerParameter("weight", ops.zeros([outChannels, inChannels / groups, kh, kw]));
    this.bias = (opts.bias ?? true) ? this.registerParameter("bias", ops.zeros([outChannels])) : null;
    this.norm = opts.norm ? this.registerModule("norm", opts.norm) : null;
    this.activation = opts.activation ?? null;
    this.#opts = {
      stride: opts.stride ?? 1,
      padding: opts.padding ?? 0,
      dilation: opts.dilation ?? 1,
      groups,
    };
    defaultLinearInit(this, { generator: opts.generator });
  }

  /** Convolves `x` `[N, inChannels, H, W]`. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(
        `Conv2d(${this.inChannels}, ${this.outChannels}): input must be [N, ${this.inChannels}, H, W], got [${x.shape}]`,
      );
    }
    return ops.tidy(() => {
      let y = ops.conv2d(x, this.weight, this.bias, this.#opts);
      if (this.norm) y = this.norm.forward(y);
      if (this.activation) y = this.activation(y);
      return y;
    });
  }
}

/** Options of {@link Conv1d}. */
export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  generator?: Generator;
}

/** PyTorch's `nn.Conv1d`: input `[N, C, L]`, weight `[out, in/groups, k]`. */
export class Conv1d extends Module {
  readonly weight: Variable;
  readonly bias: Variable | null;
  readonly #opts: { stride: Pair; padding: Pair; dilation: Pair; groups: number };

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number,
    opts: Conv1dOptions = {},
  ) {
    super();
    const groups = opts.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv1d: channels ${inChannels} -> ${outChannels} not divisible by groups ${groups}`);
    }
    this.weight = this.registerParameter("weight", ops.zeros([outChannels, inChannels / groups, kernelSize]));
    this.bias = (opts.bias ?? true) ? this.registerParameter("bias", ops.zeros([outChannels])) : null;
    this.#opts = {
      stride: [1, opts.stride ?? 1],
      padding: [0, opts.padding ?? 0],
      dilation: [1, opts.dilation ?? 1],
      groups,
    };
    defaultLinearInit(this, { generator: opts.generator });
  }

  /** Convolves `x` `[N, inChannels, L]` as a 2-D convolution of height 1. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[1] !== this.inChannels) {
      throw new Error(
        `Conv1d(${this.inChannels}, ${this.outChannels}): input must be [N, ${this.inChannels}, L], got [${x.shape}]`,
      );
    }
    return ops.tidy(() => {
      const w = ops.unsqueeze(this.weight, 2);
      return ops.squeeze(ops.conv2d(ops.unsqueeze(x, 2), w, this.bias, this.#opts), [2]);
    });
  }
}
