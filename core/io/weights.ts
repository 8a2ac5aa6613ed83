/**
 * Loading `MODEL.WEIGHTS` into a module the way detectron2's `DetectionCheckpointer` does, and the
 * contract of checkpoint converters (`converters` registry).
 *
 * {@link planWeightsLoad} decides, from shapes alone, what a load does:
 *
 * 1. a `module.` prefix on every key (a checkpoint saved from a DDP-wrapped model) is dropped;
 * 2. with matching heuristics (a detectron2 `.pkl` saying `matching_heuristics`, a pickle without
 *    `__author__`, or a path ending in `?matching_heuristics=True`) each model key takes the longest
 *    checkpoint key that is a whole dotted suffix of it; a suffix match of the wrong shape is skipped;
 * 3. keys the model has with a different shape are skipped (left as initialised);
 * 4. the caller's `rename` runs (as a PyTorch module's `_load_from_state_dict` would, e.g. the frame
 *    decoder's `static_query` → `query_feat`); a renamed key of the wrong shape is an error, as it is
 *    for PyTorch;
 * 5. the rest: filled keys, model keys left as initialised (`missing`, skipped ones included, as
 *    fvcore lists them), checkpoint keys the model does not use.
 *
 * {@link formatLoadPlan} prints it compactly (keys grouped by their module, `head.{bias, weight}`) and
 * {@link loadWeightsInto} does it all: read any checkpoint format, plan, report, load.
 *
 * @example
 * ```ts ignore
 * import { loadWeightsInto } from "./weights.ts";
 * // An initialisation checkpoint: non-strict, prints what was filled, skipped and left alone.
 * await loadWeightsInto(model, "model_final_86143f.safetensors", { strict: false });
 * // A full checkpoint (the published DsHmp weights): every key must match.
 * await loadWeightsInto(model, "dshmp_swin_tiny.safetensors", { strict: true });
 * ```
 * @module
 */
import { type Checkpoint, type CheckpointFormat, readCheckpoint } from "./checkpoint.ts";
import { isNamedTensor } from "./detectron2_checkpoint.ts";
import type { NamedTensor } from "./safetensors.ts";

/** Anything with a shape: a tensor, a `{dtype, shape, data}` record, a variable. */
export interface Shaped {
  readonly shape: readonly number[];
}

/** Target shapes by state-dict name: a Map (e.g. a module's `stateDict()`) or a plain object. */
export type ShapeMap = Map<string, Shaped | readonly number[]> | Record<string, Shaped | readonly number[]>;

/** Options of {@link planWeightsLoad}. */
export interface PlanOptions {
  /** Match checkpoint keys to model keys by dotted suffix (detectron2's `matching_heuristics`). */
  matchingHeuristics?: boolean;
  /** Renames a checkpoint key before it is matched to the model (after the shape check, as in PyTorch). */
  rename?: (key: string) => string;
}

/** A key not loaded because its shapes differ. */
export interface SkippedKey {
  /** The model's key. */
  key: string;
  /** The checkpoint's key. */
  from: string;
  checkpoint: number[];
  model: number[];
}

/** What a load does, decided from names and shapes. */
export interface LoadPlan {
  /** Model keys filled, each with the checkpoint key it comes from, in model order. */
  filled: { key: string; from: string }[];
  /** Keys skipped for a shape mismatch (they stay initialised and are also in `missing`). */
  skipped: SkippedKey[];
  /** Model keys the checkpoint does not fill, in model order: they keep their initial values. */
  missing: string[];
  /** Checkpoint keys (after renaming) the model has no use for, in checkpoint order. */
  unused: string[];
  /** Checkpoint keys renamed by the caller's `rename`: `[from, to]`. */
  renamed: [string, string][];
  /** Model keys filled through a suffix match with a different checkpoint name: `[model, checkpoint]`. */
  aligned: [string, string][];
  /** Whether matching heuristics ran. */
  matchingHeuristics: boolean;
  /** A prefix dropped from every checkpoint key (`module.`), if any. */
  strippedPrefix?: string;
  /** Problems that make the load fail (a renamed key of the wrong shape). */
  errors: string[];
  /** Number of model keys. */
  modelKeys: number;
  /** Number of checkpoint keys. */
  checkpointKeys: number;
}

/** A load that cannot proceed; the message lists every problem. */
export class WeightsLoadError extends Error {
  override name = "WeightsLoadError";
}

