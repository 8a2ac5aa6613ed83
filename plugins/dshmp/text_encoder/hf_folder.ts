/**
 * Loading RoBERTa weights: from a Hugging Face model folder (`config.json` plus `model.safetensors`,
 * `pytorch_model.bin`, or a sharded index of either), and from the `text_encoder.*` / `resizer.*`
 * entries of a DsHmp checkpoint.
 *
 * A folder is read the way `RobertaModel.from_pretrained` reads it, with a strict report:
 * - names may carry the `roberta.` prefix of the task models (`RobertaForMaskedLM` is what the
 *   `roberta-base` repository holds); legacy `LayerNorm.gamma` / `.beta` mean `.weight` / `.bias`;
 * - entries outside the encoder (`lm_head.*`, classifier heads) are ignored and listed;
 * - a missing `pooler.*` is initialised as HF does (normal(0, initializer_range), zero bias) and
 *   listed: `roberta-base` ships no pooler, so DsHmp's pooler starts random and, the encoder being
 *   frozen, stays as initialised (the published DsHmp checkpoint stores it);
 * - a missing `embeddings.position_ids` (newer transformers do not save it) is filled with arange;
 * - anything else missing, unexpected inside the encoder, or mis-shaped is an error naming the file
 *   and every such key.
 *
 * @example
 * ```ts
 * import { loadRobertaFromHfFolder } from "./hf_folder.ts";
 * const { model, report } = await loadRobertaFromHfFolder("weights/roberta-base", { frozen: true });
 * report.initialised; // ["pooler.dense.weight", "pooler.dense.bias"] for roberta-base
 * ```
 * @module
 */
import { join } from "node:path";
import * as ops from "../../../core/tensor/ops.ts";
import { readCheckpoint } from "../../../core/io/checkpoint.ts";
import { loadSafetensors, type NamedTensor } from "../../../core/io/safetensors.ts";
import { type Module, StateDictError } from "../../../core/tensor/nn/mod.ts";
import type { Generator } from "../../../core/random.ts";
import { initRobertaWeights, type RobertaConfig, RobertaModel } from "./roberta.ts";

/** A problem with a RoBERTa folder or checkpoint; the message names the file and the keys. */
export class RobertaLoadError extends Error {
  override name = "RobertaLoadError";
}

/** What a load did besides copying matching entries. */
export interface RobertaLoadReport {
  /** The weight files read. */
  files: string[];
  /** Entries outside the encoder (task heads), left unused. */
  ignored: string[];
  /** Pooler entries the files lack, initialised as HF does. */
  initialised: string[];
  /** Constant buffers the files lack, filled in (`embeddings.position_ids`). */
  filled: string[];
}

/** Options of {@link loadRobertaFromHfFolder}. */
export interface HfFolderOptions {
  /** Freeze the loaded encoder (DsHmp's `FREEZE_TEXT_ENCODER`, true in the paper config). */
  frozen?: boolean;
  /** Draws the initial values of a missing pooler and the dropout masks. */
  generator?: Generator;
}

/** `config.json` keys that must be present (their HF defaults are roberta-base sizes, a silent trap). */
const REQUIRED_KEYS = [
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
] as const;

/** HF `config.json` keys read, with the {@link RobertaConfig} field each sets. */
const KEY_MAP: Record<string, keyof RobertaConfig> = {
  vocab_size: "vocabSize",
  hidden_size: "hiddenSize",
  num_hidden_layers: "numHiddenLayers",
  num_attention_heads: "numAttentionHeads",
  intermediate_size: "intermediateSize",
  max_position_embeddings: "maxPositionEmbeddings",
  type_vocab_size: "typeVocabSize",
  hidden_dropout_prob: "hiddenDropoutProb",
  attention_probs_dropout_prob: "attentionProbsDropoutProb",
  initializer_range: "initializerRange",
  layer_norm_eps: "layerNormEps",
  pad_token_id: "padTokenId",
};

/**
 * A {@link RobertaConfig} from the parsed content of an HF `config.json`; `source` names the file in
 * errors. Settings RoBERTa's port does not implement (another activation, relative position
 * embeddings, a decoder) are errors rather than silently different numbers. The size keys are
 * required; other absent keys take HF `RobertaConfig`'s class defaults (note `type_vocab_size` 2 and
 * `layer_norm_eps` 1e-12 there, while roberta-base's file says 1 and 1e-5).
 *
 * @example
 * ```ts
 * import { robertaConfigFromJson } from "./hf_folder.ts";
 * const c = robertaConfigFromJson(JSON.parse(await Deno.readTextFile("roberta-base/config.json")), "config.json");
 * c.hiddenSize; // 768
 * ```
 */
