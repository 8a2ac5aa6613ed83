/**
 * Mask2Former's multi-scale deformable-attention pixel decoder (`pixel_decoder/msdeformattn.py`):
 * {@link MSDeformAttnPixelDecoder} projects `res3`..`res5` to `conv_dim` channels, runs them together
 * through a deformable transformer encoder ({@link MSDeformAttnTransformerEncoderOnly}, post-norm
 * {@link MSDeformAttnTransformerEncoderLayer}s), then adds the higher-resolution backbone features
 * (`res2`) with an FPN step, and ends with a 1x1 mask-feature convolution.
 *
 * Behaviour kept from the original:
 * - transformer levels run from low to high resolution (`res5`, `res4`, `res3`); tokens are
 *   concatenated in that order and `level_start_index` says where each level begins;
 * - input projections are Conv1x1 (with bias) + GroupNorm(32); positions are the normalised sine
 *   encoding of the raw backbone map's shape plus a learnt per-level embedding;
 * - reference points are pixel centres `((j + 0.5) / W_l, (i + 0.5) / H_l)`; there is never a padding
 *   mask, so the valid ratios are all 1;
 * - the FPN upsampling is bilinear (`align_corners=False`); lateral and output convs have no bias when
 *   followed by a norm; `out[0]` (stride 32) is also returned as the "transformer encoder features";
 * - the FFN width is 1024 in {@link msDeformAttnPixelDecoderFromConfig} whatever
 *   `MODEL.MASK_FORMER.DIM_FEEDFORWARD` says, and each encoder layer samples 4 points, as in
 *   `from_config`.
 *
 * @example
 * ```ts
 * import { MSDeformAttnPixelDecoder } from "./msdeformattn.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const decoder = new MSDeformAttnPixelDecoder({
 *   inputShape: {
 *     res2: { channels: 16, stride: 4 }, res3: { channels: 32, stride: 8 },
 *     res4: { channels: 64, stride: 16 }, res5: { channels: 128, stride: 32 },
 *   },
 *   convDim: 64, maskDim: 32, transformerNheads: 4, transformerDimFeedforward: 128, transformerEncLayers: 2,
 * }).eval();
 * const [maskFeatures, , , multiScale] = decoder.forwardFeatures({
 *   res2: ops.randn([1, 16, 16, 24]), res3: ops.randn([1, 32, 8, 12]),
 *   res4: ops.randn([1, 64, 4, 6]), res5: ops.randn([1, 128, 2, 3]),
 * });
 * maskFeatures.shape; // [1, 32, 16, 24]
 * multiScale.map((f) => f.shape); // [1, 64, 2, 3], [1, 64, 4, 6], [1, 64, 8, 12]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import {
  Conv2d,
  Dropout,
  GroupNorm,
  init,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  PositionEmbeddingSine,
  Sequential,
} from "../../../../core/tensor/nn/mod.ts";
import type { ShapeSpec } from "../backbone/swin.ts";
import { MSDeformAttn, type SpatialShapes } from "./ms_deform_attn.ts";

export type { ShapeSpec } from "../backbone/swin.ts";

/** Activations the encoder layers' FFN may use (the original's `_get_activation_fn`, GLU aside). */
export type EncoderActivation = "relu" | "gelu";

/** Options of {@link MSDeformAttnTransformerEncoderLayer} (the original's defaults). */
export interface MSDeformAttnTransformerEncoderLayerOptions {
  /** Hidden size (default 256). */
  dModel?: number;
  /** FFN width (default 1024). */
  dFfn?: number;
  /** Dropout after attention and in the FFN (default 0.1). */
  dropout?: number;
  /** FFN activation (default `relu`). */
  activation?: EncoderActivation;
  /** Feature levels (default 4). */
  nLevels?: number;
  /** Attention heads (default 8). */
  nHeads?: number;
  /** Sampling points per head and level (default 4). */
  nPoints?: number;
  /** Where the initialisation and dropout draw from. */
  generator?: Generator;
}

