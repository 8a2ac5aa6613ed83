/**
 * DsHmp's frame decoder with static perception (`DshmpMultiScaleMaskedTransformerDecoder`): a
 * Mask2Former masked-attention decoder whose learnable queries first absorb the sentence's static
 * cues and which fuses language into every layer.
 *
 * Forward pass, for `BT` frames:
 * 1. Static perception: `output = queryFeat + 0.1 · crossStatic(queryFeat, staticFeat)`, where
 *    `crossStatic` is a post-norm cross-attention layer, so the update is `LN(q + MHA(q, feat))`.
 * 2. A prediction on these queries sets the first attention mask.
 * 3. Layer `i` reads pixel-decoder level `i mod 3` (0 = lowest resolution) plus its level embedding
 *    and sine positions: a {@link BiAttentionBlock} fuses that level with the ORIGINAL word features
 *    (its fused outputs are used by this layer only, never carried to the next), masked cross-attention
 *    to the fused level, cross-attention to the fused words (padding masked), self-attention, FFN;
 *    then a prediction whose masks, resized to the next level, give the next attention mask
 *    (see {@link attentionMaskFromPrediction}).
 * 4. Each prediction is `class_embed(LN(q))` and `einsum("bqc,bchw->bqhw", mask_embed(LN(q)), maskFeatures)`.
 *
 * Outputs: the last prediction, every earlier one as deep-supervision outputs (the first on the static
 * queries), the normed queries of the last layer (eval) or of the last `vitaLastLayerNum` layers
 * (training) as frame queries for the clip decoder, and `clipMaskFeatures` passed through.
 *
 * Parameter names and shapes are the original's; {@link renameStaticQuery} is the original's
 * `_load_from_state_dict` conversion of old checkpoints (`static_query` -> `query_feat`).
 *
 * @example
 * ```ts
 * import { DshmpMultiScaleMaskedTransformerDecoder } from "./dshmp_transformer_decoder.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const decoder = new DshmpMultiScaleMaskedTransformerDecoder({
 *   inChannels: 32, numClasses: 1, hiddenDim: 32, numQueries: 5, nheads: 4, dimFeedforward: 64,
 *   decLayers: 4, preNorm: false, maskDim: 32, enforceInputProject: false, vitaLastLayerNum: 3,
 * }).eval();
 * const x = [ops.ones([2, 32, 2, 3]), ops.ones([2, 32, 4, 6]), ops.ones([2, 32, 8, 12])];
 * const maskFeatures = ops.ones([2, 32, 16, 24]);
 * const langFeat = ops.ones([1, 6, 32]); // one sentence for all BT frames
 * const langMask = ops.tensor([1, 1, 1, 1, 0, 0], [1, 6], "int32");
 * const staticFeat = ops.ones([3, 32]);
 * const { outputs, frameQueries } = decoder.forward(x, maskFeatures, maskFeatures, langFeat, langMask, staticFeat);
 * outputs.predMasks.shape; // [2, 5, 16, 24]
 * frameQueries.shape; // [1, 2, 5, 32]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import {
  Conv2d,
  Embedding,
  init,
  LayerNorm,
  Linear,
  MLP,
  Module,
  ModuleList,
  PositionEmbeddingSine,
  Sequential,
  type UnaryModule,
} from "../../../../core/tensor/nn/mod.ts";
import { BiAttentionBlock } from "../bi_attention_block.ts";
import { CrossAttentionLayer, FFNLayer, SelfAttentionLayer } from "../transformer_layers.ts";
import { attentionMaskFromPrediction } from "./attention_mask.ts";

/** Weight of the static-perception update added to the learnable queries. */
const STATIC_SCALE = 0.1;

/** Constructor options (the original's keyword arguments; `num_frames` is not used there either). */
export interface DshmpFrameDecoderOptions {
  /** Channels of the pixel-decoder levels. */
  inChannels: number;
  /** Foreground classes; the classifier adds a no-object class. */
  numClasses: number;
  hiddenDim: number;
  numQueries: number;
  nheads: number;
  dimFeedforward: number;
  /** Decoder layers: `MODEL.MASK_FORMER.DEC_LAYERS - 1`. */
  decLayers: number;
  preNorm: boolean;
  maskDim: number;
  /** Project the levels with a 1x1 conv even when `inChannels == hiddenDim`. */
  enforceInputProject: boolean;
  /** Layers whose queries feed the clip decoder in training (`MODEL.VITA.LAST_LAYER_NUM`). */
  vitaLastLayerNum: number;
  /** Only mask classification is supported, as in the original (default true). */
  maskClassification?: boolean;
  /** Where initialisation, dropout and drop-path draw from. */
  generator?: Generator;
}