function shapeOf(v: Shaped | readonly number[]): number[] {
  return [...(Array.isArray(v) ? v as readonly number[] : (v as Shaped).shape)];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `(81, 256)`: a shape as PyTorch prints a tuple. */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/**
 * Plans loading checkpoint tensors (only their shapes are read) into a model with the `target`
 * shapes, with detectron2 / fvcore semantics (see the module doc).
 *
 * @example
 * ```ts
 * import { planWeightsLoad } from "./weights.ts";
 * const plan = planWeightsLoad(
 *   new Map([["head.weight", { shape: [81, 4] }], ["extra", { shape: [1] }]]),
 *   { "head.weight": [2, 4], "head.bias": [2] },
 * );
 * plan.skipped[0].key; // "head.weight"
 * plan.missing; // ["head.weight", "head.bias"]
 * plan.unused; // ["extra"]
 * ```
 */
export function planWeightsLoad(
  checkpoint: Map<string, Shaped>,
  target: ShapeMap,
  options: PlanOptions = {},
): LoadPlan {
  const model = new Map<string, number[]>();
  for (const [k, v] of target instanceof Map ? target : Object.entries(target)) model.set(k, shapeOf(v));
  const plan: LoadPlan = {
    filled: [],
    skipped: [],
    missing: [],
    unused: [],
    renamed: [],
    aligned: [],
    matchingHeuristics: options.matchingHeuristics ?? false,
    errors: [],
    modelKeys: model.size,
    checkpointKeys: checkpoint.size,
  };
  // Working dict: name as the model will see it → { original checkpoint key, shape }.
  let work = new Map<string, { from: string; shape: number[] }>();
  const keys = [...checkpoint.keys()];
  const prefix = "module.";
  const strip = keys.length > 0 && keys.every((k) => k.length === 0 || k.startsWith(prefix));
  if (strip) plan.strippedPrefix = prefix;
  for (const [k, v] of checkpoint) {
    work.set(strip && k.length > 0 ? k.slice(prefix.length) : k, { from: k, shape: [...v.shape] });
  }

  if (plan.matchingHeuristics) work = alignBySuffix(work, model, plan);

  // fvcore: a key the model has, with another shape, is dropped before loading.
  for (const [k, v] of [...work]) {
    const want = model.get(k);
    if (want === undefined || sameShape(want, v.shape)) continue;
    if (!plan.skipped.some((s) => s.key === k && s.from === v.from)) {
      plan.skipped.push({ key: k, from: v.from, checkpoint: v.shape, model: want });
    }
    work.delete(k);
  }

  if (options.rename) {
    const renamed = new Map<string, { from: string; shape: number[] }>();
    for (const [k, v] of work) {
      const to = options.rename(k);
      if (renamed.has(to)) {
        plan.errors.push(
          `two checkpoint keys become "${to}" after renaming (${renamed.get(to)!.from}, ${v.from})`,
        );
      }
      if (to !== k) plan.renamed.push([k, to]);
      renamed.set(to, v);
    }
    work = renamed;
  }

  for (const [key, want] of model) {
    const v = work.get(key);
    if (v === undefined) {
      plan.missing.push(key);
    } else if (!sameShape(want, v.shape)) {
      // Only a renamed key gets here; PyTorch's load_state_dict refuses it even when not strict.
      plan.errors.push(
        `size mismatch for ${key} (from ${v.from}): ${formatShape(v.shape)} in the checkpoint, ` +
          `${formatShape(want)} in the model`,
      );
      plan.missing.push(key);
    } else {
      plan.filled.push({ key, from: v.from });
    }
  }
  // detectron2 leaves these out of its messages: the model's own normalisation constants (rebuilt
  // from the config) and anchors that old checkpoints stored.
  plan.missing = plan.missing.filter((k) => k !== "pixel_mean" && k !== "pixel_std");
  for (const k of work.keys()) {
    if (!model.has(k) && !k.includes("anchor_generator.cell_anchors")) plan.unused.push(k);
  }
  return plan;
}

/** detectron2's `align_and_update_state_dicts` without Caffe2 renaming; records into `plan`. */
function alignBySuffix(
  work: Map<string, { from: string; shape: number[] }>,
  model: Map<string, number[]>,
  plan: LoadPlan,
): Map<string, { from: string; shape: number[] }> {
  const matched = new Map<string, string>(); // checkpoint key → model key
  const out = new Map<string, { from: string; shape: number[] }>();
  for (const modelKey of [...model.keys()].sort()) {
    // The longest checkpoint key equal to the model key or to a suffix starting after a dot.
    let ckptKey: string | undefined = work.has(modelKey) ? modelKey : undefined;
    for (let i = modelKey.indexOf("."); ckptKey === undefined && i >= 0; i = modelKey.indexOf(".", i + 1)) {
      const suffix = modelKey.slice(i + 1);
      if (work.has(suffix)) ckptKey = suffix;
    }
    if (ckptKey === undefined) continue;
    const v = work.get(ckptKey)!;
    const want = model.get(modelKey)!;
    if (!sameShape(want, v.shape)) {
      plan.skipped.push({ key: modelKey, from: v.from, checkpoint: v.shape, model: want });
      continue;
    }
    if (matched.has(ckptKey)) {
      throw new WeightsLoadError(
        `checkpoint key ${ckptKey} matches two model keys (${matched.get(ckptKey)} and ${modelKey}); ` +
          `a checkpoint key may fill one model key only`,
      );
    }
    matched.set(ckptKey, modelKey);
    out.set(modelKey, v);
    if (modelKey !== ckptKey) plan.aligned.push([modelKey, ckptKey]);
  }
  if (matched.size === 0) return work; // detectron2 then loads the checkpoint as it is
  for (const [k, v] of work) if (!matched.has(k)) out.set(k, v);
  return out;
}

/**
 * Keys grouped by module as fvcore prints them: `head.tail` alone, `head.{a, b}` for several tails
 * (sorted), a key without a dot as itself. Groups keep the order of their first key.
 *
 * @example
 * ```ts
 * import { groupKeys } from "./weights.ts";
 * groupKeys(["fc.weight", "fc.bias", "scale"]); // ["fc.{bias, weight}", "scale"]
 * ```
 */
export function groupKeys(keys: readonly string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const dot = k.lastIndexOf(".");
    const [head, tail] = dot < 0 ? [k, undefined] : [k.slice(0, dot), k.slice(dot + 1)];
    const g = groups.get(head) ?? [];
    if (tail !== undefined) g.push(tail);
    groups.set(head, g);
  }
  return [...groups].map(([head, tails]) => {
    if (tails.length === 0) return head;
    if (tails.length === 1) return `${head}.${tails[0]}`;
    return `${head}.{${[...tails].sort().join(", ")}}`;
  });
}

