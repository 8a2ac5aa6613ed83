/**
 * Neural-network modules with PyTorch-compatible state dicts: the {@link Module} base class (named
 * parameters, buffers, children, train/eval, freezing, strict loading), the layers the original builds
 * from (Linear, detectron2's Conv2d, Conv1d, LayerNorm, GroupNorm, Embedding, MultiheadAttention,
 * Dropout, DropPath, MLP, Sequential and the stateless activations, the sine position encodings) and
 * the initialisers under `init`.
 *
 * @example
 * ```ts
 * import { Linear, LayerNorm, Module, init } from "./mod.ts";
 * import * as ops from "../ops.ts";
 *
 * class Block extends Module {
 *   readonly fc;
 *   readonly norm;
 *   constructor(dim: number) {
 *     super();
 *     this.fc = this.registerModule("fc", new Linear(dim, dim));
 *     this.norm = this.registerModule("norm", new LayerNorm(dim));
 *     init.c2XavierFill(this.fc);
 *   }
 *   forward(x: ops.Tensor): ops.Tensor {
 *     return ops.tidy(() => this.norm.forward(ops.add(x, this.fc.forward(x))));
 *   }
 * }
 * const block = new Block(8).eval();
 * [...block.stateDict().keys()]; // fc.weight, fc.bias, norm.weight, norm.bias
 * ```
 * @module
 */
export * from "./module.ts";
export * from "./linear.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./embedding.ts";
export * from "./dropout.ts";
export * from "./container.ts";
export * from "./attention.ts";
export * from "./mlp.ts";
export * from "./position_encoding.ts";
export * as init from "./init.ts";
