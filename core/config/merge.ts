/**
 * Merging layers of raw values (YAML files, then command-line overrides) over the declared defaults
 * into one checked, deeply frozen config. Every layer names its source, so an unknown key or a wrong
 * type is reported with the file (or "command line"), the full key and the closest known key.
 *
 * @example
 * ```ts
 * import { ConfigSchema, int, ints } from "./schema.ts";
 * import { mergeConfig } from "./merge.ts";
 * const schema = new ConfigSchema().add({ SOLVER: { MAX_ITER: int(40000), STEPS: ints([30000]) } }, "core");
 * const cfg = mergeConfig(schema, [{ source: "a.yaml", tree: { SOLVER: { MAX_ITER: 55000n } } }], [
 *   "SOLVER.STEPS",
 *   "(40000, 50000)",
 * ]);
 * cfg.SOLVER; // { MAX_ITER: 55000, STEPS: [40000, 50000] }
 * ```
 * @module
 */
import { closest } from "../suggest.ts";
import { ConfigError } from "./error.ts";
import { type ConfigLeaf, type ConfigSchema, isLeaf, type SchemaNode } from "./schema.ts";
import { coerceValue, type ConfigNode, parseOverrideValue, toPlain } from "./values.ts";

/** A merged, frozen config: groups of keys down to typed values. */
export type Config = ConfigNode;

/** Raw values from one source, merged in order over the defaults. */
export interface ConfigLayer {
  /** Where the values come from: a file path, "command line", or a caller's label. */
  source: string;
  /** The raw tree (ints as `bigint`, as `parseYaml` returns them). */
  tree: Readonly<Record<string, unknown>>;
}

type Mutable = { [key: string]: unknown };

/**
 * Splits a flat `KEY VALUE KEY VALUE ...` list into pairs; an odd count is an error.
 *
 * @example
 * ```ts
 * import { overridePairs } from "./merge.ts";
 * overridePairs(["MODEL.WEIGHTS", "w", "OUTPUT_DIR", "out"]); // [["MODEL.WEIGHTS", "w"], ["OUTPUT_DIR", "out"]]
 * ```
 */
export function overridePairs(list: readonly string[]): [string, string][] {
  if (list.length % 2 !== 0) {
    throw new ConfigError(
      `command line: overrides come as KEY VALUE pairs, got ${list.length} words (${
        list.join(" ")
      }); the last key "${list[list.length - 1]}" has no value`,
    );
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) pairs.push([list[i], list[i + 1]]);
  return pairs;
}

/** The candidate sharing the most `_`-separated words with `name` (at least half of them), or undefined. */
function byWords(name: string, candidates: readonly string[]): string | undefined {
  const words = new Set(name.toUpperCase().split(/[_.]/).filter(Boolean));
  let best: string | undefined;
  let bestScore = 0;
  for (const c of candidates) {
    const score = c.toUpperCase().split(/[_.]/).filter((w) => words.has(w)).length;
    if (score > bestScore) [best, bestScore] = [c, score];
  }
  return bestScore * 2 >= words.size ? best : undefined;
}

/**
 * The message for a key that is not declared: names the source, the full key and the closest
 * declared key (a sibling first, else any key that is not one of its parents).
 */
export function unknownKeyMessage(schema: ConfigSchema, key: string, source: string): string {
  const parts = key.split(".");
  const parentKey = parts.slice(0, -1).join(".");
  const parent = parentKey ? schema.node(parentKey) : schema.root;
  let near: string | undefined;
  if (parent !== undefined && !isLeaf(parent)) {
    const names = Object.keys(parent);
    const last = parts[parts.length - 1];
    const sibling = closest(last, names) ?? byWords(last, names);
    if (sibling !== undefined) near = parentKey ? `${parentKey}.${sibling}` : sibling;
  }
  if (near === undefined) {
    const all = new Set<string>();
    for (const [full] of schema.leaves()) {
      const segs = full.split(".");
      for (let i = 1; i <= segs.length; i++) all.add(segs.slice(0, i).join("."));
    }
    for (let i = 1; i < parts.length; i++) all.delete(parts.slice(0, i).join("."));
    near = closest(key, all);
    // Nothing alike nearby: the key may belong to a plugin that is not loaded.
    const plugin = "keys of a plugin need it in PLUGINS or --plugin";
    return `${source}: unknown config key ${key} (${
      near === undefined ? "" : `did you mean ${near}?; `
    }${plugin})`;
  }
  const hint = ` (did you mean ${near}?)`;
  return `${source}: unknown config key ${key}${hint}`;
}

function defaultsOf(node: SchemaNode): Mutable {
  const out: Mutable = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = isLeaf(v) ? structuredClone(v.value) : defaultsOf(v);
  }
  return out;
}

function applyTree(
  schema: ConfigSchema,
  target: Mutable,
  node: SchemaNode,
  tree: unknown,
  prefix: string,
  source: string,
): void {
  if (typeof tree !== "object" || tree === null || Array.isArray(tree)) {
    throw new ConfigError(
      `${source}: ${prefix || "the config"} is a group of keys and needs a mapping, got ${
        Array.isArray(tree) ? "a list" : JSON.stringify(toPlain(tree))
      }`,
    );
  }
  for (const [key, raw] of Object.entries(tree)) {
    const full = prefix ? `${prefix}.${key}` : key;
    const decl = Object.hasOwn(node, key) ? node[key] : undefined;
    if (decl === undefined) throw new ConfigError(unknownKeyMessage(schema, full, source));
    if (isLeaf(decl)) {
      target[key] = coerceValue(raw, decl, full, source);
    } else {
      applyTree(schema, target[key] as Mutable, decl, raw, full, source);
    }
  }
}

function setLeaf(schema: ConfigSchema, target: Mutable, key: string, text: string, source: string): void {
  const decl = schema.node(key);
  if (decl === undefined) throw new ConfigError(unknownKeyMessage(schema, key, source));
  if (!isLeaf(decl)) {
    throw new ConfigError(`${source}: ${key} is a group of keys; override one of its keys (${key}.<KEY>)`);
  }
  const parts = key.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] as Mutable;
  node[parts[parts.length - 1]] = coerceValue(
    parseOverrideValue(text, decl as ConfigLeaf),
    decl,
    key,
    source,
  );
}

/** Freezes a value and everything inside it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The defaults of `schema`, with each layer merged over them in order, then the command-line
 * `overrides` (`KEY VALUE` pairs, flat), checked and deeply frozen.
 */
export function mergeConfig(
  schema: ConfigSchema,
  layers: readonly ConfigLayer[] = [],
  overrides: readonly string[] = [],
  overridesSource = "command line",
): Config {
  const cfg = defaultsOf(schema.root);
  for (const layer of layers) applyTree(schema, cfg, schema.root, layer.tree, "", layer.source);
  for (const [key, text] of overridePairs(overrides)) setLeaf(schema, cfg, key, text, overridesSource);
  return deepFreeze(cfg) as Config;
}