/** Options of {@link formatLoadPlan}. */
export interface FormatOptions {
  /** Names the checkpoint on the first line. */
  source?: string;
}

/**
 * The plan as text: a header with counts, a per-prefix table, the shape mismatches, renames, the model
 * keys left as initialised (grouped, sorted, as fvcore's "not found" message) and the unused
 * checkpoint keys (grouped, in checkpoint order).
 *
 * @example
 * ```ts ignore
 * console.log(formatLoadPlan(plan, { source: "model_final_86143f.safetensors" }));
 * ```
 */
export function formatLoadPlan(plan: LoadPlan, options: FormatOptions = {}): string {
  const lines: string[] = [];
  const from = options.source ? ` from ${options.source}` : "";
  lines.push(
    `Weights${from}: ${plan.filled.length} of ${plan.modelKeys} model tensors filled, ` +
      `${plan.skipped.length} skipped for their shape, ${plan.missing.length} left as initialised, ` +
      `${plan.unused.length} of ${plan.checkpointKeys} checkpoint tensors unused` +
      (plan.matchingHeuristics ? " (matching heuristics on)" : ""),
  );
  if (plan.strippedPrefix) lines.push(`  (the prefix "${plan.strippedPrefix}" was dropped from every key)`);
  const table = prefixTable(plan);
  if (table.length > 1) lines.push(...table);
  for (const e of plan.errors) lines.push(`Error: ${e}`);
  if (plan.skipped.length) {
    lines.push("Skipped, the shapes differ (checkpoint vs model):");
    for (const s of plan.skipped) {
      const name = s.key === s.from ? s.key : `${s.from} -> ${s.key}`;
      lines.push(`  ${name}: ${formatShape(s.checkpoint)} vs ${formatShape(s.model)}`);
    }
  }
  if (plan.renamed.length) {
    lines.push("Renamed before loading:");
    for (const [a, b] of plan.renamed) lines.push(`  ${a} -> ${b}`);
  }
  if (plan.aligned.length) {
    lines.push(`Matched by suffix (${plan.aligned.length}):`);
    for (const [m, c] of plan.aligned) lines.push(`  ${c} -> ${m}`);
  }
  if (plan.missing.length) {
    lines.push(`Model tensors not filled by the checkpoint, left as initialised (${plan.missing.length}):`);
    for (const g of collapseMissing(plan).sort()) lines.push(`  ${g}`);
  }
  if (plan.unused.length) {
    lines.push(`Checkpoint tensors the model does not use (${plan.unused.length}):`);
    for (const g of groupKeys(plan.unused)) lines.push(`  ${g}`);
  }
  return lines.join("\n");
}

