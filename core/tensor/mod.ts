/**
 * The tensor engine: backend selection ({@link useBackend}, {@link useDevice}), the ops facade with
 * PyTorch semantics, and the nn modules under `nn`.
 *
 * @example
 * ```ts
 * import { matmul, randn, useBackend } from "./mod.ts";
 * await useBackend("wasm");
 * const y = matmul(randn([2, 3]), randn([3, 4]));
 * ```
 * @module
 */
export * from "./ops.ts";
export * from "./backend.ts";
/** The nn modules (`nn.Linear`, `nn.MultiheadAttention`, `nn.init`, ...). */
export * as nn from "./nn/mod.ts";