/**
 * One post-norm encoder layer: `src = norm1(src + MSDA(src + pos, ref, src))`, then
 * `src = norm2(src + linear2(act(linear1(src))))` (LayerNorm eps 1e-5). Keys: `self_attn.*`,
 * `norm1.*`, `linear1.*`, `linear2.*`, `norm2.*`.
 */
export class MSDeformAttnTransformerEncoderLayer extends Module {
  readonly selfAttn: MSDeformAttn;
  readonly dropout1: Dropout;
  readonly norm1: LayerNorm;
  readonly linear1: Linear;
  readonly dropout2: Dropout;
  readonly linear2: Linear;
  readonly dropout3: Dropout;
  readonly norm2: LayerNorm;
  readonly activation: (x: Tensor) => Tensor;

  constructor(opts: MSDeformAttnTransformerEncoderLayerOptions = {}) {
    super();
    const dModel = opts.dModel ?? 256;
    const dFfn = opts.dFfn ?? 1024;
    const p = opts.dropout ?? 0.1;
    const { generator } = opts;
    this.selfAttn = this.registerModule(
      "self_attn",
      new MSDeformAttn({
        dModel,
        nLevels: opts.nLevels,
        nHeads: opts.nHeads,
        nPoints: opts.nPoints,
        generator,
      }),
    );
    this.dropout1 = this.registerModule("dropout1", new Dropout(p, { generator }));
    this.norm1 = this.registerModule("norm1", new LayerNorm(dModel));
    this.linear1 = this.registerModule("linear1", new Linear(dModel, dFfn, { generator }));
    this.activation = (opts.activation ?? "relu") === "relu" ? ops.relu : ops.gelu;
    this.dropout2 = this.registerModule("dropout2", new Dropout(p, { generator }));
    this.linear2 = this.registerModule("linear2", new Linear(dFfn, dModel, { generator }));
    this.dropout3 = this.registerModule("dropout3", new Dropout(p, { generator }));
    this.norm2 = this.registerModule("norm2", new LayerNorm(dModel));
  }

  /**
   * @param src `[N, ΣHW, dModel]`; `pos` the same shape (added to the queries only)
   * @param referencePoints `[N, ΣHW, nLevels, 2]`
   */
  forward(src: Tensor, pos: Tensor, referencePoints: Tensor, spatialShapes: SpatialShapes): Tensor {
    return ops.tidy(() => {
      const attended = this.selfAttn.forward(ops.add(src, pos), referencePoints, src, spatialShapes);
      const x = this.norm1.forward(ops.add(src, this.dropout1.forward(attended)));
      const ffn = this.linear2.forward(this.dropout2.forward(this.activation(this.linear1.forward(x))));
      return this.norm2.forward(ops.add(x, this.dropout3.forward(ffn)));
    });
  }
}

/**
 * Token index where each level begins when the levels' `H·W` tokens are concatenated.
 *
 * @example
 * ```ts
 * import { levelStartIndex } from "./msdeformattn.ts";
 * levelStartIndex([[2, 3], [4, 6], [8, 12]]); // [0, 6, 30]
 * ```
 */
export function levelStartIndex(spatialShapes: SpatialShapes): number[] {
  const out: number[] = [];
  let start = 0;
  for (const [h, w] of spatialShapes) {
    out.push(start);
    start += h * w;
  }
  return out;
}

/**
 * A stack of {@link MSDeformAttnTransformerEncoderLayer}s (keys `layers.<i>.*`). As the original's
 * `_get_clones` deep-copies one layer, the layers start with equal FFN biases.
 */
export class MSDeformAttnTransformerEncoder extends Module {
  readonly layers: ModuleList<MSDeformAttnTransformerEncoderLayer>;