/** One prediction: class logits `(BT, Q, numClasses + 1)` and mask logits `(BT, Q, H/4, W/4)`. */
export interface FramePrediction {
  predLogits: Tensor;
  predMasks: Tensor;
}

/** The original's `out` dictionary: the last prediction and the earlier ones (`aux_outputs`). */
export interface FrameDecoderPredictions extends FramePrediction {
  /** Predictions 0 .. decLayers-1, the first made on the static-perception queries. */
  auxOutputs: FramePrediction[];
}

/** What {@link DshmpMultiScaleMaskedTransformerDecoder.forward} returns. */
export interface FrameDecoderOutput {
  outputs: FrameDecoderPredictions;
  /** `(L, BT, Q, C)`: `decoder_norm` of the last L layers' queries (L = 1 in eval). */
  frameQueries: Tensor;
  /** The `clipMaskFeatures` argument, the same tensor (not a copy). */
  clipMaskFeatures: Tensor;
}

/** Multi-scale masked-attention frame decoder with static perception and language fusion. */
export class DshmpMultiScaleMaskedTransformerDecoder extends Module {
  /** Feature levels read in turn (always 3). */
  readonly numFeatureLevels = 3;
  readonly numHeads: number;
  readonly numLayers: number;
  readonly numQueries: number;
  readonly vitaLastLayerNum: number;
  readonly peLayer: PositionEmbeddingSine;
  readonly transformerSelfAttentionLayers: ModuleList<SelfAttentionLayer>;
  readonly transformerCrossAttentionLayers: ModuleList<CrossAttentionLayer>;
  readonly transformerFfnLayers: ModuleList<FFNLayer>;
  readonly fusionLayers: ModuleList<BiAttentionBlock>;
  /** Cross-attention of the queries to the fused words (the original's name). */
  readonly crossTest: ModuleList<CrossAttentionLayer>;
  readonly decoderNorm: LayerNorm;
  /** The learnable queries (`static_query` in old checkpoints). */
  readonly queryFeat: Embedding;
  readonly queryEmbed: Embedding;
  readonly levelEmbed: Embedding;
  readonly inputProj: ModuleList<UnaryModule>;
  readonly classEmbed: Linear;
  readonly maskEmbed: MLP;
  /** Static perception: the queries attend to the static word features and the sentence feature. */
  readonly crossStatic: CrossAttentionLayer;

  constructor(opts: DshmpFrameDecoderOptions) {
    super();
    if (opts.maskClassification === false) {
      throw new Error("DshmpMultiScaleMaskedTransformerDecoder: only mask classification is supported");
    }
    if (!(opts.decLayers >= 1)) {
      // The frame queries come from the layers; the original fails in forward without one.
      throw new Error(
        `DshmpMultiScaleMaskedTransformerDecoder: decLayers must be at least 1, got ${opts.decLayers}`,
      );
    }
    if (opts.hiddenDim % 2 !== 0) {
      throw new Error(`DshmpMultiScaleMaskedTransformerDecoder: hiddenDim ${opts.hiddenDim} must be even`);
    }
    const { hiddenDim: d, nheads, generator } = opts;
    const g = { generator };
    this.numHeads = nheads;
    this.numLayers = opts.decLayers;
    this.numQueries = opts.numQueries;
    this.vitaLastLayerNum = opts.vitaLastLayerNum;
    this.peLayer = this.registerModule("pe_layer", new PositionEmbeddingSine(d / 2, { normalize: true }));

    const layer = { dModel: d, nhead: nheads, dropout: 0, normalizeBefore: opts.preNorm, generator };
    const range = Array.from({ length: this.numLayers });
    // Registration order is the original's, so the state dict lists keys in the same order.
    this.transformerSelfAttentionLayers = this.registerModule(
      "transformer_self_attention_layers",
      new ModuleList(range.map(() => new SelfAttentionLayer(layer))),
    );
    this.transformerCrossAttentionLayers = this.registerModule(
      "transformer_cross_attention_layers",
      new ModuleList(range.map(() => new CrossAttentionLayer(layer))),
    );
    this.transformerFfnLayers = this.registerModule(
      "transformer_ffn_layers",
      new ModuleList(range.map(() => new FFNLayer({ ...layer, dimFeedforward: opts.dimFeedforward }))),
    );
    this.fusionLayers = this.registerModule(
      "fusion_layers",
      new ModuleList(range.map(() =>
        new BiAttentionBlock({
          vDim: d,
          lDim: d,
          embedDim: Math.floor(opts.dimFeedforward / 2),
          numHeads: Math.floor(nheads / 2),
          dropout: 0.1,
          dropPath: 0.1,
          generator,
        })
      )),
    );
    this.crossTest = this.registerModule(
      "cross_test",
      new ModuleList(range.map(() => new CrossAttentionLayer(layer))),
    );
    this.decoderNorm = this.registerModule("decoder_norm", new LayerNorm(d));
    this.queryFeat = this.registerModule("query_feat", new Embedding(opts.numQueries, d, g));
    this.queryEmbed = this.registerModule("query_embed", new Embedding(opts.numQueries, d, g));
    this.levelEmbed = this.registerModule("level_embed", new Embedding(this.numFeatureLevels, d, g));
    const project = opts.inChannels !== d || opts.enforceInputProject;
    this.inputProj = this.registerModule(
      "input_proj",
      new ModuleList<UnaryModule>(Array.from({ length: this.numFeatureLevels }, () => {
        if (!project) return new Sequential();
        const conv = new Conv2d(opts.inChannels, d, 1, g);
        init.c2XavierFill(conv, g);
        return conv;
      })),
    );
    this.classEmbed = this.registerModule("class_embed", new Linear(d, opts.numClasses + 1, g));
    this.maskEmbed = this.registerModule("mask_embed", new MLP(d, d, opts.maskDim, 3, g));
    this.crossStatic = this.registerModule(
      "cross_static",
      new CrossAttentionLayer({ ...layer, dropout: 0.1 }),
    );
  }

