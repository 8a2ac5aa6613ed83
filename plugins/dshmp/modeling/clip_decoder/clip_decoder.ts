/**
 * The DsHmp clip decoder ({@link DsHmpHierarchical}, the original's `DsHmpHierarchical` in
 * `dshmp_decoder.py`, registered there as `vita_module`): VITA's clip-level decoder with hierarchical
 * motion perception.
 *
 * Encoder: the frame queries of every frame `(T, fQ, L*B, C)` are projected, zero-padded to a multiple
 * of the temporal window W, and passed through window layers (self-attention inside a window, then a
 * {@link HierarchicalCrossAttentionLayer} to the motion words, then an FFN). In eval, odd layers use
 * windows shifted by `ceil(W/2)` with an additive -1000 mask ({@link shiftWindowMask}); in training
 * every layer uses plain windows (the original's behaviour). Padded frames are masked only as keys
 * ({@link windowKeyPaddingMask}); the hierarchical layer sees them like real frames.
 *
 * Decoder: clip queries take `0.1 *` a cross-attention to the motion features, then per layer a
 * {@link BiAttentionBlock} fuses the encoded frame queries with the language (both carried to the next
 * layer), the clip queries attend to the frame queries, to the fused language, to themselves, and an
 * FFN. Heads give class logits, mask embeddings, similarity and contrastive embeddings; deep
 * supervision returns every layer's heads in training.
 *
 * Ablation: `hierarchicalMotion: false` (config `MODEL.DSHMP.HIERARCHICAL_MOTION`) builds the encoder
 * without the hierarchical layers (no `hierarchical_cross.*` parameters): window self-attention + FFN.
 *
 * @example
 * ```ts
 * import { DsHmpHierarchical } from "./clip_decoder.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const decoder = new DsHmpHierarchical({
 *   inChannels: 32, hiddenDim: 32, numFrameQueries: 4, numQueries: 3, nheads: 4, dimFeedforward: 64,
 *   encLayers: 3, decLayers: 2, encWindowSize: 3, numFrames: 2, numClasses: 1, convDim: 32, maskDim: 32,
 * }).eval();
 * const out = decoder.forward(
 *   ops.randn([1, 5, 4, 32]), // frame queries (L, B*T, fQ, C)
 *   ops.randn([1, 6, 32]), // language features (B, Nl, C)
 *   ops.tensor([1, 1, 1, 1, 0, 0], [1, 6], "int32"), // 1 = token
 *   ops.randn([3, 32]), // motion features (S, C)
 * );
 * out.predLogits.shape; // [1, 1, 3, 2]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";
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
} from "../../../../core/tensor/nn/mod.ts";
import { BiAttentionBlock } from "../bi_attention_block.ts";
import { HierarchicalCrossAttentionLayer } from "./hierarchical_cross_attention.ts";
import { CrossAttentionLayer, FFNLayer, SelfAttentionLayer } from "../transformer_layers.ts";

/** What `ops.tidy` may return (the facade does not name it). */
type TensorContainer = Parameters<typeof ops.dispose>[0];

/** Additive score of a blocked pair in shifted windows (not -inf: a fully blocked row stays finite). */
export const SHIFT_MASK_VALUE = -1000;

