/**
 * Pixel-Word Attention Module (PWAM, from LAVT), the language fusion that DsHmp's Swin backbone runs
 * after every stage: {@link SpatialImageLanguageAttention} lets every pixel attend to the sentence's
 * words, and {@link PWAM} multiplies the result with a projection of the pixel features.
 * Parameter names and layouts are the original's (1x1 `Conv1d` weights `[out, in, 1]`).
 *
 * Behaviour kept from the original:
 * - queries and the attention output are instance-normalised over the H*W tokens of each sample and
 *   channel (`InstanceNorm1d`, no affine, eps 1e-5); keys and values are not normalised;
 * - keys and values are multiplied by the word mask, and the scores get `1e4 * mask - 1e4` added (a
 *   large negative number, not -inf, on padding words), scaled by `key_channels ** -0.5` whatever the
 *   number of heads;
 * - GELU is the exact erf form.
 *
 * Visual features are token-major `[B, H*W, C]`; language features channels-first `[B, 768, Nl]`;
 * the word mask `[B, Nl, 1]` (1 valid, 0 padding).
 *
 * @example
 * ```ts
 * import { PWAM } from "./pwam.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const pwam = new PWAM({ dim: 96, vInChannels: 96, lInChannels: 768, keyChannels: 96, valueChannels: 96 });
 * pwam.eval();
 * const mask = ops.tensor([1, 1, 1, 0], [1, 4, 1]);
 * const y = pwam.forward(ops.randn([1, 56 * 56, 96]), ops.randn([1, 768, 4]), mask); // [1, 3136, 96]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import { Conv1d, Dropout, GELU, Module, Sequential } from "../../../../core/tensor/nn/mod.ts";

/** `InstanceNorm1d`'s default eps. */
const INSTANCE_NORM_EPS = 1e-5;

/**
 * A 1x1 `Conv1d` over channels-first `[B, Cin, L]` is a Linear over token-major `[B, L, Cin]`: applying
 * it that way keeps the visual features token-major and saves two transposes per call.
 */
function pointwise(conv: Conv1d, x: Tensor): Tensor {
  return ops.tidy(() => {
    const w = ops.reshape(conv.weight, [conv.outChannels, conv.inChannels]);
    return ops.linear(x, w, conv.bias);
  });
}

/** `InstanceNorm1d` (no affine) of token-major `[B, L, C]`: each sample and channel over the L tokens. */
function instanceNormTokens(x: Tensor): Tensor {
  return ops.tidy(() => {
    const mean = ops.mean(x, 1, true);
    const centred = ops.sub(x, mean);
    const variance = ops.mean(ops.square(centred), 1, true); // biased, as PyTorch
    return ops.mul(centred, ops.rsqrt(ops.add(variance, INSTANCE_NORM_EPS)));
  });
}

/** Options of {@link SpatialImageLanguageAttention}. */
export interface SpatialImageLanguageAttentionOptions {
  vInChannels: number;
  lInChannels: number;
  keyChannels: number;
  valueChannels: number;
  /** Output channels (default `valueChannels`). */
  outChannels?: number;
  /** Attention heads (default 1, as DsHmp uses). */
  numHeads?: number;
  /** Where the default initialisation draws from. */
  generator?: Generator;
}

/**
 * Cross-attention from pixels (queries) to words (keys and values). Children `f_key`, `f_query`,
 * `f_value`, `W`, each a `Sequential` whose entry 0 is the 1x1 `Conv1d` (the instance norms of
 * `f_query` and `W` have no parameters).
 */
export class SpatialImageLanguageAttention extends Module {
  readonly keyChannels: number;
  readonly valueChannels: number;
  readonly outChannels: number;
  readonly numHeads: number;
  readonly keyConv: Conv1d;
  readonly queryConv: Conv1d;
  readonly valueConv: Conv1d;
  readonly outConv: Conv1d;

  constructor(opts: SpatialImageLanguageAttentionOptions) {
    super();
    const { vInChannels, lInChannels, keyChannels, valueChannels } = opts;
    this.keyChannels = keyChannels;
    this.valueChannels = valueChannels;
    this.outChannels = opts.outChannels ?? valueChannels;
    this.numHeads = opts.numHeads ?? 1;
    if (keyChannels % this.numHeads !== 0 || valueChannels % this.numHeads !== 0) {
      throw new Error(
        `SpatialImageLanguageAttention: key ${keyChannels} / value ${valueChannels} channels not divisible by ${this.numHeads} heads`,
      );
    }
    const g = { generator: opts.generator };
    this.keyConv = new Conv1d(lInChannels, keyChannels, 1, g);
    this.queryConv = new Conv1d(vInChannels, keyChannels, 1, g);
    this.valueConv = new Conv1d(lInChannels, valueChannels, 1, g);
    this.outConv = new Conv1d(valueChannels, this.outChannels, 1, g);
    this.registerModule("f_key", new Sequential([this.keyConv]));
    this.registerModule("f_query", new Sequential([this.queryConv]));
    this.registerModule("f_value", new Sequential([this.valueConv]));
    this.registerModule("W", new Sequential([this.outConv]));
  }

