/**
 * The three residual blocks of Mask2Former's masked transformer decoder, shared by DsHmp's frame
 * decoder and clip decoder: {@link SelfAttentionLayer}, {@link CrossAttentionLayer} and {@link FFNLayer}. All are
 * sequence-first (`(L, B, C)`) and come in the post-norm form (`norm(x + f(x))`, the paper's
 * `PRE_NORM: False`) or the pre-norm form (`x + f(norm(x))`). Positional encodings are added to
 * queries and keys, never to values. Parameter names are the original's (`self_attn.*`,
 * `multihead_attn.*`, `linear1.*`, `linear2.*`, `norm.*`).
 *
 * Initialisation follows the original's `_reset_parameters`: every parameter of rank 2 or more is
 * redrawn with Xavier-uniform, biases keep their defaults (zero inside attention, PyTorch's uniform
 * in the FFN).
 *
 * @example
 * ```ts
 * import { CrossAttentionLayer, FFNLayer, SelfAttentionLayer } from "./transformer_layers.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const cross = new CrossAttentionLayer({ dModel: 32, nhead: 4 });
 * const self = new SelfAttentionLayer({ dModel: 32, nhead: 4 });
 * const ffn = new FFNLayer({ dModel: 32, dimFeedforward: 64 });
 * const queries = ops.ones([5, 2, 32]); // (Q, B, C)
 * const memory = ops.ones([24, 2, 32]); // (HW, B, C)
 * const out = ffn.forward(self.forward(cross.forward(queries, memory))); // (5, 2, 32)
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import type { Generator } from "../../../core/random.ts";
import { Dropout, init, LayerNorm, Linear, Module, MultiheadAttention } from "../../../core/tensor/nn/mod.ts";

/** Activations the original's `_get_activation_fn` offers that keep the width (GLU halves it). */
export type Activation = "relu" | "gelu";

/** Options shared by the three layers (the original's keyword arguments). */
export interface DecoderLayerOptions {
  dModel: number;
  /** Dropout on the residual branch, and on the attention weights of the attention layers (default 0). */
  dropout?: number;
  /** Pre-norm (`x + f(norm(x))`) instead of post-norm (`norm(x + f(x))`) (default false). */
  normalizeBefore?: boolean;
  /** Where initialisation and dropout draw from. */
  generator?: Generator;
}

/** Options of {@link SelfAttentionLayer} and {@link CrossAttentionLayer}. */
export interface AttentionLayerOptions extends DecoderLayerOptions {
  nhead: number;
}

/** Options of {@link FFNLayer}. */
export interface FFNLayerOptions extends DecoderLayerOptions {
  /** Hidden width (default 2048). */
  dimFeedforward?: number;
  /** Default `"relu"`. */
  activation?: Activation;
}

/** Optional masks and encodings of {@link SelfAttentionLayer.forward}. */
export interface SelfAttentionCall {
  /** `(L, L)` or `(B·heads, L, L)`, bool (true = blocked) or additive float. */
  tgtMask?: Tensor | null;
  /** `(B, L)` bool, true = padding. */
  tgtKeyPaddingMask?: Tensor | null;
  /** `(L, B, C)` added to queries and keys. */
  queryPos?: Tensor | null;
}

/** Optional masks and encodings of {@link CrossAttentionLayer.forward}. */
export interface CrossAttentionCall {
  /** `(L, S)` or `(B·heads, L, S)`, bool (true = blocked) or additive float. */
  memoryMask?: Tensor | null;
  /** `(B, S)` bool, true = padding. */
  memoryKeyPaddingMask?: Tensor | null;
  /** `(S, B, C)` added to the keys. */
  pos?: Tensor | null;
  /** `(L, B, C)` added to the queries. */
  queryPos?: Tensor | null;
}

function withPos(x: Tensor, pos: Tensor | null | undefined): Tensor {
  return pos ? ops.add(x, pos) : x;
}

/** The original's `_reset_parameters`: Xavier-uniform on every parameter of rank > 1. */
function xavierMatrices(m: Module, generator?: Generator): void {
  for (const [, p] of m.namedParameters()) if (p.rank > 1) init.xavierUniform(p, { generator });
}

/** Queries attend to each other: `norm(tgt + MHA(tgt + pos, tgt + pos, tgt))` (post-norm). */
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

  /** `tgt` `(L, B, C)` -> `(L, B, C)`. */
  forward(tgt: Tensor, call: SelfAttentionCall = {}): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const qk = withPos(x, call.queryPos);
      const [attended] = this.selfAttn.forward(qk, qk, x, {
        attnMask: call.tgtMask,
        keyPaddingMask: call.tgtKeyPaddingMask,
        needWeights: false,
      });
      const y = ops.add(tgt, this.dropout.forward(attended));
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}

/** Queries attend to a memory: `norm(tgt + MHA(tgt + queryPos, memory + pos, memory))` (post-norm). */
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

  /** `tgt` `(L, B, C)` attends to `memory` `(S, B, C)`; returns `(L, B, C)`. */
  forward(tgt: Tensor, memory: Tensor, call: CrossAttentionCall = {}): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const [attended] = this.multiheadAttn.forward(
        withPos(x, call.queryPos),
        withPos(memory, call.pos),
        memory,
        { attnMask: call.memoryMask, keyPaddingMask: call.memoryKeyPaddingMask, needWeights: false },
      );
      const y = ops.add(tgt, this.dropout.forward(attended));
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}

/** Position-wise feed-forward block: `norm(x + linear2(act(linear1(x))))` (post-norm). */
export class FFNLayer extends Module {
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm: LayerNorm;
  readonly normalizeBefore: boolean;
  readonly activation: Activation;

  constructor(opts: FFNLayerOptions) {
    super();
    const p = opts.dropout ?? 0;
    const g = { generator: opts.generator };
    const hidden = opts.dimFeedforward ?? 2048;
    this.linear1 = this.registerModule("linear1", new Linear(opts.dModel, hidden, g));
    this.dropout = this.registerModule("dropout", new Dropout(p, g));
    this.linear2 = this.registerModule("linear2", new Linear(hidden, opts.dModel, g));
    this.norm = this.registerModule("norm", new LayerNorm(opts.dModel));
    this.normalizeBefore = opts.normalizeBefore ?? false;
    this.activation = opts.activation ?? "relu";
    if (this.activation !== "relu" && this.activation !== "gelu") {
      throw new Error(`FFNLayer: activation should be relu or gelu, not ${this.activation}`);
    }
    xavierMatrices(this, opts.generator);
  }

  /** `tgt` `(..., C)` -> `(..., C)`. */
  forward(tgt: Tensor): Tensor {
    return ops.tidy(() => {
      const x = this.normalizeBefore ? this.norm.forward(tgt) : tgt;
      const h = this.linear1.forward(x);
      const act = this.activation === "relu" ? ops.relu(h) : ops.gelu(h);
      // The original applies the same dropout inside the branch and on its output.
      const branch = this.dropout.forward(this.linear2.forward(this.dropout.forward(act)));
      const y = ops.add(tgt, branch);
      return this.normalizeBefore ? y : this.norm.forward(y);
    });
  }
}