/** Constructor options of {@link DsHmpHierarchical} (the original's arguments, camelCased). */
export interface DsHmpHierarchicalOptions {
  /** Width of the incoming frame queries; a projection is built when it differs from `hiddenDim`. */
  inChannels: number;
  /** Heads of every decoder layer in training (deep supervision; default true). */
  auxLoss?: boolean;
  hiddenDim: number;
  /** fQ: frame queries per frame. */
  numFrameQueries: number;
  /** cQ: clip queries. */
  numQueries: number;
  nheads: number;
  dimFeedforward: number;
  encLayers: number;
  decLayers: number;
  /** Temporal window W of the encoder; 0 attends over all frames (and skips the hierarchical layers). */
  encWindowSize: number;
  preNorm?: boolean;
  /** Project the input even when its width equals `hiddenDim` (default true). */
  enforceInputProject?: boolean;
  /** Frames per clip in training (sets B = (B*T) / numFrames). */
  numFrames: number;
  numClasses: number;
  /** Input channels of `vita_mask_features`. */
  convDim: number;
  maskDim: number;
  /** Build `sim_embed_frame` (and, with `simUseClip`, `sim_embed_clip`); default true. */
  useSim?: boolean;
  simUseClip?: boolean;
  /** Hierarchical motion perception in the encoder (default true; false is the ablation). */
  hierarchicalMotion?: boolean;
  /** Fix of the original's inverted query re-ordering in the hierarchical layers (default false). */
  alignQueryOrder?: boolean;
  /** Where initialisation, dropout and drop-path draw from. */
  generator?: Generator;
}

/** One decoder layer's heads: `(L, B, cQ, ...)`. */
export interface ClipDecoderHeads {
  predLogits: Tensor;
  predMaskEmbed: Tensor;
  /** Similarity embedding of the clip queries, when `useSim && simUseClip`. */
  predCqEmbed: Tensor | null;
  /** Similarity embedding of the frame queries `(L, B, T, fQ, C)`, when `useSim` (shared by all layers). */
  predFqEmbed: Tensor | null;
}

/** What {@link DsHmpHierarchical.forward} returns (the original's dict, camelCased). */
export interface ClipDecoderOutput extends ClipDecoderHeads {
  predContrastiveEmbed: Tensor;
  /** Masked mean of the fused language of the last L*B entry, `(C,)`; the original's key is `" "`. */
  langFeatMean: Tensor;
  /** Heads of the earlier decoder layers (training with `auxLoss`; empty in eval). */
  auxOutputs: ClipDecoderHeads[];
}

/** Intermediate values {@link DsHmpHierarchical.forward} can record. */
export interface ClipDecoderTrace {
  /** Frame queries after each encoder layer, `(T_padded, fQ, L*B, C)`. */
  encLayers?: { shape: number[]; data: Float32Array }[];
}

/** How the padded frame axis splits into windows. */
export interface WindowGeometry {
  /** L*B: independent sequences. */
  lb: number;
  /** Padded frame count, a multiple of `window`. */
  frames: number;
  window: number;
  /** Frame queries per frame. */
  fQ: number;
}

/**
 * Key-padding mask of the plain window layers: `(lb*Nw, W*fQ)`, 1 where the key belongs to a padded
 * frame; row `l*Nw + n` is window `n` of sequence `l`, column `w*fQ + q`. `padMask` is `(lb, frames)`,
 * 1 = padded frame.
 *
 * @example
 * ```ts
 * import { windowKeyPaddingMask } from "./clip_decoder.ts";
 * windowKeyPaddingMask(new Uint8Array([0, 0, 1]), { lb: 1, frames: 3, window: 3, fQ: 1 }); // [0, 0, 1]
 * ```
 */
export function windowKeyPaddingMask(padMask: Uint8Array, g: WindowGeometry): Uint8Array {
  checkGeometry(padMask, g);
  const { lb, frames, fQ } = g;
  // Row-major (lb*Nw, W*fQ) is the order of (lb, frames, fQ), since frames = Nw*W.
  const out = new Uint8Array(lb * frames * fQ);
  padMask.forEach((padded, lt) => out.fill(padded ? 1 : 0, lt * fQ, (lt + 1) * fQ));
  return out;
}