export function robertaConfigFromJson(json: unknown, source: string): RobertaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RobertaLoadError(`${source}: expected a JSON object`);
  }
  const o = json as Record<string, unknown>;
  for (const k of REQUIRED_KEYS) {
    if (!(k in o)) throw new RobertaLoadError(`${source}: missing key "${k}"`);
  }
  const config: Partial<Record<keyof RobertaConfig, number>> = { typeVocabSize: 2, layerNormEps: 1e-12 };
  for (const [key, field] of Object.entries(KEY_MAP)) {
    if (!(key in o) || o[key] === null) continue;
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new RobertaLoadError(`${source}: key "${key}" must be a number, got ${JSON.stringify(v)}`);
    }
    config[field] = v;
  }
  const act = o.hidden_act ?? "gelu";
  if (act !== "gelu" && act !== "gelu_python") {
    throw new RobertaLoadError(
      `${source}: key "hidden_act" is ${JSON.stringify(act)}; only "gelu" (exact erf) is implemented`,
    );
  }
  const posType = o.position_embedding_type ?? "absolute";
  if (posType !== "absolute") {
    throw new RobertaLoadError(
      `${source}: key "position_embedding_type" is ${
        JSON.stringify(posType)
      }; only "absolute" is implemented`,
    );
  }
  if (o.is_decoder === true) {
    throw new RobertaLoadError(`${source}: key "is_decoder" is true; only the encoder is implemented`);
  }
  return config as RobertaConfig;
}