  constructor(layerOptions: MSDeformAttnTransformerEncoderLayerOptions, numLayers: number) {
    super();
    const layers = Array.from(
      { length: numLayers },
      () => new MSDeformAttnTransformerEncoderLayer(layerOptions),
    );
    for (const layer of layers.slice(1)) {
      for (const key of ["linear1", "linear2"] as const) layer[key].bias!.assign(layers[0][key].bias!);
    }
    this.layers = this.registerModule("layers", new ModuleList(layers));
  }

  /**
   * Reference points `[batch, ΣHW, L, 2]`: every token's pixel centre `((j + 0.5) / W, (i + 0.5) / H)`
   * in its own level, repeated for every level (valid ratios are 1: no padding), computed in float32.
   *
   * @example
   * ```ts
   * import { MSDeformAttnTransformerEncoder } from "./msdeformattn.ts";
   * MSDeformAttnTransformerEncoder.getReferencePoints([[1, 2]], 1); // [[[[0.25, 0.5]], [[0.75, 0.5]]]]
   * ```
   */
  static getReferencePoints(spatialShapes: SpatialShapes, batch: number): Tensor {
    const levels = spatialShapes.length;
    const total = spatialShapes.reduce((a, [h, w]) => a + h * w, 0);
    const one = new Float32Array(total * levels * 2);
    let q = 0;
    for (const [h, w] of spatialShapes) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++, q++) {
          const x = Math.fround((j + 0.5) / w);
          const y = Math.fround((i + 0.5) / h);
          for (let l = 0; l < levels; l++) one.set([x, y], (q * levels + l) * 2);
        }
      }
    }
    const out = new Float32Array(batch * one.length);
    for (let b = 0; b < batch; b++) out.set(one, b * one.length);
    return ops.tensor(out, [batch, total, levels, 2]);
  }

  /** Runs every layer on `src` `[N, ΣHW, C]` with positions `pos` of the same shape. */
  forward(src: Tensor, spatialShapes: SpatialShapes, pos: Tensor): Tensor {
    return ops.tidy(() => {
      const ref = MSDeformAttnTransformerEncoder.getReferencePoints(spatialShapes, src.shape[0]);
      let output = src;
      for (const layer of this.layers) output = layer.forward(output, pos, ref, spatialShapes);
      return output;
    });
  }
}

/** Options of {@link MSDeformAttnTransformerEncoderOnly} (the original's defaults). */
export interface MSDeformAttnTransformerEncoderOnlyOptions {
  dModel?: number;
  nhead?: number;
  numEncoderLayers?: number;
  dimFeedforward?: number;
  dropout?: number;
  activation?: EncoderActivation;
  numFeatureLevels?: number;
  encNPoints?: number;
  generator?: Generator;
}

/** What {@link MSDeformAttnTransformerEncoderOnly.forward} returns. */
export interface EncoderOutput {
  /** The encoded tokens `[N, ΣHW, dModel]`, levels concatenated. */
  memory: Tensor;
  spatialShapes: [number, number][];
  levelStartIndex: number[];
}

/**
 * Deformable DETR's encoder without the decoder: flattens the levels, adds the level embeddings to
 * the positions and encodes. Keys: `level_embed` `[numFeatureLevels, dModel]`, `encoder.layers.*`.
 */
export class MSDeformAttnTransformerEncoderOnly extends Module {
  readonly dModel: number;
  readonly nhead: number;
  readonly levelEmbed: Variable;
  readonly encoder: MSDeformAttnTransformerEncoder;

  constructor(opts: MSDeformAttnTransformerEncoderOnlyOptions = {}) {
    super();
    this.dModel = opts.dModel ?? 256;
    this.nhead = opts.nhead ?? 8;
    const levels = opts.numFeatureLevels ?? 4;
    const { generator } = opts;
    this.encoder = this.registerModule(
      "encoder",
      new MSDeformAttnTransformerEncoder({
        dModel: this.dModel,
        dFfn: opts.dimFeedforward ?? 1024,
        dropout: opts.dropout ?? 0.1,
        activation: opts.activation,
        nLevels: levels,
        nHeads: this.nhead,
        nPoints: opts.encNPoints ?? 4,
        generator,
      }, opts.numEncoderLayers ?? 6),
    );
    this.levelEmbed = this.registerParameter("level_embed", ops.zeros([levels, this.dModel]));
    this.resetParameters(generator);
  }

