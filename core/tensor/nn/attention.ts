/**
 * {@link MultiheadAttention}: PyTorch's `nn.MultiheadAttention` (1.13) with `batch_first=False`,
 * equal query/key/value widths (the only form the original builds), parameters `in_proj_weight`
 * `[3E, E]`, `in_proj_bias` `[3E]`, `out_proj.weight`, `out_proj.bias`.
 *
 * Masks: `attnMask` is `(L, S)` or `(N·heads, L, S)`, bool (true = may not attend) or float (added
 * to the scores); `keyPaddingMask` is `(N, S)` bool (true = padding). A row with every key masked
 * gives NaN, as in PyTorch.
 *
 * @example
 * ```ts
 * import { MultiheadAttention } from "./attention.ts";
 * import * as ops from "../ops.ts";
 * const mha = new MultiheadAttention(32, 4, { dropout: 0.1 });
 * const q = ops.ones([5, 2, 32]); // (L, N, E)
 * const kv = ops.ones([7, 2, 32]); // (S, N, E)
 * const [out, weights] = mha.forward(q, kv, kv); // out (5, 2, 32), weights (2, 5, 7)
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor, Variable } from "../ops.ts";
import type { Generator } from "../../random.ts";
import { Module } from "./module.ts";
import { Linear } from "./linear.ts";
import { constant, xavierUniform } from "./init.ts";

/** Options of {@link MultiheadAttention}. */
export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights in training (default 0). */
  dropout?: number;
  /** Learn input and output projection biases (default true). */
  bias?: boolean;
  /** Where initialisation and dropout draw from. */
  generator?: Generator;
}

/** Options of {@link MultiheadAttention.forward}. */
export interface AttentionCallOptions {
  /** `(N, S)` bool, true where a key is padding. */
  keyPaddingMask?: Tensor | null;
  /** `(L, S)` or `(N·heads, L, S)`, bool (true = blocked) or float (additive). */
  attnMask?: Tensor | null;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** Average the returned weights over heads: `(N, L, S)`; otherwise `(N, heads, L, S)` (default true). */
  averageAttnWeights?: boolean;
}

/** Scaled dot-product attention over `heads` heads, sequence-first. */
export class MultiheadAttention extends Module {
  readonly inProjWeight: Variable;
  readonly inProjBias: Variable | null;
  readonly outProj: Linear;
  readonly headDim: number;
  readonly dropout: number;
  readonly #generator?: Generator;

