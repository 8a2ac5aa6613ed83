/**
 * The RoBERTa encoder DsHmp reads sentences with (Hugging Face's `RobertaModel`), with HF's parameter
 * names so that a `roberta-base` folder and the `text_encoder.*` entries of a DsHmp checkpoint load
 * as they are.
 *
 * Behaviour kept from Hugging Face:
 * - position ids come from the input ids: `cumsum(ids != pad) * (ids != pad) + pad` (pad = 1). DsHmp
 *   pads its 40-token sentences with id 0 (`<s>`), not 1, so positions keep counting (2..41) over
 *   the padded slots; only the masked outputs see the difference;
 * - token type ids are all zero (row 0 of `token_type_embeddings`);
 * - masked keys get `(1 - mask) * float32_min` added to their scores (a large finite negative, so a
 *   softmax row never turns into NaN);
 * - LayerNorm eps from the config (1e-5 for roberta-base), exact erf GELU, dropout on the embeddings,
 *   the attention probabilities and both residual branches (active in training mode only: DsHmp
 *   freezes the encoder's parameters but leaves it in training mode during training);
 * - `poolerOutput = tanh(pooler.dense(lastHiddenState[:, 0]))`.
 *
 * The `embeddings.position_ids` buffer (`[1, max_position_embeddings]`, arange) is registered as
 * persistent, as in the transformers versions whose checkpoints hold it; it is never read by the
 * forward pass (ids come from the input), and loaders fill it in when a file lacks it.
 *
 * @example
 * ```ts
 * import { RobertaModel } from "./roberta.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const model = new RobertaModel({
 *   vocabSize: 300, hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32,
 *   maxPositionEmbeddings: 64,
 * }).eval();
 * const ids = ops.tensor([[0, 5, 6, 2, 0, 0]], [1, 6], "int32");
 * const mask = ops.tensor([[1, 1, 1, 1, 0, 0]], [1, 6], "int32");
 * const { lastHiddenState, poolerOutput } = model.forward(ids, mask); // [1, 6, 16], [1, 16]
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../core/tensor/ops.ts";
import { defaultGenerator, type Generator } from "../../../core/random.ts";
import {
  Dropout,
  Embedding,
  init,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
} from "../../../core/tensor/nn/mod.ts";

/** Smallest float32 (`torch.finfo(torch.float32).min`), HF's additive value for masked keys. */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** The size and behaviour settings of a RoBERTa encoder (HF `RobertaConfig`, camelCased). */
export interface RobertaConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  /** Rows of `token_type_embeddings` (roberta-base: 1). Default 1. */
  typeVocabSize?: number;
  /** Dropout of the embeddings and residual branches (default 0.1). */
  hiddenDropoutProb?: number;
  /** Dropout of the attention probabilities (default 0.1). */
  attentionProbsDropoutProb?: number;
  /** Standard deviation of HF's weight initialisation (default 0.02). */
  initializerRange?: number;
  /** Epsilon of every LayerNorm (default 1e-5, roberta-base's value). */
  layerNormEps?: number;
  /** Padding id of the word and position tables, and the position offset (default 1). */
  padTokenId?: number;
  /** Build `pooler.dense` (default true, as `RobertaModel`). */
  addPoolingLayer?: boolean;
}

/** The published `roberta-base` settings (its `config.json`). */
export const ROBERTA_BASE_CONFIG: Readonly<Required<RobertaConfig>> = Object.freeze({
  vocabSize: 50265,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  maxPositionEmbeddings: 514,
  typeVocabSize: 1,
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  initializerRange: 0.02,
  layerNormEps: 1e-5,
  padTokenId: 1,
  addPoolingLayer: true,
});