/**
 * The missing keys, compacter than fvcore where a whole module is missing: `vita_module.* (all 351)`
 * for the shortest dotted prefix under which every model key is missing; the rest as {@link groupKeys}.
 */
function collapseMissing(plan: LoadPlan): string[] {
  const total = new Map<string, number>();
  const missing = new Map<string, number>();
  const prefixes = (k: string) => {
    const parts = k.split(".");
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join("."));
  };
  const count = (m: Map<string, number>, k: string) => {
    for (const p of prefixes(k)) m.set(p, (m.get(p) ?? 0) + 1);
  };
  for (const f of plan.filled) count(total, f.key);
  for (const k of plan.missing) {
    count(total, k);
    count(missing, k);
  }
  const whole = new Map<string, number>();
  const rest: string[] = [];
  for (const k of plan.missing) {
    const p = prefixes(k).find((p) => total.get(p)! > 1 && missing.get(p) === total.get(p));
    if (p === undefined) rest.push(k);
    else whole.set(p, total.get(p)!);
  }
  return [...[...whole].map(([p, n]) => `${p}.* (all ${n})`), ...groupKeys(rest)];
}

/** Filled / total per first key component (model keys), plus unused per component (checkpoint keys). */
function prefixTable(plan: LoadPlan): string[] {
  const rows = new Map<string, { filled: number; total: number; unused: number }>();
  const row = (k: string) => {
    const top = k.split(".")[0];
    const r = rows.get(top) ?? { filled: 0, total: 0, unused: 0 };
    rows.set(top, r);
    return r;
  };
  for (const f of plan.filled) {
    row(f.key).filled++;
    row(f.key).total++;
  }
  for (const k of plan.missing) row(k).total++;
  for (const k of plan.unused) row(k).unused++;
  const width = Math.max(...[...rows.keys()].map((k) => k.length), 6);
  const out = [`  ${"prefix".padEnd(width)}  filled/model  unused`];
  for (const [k, r] of rows) {
    out.push(
      `  ${k.padEnd(width)}  ${`${r.filled}/${r.total}`.padStart(12)}  ${String(r.unused).padStart(6)}`,
    );
  }
  return out;
}

/** A module as {@link loadWeightsInto} needs it (core's `Module` is one). */
export interface LoadableModule {
  stateDict(): Map<string, Shaped>;
  loadStateDict(sd: Map<string, NamedTensor>, options: { strict: boolean }): unknown;
}

/** Options of {@link loadWeightsInto}. */
export interface LoadWeightsOptions {
  /**
   * A full checkpoint (true): every model key must be filled, no checkpoint key unused, no shape
   * skipped, or nothing is loaded and a {@link WeightsLoadError} lists the problems. An initialisation
   * checkpoint (false, the default): load what fits and print the report.
   */
  strict?: boolean;
  /** Renames checkpoint keys as the model's own loading would (e.g. `renameStaticQuery`). */
  rename?: (key: string) => string;
  /** Where the report goes (default: `console.log`). */
  log?: (text: string) => void;
}

/** What {@link loadWeightsInto} did. */
export interface LoadedWeights {
  format: CheckpointFormat;
  /** The checkpoint's non-tensor entries (iteration, metadata, ...). */
  extra: Record<string, unknown>;
  plan: LoadPlan;
}

/** Whether a checkpoint asks for detectron2's name-matching heuristics. */
export function wantsMatchingHeuristics(ckpt: Pick<Checkpoint, "format" | "extra">, query = ""): boolean {
  const flag = ckpt.extra.matching_heuristics;
  if (flag === true || (typeof flag === "string" && flag.toLowerCase() === "true")) return true;
  if (/(^|&)matching_heuristics=True(&|$)/.test(query)) return true;
  // detectron2 treats a .pkl without an author as a Caffe2 / Detectron1 file and matches by suffix.
  return ckpt.format === "pickle" && !("__author__" in ckpt.extra);
}