/**
 * Additive mask of the shifted-window layers: `(lb*Nw*nheads, W*fQ, W*fQ)`, -1000 where blocked.
 * After rolling the frames by `ceil(W/2)`, a padded query row is blocked in every window; in the
 * first and last window also padded key columns; in the first window the wrapped-around frames and
 * the others do not see each other.
 *
 * @example
 * ```ts
 * import { shiftWindowMask } from "./clip_decoder.ts";
 * const m = shiftWindowMask(new Uint8Array(4), { lb: 1, frames: 4, window: 2, fQ: 1 }, 1);
 * // window 0 holds frames 3, 0 (wrapped): [0, -1000, -1000, 0, 0, 0, 0, 0]
 * ```
 */
export function shiftWindowMask(padMask: Uint8Array, g: WindowGeometry, nheads: number): Float32Array {
  checkGeometry(padMask, g);
  const { lb, frames, window: W, fQ } = g;
  const Nw = frames / W;
  const half = Math.ceil(W / 2);
  const side = W * fQ;
  const out = new Float32Array(lb * Nw * nheads * side * side);
  for (let l = 0; l < lb; l++) {
    // Frame slot t of the rolled sequence holds frame t - half.
    const rolled = (t: number) => padMask[l * frames + ((t - half) % frames + frames) % frames] !== 0;
    for (let n = 0; n < Nw; n++) {
      const edge = n === 0 || n === Nw - 1;
      for (let a = 0; a < W; a++) {
        for (let b = 0; b < W; b++) {
          let blocked = rolled(n * W + a) || (edge && rolled(n * W + b));
          if (n === 0 && (a < half) !== (b < half)) blocked = true;
          if (!blocked) continue;
          for (let h = 0; h < nheads; h++) {
            const base = ((l * Nw + n) * nheads + h) * side * side;
            for (let p = 0; p < fQ; p++) {
              out.fill(
                SHIFT_MASK_VALUE,
                base + (a * fQ + p) * side + b * fQ,
                base + (a * fQ + p) * side + (b + 1) * fQ,
              );
            }
          }
        }
      }
    }
  }
  return out;
}

function checkGeometry(padMask: Uint8Array, g: WindowGeometry): void {
  if (g.frames % g.window !== 0) {
    throw new Error(`window masks: ${g.frames} frames is not a multiple of ${g.window}`);
  }
  if (padMask.length !== g.lb * g.frames) {
    throw new Error(`window masks: padMask has ${padMask.length} entries, expected ${g.lb} x ${g.frames}`);
  }
}

/** VITA's clip decoder with DsHmp's hierarchical motion perception and language fusion. */
export class DsHmpHierarchical extends Module {
  readonly numHeads: number;
  readonly numLayers: number;
  readonly numFrames: number;
  readonly numClasses: number;
  readonly numQueries: number;
  readonly encLayers: number;
  readonly windowSize: number;
  readonly auxLoss: boolean;
  readonly useSim: boolean;
  readonly simUseClip: boolean;
  readonly hierarchicalMotion: boolean;

  readonly transformerSelfAttentionLayers: ModuleList<SelfAttentionLayer>;
  readonly transformerCrossAttentionLayers: ModuleList<CrossAttentionLayer>;
  readonly transformerFfnLayers: ModuleList<FFNLayer>;
  readonly fusionLayers: ModuleList<BiAttentionBlock>;
  readonly crossTest: ModuleList<CrossAttentionLayer>;
  readonly encSelfAttn: ModuleList<SelfAttentionLayer> | null = null;
  readonly hierarchicalCross: ModuleList<HierarchicalCrossAttentionLayer> | null = null;
  readonly encFfn: ModuleList<FFNLayer> | null = null;
  readonly vitaMaskFeatures: Conv2d;
  readonly decoderNorm: LayerNorm;
  readonly queryFeat: Embedding;
  readonly queryEmbed: Embedding;
  readonly fqPos: Embedding;
  /** Null where the original has an empty `nn.Sequential` (identity). */
  readonly inputProjDec: Linear | null;
  readonly classEmbed: Linear;
  readonly maskEmbed: MLP;
  readonly simEmbedFrame: Linear | null = null;
  readonly simEmbedClip: Linear | null = null;
  readonly contrastiveEmbed: MLP;
  readonly crossMotion: CrossAttentionLayer;