/** `config` with every optional setting filled in, after checking the sizes fit together. */
export function resolveRobertaConfig(config: RobertaConfig): Required<RobertaConfig> {
  const c: Required<RobertaConfig> = {
    typeVocabSize: 1,
    hiddenDropoutProb: 0.1,
    attentionProbsDropoutProb: 0.1,
    initializerRange: 0.02,
    layerNormEps: 1e-5,
    padTokenId: 1,
    addPoolingLayer: true,
    ...config,
  };
  const sizes = [
    "vocabSize",
    "hiddenSize",
    "numHiddenLayers",
    "numAttentionHeads",
    "intermediateSize",
    "maxPositionEmbeddings",
    "typeVocabSize",
  ] as const;
  for (const k of sizes) {
    if (!Number.isInteger(c[k]) || c[k] < 1) {
      throw new RangeError(`RobertaConfig.${k} must be a positive integer, got ${c[k]}`);
    }
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    throw new RangeError(
      `RobertaConfig: hiddenSize ${c.hiddenSize} is not a multiple of numAttentionHeads ${c.numAttentionHeads}`,
    );
  }
  if (!Number.isInteger(c.padTokenId) || c.padTokenId < 0 || c.padTokenId >= c.maxPositionEmbeddings) {
    throw new RangeError(`RobertaConfig.padTokenId ${c.padTokenId} must index the position table`);
  }
  return c;
}

/** Constructor options of {@link RobertaModel} beyond the config. */
export interface RobertaOptions {
  /** Freeze every parameter (DsHmp's `FREEZE_TEXT_ENCODER`): no gradients, nothing for an optimiser. */
  frozen?: boolean;
  /** Draws the initial weights and the dropout masks (the process-wide generator by default). */
  generator?: Generator;
  /**
   * `"hf"` (default): HF's initialisation (normal(0, initializerRange) weights, zero biases, padding
   * rows zero, LayerNorm 1/0). `"none"`: leave the layers' construction defaults, for a model whose
   * weights are about to be loaded (saves drawing ~125M numbers for roberta-base).
   */
  initialise?: "hf" | "none";
}

/** What {@link RobertaModel.forward} returns (HF's field names, camelCased). */
export interface RobertaOutput {
  /** `[B, L, hidden]`. */
  lastHiddenState: Tensor;
  /** `[B, hidden]`: `tanh(dense(lastHiddenState[:, 0]))`, or null without a pooler. */
  poolerOutput: Tensor | null;
}

/**
 * HF's `create_position_ids_from_input_ids`: non-padding tokens count from `paddingIdx + 1`, padding
 * tokens get `paddingIdx`. `ids` is `[B, L]` (any integer dtype); the result is int32 `[B, L]`.
 *
 * @example
 * ```ts
 * import { createPositionIds } from "./roberta.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * createPositionIds(ops.tensor([[0, 7, 2, 1, 1]], [1, 5], "int32"), 1); // [[2, 3, 4, 1, 1]]
 * createPositionIds(ops.tensor([[0, 7, 2, 0, 0]], [1, 5], "int32"), 1); // [[2, 3, 4, 5, 6]] (DsHmp's 0 padding)
 * ```
 */
export function createPositionIds(ids: Tensor, paddingIdx: number): Tensor {
  return ops.tidy(() => {
    // float32 counts are exact far beyond any position table
    const keep = ops.cast(ops.notEqual(ops.cast(ids, "int32"), paddingIdx), "float32");
    const pos = ops.add(ops.mul(ops.cumsum(keep, 1), keep), paddingIdx);
    return ops.cast(pos, "int32");
  });
}

/**
 * HF's extended attention mask: `[B, L]` (1 = attend) to an additive `[B, 1, 1, L]` float32 tensor,
 * 0 where attended and {@link FLOAT32_MIN} where masked.
 */
export function extendedAttentionMask(mask: Tensor): Tensor {
  if (mask.rank !== 2) throw new Error(`attention mask must be [B, L], got [${mask.shape}]`);
  return ops.tidy(() => {
    const m = ops.cast(mask, "float32");
    const [b, l] = mask.shape as number[];
    return ops.reshape(ops.mul(ops.sub(1, m), FLOAT32_MIN), [b, 1, 1, l]);
  });
}

