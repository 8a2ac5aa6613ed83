/**
 * DsHmp's language-fused Swin Transformer backbone (`mask2former/modeling/backbone/swin.py`, from
 * LAVT): a Swin Transformer whose every stage ends with a {@link PWAM} fusion of the pixels with the
 * sentence. {@link D2SwinTransformer} is the detectron2-facing backbone (`res2`..`res5`),
 * {@link d2SwinTransformerFromConfig} builds it from `MODEL.SWIN`.
 *
 * Behaviour kept from the original:
 * - `res{i+2}` is `norm_i` of the stage's PWAM output, not of the Swin blocks' output; the next stage
 *   gets `PatchMerging(x + res_gate(fused) * fused)` with `res_gate = Linear-ReLU-Linear-Tanh` (both
 *   Linears without bias, zero-initialised); the last stage has no gate and no merging;
 * - maps are zero-padded at the bottom/right to a multiple of the window (7), even when smaller than
 *   one window: the window never shrinks, and odd blocks always shift (by `floor(ws / 2)`);
 * - the shift mask is additive -100, computed on the padded map;
 * - q is scaled by `head_dim ** -0.5` before `q kᵀ`; relative position bias from a table indexed by
 *   the persistent `relative_position_index` buffer (part of the state dict);
 * - LayerNorm eps 1e-5, exact erf GELU, drop-path rates rising linearly from 0 over all blocks.
 *
 * The original's `init_weights` is never applied, so parameters start from PyTorch's defaults
 * (Linear/Conv kaiming-uniform, LayerNorm ones/zeros), the bias tables from a truncated normal
 * (std 0.02) and the gates from zeros, as here.
 *
 * @example
 * ```ts
 * import { D2SwinTransformer } from "./swin.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const backbone = new D2SwinTransformer({ embedDim: 12, depths: [2, 2, 2, 2], numHeads: [1, 2, 4, 8] });
 * backbone.eval();
 * const lMask = ops.tensor([1, 1, 1, 0], [1, 4, 1]);
 * const feats = backbone.forward(ops.randn([1, 3, 64, 96]), ops.randn([1, 768, 4]), lMask);
 * feats.res2.shape; // [1, 12, 16, 24]
 * feats.res5.shape; // [1, 96, 2, 3]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import {
  Conv2d,
  Dropout,
  DropPath,
  GELU,
  init,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  ReLU,
  Sequential,
  Tanh,
} from "../../../../core/tensor/nn/mod.ts";
import { PWAM } from "./pwam.ts";
import { relativePositionIndex, shiftedWindowMask, windowPartition, windowReverse } from "./window.ts";

/** Default channels of the language features PWAM attends to (RoBERTa-base's hidden size, fixed in the original). */
export const LANGUAGE_CHANNELS = 768;

/** The feature names of the four stages, and their strides. */
const OUT_FEATURE_STRIDES: Readonly<Record<string, number>> = { res2: 4, res3: 8, res4: 16, res5: 32 };

/**
 * The Swin blocks' feed-forward network: `drop(fc2(drop(GELU(fc1(x)))))`. Children `fc1`, `act`, `fc2`,
 * `drop` (the stateless ones registered too, as in the original, so that they follow `train()`).
 */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures: number, drop = 0, generator?: Generator) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(inFeatures, hiddenFeatures, { generator }));
    this.registerModule("act", new GELU());
    this.fc2 = this.registerModule("fc2", new Linear(hiddenFeatures, inFeatures, { generator }));
    this.drop = this.registerModule("drop", new Dropout(drop, { generator }));
  }

  /** `x` `[..., inFeatures]`. */
  forward(x: Tensor): Tensor {
    return ops.tidy(() => {
      const h = this.drop.forward(ops.gelu(this.fc1.forward(x)));
      return this.drop.forward(this.fc2.forward(h));
    });
  }
}

/** Options of {@link WindowAttention}. */
export interface WindowAttentionOptions {
  dim: number;
  /** Side of the square window. */
  windowSize: number;
  numHeads: number;
  /** Bias on the qkv projection (default true). */
  qkvBias?: boolean;
  /** Overrides the score scale `head_dim ** -0.5` when set (non-null). */
  qkScale?: number | null;
  attnDrop?: number;
  projDrop?: number;
  generator?: Generator;
}

/**
 * Multi-head self-attention inside each window, with a learned bias per relative offset and head.
 * Parameters `relative_position_bias_table` `[(2ws-1)^2, heads]`, buffer `relative_position_index`
 * `[ws^2, ws^2]`, children `qkv`, `proj`.
 */