  constructor(opts: DsHmpHierarchicalOptions) {
    super();
    const C = opts.hiddenDim;
    const generator = opts.generator;
    const g = { generator };
    this.numHeads = opts.nheads;
    this.numLayers = opts.decLayers;
    this.numFrames = opts.numFrames;
    this.numClasses = opts.numClasses;
    this.numQueries = opts.numQueries;
    this.encLayers = opts.encLayers;
    this.windowSize = opts.encWindowSize;
    this.auxLoss = opts.auxLoss ?? true;
    this.useSim = opts.useSim ?? true;
    this.simUseClip = opts.simUseClip ?? true;
    this.hierarchicalMotion = opts.hierarchicalMotion ?? true;
    if (!(this.numLayers >= 1)) {
      throw new Error(`DsHmpHierarchical: decLayers must be >= 1, got ${this.numLayers}`);
    }
    const normalizeBefore = opts.preNorm ?? false;
    const attn = { dModel: C, nhead: opts.nheads, dropout: 0, normalizeBefore, generator };
    const ffn = { dModel: C, dimFeedforward: opts.dimFeedforward, dropout: 0, normalizeBefore, generator };

    // Registration order follows the original's, so state dicts list keys in the same order.
    this.transformerSelfAttentionLayers = this.registerModule(
      "transformer_self_attention_layers",
      new ModuleList(),
    );
    this.transformerCrossAttentionLayers = this.registerModule(
      "transformer_cross_attention_layers",
      new ModuleList(),
    );
    this.transformerFfnLayers = this.registerModule("transformer_ffn_layers", new ModuleList());
    this.fusionLayers = this.registerModule("fusion_layers", new ModuleList());
    this.crossTest = this.registerModule("cross_test", new ModuleList());
    if (this.encLayers > 0) {
      this.encSelfAttn = this.registerModule("enc_self_attn", new ModuleList());
      if (this.hierarchicalMotion) {
        this.hierarchicalCross = this.registerModule("hierarchical_cross", new ModuleList());
      }
      this.encFfn = this.registerModule("enc_ffn", new ModuleList());
      for (let i = 0; i < this.encLayers; i++) {
        this.encSelfAttn.append(new SelfAttentionLayer(attn));
        this.hierarchicalCross?.append(
          new HierarchicalCrossAttentionLayer({
            dModel: C,
            alignQueryOrder: opts.alignQueryOrder,
            generator,
          }),
        );
        this.encFfn.append(new FFNLayer(ffn));
      }
    }
    for (let i = 0; i < this.numLayers; i++) {
      this.transformerSelfAttentionLayers.append(new SelfAttentionLayer(attn));
      this.transformerCrossAttentionLayers.append(new CrossAttentionLayer(attn));
      this.transformerFfnLayers.append(new FFNLayer(ffn));
      this.crossTest.append(new CrossAttentionLayer(attn));
      this.fusionLayers.append(
        new BiAttentionBlock({
          vDim: C,
          lDim: C,
          embedDim: Math.floor(opts.dimFeedforward / 2),
          numHeads: Math.floor(opts.nheads / 2),
          dropout: 0.1,
          dropPath: 0.1,
          generator,
        }),
      );
    }
    this.vitaMaskFeatures = this.registerModule(
      "vita_mask_features",
      new Conv2d(opts.convDim, opts.maskDim, 1, g),
    );
    init.c2XavierFill(this.vitaMaskFeatures, g);
    this.decoderNorm = this.registerModule("decoder_norm", new LayerNorm(C));
    this.queryFeat = this.registerModule("query_feat", new Embedding(opts.numQueries, C, g));
    this.queryEmbed = this.registerModule("query_embed", new Embedding(opts.numQueries, C, g));
    this.fqPos = this.registerModule("fq_pos", new Embedding(opts.numFrameQueries, C, g));
    // As the original, the projection maps hiddenDim -> hiddenDim even when inChannels differs.
    this.inputProjDec = opts.inChannels !== C || (opts.enforceInputProject ?? true)
      ? this.registerModule("input_proj_dec", new Linear(C, C, g))
      : null;
    this.classEmbed = this.registerModule("class_embed", new Linear(C, opts.numClasses + 1, g));
    this.maskEmbed = this.registerModule("mask_embed", new MLP(C, C, opts.maskDim, 3, g));
    if (this.useSim) {
      this.simEmbedFrame = this.registerModule("sim_embed_frame", new Linear(C, C, g));
      if (this.simUseClip) this.simEmbedClip = this.registerModule("sim_embed_clip", new Linear(C, C, g));
    }
    this.contrastiveEmbed = this.registerModule("contrastive_embed", new MLP(C, C, C, 3, g));
    this.crossMotion = this.registerModule(
      "cross_motion",
      new CrossAttentionLayer({ dModel: C, nhead: opts.nheads, dropout: 0.1, normalizeBefore, generator }),
    );
  }