/** Word, position and token-type embeddings, summed, normalised and dropped out. */
export class RobertaEmbeddings extends Module {
  readonly positionIds: Variable;
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly paddingIdx: number;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.paddingIdx = c.padTokenId;
    this.positionIds = this.registerBuffer(
      "position_ids",
      ops.reshape(ops.arange(0, c.maxPositionEmbeddings, 1, "int32"), [1, c.maxPositionEmbeddings]),
    );
    const g = { generator };
    this.wordEmbeddings = this.registerModule(
      "word_embeddings",
      new Embedding(c.vocabSize, c.hiddenSize, { paddingIdx: c.padTokenId, ...g }),
    );
    this.positionEmbeddings = this.registerModule(
      "position_embeddings",
      new Embedding(c.maxPositionEmbeddings, c.hiddenSize, { paddingIdx: c.padTokenId, ...g }),
    );
    this.tokenTypeEmbeddings = this.registerModule(
      "token_type_embeddings",
      new Embedding(c.typeVocabSize, c.hiddenSize, g),
    );
    this.layerNorm = this.registerModule("LayerNorm", new LayerNorm(c.hiddenSize, { eps: c.layerNormEps }));
    this.dropout = this.registerModule("dropout", new Dropout(c.hiddenDropoutProb, g));
  }

  /** `ids` int32 `[B, L]` to `[B, L, hidden]`; token types all 0. */
  forward(ids: Tensor): Tensor {
    const maxPos = this.positionEmbeddings.numEmbeddings;
    const length = (ids.shape as number[])[1];
    if (length + this.paddingIdx >= maxPos) {
      throw new RangeError(
        `RoBERTa: ${length} tokens need position ids up to ${length + this.paddingIdx}, ` +
          `but max_position_embeddings is ${maxPos}`,
      );
    }
    return ops.tidy(() => {
      const positions = createPositionIds(ids, this.paddingIdx);
      const types = ops.zeros(ids.shape, "int32");
      let x = ops.add(lookup(this.wordEmbeddings, ids), lookup(this.tokenTypeEmbeddings, types));
      x = ops.add(x, lookup(this.positionEmbeddings, positions));
      return this.dropout.forward(this.layerNorm.forward(x));
    });
  }
}

/** Multi-head scaled dot-product self-attention with separate query/key/value projections. */
export class RobertaSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;
  readonly numHeads: number;
  readonly headDim: number;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.numHeads = c.numAttentionHeads;
    this.headDim = c.hiddenSize / c.numAttentionHeads;
    const g = { generator };
    this.query = this.registerModule("query", new Linear(c.hiddenSize, c.hiddenSize, g));
    this.key = this.registerModule("key", new Linear(c.hiddenSize, c.hiddenSize, g));
    this.value = this.registerModule("value", new Linear(c.hiddenSize, c.hiddenSize, g));
    this.dropout = this.registerModule("dropout", new Dropout(c.attentionProbsDropoutProb, g));
  }

  /** `x` `[B, L, H]`, `extMask` additive `[B, 1, 1, L]` -> context `[B, L, H]`. */
  forward(x: Tensor, extMask: Tensor): Tensor {
    return ops.tidy(() => {
      const [b, l, h] = x.shape;
      const heads = (t: Tensor) =>
        ops.permute(ops.reshape(t, [b, l, this.numHeads, this.headDim]), [0, 2, 1, 3]);
      const q = heads(this.query.forward(x));
      const k = heads(this.key.forward(x));
      const v = heads(this.value.forward(x));
      const scores = ops.add(ops.div(ops.matmul(q, k, false, true), Math.sqrt(this.headDim)), extMask);
      const probs = this.dropout.forward(ops.softmax(scores, -1));
      return ops.reshape(ops.permute(ops.matmul(probs, v), [0, 2, 1, 3]), [b, l, h]);
    });
  }
}

/** `LayerNorm(input + dropout(dense(x)))`: HF's `RobertaSelfOutput` and `RobertaOutput`. */
export class RobertaResidualOutput extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(inFeatures: number, c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.dense = this.registerModule("dense", new Linear(inFeatures, c.hiddenSize, { generator }));
    this.layerNorm = this.registerModule("LayerNorm", new LayerNorm(c.hiddenSize, { eps: c.layerNormEps }));
    this.dropout = this.registerModule("dropout", new Dropout(c.hiddenDropoutProb, { generator }));
  }

  /** Projects `x`, adds `input` and normalises. */
  forward(x: Tensor, input: Tensor): Tensor {
    return ops.tidy(() =>
      this.layerNorm.forward(ops.add(this.dropout.forward(this.dense.forward(x)), input))
    );
  }
}

/** Self-attention followed by its output projection (`attention.self`, `attention.output`). */
export class RobertaAttention extends Module {
  readonly self: RobertaSelfAttention;
  readonly output: RobertaResidualOutput;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.self = this.registerModule("self", new RobertaSelfAttention(c, generator));
    this.output = this.registerModule("output", new RobertaResidualOutput(c.hiddenSize, c, generator));
  }

  /** `[B, L, H]` -> `[B, L, H]`. */
  forward(x: Tensor, extMask: Tensor): Tensor {
    return ops.tidy(() => this.output.forward(this.self.forward(x, extMask), x));
  }
}

