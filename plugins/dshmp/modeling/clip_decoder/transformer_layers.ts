/**
 * The clip decoder's Mask2Former-style transformer layers, sequence-first `(L, N, C)`, with the
 * original's parameter names: {@link SelfAttentionLayer} (`self_attn`, `norm`),
 * {@link CrossAttentionLayer} (`multihead_attn`, `norm`) and {@link FFNLayer} (`linear1`, `linear2`,
 * `norm`). Post-norm by default (`LN(x + f(x))`), pre-norm with `normalizeBefore`
 * (`x + f(LN(x))`); every weight with more than one dimension is Xavier-initialised, as the original's
 * `_reset_parameters` does.
 *
 * @example
 * ```ts
 * import { CrossAttentionLayer, FFNLayer } from "./transformer_layers.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const cross = new CrossAttentionLayer({ dModel: 32, nhead: 4 });
 * const ffn = new FFNLayer({ dModel: 32, dimFeedforward: 64 });
 * const queries = ops.zeros([3, 1, 32]); // (cQ, N, C)
 * const memory = ops.ones([10, 1, 32]); // (S, N, C)
 * const out = ffn.forward(cross.forward(queries, memory)); // (3, 1, 32)
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import {
  Dropout,
  init,
  LayerNorm,
  Linear,
  Module,
  MultiheadAttention,
} from "../../../../core/tensor/nn/mod.ts";

/** Options shared by the three layers. */
export interface TransformerLayerOptions {
  dModel: number;
  /** Dropout on the attention weights and the residual branch in training (default 0). */
  dropout?: number;
  /** Pre-norm instead of post-norm (default false). */
  normalizeBefore?: boolean;
  /** Where initialisation and dropout draw from. */
  generator?: Generator;
}

/** Options of the attention layers. */
export interface AttentionLayerOptions extends TransformerLayerOptions {
  nhead: number;
}

/** Options of {@link FFNLayer}. */
export interface FFNLayerOptions extends TransformerLayerOptions {
  /** Hidden width (default 2048). */
  dimFeedforward?: number;
}

/** Masks and positional embeddings of an attention call. */
export interface AttentionLayerCall {
  /** `(L, S)` or `(N*heads, L, S)`, bool (true = blocked) or float (additive). */
  attnMask?: Tensor | null;
  /** `(N, S)` bool, true = padding. */
  keyPaddingMask?: Tensor | null;
  /** Added to the queries (not to the values). */
  queryPos?: Tensor | null;
  /** Added to the keys of a cross-attention (not to the values). */
  pos?: Tensor | null;
}

function withPos(x: Tensor, pos: Tensor | null | undefined): Tensor {
  return pos ? ops.add(x, pos) : x;
}

/** Xavier-uniform on every parameter with more than one dimension. */
function xavierMatrices(m: Module, generator?: Generator): void {
  for (const [, p] of m.namedParameters()) if (p.rank > 1) init.xavierUniform(p, { generator });
}

/** Self-attention with a residual and a LayerNorm. */
export class SelfAttentionLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;
  readonly normalizeBefore: boolean;

  constructor(opts: AttentionLayerOptions) {
    super();
    const p = opts.dropout ?? 0;
    const g = { generator: opts.generator };
    this.selfAttn = this.registerModule(
      "self_attn",
      new MultiheadAttention(opts.dModel, opts.nhead, { dropout: p, ...g }),
    );
    this.norm = this.registerModule("norm", new LayerNorm(opts.dModel));
    this.dropout = this.registerModule("dropout", new Dropout(p, g));
    this.normalizeBefore = opts.normalizeBefore ?? false;
    xavierMatrices(this, opts.generator);
  }

  /** `tgt` `(L, N, C)`; queries and keys get `queryPos`, values do not. */
  forward(tgt: Tensor, call: AttentionLayerCall = {}): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const qk = withPos(x, call.queryPos);
      const [attended] = this.selfAttn.forward(qk, qk, x, {
        attnMask: call.attnMask,
        keyPaddingMask: call.keyPaddingMask,
        needWeights: false,
      });
      const y = ops.add(tgt, this.dropout.forward(attended));
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}

/** Cross-attention from queries to a memory, with a residual and a LayerNorm. */
export class CrossAttentionLayer extends Module {
  readonly multiheadAttn: MultiheadAttention;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;
  readonly normalizeBefore: boolean;

  constructor(opts: AttentionLayerOptions) {
    super();
    const p = opts.dropout ?? 0;
    const g = { generator: opts.generator };
    this.multiheadAttn = this.registerModule(
      "multihead_attn",
      new MultiheadAttention(opts.dModel, opts.nhead, { dropout: p, ...g }),
    );
    this.norm = this.registerModule("norm", new LayerNorm(opts.dModel));
    this.dropout = this.registerModule("dropout", new Dropout(p, g));
    this.normalizeBefore = opts.normalizeBefore ?? false;
    xavierMatrices(this, opts.generator);
  }

  /** `tgt` `(L, N, C)` attends to `memory` `(S, N, C)`; keys get `pos`, queries `queryPos`. */
  forward(tgt: Tensor, memory: Tensor, call: AttentionLayerCall = {}): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const [attended] = this.multiheadAttn.forward(
        withPos(x, call.queryPos),
        withPos(memory, call.pos),
        memory,
        {
          attnMask: call.attnMask,
          keyPaddingMask: call.keyPaddingMask,
          needWeights: false,
        },
      );
      const y = ops.add(tgt, this.dropout.forward(attended));
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}

/** `Linear -> ReLU -> Linear` with a residual and a LayerNorm. */
export class FFNLayer extends Module {
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm: LayerNorm;
  readonly normalizeBefore: boolean;

  constructor(opts: FFNLayerOptions) {
    super();
    const hidden = opts.dimFeedforward ?? 2048;
    const g = { generator: opts.generator };
    this.linear1 = this.registerModule("linear1", new Linear(opts.dModel, hidden, g));
    this.dropout = this.registerModule("dropout", new Dropout(opts.dropout ?? 0, g));
    this.linear2 = this.registerModule("linear2", new Linear(hidden, opts.dModel, g));
    this.norm = this.registerModule("norm", new LayerNorm(opts.dModel));
    this.normalizeBefore = opts.normalizeBefore ?? false;
    xavierMatrices(this, opts.generator);
  }

  /** `tgt` `(..., C)`. */
  forward(tgt: Tensor): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const h = this.linear2.forward(this.dropout.forward(ops.relu(this.linear1.forward(x))));
      const y = ops.add(tgt, this.dropout.forward(h));
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}