export class WindowAttention extends Module {
  readonly dim: number;
  readonly windowSize: number;
  readonly numHeads: number;
  readonly scale: number;
  readonly relativePositionBiasTable: Variable;
  readonly relativePositionIndex: Variable;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(opts: WindowAttentionOptions) {
    super();
    const { dim, windowSize: ws, numHeads } = opts;
    if (dim % numHeads !== 0) {
      throw new Error(`WindowAttention: dim ${dim} not divisible by ${numHeads} heads`);
    }
    this.dim = dim;
    this.windowSize = ws;
    this.numHeads = numHeads;
    this.scale = opts.qkScale ?? (dim / numHeads) ** -0.5;
    const generator = opts.generator;
    this.relativePositionBiasTable = this.registerParameter(
      "relative_position_bias_table",
      ops.zeros([(2 * ws - 1) * (2 * ws - 1), numHeads]),
    );
    this.relativePositionIndex = this.registerBuffer(
      "relative_position_index",
      ops.tensor(relativePositionIndex(ws, ws), [ws * ws, ws * ws], "int32"),
    );
    this.qkv = this.registerModule(
      "qkv",
      new Linear(dim, 3 * dim, { bias: opts.qkvBias ?? true, generator }),
    );
    this.attnDrop = this.registerModule("attn_drop", new Dropout(opts.attnDrop ?? 0, { generator }));
    this.proj = this.registerModule("proj", new Linear(dim, dim, { generator }));
    this.projDrop = this.registerModule("proj_drop", new Dropout(opts.projDrop ?? 0, { generator }));
    init.truncNormal(this.relativePositionBiasTable, { std: 0.02, generator });
  }

  /**
   * @param x windows `[nW*B, N, C]` with `N = ws*ws`
   * @param mask additive `[nW, N, N]` (shifted windows), or null
   */
  forward(x: Tensor, mask: Tensor | null = null): Tensor {
    const [bw, n, c] = x.shape;
    const h = this.numHeads;
    return ops.tidy(() => {
      // Split q, k, v before moving the heads forward: two rank-4 transposes are much cheaper than
      // the original's one rank-5 permute on wasm (it took half of the backbone's time).
      const [q, k, v] = ops.split(this.qkv.forward(x), 3, -1).map((t) =>
        ops.permute(ops.reshape(t, [bw, n, h, c / h]), [0, 2, 1, 3])
      ); // each [nW*B, h, N, d]
      let attn = ops.matmul(ops.mul(q, this.scale), k, false, true); // [nW*B, h, N, N]
      const bias = ops.indexSelect(
        this.relativePositionBiasTable,
        0,
        ops.reshape(this.relativePositionIndex, [-1]),
      );
      attn = ops.add(attn, ops.permute(ops.reshape(bias, [n, n, h]), [2, 0, 1]));
      if (mask !== null) {
        const nw = mask.shape[0];
        const masked = ops.add(
          ops.reshape(attn, [bw / nw, nw, h, n, n]),
          ops.reshape(mask, [1, nw, 1, n, n]),
        );
        attn = ops.reshape(masked, [bw, h, n, n]);
      }
      attn = this.attnDrop.forward(ops.softmax(attn, -1));
      const out = ops.reshape(ops.transpose(ops.matmul(attn, v), 1, 2), [bw, n, c]);
      return this.projDrop.forward(this.proj.forward(out));
    });
  }
}

/** Options of {@link SwinTransformerBlock}. */
export interface SwinTransformerBlockOptions {
  dim: number;
  numHeads: number;
  /** Window side (default 7). */
  windowSize?: number;
  /** Cyclic shift of the map before windowing (0 or `floor(ws / 2)`; default 0). */
  shiftSize?: number;
  /** Hidden width of the MLP as a multiple of `dim` (default 4). */
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  /** Dropout after the attention projection and in the MLP (default 0). */
  drop?: number;
  attnDrop?: number;
  /** Stochastic depth of both residual branches (default 0). */
  dropPath?: number;
  generator?: Generator;
}

/**
 * `x + drop_path(W-MSA(LN(x)))`, then `x + drop_path(MLP(LN(x)))`, on token-major `[B, H*W, C]`.
 * Children `norm1`, `attn`, `drop_path`, `norm2`, `mlp`.
 */