/** `gelu(dense(x))`: HF's `RobertaIntermediate`. */
export class RobertaIntermediate extends Module {
  readonly dense: Linear;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.dense = this.registerModule("dense", new Linear(c.hiddenSize, c.intermediateSize, { generator }));
  }

  /** `[B, L, H]` -> `[B, L, intermediate]`. */
  forward(x: Tensor): Tensor {
    return ops.tidy(() => ops.gelu(this.dense.forward(x)));
  }
}

/** One post-norm transformer layer. */
export class RobertaLayer extends Module {
  readonly attention: RobertaAttention;
  readonly intermediate: RobertaIntermediate;
  readonly output: RobertaResidualOutput;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.attention = this.registerModule("attention", new RobertaAttention(c, generator));
    this.intermediate = this.registerModule("intermediate", new RobertaIntermediate(c, generator));
    this.output = this.registerModule("output", new RobertaResidualOutput(c.intermediateSize, c, generator));
  }

  /** `[B, L, H]` -> `[B, L, H]`. */
  forward(x: Tensor, extMask: Tensor): Tensor {
    return ops.tidy(() => {
      const a = this.attention.forward(x, extMask);
      return this.output.forward(this.intermediate.forward(a), a);
    });
  }
}

/** The stack of layers (`encoder.layer.N`). */
export class RobertaEncoder extends Module {
  readonly layer: ModuleList<RobertaLayer>;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.layer = this.registerModule(
      "layer",
      new ModuleList(Array.from({ length: c.numHiddenLayers }, () => new RobertaLayer(c, generator))),
    );
  }

  /** Runs every layer. */
  forward(x: Tensor, extMask: Tensor): Tensor {
    return ops.tidy(() => {
      let h = x;
      for (const layer of this.layer) h = layer.forward(h, extMask);
      return h;
    });
  }
}

/** `tanh(dense(hidden[:, 0]))`. */
export class RobertaPooler extends Module {
  readonly dense: Linear;

  constructor(c: Required<RobertaConfig>, generator?: Generator) {
    super();
    this.dense = this.registerModule("dense", new Linear(c.hiddenSize, c.hiddenSize, { generator }));
  }

  /** `[B, L, H]` -> `[B, H]`. */
  forward(hidden: Tensor): Tensor {
    return ops.tidy(() => ops.tanh(this.dense.forward(ops.squeeze(ops.narrow(hidden, 1, 0, 1), [1]))));
  }
}

/** Hugging Face's `RobertaModel`: embeddings, encoder and (optionally) pooler. */
export class RobertaModel extends Module {
  readonly config: Required<RobertaConfig>;
  readonly embeddings: RobertaEmbeddings;
  readonly encoder: RobertaEncoder;
  readonly pooler: RobertaPooler | null;

  constructor(config: RobertaConfig, opts: RobertaOptions = {}) {
    super();
    this.config = resolveRobertaConfig(config);
    const g = opts.generator;
    this.embeddings = this.registerModule("embeddings", new RobertaEmbeddings(this.config, g));
    this.encoder = this.registerModule("encoder", new RobertaEncoder(this.config, g));
    this.pooler = this.config.addPoolingLayer
      ? this.registerModule("pooler", new RobertaPooler(this.config, g))
      : null;
    if ((opts.initialise ?? "hf") === "hf") initRobertaWeights(this, this.config.initializerRange, g);
    if (opts.frozen) this.requiresGrad(false);
  }

  /**
   * Encodes `inputIds` (int32 `[B, L]`) under `attentionMask` (`[B, L]`, 1 = real token; all ones
   * when omitted).
   */
  forward(inputIds: Tensor, attentionMask?: Tensor): RobertaOutput {
    if (inputIds.rank !== 2) throw new Error(`RoBERTa: input ids must be [B, L], got [${inputIds.shape}]`);
    if (attentionMask && !sameShape(attentionMask.shape, inputIds.shape)) {
      throw new Error(
        `RoBERTa: attention mask [${attentionMask.shape}] does not match ids [${inputIds.shape}]`,
      );
    }
    const [lastHiddenState, poolerOutput] = ops.tidy(() => {
      const mask = attentionMask ?? ops.ones(inputIds.shape);
      const hidden = this.encoder.forward(this.embeddings.forward(inputIds), extendedAttentionMask(mask));
      return this.pooler ? [hidden, this.pooler.forward(hidden)] : [hidden];
    });
    return { lastHiddenState, poolerOutput: poolerOutput ?? null };
  }
}

