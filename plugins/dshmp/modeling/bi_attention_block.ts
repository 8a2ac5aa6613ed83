/**
 * Bidirectional vision-language attention (DsHmp's `fuse_modules.py`, from Grounding DINO):
 * {@link BiMultiHeadAttention} lets visual tokens attend to language tokens and language tokens to
 * visual tokens through one shared score matrix, and {@link BiAttentionBlock} wraps it with pre-norms
 * and layer-scale gammas. Parameter names are the original's.
 *
 * Behaviour kept from the original:
 * - the residual is added to the NORMALISED input: `v_out = LN_v(v) + drop_path(gamma_v * delta_v)`;
 * - the scores have their global maximum (over every batch, head and position) subtracted and are
 *   clamped to ±50000 before either softmax; the language side also subtracts its row maximum;
 * - padding masks fill with -inf: `attentionMaskL` (language padding) on the vision side and
 *   `attentionMaskV` (vision padding) on the language side; a row with everything masked gives NaN.
 *
 * @example
 * ```ts
 * import { BiAttentionBlock } from "./bi_attention_block.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const block = new BiAttentionBlock({ vDim: 32, lDim: 32, embedDim: 32, numHeads: 2, dropout: 0.1, dropPath: 0.1 });
 * block.eval();
 * const v = ops.ones([12, 2, 32]); // (Nv, B, C)
 * const l = ops.ones([6, 2, 32]); // (Nl, B, C)
 * const pad = ops.tensor([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1], [2, 6], "bool"); // 1 = padding
 * const [vOut, lOut] = block.forward(v, l, null, pad);
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../core/tensor/ops.ts";
import type { Generator } from "../../../core/random.ts";
import { DropPath, init, LayerNorm, Linear, Module } from "../../../core/tensor/nn/mod.ts";

/** Half precision's limit, which the original clamps the scores to. */
const CLAMP = 50000;

/** Constructor options of {@link BiMultiHeadAttention}. */
export interface BiMultiHeadAttentionOptions {
  vDim: number;
  lDim: number;
  embedDim: number;
  numHeads: number;
  /** Dropout on both attention maps in training (default 0.1). */
  dropout?: number;
  generator?: Generator;
}