  /**
   * Xavier-uniform on every matrix, then each {@link MSDeformAttn}'s own initialisation, then a
   * standard normal level embedding, in the original's order.
   */
  resetParameters(generator?: Generator): void {
    for (const [, p] of this.namedParameters()) if (p.rank > 1) init.xavierUniform(p, { generator });
    for (const [, m] of this.namedModules()) if (m instanceof MSDeformAttn) m.resetParameters(generator);
    init.normal(this.levelEmbed, 0, 1, { generator });
  }

  /**
   * The encoder's inputs: tokens `[N, ΣHW, C]` of the levels in order, their positions plus
   * `level_embed[l]`, the spatial shapes and level start indices.
   */
  flattenLevels(srcs: Tensor[], posEmbeds: Tensor[]): {
    srcFlatten: Tensor;
    lvlPosEmbedFlatten: Tensor;
    spatialShapes: [number, number][];
    levelStartIndex: number[];
  } {
    if (srcs.length !== this.levelEmbed.shape[0] || posEmbeds.length !== srcs.length) {
      throw new Error(
        `MSDeformAttnTransformerEncoderOnly: ${srcs.length} levels and ${posEmbeds.length} position maps ` +
          `for ${this.levelEmbed.shape[0]} level embeddings`,
      );
    }
    const spatialShapes = srcs.map((s) => [s.shape[2], s.shape[3]] as [number, number]);
    return ops.tidy(() => {
      const tokens = (x: Tensor) => ops.transpose(ops.flatten(x, 2), 1, 2); // [N, C, H, W] -> [N, HW, C]
      const embeds = ops.unstack(this.levelEmbed, 0);
      const srcFlatten = ops.cat(srcs.map(tokens), 1);
      const lvlPosEmbedFlatten = ops.cat(
        posEmbeds.map((p, l) => ops.add(tokens(p), ops.reshape(embeds[l], [1, 1, -1]))),
        1,
      );
      return {
        srcFlatten,
        lvlPosEmbedFlatten,
        spatialShapes,
        levelStartIndex: levelStartIndex(spatialShapes),
      };
    });
  }

  /** Encodes the levels `srcs` (`[N, C, H_l, W_l]`) with their position maps `posEmbeds`. */
  forward(srcs: Tensor[], posEmbeds: Tensor[]): EncoderOutput {
    const flat = this.flattenLevels(srcs, posEmbeds);
    const memory = this.encoder.forward(flat.srcFlatten, flat.spatialShapes, flat.lvlPosEmbedFlatten);
    ops.dispose([flat.srcFlatten, flat.lvlPosEmbedFlatten]);
    return { memory, spatialShapes: flat.spatialShapes, levelStartIndex: flat.levelStartIndex };
  }
}

/** Options of {@link MSDeformAttnPixelDecoder}: the original constructor's arguments. */
export interface MSDeformAttnPixelDecoderOptions {
  /** Channels and stride of every backbone feature the decoder reads (`res2`..`res5`). */
  inputShape: Readonly<Record<string, ShapeSpec>>;
  /** Dropout in the encoder (default 0.0, the paper config's `MASK_FORMER.DROPOUT`). */
  transformerDropout?: number;
  /** Encoder heads (default 8). */
  transformerNheads?: number;
  /** Encoder FFN width (default 1024). */
  transformerDimFeedforward?: number;
  /** Encoder layers (default 6). */
  transformerEncLayers?: number;
  /** Channels of every level (default 256). */
  convDim?: number;
  /** Channels of the mask features (default 256). */
  maskDim?: number;
  /** `"GN"` (GroupNorm(32), default) or `""` (no norm, convs with bias) for the FPN convs. */
  norm?: "GN" | "";
  /** Features the encoder reads (default `res3`, `res4`, `res5`). */
  transformerInFeatures?: readonly string[];
  /** Stride of the mask features (default 4): FPN levels are added down to it. */
  commonStride?: number;
  /** Where the initialisation and dropout draw from. */
  generator?: Generator;
}