  /**
   * Decodes `BT` frames.
   *
   * @param x the pixel decoder's three levels `(BT, inChannels, H_i, W_i)`, lowest resolution first
   * @param maskFeatures `(BT, maskDim, H/4, W/4)`
   * @param clipMaskFeatures returned unchanged (the clip decoder's mask features)
   * @param langFeat `(1, Nl, hiddenDim)` word features of the one sentence, shared by all frames
   * @param langMask `(1, Nl)` int (1 = token) or bool (true = token)
   * @param staticFeat `(S, hiddenDim)` static word features and the sentence feature
   */
  forward(
    x: readonly Tensor[],
    maskFeatures: Tensor,
    clipMaskFeatures: Tensor,
    langFeat: Tensor,
    langMask: Tensor,
    staticFeat: Tensor,
  ): FrameDecoderOutput {
    this.#checkInputs(x, maskFeatures, langFeat, langMask, staticFeat);
    const bs = x[0].shape[0] as number;
    const d = this.decoderNorm.normalizedShape;
    const L = this.numFeatureLevels;
    const { logits, masks, frameQueries } = ops.tidy(() => {
      const sizes: [number, number][] = [];
      const src: Tensor[] = [];
      const pos: Tensor[] = [];
      for (let i = 0; i < L; i++) {
        const [, , h, w] = x[i].shape;
        sizes.push([h, w]);
        // (BT, C, H, W) -> (HW, BT, C)
        const seq = (t: Tensor) => ops.permute(ops.flatten(t, 2), [2, 0, 1]);
        pos.push(seq(this.peLayer.forward(x[i])));
        const level = ops.squeeze(ops.slice(this.levelEmbed.weight, [i, 0], [1, -1]), [0]);
        src.push(ops.add(seq(this.inputProj.at(i).forward(x[i])), level));
      }
      const perFrame = (table: Variable) =>
        ops.broadcastTo(ops.unsqueeze(table, 1), [this.numQueries, bs, d]);
      const queryEmbed = perFrame(this.queryEmbed.weight);
      let output = perFrame(this.queryFeat.weight);

      const staticMemory = ops.broadcastTo(ops.unsqueeze(staticFeat, 1), [
        staticFeat.shape[0] as number,
        bs,
        d,
      ]);
      output = ops.add(output, ops.mul(STATIC_SCALE, this.crossStatic.forward(output, staticMemory)));

      const logits: Tensor[] = [];
      const masks: Tensor[] = [];
      const queries: Tensor[] = [];
      let head = this.#predict(output, maskFeatures, sizes[0]);
      logits.push(head.logits);
      masks.push(head.masks);

      // One sentence for every frame: (1, Nl, C) -> (Nl, BT, C); padding mask (BT, Nl), true = pad.
      const Nl = langFeat.shape[1] as number;
      const words = ops.broadcastTo(ops.transpose(langFeat, 0, 1), [Nl, bs, d]);
      const isPad = langMask.dtype === "bool" ? ops.logicalNot(langMask) : ops.equal(langMask, 0);
      const langPad = ops.broadcastTo(isPad, [bs, Nl]);

      for (let i = 0; i < this.numLayers; i++) {
        const lvl = i % L;
        const [srcLevel, wordsFused] = this.fusionLayers.at(i).forward(src[lvl], words, null, langPad);
        output = this.transformerCrossAttentionLayers.at(i).forward(output, srcLevel, {
          memoryMask: head.attnMask,
          pos: pos[lvl],
          queryPos: queryEmbed,
        });
        output = this.crossTest.at(i).forward(output, wordsFused, { memoryKeyPaddingMask: langPad });
        output = this.transformerSelfAttentionLayers.at(i).forward(output, { queryPos: queryEmbed });
        output = this.transformerFfnLayers.at(i).forward(output);
        const last = i === this.numLayers - 1;
        // The mask after the last layer would never be read.
        head = this.#predict(output, maskFeatures, last ? null : sizes[(i + 1) % L]);
        logits.push(head.logits);
        masks.push(head.masks);
        queries.push(head.queries);
      }
      const keep = this.training ? this.vitaLastLayerNum : 1;
      return { logits, masks, frameQueries: ops.stack(queries.slice(Math.max(0, queries.length - keep))) };
    });
    const n = logits.length;
    return {
      outputs: {
        predLogits: logits[n - 1],
        predMasks: masks[n - 1],
        auxOutputs: logits.slice(0, -1).map((predLogits, k) => ({ predLogits, predMasks: masks[k] })),
      },
      frameQueries,
      clipMaskFeatures,
    };
  }