/**
 * HF's `_init_weights` over `module` and its descendants: Linear weights and Embedding tables
 * normal(0, `std`) (padding rows zeroed), Linear biases 0, LayerNorm weight 1 and bias 0.
 */
export function initRobertaWeights(
  module: Module,
  std: number,
  generator: Generator = defaultGenerator(),
): void {
  for (const [, m] of module.namedModules()) {
    if (m instanceof Linear) {
      init.normal(m.weight, 0, std, { generator });
      if (m.bias) init.zeros(m.bias);
    } else if (m instanceof Embedding) {
      init.normal(m.weight, 0, std, { generator });
      if (m.paddingIdx !== null) {
        const w = ops.tidy(() => {
          const pad = ops.equal(ops.arange(m.numEmbeddings, undefined, 1, "int32"), m.paddingIdx!);
          return ops.maskedFill(m.weight, ops.unsqueeze(pad, 1), 0);
        });
        m.weight.assign(w);
        ops.dispose(w);
      }
    } else if (m instanceof LayerNorm) {
      if (m.weight) init.ones(m.weight);
      if (m.bias) init.zeros(m.bias);
    }
  }
}

/** One state-dict entry a {@link RobertaModel} has, without building it. */
export interface StateDictEntry {
  name: string;
  shape: number[];
  kind: "parameter" | "buffer";
  dtype: "float32" | "int64";
}

/**
 * The state-dict names, shapes and kinds of a {@link RobertaModel} for `config`, in state-dict order,
 * computed without allocating anything (roberta-base holds 125M numbers); `prefix` is prepended
 * (DsHmp: `"text_encoder."`).
 *
 * @example
 * ```ts
 * import { ROBERTA_BASE_CONFIG, robertaStateDictEntries } from "./roberta.ts";
 * robertaStateDictEntries(ROBERTA_BASE_CONFIG, "text_encoder.").length; // 200 (199 parameters + position_ids)
 * ```
 */
export function robertaStateDictEntries(config: RobertaConfig, prefix = ""): StateDictEntry[] {
  const c = resolveRobertaConfig(config);
  const h = c.hiddenSize;
  const out: StateDictEntry[] = [];
  const param = (name: string, shape: number[]) =>
    out.push({ name: prefix + name, shape, kind: "parameter", dtype: "float32" });
  const linear = (name: string, inF: number, outF: number) => {
    param(`${name}.weight`, [outF, inF]);
    param(`${name}.bias`, [outF]);
  };
  const norm = (name: string) => {
    param(`${name}.weight`, [h]);
    param(`${name}.bias`, [h]);
  };
  out.push({
    name: `${prefix}embeddings.position_ids`,
    shape: [1, c.maxPositionEmbeddings],
    kind: "buffer",
    dtype: "int64",
  });
  param("embeddings.word_embeddings.weight", [c.vocabSize, h]);
  param("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h]);
  param("embeddings.token_type_embeddings.weight", [c.typeVocabSize, h]);
  norm("embeddings.LayerNorm");
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `encoder.layer.${i}`;
    for (const n of ["query", "key", "value"]) linear(`${p}.attention.self.${n}`, h, h);
    linear(`${p}.attention.output.dense`, h, h);
    norm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, h, c.intermediateSize);
    linear(`${p}.output.dense`, c.intermediateSize, h);
    norm(`${p}.output.LayerNorm`);
  }
  if (c.addPoolingLayer) linear("pooler.dense", h, h);
  return out;
}

/**
 * `table.forward(ids)` through the facade's `embedding`, whose gradient works on every backend (nn's
 * Embedding still gathers with `tf.gather`, whose gradient needs a kernel `wasm` lacks). As in
 * PyTorch, the padding row gets no gradient.
 */
function lookup(table: Embedding, ids: Tensor): Tensor {
  return ops.tidy(() => {
    const out = ops.embedding(table.weight, ids);
    if (table.paddingIdx === null) return out;
    return ops.where(ops.unsqueeze(ops.equal(ids, table.paddingIdx), -1), ops.detach(out), out);
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