  /**
   * Decodes clip queries.
   *
   * @param frameQuery `(L, B*T, fQ, C)` frame queries of the frame decoder's last L layers; in eval
   *   only the last layer is used and B = 1
   * @param langFeat `(B, Nl, C)` resized word features
   * @param langMask `(B, Nl)` 1 = token, 0 = padding (any dtype)
   * @param motionFeat `(S, C)` motion words and sentence feature, shared by every sequence
   * @param trace records the encoder's intermediate outputs when given
   */
  forward(
    frameQuery: Tensor,
    langFeat: Tensor,
    langMask: Tensor,
    motionFeat: Tensor,
    trace?: ClipDecoderTrace,
  ): ClipDecoderOutput {
    if (frameQuery.rank !== 4) {
      throw new Error(`DsHmpHierarchical: frameQuery must be (L, B*T, fQ, C), got [${frameQuery.shape}]`);
    }
    if (motionFeat.rank !== 2) {
      throw new Error(`DsHmpHierarchical: motionFeat must be (S, C), got [${motionFeat.shape}]`);
    }
    // tidy keeps every tensor of the returned object; its type just does not admit the null heads.
    return ops.tidy((): TensorContainer => {
      const fq = this.training ? frameQuery : ops.narrow(frameQuery, 0, frameQuery.shape[0] - 1, 1);
      const [L, BT, fQ, C] = fq.shape;
      const B = this.training ? BT / this.numFrames : 1;
      if (!Number.isInteger(B)) {
        throw new Error(`DsHmpHierarchical: ${BT} frames is not a multiple of ${this.numFrames}`);
      }
      const T = BT / B;
      const LB = L * B;

      // (L, B*T, fQ, C) -> (T, fQ, L*B, C)
      let x = ops.permute(ops.reshape(fq, [LB, T, fQ, C]), [1, 2, 0, 3]);
      if (this.inputProjDec) x = this.inputProjDec.forward(x);
      let padMask: Uint8Array | null = null;
      if (this.windowSize > 0) {
        const padded = Math.ceil(T / this.windowSize) * this.windowSize;
        // Padded after the projection, so padded frames are exact zeros.
        x = ops.pad(x, [[0, padded - T]]);
        padMask = new Uint8Array(LB * padded);
        for (let l = 0; l < LB; l++) padMask.fill(1, l * padded + T, (l + 1) * padded);
      }
      x = this.encodeFrameQuery(x, padMask, motionFeat, trace);
      const src0 = ops.reshape(ops.narrow(x, 0, 0, T), [T * fQ, LB, C]);

      const predFqEmbed = this.simEmbedFrame
        ? ops.reshape(ops.transpose(this.simEmbedFrame.forward(src0), 0, 1), [L, B, T, fQ, C])
        : null;
      // fq_pos of query q at every frame: row t*fQ + q.
      const decPos = ops.broadcastTo(ops.reshape(ops.tile(this.fqPos.weight, [T, 1]), [T * fQ, 1, C]), [
        T * fQ,
        LB,
        C,
      ]);
      const perSequence = (w: Tensor) => ops.broadcastTo(ops.unsqueeze(w, 1), [w.shape[0], LB, C]);
      const queryEmbed = perSequence(this.queryEmbed.weight);
      let output = perSequence(this.queryFeat.weight);
      const outputMotion = this.crossMotion.forward(output, perSequence(motionFeat));
      output = ops.add(output, ops.mul(outputMotion, 0.1));

      // (B, Nl, C) -> (Nl, L*B, C); sequence l*B + b, as the frame queries.
      let lang = ops.transpose(ops.tile(langFeat, [L, 1, 1]), 0, 1);
      const valid = ops.tile(ops.notEqual(langMask, 0), [L, 1]);
      const langPad = ops.logicalNot(valid);
      let src = src0;
      const decoderOutputs: Tensor[] = [];
      for (let i = 0; i < this.numLayers; i++) {
        [src, lang] = this.fusionLayers.at(i).forward(src, lang, null, langPad);
        output = this.transformerCrossAttentionLayers.at(i).forward(output, src, {
          pos: decPos,
          queryPos: queryEmbed,
        });
        output = this.crossTest.at(i).forward(output, lang, { memoryKeyPaddingMask: langPad });
        output = this.transformerSelfAttentionLayers.at(i).forward(output, { queryPos: queryEmbed });
        output = this.transformerFfnLayers.at(i).forward(output);
        if ((this.training && this.auxLoss) || i === this.numLayers - 1) {
          const decOut = ops.transpose(this.decoderNorm.forward(output), 0, 1); // (LB, cQ, C)
          decoderOutputs.push(ops.reshape(decOut, [L, B, this.numQueries, C]));
        }
      }
      const stacked = ops.stack(decoderOutputs, 0); // (D, L, B, cQ, C)
      const D = decoderOutputs.length;
      const perLayer = (t: Tensor) => ops.unstack(t, 0);
      const predCls = perLayer(this.classEmbed.forward(stacked));
      const predMaskEmbed = perLayer(this.maskEmbed.forward(stacked));
      const predCqEmbed = this.simEmbedClip ? perLayer(this.simEmbedClip.forward(stacked)) : null;
      const predContrastive = this.contrastiveEmbed.forward(ops.narrow(stacked, 0, D - 1, 1));

      const validF = ops.cast(valid, "float32");
      const langSum = ops.sum(ops.mul(ops.transpose(lang, 0, 1), ops.unsqueeze(validF, -1)), 1);
      const langMean = ops.div(langSum, ops.sum(validF, 1, true)); // (LB, C)

      const heads = (d: number): ClipDecoderHeads => ({
        predLogits: predCls[d],
        predMaskEmbed: predMaskEmbed[d],
        predCqEmbed: predCqEmbed ? predCqEmbed[d] : null,
        predFqEmbed,
      });
      const out: ClipDecoderOutput = {
        ...heads(D - 1),
        predContrastiveEmbed: ops.squeeze(predContrastive, [0]),
        langFeatMean: ops.reshape(ops.narrow(langMean, 0, langMean.shape[0] - 1, 1), [C]),
        auxOutputs: Array.from({ length: D - 1 }, (_, d) => heads(d)),
      };
      return out as unknown as TensorContainer;
    }) as unknown as ClipDecoderOutput;
  }