  /**
   * The prediction heads on queries `(Q, BT, C)`: class and mask logits, the normed queries
   * `(BT, Q, C)`, and the attention mask for a next layer reading a level of size `nextSize`.
   */
  #predict(
    output: Tensor,
    maskFeatures: Tensor,
    nextSize: [number, number] | null,
  ): { logits: Tensor; masks: Tensor; queries: Tensor; attnMask: Tensor | null } {
    const queries = ops.transpose(this.decoderNorm.forward(output), 0, 1);
    const logits = this.classEmbed.forward(queries);
    const masks = ops.einsum("bqc,bchw->bqhw", this.maskEmbed.forward(queries), maskFeatures);
    const attnMask = nextSize ? attentionMaskFromPrediction(masks, nextSize, this.numHeads) : null;
    return { logits, masks, queries, attnMask };
  }

  #checkInputs(
    x: readonly Tensor[],
    maskFeatures: Tensor,
    langFeat: Tensor,
    langMask: Tensor,
    staticFeat: Tensor,
  ) {
    const name = "DshmpMultiScaleMaskedTransformerDecoder";
    if (x.length !== this.numFeatureLevels) {
      throw new Error(`${name}: expected ${this.numFeatureLevels} feature levels, got ${x.length}`);
    }
    const bs = x[0].shape[0];
    for (const [i, t] of x.entries()) {
      if (t.rank !== 4 || t.shape[0] !== bs) {
        throw new Error(`${name}: level ${i} must be (BT=${bs}, C, H, W), got [${t.shape}]`);
      }
    }
    if (maskFeatures.rank !== 4 || maskFeatures.shape[0] !== bs) {
      throw new Error(`${name}: maskFeatures must be (BT=${bs}, maskDim, H, W), got [${maskFeatures.shape}]`);
    }
    const d = this.decoderNorm.normalizedShape;
    // The original repeats the language over the BT frames, which only works for one sentence.
    if (langFeat.rank !== 3 || langFeat.shape[0] !== 1 || langFeat.shape[2] !== d) {
      throw new Error(`${name}: langFeat must be (1, Nl, ${d}), got [${langFeat.shape}]`);
    }
    if (langMask.rank !== 2 || langMask.shape[0] !== 1 || langMask.shape[1] !== langFeat.shape[1]) {
      throw new Error(`${name}: langMask must be (1, ${langFeat.shape[1]}), got [${langMask.shape}]`);
    }
    if (staticFeat.rank !== 2 || staticFeat.shape[1] !== d) {
      throw new Error(`${name}: staticFeat must be (S, ${d}), got [${staticFeat.shape}]`);
    }
  }
}