/**
 * `forwardFeatures`' result, in the original's order: the mask features, `out[-1]` (the finest FPN
 * level, fed to DsHmp's clip decoder), `out[0]` (the coarsest encoder level) and the first three
 * levels of `out` (coarse to fine). `transformerEncoderFeatures` is the same tensor as
 * `multiScaleFeatures[0]`.
 */
export type PixelDecoderOutput = [
  maskFeatures: Tensor,
  clipMaskFeatures: Tensor,
  transformerEncoderFeatures: Tensor,
  multiScaleFeatures: Tensor[],
];

/**
 * The pixel decoder. State-dict keys (relative to `sem_seg_head.pixel_decoder.`): `input_proj.<l>.0.*`
 * (Conv1x1), `input_proj.<l>.1.*` (GroupNorm), `transformer.level_embed`,
 * `transformer.encoder.layers.<i>.*`, `mask_features.*`, then `adapter_<k>.*` / `layer_<k>.*` (the FPN
 * lateral and output convs, `k` counted from the finest level).
 */
export class MSDeformAttnPixelDecoder extends Module {
  /** All input features, by increasing stride. */
  readonly inFeatures: string[];
  /** The encoder's features, by increasing stride. */
  readonly transformerInFeatures: string[];
  readonly transformerNumFeatureLevels: number;
  readonly inputProj: ModuleList<Sequential>;
  readonly transformer: MSDeformAttnTransformerEncoderOnly;
  readonly peLayer: PositionEmbeddingSine;
  readonly maskDim: number;
  readonly maskFeatures: Conv2d;
  /** Always 3 levels go to the frame decoder. */
  readonly maskformerNumFeatureLevels = 3;
  readonly commonStride: number;
  readonly numFpnLevels: number;
  /** FPN convs from low to high resolution (the reverse of their `adapter_<k>` numbering). */
  readonly lateralConvs: Conv2d[];
  readonly outputConvs: Conv2d[];