/** Attention in both directions over one score matrix `q_v · k_lᵀ`. Inputs are batch-first. */
export class BiMultiHeadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly dropout: number;
  readonly vProj: Linear;
  readonly lProj: Linear;
  readonly valuesVProj: Linear;
  readonly valuesLProj: Linear;
  readonly outVProj: Linear;
  readonly outLProj: Linear;
  readonly #generator?: Generator;

  constructor(opts: BiMultiHeadAttentionOptions) {
    super();
    const { vDim, lDim, embedDim, numHeads } = opts;
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim) {
      throw new Error(`BiMultiHeadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    }
    this.scale = this.headDim ** -0.5;
    this.dropout = opts.dropout ?? 0.1;
    this.#generator = opts.generator;
    const g = { generator: opts.generator };
    this.vProj = this.registerModule("v_proj", new Linear(vDim, embedDim, g));
    this.lProj = this.registerModule("l_proj", new Linear(lDim, embedDim, g));
    this.valuesVProj = this.registerModule("values_v_proj", new Linear(vDim, embedDim, g));
    this.valuesLProj = this.registerModule("values_l_proj", new Linear(lDim, embedDim, g));
    this.outVProj = this.registerModule("out_v_proj", new Linear(embedDim, vDim, g));
    this.outLProj = this.registerModule("out_l_proj", new Linear(embedDim, lDim, g));
    // The original's _reset_parameters: Xavier weights, zero biases.
    for (
      const fc of [this.vProj, this.lProj, this.valuesVProj, this.valuesLProj, this.outVProj, this.outLProj]
    ) {
      init.xavierUniform(fc.weight, g);
      init.zeros(fc.bias!);
    }
  }

  /**
   * `v` `(B, Nv, vDim)`, `l` `(B, Nl, lDim)`; masks `(B, Nv)` / `(B, Nl)` bool, true = padding.
   * Returns the updates `[delta_v (B, Nv, vDim), delta_l (B, Nl, lDim)]`.
   */
  forward(
    v: Tensor,
    l: Tensor,
    attentionMaskV: Tensor | null = null,
    attentionMaskL: Tensor | null = null,
  ): [Tensor, Tensor] {
    const [B, Nv] = v.shape;
    const [, Nl] = l.shape;
    if (v.rank !== 3 || l.rank !== 3 || l.shape[0] !== B) {
      throw new Error(
        `BiMultiHeadAttention: v must be (B, Nv, C) and l (B, Nl, C), got [${v.shape}], [${l.shape}]`,
      );
    }
    checkMask(attentionMaskV, [B, Nv], "attentionMaskV");
    checkMask(attentionMaskL, [B, Nl], "attentionMaskL");
    const H = this.numHeads;
    const hd = this.headDim;
    const [dv, dl] = ops.tidy(() => {
      // (B, N, E) -> (B·H, N, hd): head h of sample b is row b·H + h.
      const heads = (x: Tensor, n: number) =>
        ops.reshape(ops.transpose(ops.reshape(x, [B, n, H, hd]), 1, 2), [B * H, n, hd]);
      const q = heads(ops.mul(this.vProj.forward(v), this.scale), Nv);
      const k = heads(this.lProj.forward(l), Nl);
      const valueV = heads(this.valuesVProj.forward(v), Nv);
      const valueL = heads(this.valuesLProj.forward(l), Nl);

      let scores = ops.matmul(q, k, false, true); // (B·H, Nv, Nl)
      scores = ops.clamp(ops.sub(scores, ops.max(scores)), -CLAMP, CLAMP);
      const scoresT = ops.transpose(scores, 1, 2); // (B·H, Nl, Nv)
      let scoresL = ops.clamp(ops.sub(scoresT, ops.max(scoresT, -1, true)), -CLAMP, CLAMP);
      const perHead = (m: Tensor, n: number) =>
        ops.reshape(ops.broadcastTo(ops.reshape(m, [B, 1, 1, n]), [B, H, 1, n]), [B * H, 1, n]);
      if (attentionMaskV) scoresL = ops.where(perHead(attentionMaskV, Nv), -Infinity, scoresL);
      if (attentionMaskL) scores = ops.where(perHead(attentionMaskL, Nl), -Infinity, scores);
      let probsV = ops.softmax(scores, -1);
      let probsL = ops.softmax(scoresL, -1);
      probsV = ops.dropout(probsV, this.dropout, this.training, this.#generator);
      probsL = ops.dropout(probsL, this.dropout, this.training, this.#generator);

      const merge = (x: Tensor, n: number) =>
        ops.reshape(ops.transpose(ops.reshape(x, [B, H, n, hd]), 1, 2), [B, n, H * hd]);
      const outV = merge(ops.matmul(probsV, valueL), Nv);
      const outL = merge(ops.matmul(probsL, valueV), Nl);
      return [this.outVProj.forward(outV), this.outLProj.forward(outL)];
    });
    return [dv, dl];
  }
}

/** Constructor options of {@link BiAttentionBlock} (the original's keyword arguments). */
export interface BiAttentionBlockOptions extends BiMultiHeadAttentionOptions {
  /** Stochastic depth on both updates in training (default 0). */
  dropPath?: number;
  /** Initial value of the layer-scale gammas (default 1e-4). */
  initValues?: number;
}

/** Pre-norm bidirectional attention with layer scale. Inputs and outputs are sequence-first. */
export class BiAttentionBlock extends Module {
  readonly gammaV: Variable;
  readonly gammaL: Variable;
  readonly layerNormV: LayerNorm;
  readonly layerNormL: LayerNorm;
  readonly attn: BiMultiHeadAttention;
  readonly dropPath: DropPath | null;

  constructor(opts: BiAttentionBlockOptions) {
    super();
    const initValues = opts.initValues ?? 1e-4;
    const dropPath = opts.dropPath ?? 0;
    this.layerNormV = this.registerModule("layer_norm_v", new LayerNorm(opts.vDim));
    this.layerNormL = this.registerModule("layer_norm_l", new LayerNorm(opts.lDim));
    this.attn = this.registerModule("attn", new BiMultiHeadAttention(opts));
    // The original swaps in nn.Identity when drop_path is 0; neither has parameters.
    this.dropPath = dropPath > 0
      ? this.registerModule("drop_path", new DropPath(dropPath, { generator: opts.generator }))
      : null;
    this.gammaV = this.registerParameter("gamma_v", ops.full([opts.vDim], initValues));
    this.gammaL = this.registerParameter("gamma_l", ops.full([opts.lDim], initValues));
  }

  /**
   * `v` `(Nv, B, vDim)`, `l` `(Nl, B, lDim)`; `attentionMaskV` `(B, Nv)` and `attentionMaskL`
   * `(B, Nl)` bool with true = padding. Returns `[v_out (Nv, B, vDim), l_out (Nl, B, lDim)]`.
   */
  forward(
    v: Tensor,
    l: Tensor,
    attentionMaskV: Tensor | null = null,
    attentionMaskL: Tensor | null = null,
  ): [Tensor, Tensor] {
    const [vOut, lOut] = ops.tidy(() => {
      const vn = this.layerNormV.forward(ops.transpose(v, 0, 1));
      const ln = this.layerNormL.forward(ops.transpose(l, 0, 1));
      const [deltaV, deltaL] = this.attn.forward(vn, ln, attentionMaskV, attentionMaskL);
      const branch = (x: Tensor) => (this.dropPath ? this.dropPath.forward(x) : x);
      const vNew = ops.add(vn, branch(ops.mul(this.gammaV, deltaV)));
      const lNew = ops.add(ln, branch(ops.mul(this.gammaL, deltaL)));
      return [ops.transpose(vNew, 0, 1), ops.transpose(lNew, 0, 1)];
    });
    return [vOut, lOut];
  }
}

function checkMask(mask: Tensor | null, shape: number[], name: string): void {
  if (!mask) return;
  if (mask.dtype !== "bool" || mask.rank !== 2 || mask.shape[0] !== shape[0] || mask.shape[1] !== shape[1]) {
    throw new Error(
      `BiMultiHeadAttention: ${name} must be bool [${shape}], got ${mask.dtype} [${mask.shape}]`,
    );
  }
}