  /** Encoder over `(T_padded, fQ, L*B, C)`; `padMask` `(L*B, T_padded)` 1 = padded frame. */
  encodeFrameQuery(
    x: Tensor,
    padMask: Uint8Array | null,
    motionFeat: Tensor,
    trace?: ClipDecoderTrace,
  ): Tensor {
    if (this.encLayers === 0) return x;
    const record = (y: Tensor) => {
      if (trace) (trace.encLayers ??= []).push({ shape: y.shape, data: ops.toArray(y) as Float32Array });
      return y;
    };
    return ops.tidy(() => {
      const [T, fQ, LB, C] = x.shape;
      if (this.windowSize === 0 || !padMask) {
        // Attention over every frame; the hierarchical layers are not used here (as the original).
        let y = ops.reshape(x, [T * fQ, LB, C]);
        for (let i = 0; i < this.encLayers; i++) {
          y = this.encFfn!.at(i).forward(this.encSelfAttn!.at(i).forward(y));
          record(ops.reshape(y, [T, fQ, LB, C]));
        }
        return ops.reshape(y, [T, fQ, LB, C]);
      }
      const W = this.windowSize;
      const Nw = T / W;
      const geometry = { lb: LB, frames: T, window: W, fQ };
      const keyPadding = ops.tensor(windowKeyPaddingMask(padMask, geometry), [LB * Nw, W * fQ], "bool");
      const side = W * fQ;
      const shiftMask = this.training ? null : ops.tensor(shiftWindowMask(padMask, geometry, this.numHeads), [
        LB * Nw * this.numHeads,
        side,
        side,
      ]);
      const half = Math.ceil(W / 2);
      let y = x;
      for (let i = 0; i < this.encLayers; i++) {
        if (shiftMask && i % 2 === 1) {
          const shifted = ops.roll(y, half, 0);
          y = ops.roll(this.windowLayer(shifted, i, { attnMask: shiftMask }, motionFeat), -half, 0);
        } else {
          y = this.windowLayer(y, i, { keyPaddingMask: keyPadding }, motionFeat);
        }
        record(y);
      }
      return y;
    });
  }