  constructor(opts: MSDeformAttnPixelDecoderOptions) {
    super();
    const { generator } = opts;
    const convDim = opts.convDim ?? 256;
    const norm = opts.norm ?? "GN";
    if (norm !== "GN" && norm !== "") throw new Error(`MSDeformAttnPixelDecoder: unsupported norm "${norm}"`);
    const wanted = opts.transformerInFeatures ?? ["res3", "res4", "res5"];
    const byStride = Object.entries(opts.inputShape).sort((a, b) => a[1].stride - b[1].stride);
    for (const f of wanted) {
      if (!(f in opts.inputShape)) throw new Error(`MSDeformAttnPixelDecoder: no input shape for "${f}"`);
    }
    this.inFeatures = byStride.map(([k]) => k);
    const transformerShapes = byStride.filter(([k]) => wanted.includes(k));
    this.transformerInFeatures = transformerShapes.map(([k]) => k);
    this.transformerNumFeatureLevels = transformerShapes.length;

    // One projection per encoder level, from low to high resolution (res5 first).
    const projChannels = this.transformerNumFeatureLevels > 1
      ? transformerShapes.map(([, s]) => s.channels).reverse()
      : [transformerShapes[transformerShapes.length - 1][1].channels];
    this.inputProj = this.registerModule(
      "input_proj",
      new ModuleList(projChannels.map((c) => {
        const conv = new Conv2d(c, convDim, 1, { generator });
        init.xavierUniform(conv.weight, { gain: 1, generator });
        init.zeros(conv.bias!);
        return new Sequential([conv, new GroupNorm(32, convDim)]);
      })),
    );
    this.transformer = this.registerModule(
      "transformer",
      new MSDeformAttnTransformerEncoderOnly({
        dModel: convDim,
        dropout: opts.transformerDropout ?? 0.0,
        nhead: opts.transformerNheads ?? 8,
        dimFeedforward: opts.transformerDimFeedforward ?? 1024,
        numEncoderLayers: opts.transformerEncLayers ?? 6,
        numFeatureLevels: this.transformerNumFeatureLevels,
        generator,
      }),
    );
    this.peLayer = this.registerModule(
      "pe_layer",
      new PositionEmbeddingSine(convDim / 2, { normalize: true }),
    );

    this.maskDim = opts.maskDim ?? 256;
    this.maskFeatures = this.registerModule(
      "mask_features",
      new Conv2d(convDim, this.maskDim, 1, { generator }),
    );
    init.c2XavierFill(this.maskFeatures, { generator });

    this.commonStride = opts.commonStride ?? 4;
    const minStride = Math.min(...transformerShapes.map(([, s]) => s.stride));
    this.numFpnLevels = Math.trunc(Math.log2(minStride) - Math.log2(this.commonStride));
    const lateral: Conv2d[] = [];
    const output: Conv2d[] = [];
    const useBias = norm === "";
    byStride.slice(0, this.numFpnLevels).forEach(([, shape], idx) => {
      const gn = () => (norm === "GN" ? new GroupNorm(32, convDim) : null);
      const lateralConv = new Conv2d(shape.channels, convDim, 1, { bias: useBias, norm: gn(), generator });
      const outputConv = new Conv2d(convDim, convDim, 3, {
        padding: 1,
        bias: useBias,
        norm: gn(),
        activation: ops.relu,
        generator,
      });
      init.c2XavierFill(lateralConv, { generator });
      init.c2XavierFill(outputConv, { generator });
      lateral.push(this.registerModule(`adapter_${idx + 1}`, lateralConv));
      output.push(this.registerModule(`layer_${idx + 1}`, outputConv));
    });
    this.lateralConvs = lateral.reverse();
    this.outputConvs = output.reverse();
  }

  /**
   * The input projections and position maps of the encoder levels, low to high resolution: the
   * encoder's `srcs` and `pos`.
   */
  encoderInputs(features: Readonly<Record<string, Tensor>>): { srcs: Tensor[]; pos: Tensor[] } {
    const srcs: Tensor[] = [];
    const pos: Tensor[] = [];
    [...this.transformerInFeatures].reverse().forEach((f, idx) => {
      const x = feature(features, f);
      srcs.push(this.inputProj.at(idx).forward(x));
      pos.push(this.peLayer.forward(x));
    });
    return { srcs, pos };
  }

  /**
   * Decodes the backbone features (`[N, C_f, H_f, W_f]` by name) into
   * `[maskFeatures, clipMaskFeatures, transformerEncoderFeatures, multiScaleFeatures]`
   * (see {@link PixelDecoderOutput}).
   */
  forwardFeatures(features: Readonly<Record<string, Tensor>>): PixelDecoderOutput {
    return ops.tidy(() => {
      const { srcs, pos } = this.encoderInputs(features);
      const { memory, spatialShapes, levelStartIndex } = this.transformer.forward(srcs, pos);
      const [bs, len] = memory.shape as number[];
      const sizes = levelStartIndex.map((start, i) => (levelStartIndex[i + 1] ?? len) - start);
      const out = ops.split(memory, sizes, 1).map((z, i) =>
        ops.reshape(ops.transpose(z, 1, 2), [bs, -1, spatialShapes[i][0], spatialShapes[i][1]])
      );
      // Extra FPN levels, from low to high resolution.
      [...this.inFeatures.slice(0, this.numFpnLevels)].reverse().forEach((f, idx) => {
        const curFpn = this.lateralConvs[idx].forward(feature(features, f));
        const [h, w] = curFpn.shape.slice(2);
        const up = ops.interpolate(out[out.length - 1], {
          size: [h, w],
          mode: "bilinear",
          alignCorners: false,
        });
        out.push(this.outputConvs[idx].forward(ops.add(curFpn, up)));
      });
      const multiScaleFeatures = out.slice(0, this.maskformerNumFeatureLevels);
      const last = out[out.length - 1];
      return [this.maskFeatures.forward(last), last, out[0], multiScaleFeatures] as PixelDecoderOutput;
    });
  }
}