  constructor(readonly embedDim: number, readonly numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim) {
      throw new Error(`MultiheadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    }
    this.dropout = opts.dropout ?? 0;
    this.#generator = opts.generator;
    const bias = opts.bias ?? true;
    const g = { generator: opts.generator };
    this.inProjWeight = this.registerParameter("in_proj_weight", ops.zeros([3 * embedDim, embedDim]));
    this.inProjBias = bias ? this.registerParameter("in_proj_bias", ops.zeros([3 * embedDim])) : null;
    this.outProj = this.registerModule("out_proj", new Linear(embedDim, embedDim, { bias, ...g }));
    // PyTorch's _reset_parameters: Xavier on the packed projection, zero biases.
    xavierUniform(this.inProjWeight, g);
    if (this.inProjBias) constant(this.inProjBias, 0);
    if (this.outProj.bias) constant(this.outProj.bias, 0);
  }

  /**
   * Attends `query` `(L, N, E)` to `key` / `value` `(S, N, E)`. Returns the output `(L, N, E)` and
   * the attention weights (after dropout, as PyTorch returns them) or null.
   */
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    opts: AttentionCallOptions = {},
  ): [Tensor, Tensor | null] {
    const { keyPaddingMask = null, attnMask = null, needWeights = true, averageAttnWeights = true } = opts;
    const [L, N, E] = this.#checkInputs(query, key, value);
    const S = key.shape[0];
    const H = this.numHeads;
    const hd = this.headDim;
    this.#checkMasks(attnMask, keyPaddingMask, N, L, S);
    const [out, weights] = ops.tidy(() => {
      const mask = this.#combinedMask(attnMask, keyPaddingMask, N, L, S);
      const [wq, wk, wv] = ops.split(this.inProjWeight, 3, 0);
      const [bq, bk, bv] = this.inProjBias ? ops.split(this.inProjBias, 3, 0) : [null, null, null];
      // (len, N, E) -> (N·H, len, hd): head h of sample n is row n·H + h.
      const heads = (x: Tensor, len: number) => ops.transpose(ops.reshape(x, [len, N * H, hd]), 0, 1);
      const q = heads(ops.div(ops.linear(query, wq, bq), Math.sqrt(hd)), L);
      const k = heads(ops.linear(key, wk, bk), S);
      const v = heads(ops.linear(value, wv, bv), S);
      let scores = ops.matmul(q, k, false, true);
      if (mask) scores = ops.add(mask, scores);
      let attn = ops.softmax(scores, -1);
      if (this.dropout > 0) attn = ops.dropout(attn, this.dropout, this.training, this.#generator);
      const ctx = ops.reshape(ops.transpose(ops.matmul(attn, v), 0, 1), [L, N, E]);
      const out = this.outProj.forward(ctx);
      if (!needWeights) return [out];
      const w = ops.reshape(attn, [N, H, L, S]);
      return [out, averageAttnWeights ? ops.div(ops.sum(w, 1), H) : w];
    });
    return [out, weights ?? null];
  }

  #checkInputs(query: Tensor, key: Tensor, value: Tensor): [number, number, number] {
    if (query.rank !== 3 || key.rank !== 3 || value.rank !== 3) {
      throw new Error(
        `MultiheadAttention: query, key, value must be (L, N, E), (S, N, E), (S, N, E); got [${query.shape}], [${key.shape}], [${value.shape}]`,
      );
    }
    const [L, N, E] = query.shape;
    if (E !== this.embedDim || key.shape[2] !== E || value.shape[2] !== E) {
      throw new Error(
        `MultiheadAttention(${this.embedDim}): feature widths query ${E}, key ${key.shape[2]}, value ${
          value.shape[2]
        }`,
      );
    }
    if (key.shape[1] !== N || value.shape[1] !== N || key.shape[0] !== value.shape[0]) {
      throw new Error(
        `MultiheadAttention: key [${key.shape}] and value [${value.shape}] do not match query [${query.shape}]`,
      );
    }
    return [L, N, E];
  }

  #checkMasks(attnMask: Tensor | null, kpm: Tensor | null, N: number, L: number, S: number): void {
    const H = this.numHeads;
    if (attnMask) {
      const ok = (attnMask.rank === 2 && attnMask.shape[0] === L && attnMask.shape[1] === S) ||
        (attnMask.rank === 3 && attnMask.shape[0] === N * H && attnMask.shape[1] === L &&
          attnMask.shape[2] === S);
      if (!ok) {
        throw new Error(
          `MultiheadAttention: attnMask must be (${L}, ${S}) or (${
            N * H
          }, ${L}, ${S}), got [${attnMask.shape}]`,
        );
      }
      if (attnMask.dtype !== "bool" && attnMask.dtype !== "float32") {
        throw new Error(`MultiheadAttention: attnMask must be bool or float32, got ${attnMask.dtype}`);
      }
    }
    if (kpm) {
      if (kpm.rank !== 2 || kpm.shape[0] !== N || kpm.shape[1] !== S) {
        throw new Error(`MultiheadAttention: keyPaddingMask must be (${N}, ${S}), got [${kpm.shape}]`);
      }
      if (kpm.dtype !== "bool") {
        throw new Error(`MultiheadAttention: keyPaddingMask must be bool, got ${kpm.dtype}`);
      }
    }
  }

  /** One additive float mask broadcastable to (N·H, L, S), or null (call inside a tidy). */
  #combinedMask(attnMask: Tensor | null, kpm: Tensor | null, N: number, L: number, S: number): Tensor | null {
    if (!attnMask && !kpm) return null;
    const H = this.numHeads;
    let additive: Tensor = ops.zeros([1, L, S]);
    if (attnMask) {
      const m3 = attnMask.rank === 2 ? ops.unsqueeze(attnMask, 0) : attnMask;
      additive = attnMask.dtype === "bool" ? ops.where(m3, -Infinity, 0) : m3;
    }
    if (kpm) {
      // (N, S) -> (N·H, 1, S), sample-major like the head split.
      const rows = ops.reshape(ops.broadcastTo(ops.reshape(kpm, [N, 1, 1, S]), [N, H, 1, S]), [N * H, 1, S]);
      additive = ops.where(rows, -Infinity, additive);
    }
    return additive;
  }
}