export class SwinTransformerBlock extends Module {
  readonly dim: number;
  readonly windowSize: number;
  readonly shiftSize: number;
  readonly norm1: LayerNorm;
  readonly attn: WindowAttention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(opts: SwinTransformerBlockOptions) {
    super();
    const { dim, numHeads } = opts;
    const generator = opts.generator;
    this.dim = dim;
    this.windowSize = opts.windowSize ?? 7;
    this.shiftSize = opts.shiftSize ?? 0;
    if (!(this.shiftSize >= 0 && this.shiftSize < this.windowSize)) {
      throw new Error(`SwinTransformerBlock: shift ${this.shiftSize} must be in [0, ${this.windowSize})`);
    }
    this.norm1 = this.registerModule("norm1", new LayerNorm(dim));
    this.attn = this.registerModule(
      "attn",
      new WindowAttention({
        dim,
        windowSize: this.windowSize,
        numHeads,
        qkvBias: opts.qkvBias,
        qkScale: opts.qkScale,
        attnDrop: opts.attnDrop,
        projDrop: opts.drop,
        generator,
      }),
    );
    this.dropPath = this.registerModule("drop_path", new DropPath(opts.dropPath ?? 0, { generator }));
    this.norm2 = this.registerModule("norm2", new LayerNorm(dim));
    this.mlp = this.registerModule(
      "mlp",
      new Mlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), opts.drop, generator),
    );
  }

  /**
   * @param x `[B, H*W, C]`
   * @param h map height, `w` map width
   * @param mask the shift mask of the padded map ({@link shiftedWindowMask}); used only when shifting
   */
  forward(x: Tensor, h: number, w: number, mask: Tensor | null): Tensor {
    const [b, l, c] = x.shape;
    if (l !== h * w) throw new Error(`SwinTransformerBlock: ${l} tokens for a ${h}x${w} map`);
    const ws = this.windowSize;
    const s = this.shiftSize;
    return ops.tidy(() => {
      let y = ops.reshape(this.norm1.forward(x), [b, h, w, c]);
      const padB = (ws - (h % ws)) % ws;
      const padR = (ws - (w % ws)) % ws;
      if (padB > 0 || padR > 0) y = ops.pad(y, [[0, 0], [0, padB], [0, padR]]);
      const hp = h + padB;
      const wp = w + padR;
      if (s > 0) y = ops.roll(y, [-s, -s], [1, 2]);
      const windows = ops.reshape(windowPartition(y, ws), [-1, ws * ws, c]);
      const attended = this.attn.forward(windows, s > 0 ? mask : null);
      y = windowReverse(ops.reshape(attended, [-1, ws, ws, c]), ws, hp, wp);
      if (s > 0) y = ops.roll(y, [s, s], [1, 2]);
      if (padB > 0 || padR > 0) y = ops.slice(y, [0, 0, 0, 0], [b, h, w, c]);
      const x1 = ops.add(x, this.dropPath.forward(ops.reshape(y, [b, l, c])));
      return ops.add(x1, this.dropPath.forward(this.mlp.forward(this.norm2.forward(x1))));
    });
  }
}

/**
 * Halves the resolution: the 2x2 neighbours `(0,0), (1,0), (0,1), (1,1)` (row, column offsets)
 * concatenated on channels, LayerNorm(4C), then Linear(4C, 2C) without bias. Odd maps are zero-padded
 * at the bottom/right first. Children `reduction`, `norm`.
 */
export class PatchMerging extends Module {
  readonly reduction: Linear;
  readonly norm: LayerNorm;

  constructor(readonly dim: number, generator?: Generator) {
    super();
    this.reduction = this.registerModule(
      "reduction",
      new Linear(4 * dim, 2 * dim, { bias: false, generator }),
    );
    this.norm = this.registerModule("norm", new LayerNorm(4 * dim));
  }

  /** `x` `[B, H*W, C]` -> `[B, ceil(H/2)*ceil(W/2), 2C]`. */
  forward(x: Tensor, h: number, w: number): Tensor {
    const [b, l, c] = x.shape;
    if (l !== h * w) throw new Error(`PatchMerging: ${l} tokens for a ${h}x${w} map`);
    return ops.tidy(() => {
      let y = ops.reshape(x, [b, h, w, c]);
      if (h % 2 === 1 || w % 2 === 1) y = ops.pad(y, [[0, 0], [0, h % 2], [0, w % 2]]);
      const h2 = (h + 1) >> 1;
      const w2 = (w + 1) >> 1;
      // [B, h2, dy, w2, dx, C] -> [B, h2, w2, dx, dy, C]: channel blocks in the order (dy, dx) =
      // (0,0), (1,0), (0,1), (1,1), as the original's cat of x[0::2, 0::2], x[1::2, 0::2], ...
      const grid = ops.permute(ops.reshape(y, [b, h2, 2, w2, 2, c]), [0, 1, 3, 4, 2, 5]);
      return this.reduction.forward(this.norm.forward(ops.reshape(grid, [b, h2 * w2, 4 * c])));
    });
  }
}