  /** One encoder layer inside windows: self-attention, hierarchical cross-attention, FFN. */
  windowLayer(
    x: Tensor,
    layer: number,
    masks: { attnMask?: Tensor; keyPaddingMask?: Tensor },
    motionFeat: Tensor,
  ): Tensor {
    return ops.tidy(() => {
      const [T, fQ, LB, C] = x.shape;
      const W = this.windowSize;
      const Nw = T / W;
      // (T, fQ, LB, C) -> (W*fQ, LB*Nw, C): sequence l*Nw + n is window n of sequence l.
      let y = ops.reshape(ops.permute(ops.reshape(x, [Nw, W, fQ, LB, C]), [1, 2, 3, 0, 4]), [
        W * fQ,
        LB * Nw,
        C,
      ]);
      y = this.encSelfAttn!.at(layer).forward(y, {
        tgtMask: masks.attnMask,
        tgtKeyPaddingMask: masks.keyPaddingMask,
      });
      if (this.hierarchicalCross) {
        const window = this.hierarchicalCross.at(layer).forward(
          ops.reshape(y, [W, fQ, LB * Nw, C]),
          motionFeat,
        );
        y = ops.reshape(window, [W * fQ, LB * Nw, C]);
      }
      y = this.encFfn!.at(layer).forward(y);
      return ops.reshape(ops.permute(ops.reshape(y, [W, fQ, LB, Nw, C]), [3, 0, 1, 2, 4]), [T, fQ, LB, C]);
    });
  }
}

