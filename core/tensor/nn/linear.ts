/**
 * `Linear`: PyTorch's fully connected layer, weight `[out, in]`.
 *
 * @example
 * ```ts
 * import { Linear } from "./linear.ts";
 * import * as ops from "../ops.ts";
 * const fc = new Linear(4, 2);
 * const y = fc.forward(ops.ones([3, 4])); // [3, 2]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor, Variable } from "../ops.ts";
import type { Generator } from "../../random.ts";
import { Module } from "./module.ts";
import { defaultLinearInit } from "./init.ts";

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** Where the default initialisation draws from (the process-wide generator by default). */
  generator?: Generator;
}

/** `y = x Wᵀ + b` over the last dimension; parameters `weight` `[out, in]` and `bias` `[out]`. */
export class Linear extends Module {
  readonly weight: Variable;
  readonly bias: Variable | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    this.weight = this.registerParameter("weight", ops.zeros([outFeatures, inFeatures]));
    this.bias = (opts.bias ?? true) ? this.registerParameter("bias", ops.zeros([outFeatures])) : null;
    defaultLinearInit(this, { generator: opts.generator });
  }

  /** Applies the layer to `x` `[..., in]`. */
  forward(x: Tensor): Tensor {
    const inF = x.shape[x.rank - 1];
    if (inF !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures}, ${this.outFeatures}): input [${x.shape}] has ${inF} features`,
      );
    }
    return ops.linear(x, this.weight, this.bias);
  }
}