/** Options of {@link PatchEmbed}. */
export interface PatchEmbedOptions {
  /** Side of a patch (default 4). */
  patchSize?: number;
  /** Image channels (default 3). */
  inChans?: number;
  /** Output channels (default 96). */
  embedDim?: number;
  /** LayerNorm after the projection (default true). */
  patchNorm?: boolean;
  generator?: Generator;
}

/**
 * Non-overlapping patches to tokens: a strided `Conv2d` (child `proj`), then an optional LayerNorm
 * (child `norm`). Images whose sides are not multiples of the patch are zero-padded at the
 * bottom/right.
 */
export class PatchEmbed extends Module {
  readonly patchSize: number;
  readonly embedDim: number;
  readonly proj: Conv2d;
  readonly norm: LayerNorm | null;

  constructor(opts: PatchEmbedOptions = {}) {
    super();
    this.patchSize = opts.patchSize ?? 4;
    this.embedDim = opts.embedDim ?? 96;
    const p = this.patchSize;
    this.proj = this.registerModule(
      "proj",
      new Conv2d(opts.inChans ?? 3, this.embedDim, p, { stride: p, generator: opts.generator }),
    );
    this.norm = (opts.patchNorm ?? true) ? this.registerModule("norm", new LayerNorm(this.embedDim)) : null;
  }

  /** `x` `[B, C, H, W]` -> `[B, embedDim, ceil(H/p), ceil(W/p)]`. */
  forward(x: Tensor): Tensor {
    const p = this.patchSize;
    const [, , h, w] = x.shape;
    return ops.tidy(() => {
      const padded = ops.pad(x, [[0, 0], [0, 0], [0, (p - (h % p)) % p], [0, (p - (w % p)) % p]]);
      const y = this.proj.forward(padded);
      if (this.norm === null) return y;
      const [b, c, wh, ww] = y.shape;
      const tokens = this.norm.forward(ops.transpose(ops.reshape(y, [b, c, wh * ww]), 1, 2));
      return ops.reshape(ops.transpose(tokens, 1, 2), [b, c, wh, ww]);
    });
  }
}

/** Options of {@link MMBasicLayer}. */
export interface MMBasicLayerOptions {
  dim: number;
  depth: number;
  numHeads: number;
  windowSize?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  drop?: number;
  attnDrop?: number;
  /** Drop-path rate of every block, or one per block. */
  dropPath?: number | readonly number[];
  /** End the stage with a {@link PatchMerging} and a residual gate (all stages but the last). */
  downsample?: boolean;
  /** Heads of the PWAM attention (default 1). */
  numHeadsFusion?: number;
  /** Dropout inside PWAM (default 0). */
  fusionDrop?: number;
  /** Width of the word features PWAM reads (default {@link LANGUAGE_CHANNELS}). */
  languageChannels?: number;
  /** Initialisation of the residual gate (default `"zeros"`, the original's; see {@link FusionGateInit}). */
  gateInit?: FusionGateInit;
  generator?: Generator;
}

/** What one stage returns. */
export interface StageOutput {
  /** The PWAM output `[B, H*W, dim]` (before the output norm). */
  fused: Tensor;
  h: number;
  w: number;
  /** The next stage's input `[B, Wh*Ww, 2*dim]`, or null after the last stage. */
  down: Tensor | null;
  /** The next stage's map size (`ceil(H/2)`, `ceil(W/2)`; H, W after the last stage). */
  wh: number;
  ww: number;
}

/**
 * How the stages' residual gates (`res_gate`, Linear-ReLU-Linear-Tanh) start: `"zeros"` zeroes both
 * Linears as the original does, which also zeroes both gradients (the gate never opens when trained from
 * scratch; pretrained checkpoints carry its weights); `"trainable"` zeroes only the second, so the gate
 * starts closed but learns.
 */
export type FusionGateInit = "zeros" | "trainable";