/** The config keys {@link dsHmpHierarchicalFromConfig} reads. */
export interface ClipDecoderConfig {
  readonly MODEL: {
    readonly VITA: {
      readonly HIDDEN_DIM: number;
      readonly NUM_OBJECT_QUERIES: number;
      readonly NHEADS: number;
      readonly DIM_FEEDFORWARD: number;
      readonly ENC_LAYERS: number;
      readonly DEC_LAYERS: number;
      readonly ENC_WINDOW_SIZE: number;
      readonly PRE_NORM: boolean;
      readonly ENFORCE_INPUT_PROJ: boolean;
      readonly SIM_USE_CLIP: boolean;
      readonly SIM_WEIGHT: number;
      readonly DEEP_SUPERVISION: boolean;
    };
    readonly MASK_FORMER: { readonly NUM_OBJECT_QUERIES: number };
    readonly SEM_SEG_HEAD: {
      readonly NUM_CLASSES: number;
      readonly CONVS_DIM: number;
      readonly MASK_DIM: number;
    };
    /** The ablation switch (absent: on) and the re-ordering fix (absent: off, the original's). */
    readonly DSHMP?: { readonly HIERARCHICAL_MOTION?: boolean; readonly HCA_ALIGN_QUERY_ORDER?: boolean };
  };
  readonly INPUT: { readonly SAMPLING_FRAME_NUM: number };
}

/**
 * Builds the clip decoder as the original's `from_config` (with `aux_loss` from
 * `MODEL.VITA.DEEP_SUPERVISION`, as DsHmp passes it) plus the ablation key
 * `MODEL.DSHMP.HIERARCHICAL_MOTION` (default true) and the re-ordering fix
 * `MODEL.DSHMP.HCA_ALIGN_QUERY_ORDER` (default false).
 *
 * @example
 * ```ts
 * import { dsHmpHierarchicalFromConfig } from "./clip_decoder.ts";
 * const cfg = {
 *   MODEL: {
 *     VITA: {
 *       HIDDEN_DIM: 32, NUM_OBJECT_QUERIES: 3, NHEADS: 4, DIM_FEEDFORWARD: 64, ENC_LAYERS: 2, DEC_LAYERS: 1,
 *       ENC_WINDOW_SIZE: 4, PRE_NORM: false, ENFORCE_INPUT_PROJ: true, SIM_USE_CLIP: true, SIM_WEIGHT: 1.0,
 *       DEEP_SUPERVISION: true,
 *     },
 *     MASK_FORMER: { NUM_OBJECT_QUERIES: 4 },
 *     SEM_SEG_HEAD: { NUM_CLASSES: 1, CONVS_DIM: 32, MASK_DIM: 32 },
 *     DSHMP: { HIERARCHICAL_MOTION: false },
 *   },
 *   INPUT: { SAMPLING_FRAME_NUM: 2 },
 * };
 * const plain = dsHmpHierarchicalFromConfig(cfg, 32); // no hierarchical_cross.* parameters
 * ```
 */
export function dsHmpHierarchicalFromConfig(
  cfg: ClipDecoderConfig,
  inChannels: number,
  opts: { generator?: Generator } = {},
): DsHmpHierarchical {
  const vita = cfg.MODEL.VITA;
  return new DsHmpHierarchical({
    inChannels,
    auxLoss: vita.DEEP_SUPERVISION,
    hiddenDim: vita.HIDDEN_DIM,
    numFrameQueries: cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES,
    numQueries: vita.NUM_OBJECT_QUERIES,
    nheads: vita.NHEADS,
    dimFeedforward: vita.DIM_FEEDFORWARD,
    encLayers: vita.ENC_LAYERS,
    decLayers: vita.DEC_LAYERS,
    encWindowSize: vita.ENC_WINDOW_SIZE,
    preNorm: vita.PRE_NORM,
    enforceInputProject: vita.ENFORCE_INPUT_PROJ,
    numFrames: cfg.INPUT.SAMPLING_FRAME_NUM,
    numClasses: cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    convDim: cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM,
    maskDim: cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
    useSim: vita.SIM_WEIGHT > 0,
    simUseClip: vita.SIM_USE_CLIP,
    hierarchicalMotion: cfg.MODEL.DSHMP?.HIERARCHICAL_MOTION ?? true,
    alignQueryOrder: cfg.MODEL.DSHMP?.HCA_ALIGN_QUERY_ORDER ?? false,
    generator: opts.generator,
  });
}