function feature(features: Readonly<Record<string, Tensor>>, name: string): Tensor {
  const x = features[name];
  if (!x) throw new Error(`MSDeformAttnPixelDecoder: feature "${name}" is missing`);
  return x;
}

/** The config keys {@link msDeformAttnPixelDecoderFromConfig} reads. */
export interface PixelDecoderConfig {
  readonly MODEL: {
    readonly SEM_SEG_HEAD: {
      readonly IN_FEATURES: readonly string[];
      readonly CONVS_DIM: number;
      readonly MASK_DIM: number;
      readonly NORM: string;
      readonly TRANSFORMER_ENC_LAYERS: number;
      readonly DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: readonly string[];
      readonly COMMON_STRIDE: number;
    };
    readonly MASK_FORMER: { readonly DROPOUT: number; readonly NHEADS: number };
  };
}

/**
 * Builds the pixel decoder as the original's `from_config`: the backbone shapes filtered to
 * `SEM_SEG_HEAD.IN_FEATURES`, `MASK_FORMER.DROPOUT` / `NHEADS` for the encoder, and an FFN width of
 * 1024 (hard-coded there; `MASK_FORMER.DIM_FEEDFORWARD` is the frame decoder's).
 *
 * @example
 * ```ts
 * import { msDeformAttnPixelDecoderFromConfig } from "./msdeformattn.ts";
 * const cfg = {
 *   MODEL: {
 *     SEM_SEG_HEAD: {
 *       IN_FEATURES: ["res2", "res3", "res4", "res5"], CONVS_DIM: 256, MASK_DIM: 256, NORM: "GN",
 *       TRANSFORMER_ENC_LAYERS: 6, DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: ["res3", "res4", "res5"],
 *       COMMON_STRIDE: 4,
 *     },
 *     MASK_FORMER: { DROPOUT: 0.0, NHEADS: 8 },
 *   },
 * };
 * const shapes = {
 *   res2: { channels: 96, stride: 4 }, res3: { channels: 192, stride: 8 },
 *   res4: { channels: 384, stride: 16 }, res5: { channels: 768, stride: 32 },
 * };
 * const decoder = msDeformAttnPixelDecoderFromConfig(cfg, shapes);
 * decoder.parameters().reduce((n, p) => n + p.size, 0); // 5421504: the paper's pixel decoder
 * ```
 */
export function msDeformAttnPixelDecoderFromConfig(
  cfg: PixelDecoderConfig,
  inputShape: Readonly<Record<string, ShapeSpec>>,
  opts: { generator?: Generator } = {},
): MSDeformAttnPixelDecoder {
  const head = cfg.MODEL.SEM_SEG_HEAD;
  if (head.NORM !== "GN" && head.NORM !== "") {
    throw new Error(`MODEL.SEM_SEG_HEAD.NORM: the pixel decoder supports "GN" or "", got "${head.NORM}"`);
  }
  return new MSDeformAttnPixelDecoder({
    inputShape: Object.fromEntries(Object.entries(inputShape).filter(([k]) => head.IN_FEATURES.includes(k))),
    convDim: head.CONVS_DIM,
    maskDim: head.MASK_DIM,
    norm: head.NORM,
    transformerDropout: cfg.MODEL.MASK_FORMER.DROPOUT,
    transformerNheads: cfg.MODEL.MASK_FORMER.NHEADS,
    transformerDimFeedforward: 1024,
    transformerEncLayers: head.TRANSFORMER_ENC_LAYERS,
    transformerInFeatures: head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES,
    commonStride: head.COMMON_STRIDE,
    generator: opts.generator,
  });
}