/** `MODEL.SWIN.FUSION_GATE_INIT` checked. */
export function parseFusionGateInit(value: unknown): FusionGateInit {
  if (value === undefined) return "zeros";
  if (value === "zeros" || value === "trainable") return value;
  throw new Error(
    `MODEL.SWIN.FUSION_GATE_INIT: expected "zeros" or "trainable", got ${JSON.stringify(value)}`,
  );
}

/**
 * One stage: Swin blocks (even ones plain, odd ones shifted), PWAM, then (all stages but the last) the
 * gated residual and patch merging. Children `blocks`, `fusion`, `downsample`, `res_gate`.
 */
export class MMBasicLayer extends Module {
  readonly dim: number;
  readonly windowSize: number;
  readonly shiftSize: number;
  readonly blocks: ModuleList<SwinTransformerBlock>;
  readonly fusion: PWAM;
  readonly downsample: PatchMerging | null;
  readonly resGate: Sequential | null;

  constructor(opts: MMBasicLayerOptions) {
    super();
    const { dim, depth, generator } = opts;
    this.dim = dim;
    this.windowSize = opts.windowSize ?? 7;
    this.shiftSize = Math.floor(this.windowSize / 2);
    const dropPath = opts.dropPath ?? 0;
    this.blocks = this.registerModule(
      "blocks",
      new ModuleList(Array.from({ length: depth }, (_, i) =>
        new SwinTransformerBlock({
          dim,
          numHeads: opts.numHeads,
          windowSize: this.windowSize,
          shiftSize: i % 2 === 0 ? 0 : this.shiftSize,
          mlpRatio: opts.mlpRatio,
          qkvBias: opts.qkvBias,
          qkScale: opts.qkScale,
          drop: opts.drop,
          attnDrop: opts.attnDrop,
          dropPath: typeof dropPath === "number" ? dropPath : dropPath[i],
          generator,
        }))),
    );
    this.fusion = this.registerModule(
      "fusion",
      new PWAM({
        dim,
        vInChannels: dim,
        lInChannels: opts.languageChannels ?? LANGUAGE_CHANNELS,
        keyChannels: dim,
        valueChannels: dim,
        numHeads: opts.numHeadsFusion ?? 1,
        dropout: opts.fusionDrop ?? 0,
        generator,
      }),
    );
    if (opts.downsample ?? false) {
      this.downsample = this.registerModule("downsample", new PatchMerging(dim, generator));
      const gate = [
        new Linear(dim, dim, { bias: false, generator }),
        new Linear(dim, dim, { bias: false, generator }),
      ];
      this.resGate = this.registerModule(
        "res_gate",
        new Sequential([gate[0], new ReLU(), gate[1], new Tanh()]),
      );
      // Both Linears zero (the original's): the gate's output and both its gradients are zero, so it stays
      // closed unless a checkpoint opens it. "trainable" zeroes only the second: closed at the start, with
      // a gradient, so a model trained from scratch can learn to let the language in.
      if ((opts.gateInit ?? "zeros") === "zeros") init.zeros(gate[0].weight);
      init.zeros(gate[1].weight);
    } else {
      this.downsample = null;
      this.resGate = null;
    }
  }

  /**
   * @param x `[B, H*W, dim]`
   * @param l words `[B, 768, Nl]`, `lMask` `[B, Nl, 1]`
   */
  forward(x: Tensor, h: number, w: number, l: Tensor, lMask: Tensor): StageOutput {
    const ws = this.windowSize;
    const hp = Math.ceil(h / ws) * ws;
    const wp = Math.ceil(w / ws) * ws;
    const out = ops.tidy((): { fused: Tensor; down?: Tensor } => {
      const nw = (hp / ws) * (wp / ws);
      const mask = ops.tensor(shiftedWindowMask(hp, wp, ws, this.shiftSize), [nw, ws * ws, ws * ws]);
      let y = x;
      for (const blk of this.blocks) y = blk.forward(y, h, w, mask);
      const fused = this.fusion.forward(y, l, lMask);
      if (this.downsample === null || this.resGate === null) return { fused };
      const gated = ops.add(y, ops.mul(this.resGate.forward(fused), fused));
      return { fused, down: this.downsample.forward(gated, h, w) };
    });
    if (out.down === undefined) return { fused: out.fused, h, w, down: null, wh: h, ww: w };
    return { fused: out.fused, h, w, down: out.down, wh: (h + 1) >> 1, ww: (w + 1) >> 1 };
  }
}