/**
 * Reads a checkpoint of any format (`path?matching_heuristics=True` as in detectron2), plans the load
 * against the module's state dict, prints the report and loads. See {@link LoadWeightsOptions.strict}.
 *
 * @example
 * ```ts ignore
 * // A caller (train / eval) passes the model's own rename, e.g. the frame decoder's:
 * const rename = (k: string) => k.replaceAll("static_query", "query_feat");
 * const { plan } = await loadWeightsInto(model, cfg.MODEL.WEIGHTS, { rename });
 * plan.filled.length; // tensors taken from the checkpoint
 * ```
 */
export async function loadWeightsInto(
  module: LoadableModule,
  path: string,
  options: LoadWeightsOptions = {},
): Promise<LoadedWeights> {
  const log = options.log ?? ((t: string) => console.log(t));
  const q = path.lastIndexOf("?");
  const [file, query] = q < 0 ? [path, ""] : [path.slice(0, q), path.slice(q + 1)];
  const ckpt = await readCheckpoint(file);
  const plan = planWeightsLoad(ckpt.tensors, module.stateDict(), {
    matchingHeuristics: wantsMatchingHeuristics(ckpt, query),
    rename: options.rename,
  });
  const incomplete = plan.missing.length + plan.unused.length + plan.skipped.length > 0;
  if (plan.errors.length > 0 || (options.strict && incomplete)) {
    const why = plan.errors.length > 0 ? "cannot be loaded" : "does not match the model (strict load)";
    throw new WeightsLoadError(`${file} ${why}:\n${formatLoadPlan(plan, { source: file })}`);
  }
  const sd = new Map<string, NamedTensor>();
  for (const { key, from } of plan.filled) {
    const t = ckpt.tensors.get(from);
    if (t === undefined || !isNamedTensor(t)) throw new WeightsLoadError(`${file}: tensor ${from} vanished`);
    sd.set(key, t);
  }
  module.loadStateDict(sd, { strict: false });
  log(
    options.strict
      ? `Weights from ${file}: all ${plan.filled.length} model tensors loaded (strict)`
      : formatLoadPlan(plan, { source: file }),
  );
  return { format: ckpt.format, extra: ckpt.extra, plan };
}

/**
 * A checkpoint converter, as the `converters` registry's factories return it: turns a read checkpoint
 * into the tensors and string metadata of a safetensors file.
 */
export interface CheckpointConverter {
  /** One line saying what it does (shown by `deno task convert`). */
  readonly summary: string;
  /** Converts; `source` names the input in notes and errors. */
  convert(ckpt: Checkpoint, source: string): ConvertedCheckpoint;
}

/** A converter's output. */
export interface ConvertedCheckpoint {
  tensors: Map<string, NamedTensor>;
  /** safetensors `__metadata__` (strings only). */
  metadata: Record<string, string>;
  /** What was done, one line each (renames, truncations, dropped entries). */
  notes: string[];
}

/**
 * A checkpoint's non-tensor entries as safetensors metadata: strings as they are, other values as
 * JSON (bigints as decimal numbers). Entries holding tensors (optimizer state) cannot be metadata and
 * are listed in `dropped`.
 *
 * @example
 * ```ts
 * import { checkpointMetadata } from "./weights.ts";
 * checkpointMetadata({ iteration: 54999, scheduler: { last_epoch: 54999 }, __author__: "x" });
 * // { metadata: { iteration: "54999", scheduler: '{"last_epoch":54999}', __author__: "x" }, dropped: [] }
 * ```
 */
export function checkpointMetadata(
  extra: Record<string, unknown>,
): { metadata: Record<string, string>; dropped: string[] } {
  const metadata: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(extra)) {
    if (typeof v === "string") {
      metadata[k] = v;
      continue;
    }
    let holdsTensor = false;
    const json = JSON.stringify(v, (_key, x) => {
      if (isNamedTensor(x)) {
        holdsTensor = true;
        return null;
      }
      if (typeof x === "bigint") return Number.isSafeInteger(Number(x)) ? Number(x) : String(x);
      if (x instanceof Map) return Object.fromEntries([...x].map(([a, b]) => [String(a), b]));
      if (x instanceof Set) return [...x];
      return x;
    });
    if (holdsTensor || json === undefined) dropped.push(k);
    else metadata[k] = json;
  }
  return { metadata, dropped };
}
