/**
 * Optimizer parameter groups chosen as the original's `build_optimizer` chooses them, walking the
 * modules in `namedModules()` order and each module's own parameters:
 *
 * - learning rate `baseLr`, times `backboneMultiplier` when the module's path contains "backbone" but
 *   not "fusion" (the language-fusion layers inside the backbone train at the full rate);
 * - weight decay `weightDecay`, except 0 for parameters named like `relative_position_bias_table` or
 *   `absolute_pos_embed`, `weightDecayNorm` for the parameters of normalisation modules and
 *   `weightDecayEmbed` for those of embedding modules (later rules win, as in the original);
 * - frozen parameters left out, a shared parameter counted once (where it is met first).
 *
 * Modules are classified by class, as the original's `isinstance` checks: a module is a norm when its
 * class or an ancestor class bears one of the torch norm class names ({@link NORM_CLASS_NAMES}), so a
 * plugin's `BatchNorm2d` counts without core knowing it; likewise `Embedding`.
 *
 * The original builds one group per parameter; here parameters with equal settings share a group, in
 * order of first appearance. The update is element-wise and the schedule scales every group alike, so
 * the two are the same optimizer.
 *
 * @example
 * ```ts
 * import { buildParamGroups } from "./param_groups.ts";
 * import { LayerNorm } from "../tensor/nn/mod.ts";
 * const groups = buildParamGroups(new LayerNorm(4), {
 *   baseLr: 1e-4, weightDecay: 0.05, weightDecayNorm: 0, weightDecayEmbed: 0, backboneMultiplier: 0.1,
 * });
 * groups[0].names; // ["weight", "bias"]
 * groups[0].weightDecay; // 0
 * ```
 * @module
 */
import type { Variable } from "../tensor/ops.ts";
import { Module } from "../tensor/nn/module.ts";

/** Settings of {@link buildParamGroups} (`SOLVER.*` names in the comments). */
export interface ParamGroupOptions {
  /** `BASE_LR`. */
  baseLr: number;
  /** `WEIGHT_DECAY`: the default decay. */
  weightDecay: number;
  /** `WEIGHT_DECAY_NORM`: decay of normalisation-layer parameters. */
  weightDecayNorm: number;
  /** `WEIGHT_DECAY_EMBED`: decay of embedding-table parameters. */
  weightDecayEmbed: number;
  /** `BACKBONE_MULTIPLIER`: rate factor of the backbone. */
  backboneMultiplier: number;
}

/** Parameters that share a learning rate and a weight decay. */
export interface ParamGroup {
  /** The group's rate before scheduling. */
  lr: number;
  weightDecay: number;
  /** Dotted parameter names, parallel to `params`. */
  names: string[];
  params: Variable[];
}

/** Class names of torch's normalisation modules, those the original exempts from weight decay. */
export const NORM_CLASS_NAMES: ReadonlySet<string> = new Set([
  "BatchNorm1d",
  "BatchNorm2d",
  "BatchNorm3d",
  "SyncBatchNorm",
  "NaiveSyncBatchNorm", // detectron2's, a BatchNorm2d subclass in the original
  "GroupNorm",
  "InstanceNorm1d",
  "InstanceNorm2d",
  "InstanceNorm3d",
  "LayerNorm",
  "LocalResponseNorm",
]);

// Substrings of parameter names the original never decays (Swin's position tables).
const NO_DECAY_PARAM_WORDS = ["relative_position_bias_table", "absolute_pos_embed"];

/** Whether `module`'s class, or a class it extends, is named one of `names` (an `isinstance` check). */
function isInstanceByName(module: Module, names: ReadonlySet<string>): boolean {
  for (let p = Object.getPrototypeOf(module); p && p !== Module.prototype; p = Object.getPrototypeOf(p)) {
    if (names.has(p.constructor.name)) return true;
  }
  return false;
}

const EMBEDDING_CLASS_NAMES: ReadonlySet<string> = new Set(["Embedding"]);

/**
 * The trainable parameters of `model` in groups of equal learning rate and weight decay.
 *
 * @example
 * ```ts
 * import { buildParamGroups } from "./param_groups.ts";
 * import { Linear } from "../tensor/nn/mod.ts";
 * const [g] = buildParamGroups(new Linear(2, 3), {
 *   baseLr: 1e-4, weightDecay: 0.05, weightDecayNorm: 0, weightDecayEmbed: 0, backboneMultiplier: 0.1,
 * });
 * g.names; // ["weight", "bias"]
 * ```
 */
export function buildParamGroups(model: Module, opts: ParamGroupOptions): ParamGroup[] {
  const seen = new Set<Variable>();
  const groups = new Map<string, ParamGroup>();
  for (const [moduleName, module] of model.namedModules()) {
    const isNorm = isInstanceByName(module, NORM_CLASS_NAMES);
    const isEmbedding = isInstanceByName(module, EMBEDDING_CLASS_NAMES);
    const inBackbone = moduleName.includes("backbone") && !moduleName.includes("fusion");
    // A module's own parameters are those of its subtree with undotted names.
    for (const [paramName, param] of module.namedParameters()) {
      if (paramName.includes(".") || !param.trainable || seen.has(param)) continue;
      seen.add(param);
      const lr = inBackbone ? opts.baseLr * opts.backboneMultiplier : opts.baseLr;
      let weightDecay = opts.weightDecay;
      if (NO_DECAY_PARAM_WORDS.some((w) => paramName.includes(w))) weightDecay = 0.0;
      if (isNorm) weightDecay = opts.weightDecayNorm;
      if (isEmbedding) weightDecay = opts.weightDecayEmbed;
      const key = `${lr}/${weightDecay}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { lr, weightDecay, names: [], params: [] };
        groups.set(key, group);
      }
      group.names.push(moduleName === "" ? paramName : `${moduleName}.${paramName}`);
      group.params.push(param);
    }
  }
  return [...groups.values()];
}