/** Options of {@link MultiModalSwinTransformer} (the original's keyword arguments). */
export interface MultiModalSwinTransformerOptions {
  /** Side of the absolute position embedding's grid, in pixels (`pretrainImgSize / patchSize` cells; default 224). */
  pretrainImgSize?: number;
  patchSize?: number;
  inChans?: number;
  embedDim?: number;
  depths?: readonly number[];
  numHeads?: readonly number[];
  windowSize?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  dropRate?: number;
  attnDropRate?: number;
  /** Largest drop-path rate (the last block's); rates rise linearly from 0 (default 0.2). */
  dropPathRate?: number;
  /**
   * Absolute position embedding (`MODEL.SWIN.APE`, default false as the paper config): a learnt
   * `[1, embedDim, P, P]` grid (`P = pretrainImgSize / patchSize`) resized bicubically to the patch grid
   * and added to the patch embeddings, so that the features know where they are.
   */
  ape?: boolean;
  patchNorm?: boolean;
  /** Stages whose (normed) PWAM output is returned (default all four). */
  outIndices?: readonly number[];
  numHeadsFusion?: readonly number[];
  fusionDrop?: number;
  /** Width of the word features the fusion reads (default {@link LANGUAGE_CHANNELS}: RoBERTa-base). */
  languageChannels?: number;
  /** Initialisation of the stages' residual gates (`MODEL.SWIN.FUSION_GATE_INIT`, default `"zeros"`). */
  gateInit?: FusionGateInit;
  /** Where the initialisation and the dropout masks draw from. */
  generator?: Generator;
}

/**
 * The backbone without the detectron2 wrapper. Children `patch_embed`, `pos_drop`, `layers.{i}`,
 * `norm{i}` for each output index.
 */
export class MultiModalSwinTransformer extends Module {
  readonly numLayers: number;
  readonly embedDim: number;
  readonly numFeatures: number[];
  readonly outIndices: readonly number[];
  readonly patchEmbed: PatchEmbed;
  /** `[1, embedDim, P, P]` with `ape`, else null. */
  readonly absolutePosEmbed: Variable | null;
  readonly posDrop: Dropout;
  readonly layers: ModuleList<MMBasicLayer>;
  readonly norms: Map<number, LayerNorm>;