  /**
   * @param x pixels `[B, HW, vInChannels]`
   * @param l words `[B, lInChannels, Nl]`
   * @param lMask `[B, Nl, 1]`, 1 for a word and 0 for padding (any numeric dtype)
   * @returns `[B, HW, outChannels]`
   */
  forward(x: Tensor, l: Tensor, lMask: Tensor): Tensor {
    const [b, hw] = x.shape;
    const nl = l.shape[2] as number;
    const heads = this.numHeads;
    const dk = this.keyChannels / heads;
    const dv = this.valueChannels / heads;
    return ops.tidy(() => {
      const mask = ops.reshape(ops.cast(lMask, "float32"), [b, nl, 1]);
      // Token-major throughout: words as [B, Nl, C], channel c belonging to head floor(c / d).
      const words = ops.transpose(l, 1, 2);
      const query = instanceNormTokens(pointwise(this.queryConv, x)); // [B, HW, Ck]
      const key = ops.mul(pointwise(this.keyConv, words), mask); // [B, Nl, Ck]
      const value = ops.mul(pointwise(this.valueConv, words), mask); // [B, Nl, Cv]
      const q = ops.permute(ops.reshape(query, [b, hw, heads, dk]), [0, 2, 1, 3]); // [B, h, HW, dk]
      const k = ops.permute(ops.reshape(key, [b, nl, heads, dk]), [0, 2, 1, 3]); // [B, h, Nl, dk]
      const v = ops.permute(ops.reshape(value, [b, nl, heads, dv]), [0, 2, 1, 3]); // [B, h, Nl, dv]
      let sim = ops.mul(ops.matmul(q, k, false, true), this.keyChannels ** -0.5); // [B, h, HW, Nl]
      sim = ops.add(sim, ops.reshape(ops.sub(ops.mul(mask, 1e4), 1e4), [b, 1, 1, nl]));
      const out = ops.matmul(ops.softmax(sim, -1), v); // [B, h, HW, dv]
      const merged = ops.reshape(ops.permute(out, [0, 2, 1, 3]), [b, hw, this.valueChannels]);
      return instanceNormTokens(pointwise(this.outConv, merged));
    });
  }
}

/** Options of {@link PWAM}. */
export interface PWAMOptions {
  /** Channels of the visual features and of the fused output. */
  dim: number;
  vInChannels: number;
  lInChannels: number;
  keyChannels: number;
  valueChannels: number;
  /** Heads of the pixel-word attention (default 1). */
  numHeads?: number;
  /** Dropout after both projections, in training (default 0). */
  dropout?: number;
  generator?: Generator;
}

/**
 * `GELU(W_mm (GELU(W_vis x) * attend(x, words)))`: children `vis_project`, `image_lang_att`,
 * `project_mm`.
 */
export class PWAM extends Module {
  readonly visProject: Sequential;
  readonly imageLangAtt: SpatialImageLanguageAttention;
  readonly projectMm: Sequential;
  readonly #visConv: Conv1d;
  readonly #visDrop: Dropout;
  readonly #mmConv: Conv1d;
  readonly #mmDrop: Dropout;

  constructor(opts: PWAMOptions) {
    super();
    const g = { generator: opts.generator };
    const p = opts.dropout ?? 0;
    this.#visConv = new Conv1d(opts.dim, opts.dim, 1, g);
    this.#visDrop = new Dropout(p, g);
    this.visProject = this.registerModule(
      "vis_project",
      new Sequential([this.#visConv, new GELU(), this.#visDrop]),
    );
    this.imageLangAtt = this.registerModule(
      "image_lang_att",
      new SpatialImageLanguageAttention({
        vInChannels: opts.vInChannels,
        lInChannels: opts.lInChannels,
        keyChannels: opts.keyChannels,
        valueChannels: opts.valueChannels,
        outChannels: opts.valueChannels,
        numHeads: opts.numHeads,
        generator: opts.generator,
      }),
    );
    this.#mmConv = new Conv1d(opts.valueChannels, opts.valueChannels, 1, g);
    this.#mmDrop = new Dropout(p, g);
    this.projectMm = this.registerModule(
      "project_mm",
      new Sequential([this.#mmConv, new GELU(), this.#mmDrop]),
    );
  }

  /**
   * @param x pixels `[B, HW, dim]`
   * @param l words `[B, lInChannels, Nl]`
   * @param lMask `[B, Nl, 1]`, 1 for a word and 0 for padding
   * @returns the fused features `[B, HW, valueChannels]`
   */
  forward(x: Tensor, l: Tensor, lMask: Tensor): Tensor {
    return ops.tidy(() => {
      // Each Sequential's steps run by hand so that its Conv1d can run token-major.
      const vis = this.#visDrop.forward(ops.gelu(pointwise(this.#visConv, x)));
      const lang = this.imageLangAtt.forward(x, l, lMask);
      return this.#mmDrop.forward(ops.gelu(pointwise(this.#mmConv, ops.mul(vis, lang))));
    });
  }
}