/** The config keys {@link dshmpFrameDecoderFromConfig} reads. */
export interface FrameDecoderConfig {
  readonly MODEL: {
    readonly SEM_SEG_HEAD: { readonly NUM_CLASSES: number; readonly MASK_DIM: number };
    readonly MASK_FORMER: {
      readonly HIDDEN_DIM: number;
      readonly NUM_OBJECT_QUERIES: number;
      readonly NHEADS: number;
      readonly DIM_FEEDFORWARD: number;
      readonly DEC_LAYERS: number;
      readonly PRE_NORM: boolean;
      readonly ENFORCE_INPUT_PROJ: boolean;
    };
    readonly VITA: { readonly LAST_LAYER_NUM: number };
  };
}

/**
 * Builds the frame decoder as the original's `from_config`: `DEC_LAYERS - 1` layers (the first
 * prediction, on the learnable queries, counts as one supervised layer), `inChannels` being the pixel
 * decoder's `CONVS_DIM`.
 *
 * @example
 * ```ts
 * import { dshmpFrameDecoderFromConfig } from "./dshmp_transformer_decoder.ts";
 * const cfg = {
 *   MODEL: {
 *     SEM_SEG_HEAD: { NUM_CLASSES: 1, MASK_DIM: 256 },
 *     MASK_FORMER: {
 *       HIDDEN_DIM: 256, NUM_OBJECT_QUERIES: 20, NHEADS: 8, DIM_FEEDFORWARD: 2048, DEC_LAYERS: 10,
 *       PRE_NORM: false, ENFORCE_INPUT_PROJ: false,
 *     },
 *     VITA: { LAST_LAYER_NUM: 3 },
 *   },
 * };
 * const decoder = dshmpFrameDecoderFromConfig(cfg, 256); // the paper's: 9 layers, 31.3M parameters
 * ```
 */
export function dshmpFrameDecoderFromConfig(
  cfg: FrameDecoderConfig,
  inChannels: number,
  opts: { maskClassification?: boolean; generator?: Generator } = {},
): DshmpMultiScaleMaskedTransformerDecoder {
  const mf = cfg.MODEL.MASK_FORMER;
  if (!(mf.DEC_LAYERS >= 1)) {
    throw new Error(`MODEL.MASK_FORMER.DEC_LAYERS must be at least 1, got ${mf.DEC_LAYERS}`);
  }
  return new DshmpMultiScaleMaskedTransformerDecoder({
    inChannels,
    numClasses: cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    hiddenDim: mf.HIDDEN_DIM,
    numQueries: mf.NUM_OBJECT_QUERIES,
    nheads: mf.NHEADS,
    dimFeedforward: mf.DIM_FEEDFORWARD,
    decLayers: mf.DEC_LAYERS - 1,
    preNorm: mf.PRE_NORM,
    maskDim: cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
    enforceInputProject: mf.ENFORCE_INPUT_PROJ,
    vitaLastLayerNum: cfg.MODEL.VITA.LAST_LAYER_NUM,
    ...opts,
  });
}

/** What {@link renameStaticQuery} did. */
export interface StaticQueryRename<T> {
  stateDict: Map<string, T>;
  /** `[old, new]` key pairs; empty for a checkpoint already in the current format. */
  renamed: [string, string][];
}

/**
 * The original's `_load_from_state_dict` conversion: Mask2Former checkpoints (format version < 2) name
 * the learnable queries `static_query`; every key containing it is renamed to `query_feat`. Returns a
 * new map (the input is left alone) and the renamed pairs, so a loader can warn as the original does.
 *
 * @example
 * ```ts
 * import { renameStaticQuery } from "./dshmp_transformer_decoder.ts";
 * const { stateDict, renamed } = renameStaticQuery(new Map([["sem_seg_head.predictor.static_query.weight", 0]]));
 * [...stateDict.keys()]; // ["sem_seg_head.predictor.query_feat.weight"]
 * renamed.length; // 1
 * ```
 */
export function renameStaticQuery<T>(stateDict: ReadonlyMap<string, T>): StaticQueryRename<T> {
  const out = new Map<string, T>();
  const renamed: [string, string][] = [];
  for (const k of stateDict.keys()) {
    const nk = k.replaceAll("static_query", "query_feat");
    if (nk !== k) renamed.push([k, nk]);
  }
  const targets = new Set(renamed.map(([, nk]) => nk));
  // A renamed key replaces a key of its new name, as the original's in-place assignment does.
  for (const [k, v] of stateDict) {
    const nk = k.replaceAll("static_query", "query_feat");
    if (nk === k && targets.has(k)) continue;
    out.set(nk, v);
  }
  return { stateDict: out, renamed };
}