  constructor(opts: MultiModalSwinTransformerOptions = {}) {
    super();
    const depths = opts.depths ?? [2, 2, 6, 2];
    const numHeads = opts.numHeads ?? [3, 6, 12, 24];
    const numHeadsFusion = opts.numHeadsFusion ?? [1, 1, 1, 1];
    const embedDim = opts.embedDim ?? 96;
    const generator = opts.generator;
    if (numHeads.length !== depths.length || numHeadsFusion.length < depths.length) {
      throw new Error(
        `MultiModalSwinTransformer: ${depths.length} depths, ${numHeads.length} head counts, ${numHeadsFusion.length} fusion head counts`,
      );
    }
    this.numLayers = depths.length;
    this.embedDim = embedDim;
    this.outIndices = opts.outIndices ?? [0, 1, 2, 3];
    this.patchEmbed = this.registerModule(
      "patch_embed",
      new PatchEmbed({
        patchSize: opts.patchSize ?? 4,
        inChans: opts.inChans ?? 3,
        embedDim,
        patchNorm: opts.patchNorm ?? true,
        generator,
      }),
    );
    this.absolutePosEmbed = null;
    if (opts.ape) {
      const cells = Math.floor((opts.pretrainImgSize ?? 224) / (opts.patchSize ?? 4));
      if (!(cells >= 1)) {
        throw new Error(
          `MultiModalSwinTransformer: PRETRAIN_IMG_SIZE ${opts.pretrainImgSize} gives no position cell for patch ${opts.patchSize}`,
        );
      }
      this.absolutePosEmbed = this.registerParameter(
        "absolute_pos_embed",
        ops.zeros([1, embedDim, cells, cells]),
      );
      init.truncNormal(this.absolutePosEmbed, { std: 0.02, generator });
    }
    this.posDrop = this.registerModule("pos_drop", new Dropout(opts.dropRate ?? 0, { generator }));
    const dpr = dropPathRates(opts.dropPathRate ?? 0.2, depths.reduce((a, d) => a + d, 0));
    this.numFeatures = depths.map((_, i) => embedDim * 2 ** i);
    this.layers = this.registerModule("layers", new ModuleList<MMBasicLayer>());
    let first = 0;
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.append(
        new MMBasicLayer({
          dim: this.numFeatures[i],
          depth: depths[i],
          numHeads: numHeads[i],
          windowSize: opts.windowSize ?? 7,
          mlpRatio: opts.mlpRatio ?? 4,
          qkvBias: opts.qkvBias ?? true,
          qkScale: opts.qkScale ?? null,
          drop: opts.dropRate ?? 0,
          attnDrop: opts.attnDropRate ?? 0,
          dropPath: dpr.slice(first, first + depths[i]),
          downsample: i < this.numLayers - 1,
          numHeadsFusion: numHeadsFusion[i],
          fusionDrop: opts.fusionDrop ?? 0,
          languageChannels: opts.languageChannels,
          gateInit: opts.gateInit,
          generator,
        }),
      );
      first += depths[i];
    }
    this.norms = new Map();
    for (const i of this.outIndices) {
      if (!(i >= 0 && i < this.numLayers)) {
        throw new Error(`MultiModalSwinTransformer: out index ${i} out of range`);
      }
      this.norms.set(i, this.registerModule(`norm${i}`, new LayerNorm(this.numFeatures[i])));
    }
  }

  /**
   * @param x normalised images `[B, 3, H, W]`
   * @param l language features `[B, 768, Nl]` (channels-first)
   * @param lMask `[B, Nl, 1]`, 1 for a word and 0 for padding
   * @returns `res{i+2}`: `[B, C_i, H_i, W_i]` for each output index
   */
  forward(x: Tensor, l: Tensor, lMask: Tensor): Record<string, Tensor> {
    return ops.tidy(() => {
      let embedded = this.patchEmbed.forward(x);
      const [b, c, eh, ew] = embedded.shape;
      if (this.absolutePosEmbed !== null) {
        const pos = ops.interpolate(this.absolutePosEmbed, { size: [eh, ew], mode: "bicubic" });
        embedded = ops.add(embedded, pos);
      }
      let y = this.posDrop.forward(ops.transpose(ops.reshape(embedded, [b, c, eh * ew]), 1, 2));
      let h = eh;
      let w = ew;
      const outs: Record<string, Tensor> = {};
      for (let i = 0; i < this.numLayers; i++) {
        const stage = this.layers.at(i).forward(y, h, w, l, lMask);
        const norm = this.norms.get(i);
        if (norm !== undefined) {
          const feat = ops.reshape(norm.forward(stage.fused), [b, stage.h, stage.w, this.numFeatures[i]]);
          outs[`res${i + 2}`] = ops.permute(feat, [0, 3, 1, 2]);
        }
        if (stage.down === null) break;
        y = stage.down;
        h = stage.wh;
        w = stage.ww;
      }
      return outs;
    });
  }
}

/**
 * `torch.linspace(0, rate, n)` in float32, as the original's per-block drop-path rates (only their
 * float32 values matter: they are probabilities of the training-time draws).
 */
function dropPathRates(rate: number, n: number): number[] {
  if (n === 1) return [0];
  const step = Math.fround(rate / (n - 1));
  // PyTorch fills the first half from the start and the second half from the end.
  return Array.from(
    { length: n },
    (_, i) =>
      Math.fround(i < n / 2 ? Math.fround(step * i) : Math.fround(rate - Math.fround(step * (n - 1 - i)))),
  );
}

/** Options of {@link D2SwinTransformer}: the backbone's plus the features to return. */
export interface D2SwinTransformerOptions extends MultiModalSwinTransformerOptions {
  /** Subset of `res2`..`res5` to return (default all four). */
  outFeatures?: readonly string[];
}

/** A feature map's channels and stride, as detectron2's `ShapeSpec`. */
export interface ShapeSpec {
  channels: number;
  stride: number;
}

/**
 * detectron2's view of the backbone: `forward(images, words, wordMask)` returns the `outFeatures` of
 * `res2`..`res5` (strides 4, 8, 16, 32); inputs must be padded to multiples of
 * {@link D2SwinTransformer.sizeDivisibility}. State-dict keys are the original's (relative to
 * `backbone.`).
 */
export class D2SwinTransformer extends MultiModalSwinTransformer {
  readonly outFeatures: readonly string[];

  constructor(opts: D2SwinTransformerOptions = {}) {
    super(opts);
    this.outFeatures = opts.outFeatures ?? ["res2", "res3", "res4", "res5"];
    for (const f of this.outFeatures) {
      if (!(f in OUT_FEATURE_STRIDES)) throw new Error(`D2SwinTransformer: unknown out feature "${f}"`);
    }
  }