/** Reads `<dir>/config.json` into a {@link RobertaConfig}. */
export async function readRobertaConfig(dir: string): Promise<RobertaConfig> {
  const file = join(dir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new RobertaLoadError(`${file}: cannot read the model config (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RobertaLoadError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return robertaConfigFromJson(json, file);
}

/** The weight files of an HF folder, in the order HF prefers them. */
const WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"];
const INDEX_FILES = ["model.safetensors.index.json", "pytorch_model.bin.index.json"];

/**
 * Reads every tensor of an HF folder's weights: `model.safetensors`, else `pytorch_model.bin`, else
 * the shards listed by an `*.index.json`.
 */
export async function readHfWeights(
  dir: string,
): Promise<{ files: string[]; tensors: Map<string, NamedTensor> }> {
  for (const name of WEIGHT_FILES) {
    const file = join(dir, name);
    if (await exists(file)) return { files: [file], tensors: await readWeightFile(file) };
  }
  for (const name of INDEX_FILES) {
    const index = join(dir, name);
    if (!(await exists(index))) continue;
    let map: Record<string, string>;
    try {
      map = JSON.parse(await Deno.readTextFile(index)).weight_map;
      if (typeof map !== "object" || map === null) throw new Error('no "weight_map" object');
    } catch (e) {
      throw new RobertaLoadError(`${index}: unusable shard index (${(e as Error).message})`);
    }
    const files = [...new Set(Object.values(map))].map((f) => join(dir, f));
    const tensors = new Map<string, NamedTensor>();
    for (const file of files) for (const [k, v] of await readWeightFile(file)) tensors.set(k, v);
    return { files, tensors };
  }
  throw new RobertaLoadError(
    `${dir}: no weights found (looked for ${[...WEIGHT_FILES, ...INDEX_FILES].join(", ")})`,
  );
}

/**
 * Builds a {@link RobertaModel} from an HF folder (see the module doc for the loading rules).
 * The model is returned in training mode, as PyTorch modules start; call `eval()` for inference.
 */
export async function loadRobertaFromHfFolder(
  dir: string,
  opts: HfFolderOptions = {},
): Promise<{ model: RobertaModel; config: RobertaConfig; report: RobertaLoadReport }> {
  const config = await readRobertaConfig(dir);
  const { files, tensors } = await readHfWeights(dir);
  let model: RobertaModel;
  try {
    model = new RobertaModel(config, { generator: opts.generator, initialise: "none" });
  } catch (e) {
    throw new RobertaLoadError(`${join(dir, "config.json")}: ${(e as Error).message}`);
  }
  try {
    const report = loadRobertaState(model, tensors, {
      source: files.join(", "),
      stripPrefix: "roberta.",
      allowMissingPooler: true,
      generator: opts.generator,
    });
    if (opts.frozen) model.requiresGrad(false);
    return { model, config, report: { ...report, files } };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Options of {@link loadRobertaState}. */
export interface RobertaStateOptions {
  /** Names the tensors' origin in errors. */
  source: string;
  /** A prefix removed from names that carry it (HF task models: `"roberta."`). */
  stripPrefix?: string;
  /** Initialise a missing pooler as HF does instead of failing (HF folders: true). */
  allowMissingPooler?: boolean;
  generator?: Generator;
}

/**
 * Loads `tensors` into `model` with the rules of the module doc; throws a {@link RobertaLoadError}
 * naming `source` and every bad key, loading nothing, when they do not fit.
 */
export function loadRobertaState(
  model: RobertaModel,
  tensors: Map<string, NamedTensor>,
  opts: RobertaStateOptions,
): Omit<RobertaLoadReport, "files"> {
  const own = model.stateDict();
  const state = new Map<string, NamedTensor | ops.Tensor>();
  const ignored: string[] = [];
  const initialised: string[] = [];
  const filled: string[] = [];
  const inEncoder = (k: string) => /^(embeddings|encoder|pooler)\./.test(k);
  for (const [key, value] of tensors) {
    let k = opts.stripPrefix && key.startsWith(opts.stripPrefix) ? key.slice(opts.stripPrefix.length) : key;
    k = k.replace(/\.LayerNorm\.gamma$/, ".LayerNorm.weight").replace(
      /\.LayerNorm\.beta$/,
      ".LayerNorm.bias",
    );
    // token_type_ids is a constant all-zero buffer HF never reads back from a file
    if (!inEncoder(k) || k === "embeddings.token_type_ids") {
      ignored.push(key);
      continue;
    }
    if (state.has(k)) {
      throw new RobertaLoadError(`${opts.source}: "${key}" duplicates another entry for "${k}"`);
    }
    state.set(k, value);
  }
  const positionIds = "embeddings.position_ids";
  if (own.has(positionIds) && !state.has(positionIds)) {
    state.set(positionIds, model.embeddings.positionIds);
    filled.push(positionIds);
  }
  const poolerKeys = [...own.keys()].filter((k) => k.startsWith("pooler."));
  if (opts.allowMissingPooler && model.pooler && poolerKeys.every((k) => !state.has(k))) {
    initRobertaWeights(model.pooler, model.config.initializerRange, opts.generator);
    for (const k of poolerKeys) {
      state.set(k, own.get(k)!);
      initialised.push(k);
    }
  }
  loadStrict(model, state, opts.source);
  return { ignored, initialised, filled };
}

/**
 * Loads a DsHmp checkpoint's `text_encoder.*` entries into `model` (strict; `position_ids` filled in
 * when absent, as checkpoints from newer transformers lack it). Other entries are not looked at.
 *
 * @example
 * ```ts
 * const { tensors } = await readCheckpoint("model_final.pth");
 * loadTextEncoderFromCheckpoint(roberta, tensors, { source: "model_final.pth" });
 * ```
 */
export function loadTextEncoderFromCheckpoint(
  model: RobertaModel,
  tensors: Map<string, NamedTensor>,
  { source, prefix = "text_encoder." }: { source: string; prefix?: string },
): Omit<RobertaLoadReport, "files"> {
  const selected = selectPrefixed(tensors, prefix);
  if (selected.size === 0) throw new RobertaLoadError(`${source}: no "${prefix}*" entries`);
  return loadRobertaState(model, selected, { source: `${source} (entries "${prefix}*")` });
}

/**
 * Loads the `resizer.*` entries of a DsHmp checkpoint into a module (a {@link FeatureResizer}),
 * strictly.
 */
export function loadResizerFromCheckpoint(
  resizer: Module,
  tensors: Map<string, NamedTensor>,
  { source, prefix = "resizer." }: { source: string; prefix?: string },
): void {
  loadStrict(resizer, selectPrefixed(tensors, prefix), `${source} (entries "${prefix}*")`);
}

/** The entries whose names start with `prefix`, with the prefix removed. */
export function selectPrefixed<T>(tensors: Map<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function loadStrict(module: Module, state: Map<string, NamedTensor | ops.Tensor>, source: string): void {
  try {
    module.loadStateDict(state, { strict: true });
  } catch (e) {
    if (e instanceof StateDictError) throw new RobertaLoadError(`${source}: ${e.message}`);
    throw new RobertaLoadError(`${source}: ${(e as Error).message}`);
  }
}

async function readWeightFile(file: string): Promise<Map<string, NamedTensor>> {
  try {
    if (file.endsWith(".safetensors")) return (await loadSafetensors(file)).tensors;
    return (await readCheckpoint(file)).tensors;
  } catch (e) {
    if (e instanceof RobertaLoadError) throw e;
    const msg = (e as Error).message;
    throw new RobertaLoadError(msg.includes(file) ? msg : `${file}: ${msg}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