  /** The multiple that input sides must be padded to. */
  get sizeDivisibility(): number {
    return 32;
  }

  /** Channels and stride of every returned feature. */
  outputShape(): Record<string, ShapeSpec> {
    const out: Record<string, ShapeSpec> = {};
    for (const f of this.outFeatures) {
      out[f] = { channels: this.numFeatures[Number(f.slice(3)) - 2], stride: OUT_FEATURE_STRIDES[f] };
    }
    return out;
  }

  /**
   * @param x normalised images `[B, 3, H, W]`
   * @param l language features `[B, 768, Nl]`; `lMask` `[B, Nl, 1]` (1 word, 0 padding)
   */
  override forward(x: Tensor, l: Tensor, lMask: Tensor): Record<string, Tensor> {
    if (x.rank !== 4) throw new Error(`D2SwinTransformer takes images [N, C, H, W], got [${x.shape}]`);
    const all = super.forward(x, l, lMask);
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(all)) {
      if (this.outFeatures.includes(k)) out[k] = v;
      else ops.dispose(v);
    }
    return out;
  }
}

/** The `MODEL.SWIN` keys {@link d2SwinTransformerFromConfig} reads. */
export interface SwinConfig {
  readonly PRETRAIN_IMG_SIZE: number;
  readonly PATCH_SIZE: number;
  readonly EMBED_DIM: number;
  readonly DEPTHS: readonly number[];
  readonly NUM_HEADS: readonly number[];
  readonly WINDOW_SIZE: number;
  readonly MLP_RATIO: number;
  readonly QKV_BIAS: boolean;
  readonly QK_SCALE: number | null;
  readonly DROP_RATE: number;
  readonly ATTN_DROP_RATE: number;
  readonly DROP_PATH_RATE: number;
  readonly APE: boolean;
  readonly PATCH_NORM: boolean;
  readonly OUT_FEATURES: readonly string[];
  /** Our key (absent: the original's `"zeros"`). */
  readonly FUSION_GATE_INIT?: string;
}

/**
 * Builds the backbone from a config's `MODEL.SWIN`, as the original `D2SwinTransformer(cfg, shape)`:
 * 3 input channels, all four stages normed, one PWAM head per stage, no fusion dropout
 * (`USE_CHECKPOINT` only trades memory for time there and is not read).
 *
 * @example
 * ```ts
 * import { d2SwinTransformerFromConfig } from "./swin.ts";
 * const SWIN = {
 *   PRETRAIN_IMG_SIZE: 224, PATCH_SIZE: 4, EMBED_DIM: 96, DEPTHS: [2, 2, 6, 2], NUM_HEADS: [3, 6, 12, 24],
 *   WINDOW_SIZE: 7, MLP_RATIO: 4.0, QKV_BIAS: true, QK_SCALE: null, DROP_RATE: 0.0, ATTN_DROP_RATE: 0.0,
 *   DROP_PATH_RATE: 0.3, APE: false, PATCH_NORM: true, OUT_FEATURES: ["res2", "res3", "res4", "res5"],
 * };
 * const backbone = d2SwinTransformerFromConfig({ MODEL: { SWIN } }); // Swin-T, 33.3M parameters
 * ```
 */
export function d2SwinTransformerFromConfig(
  cfg: { readonly MODEL: { readonly SWIN: SwinConfig } },
  opts: { generator?: Generator; languageChannels?: number } = {},
): D2SwinTransformer {
  const s = cfg.MODEL.SWIN;
  return new D2SwinTransformer({
    pretrainImgSize: s.PRETRAIN_IMG_SIZE,
    patchSize: s.PATCH_SIZE,
    inChans: 3,
    embedDim: s.EMBED_DIM,
    depths: s.DEPTHS,
    numHeads: s.NUM_HEADS,
    windowSize: s.WINDOW_SIZE,
    mlpRatio: s.MLP_RATIO,
    qkvBias: s.QKV_BIAS,
    qkScale: s.QK_SCALE,
    dropRate: s.DROP_RATE,
    attnDropRate: s.ATTN_DROP_RATE,
    dropPathRate: s.DROP_PATH_RATE,
    ape: s.APE,
    patchNorm: s.PATCH_NORM,
    outFeatures: s.OUT_FEATURES,
    languageChannels: opts.languageChannels,
    gateInit: parseFusionGateInit(s.FUSION_GATE_INIT),
    generator: opts.generator,
  });
}
