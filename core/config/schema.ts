/**
 * Typed config declarations. Core and every plugin declare their keys as a nested object whose leaves
 * come from the constructors below (`int`, `float`, `bool`, `str`, `ints`, `floats`, `strs`, ...), the way
 * detectron2's `add_*_config` functions assign `cfg.A.B = value`, but with a type, so that a YAML file or a
 * command-line override with a wrong type is rejected instead of silently changing meaning.
 *
 * Adding a key is one line in the plugin's `config.ts`:
 *
 * ```ts ignore
 * NEW_KEY: bool(false, "what it switches on"),
 * ```
 *
 * A {@link ConfigSchema} collects the declarations of core and the loaded plugins; {@link ConfigOf} turns a
 * declaration object into the static type of the config it produces.
 *
 * @example
 * ```ts
 * import { ConfigSchema, float, int, strs } from "./schema.ts";
 * const schema = new ConfigSchema();
 * schema.add({ SOLVER: { MAX_ITER: int(40000), BASE_LR: float(0.001) }, DATASETS: { TEST: strs([]) } }, "core");
 * schema.leaf("SOLVER.BASE_LR")?.type; // "float"
 * ```
 * @module
 */

/** The value types a config leaf can declare. Tuples of yacs become arrays. */
export type LeafType =
  | "int"
  | "float"
  | "bool"
  | "str"
  | "int[]"
  | "float[]"
  | "bool[]"
  | "str[]"
  | "int[][]"
  | "float[][]"
  | "any";

/** Every leaf type, in the order help texts list them. */
export const LEAF_TYPES: readonly LeafType[] = [
  "int",
  "float",
  "bool",
  "str",
  "int[]",
  "float[]",
  "bool[]",
  "str[]",
  "int[][]",
  "float[][]",
  "any",
];

/** Options of a leaf besides its type and default. */
export interface LeafOptions {
  /** One line saying what the key does. */
  doc?: string;
  /** Whether `null` (YAML `null` / `~`, Python `None`) is accepted. Implied by a `null` default. */
  nullable?: boolean;
  /** For `str` and `str[]`: the accepted values. */
  choices?: readonly string[];
}

const LEAF_BRAND = Symbol.for("dshmp.config.leaf");

/**
 * One declared key: its type, default value and documentation. `V` is the static type of its value.
 * Make leaves with {@link int}, {@link float}, {@link bool}, {@link str}, {@link ints}, ... or {@link leaf}.
 */
export class ConfigLeaf<V = unknown> {
  /** Brand checked by {@link isLeaf}, so leaves from two copies of this module still count as leaves. */
  readonly [LEAF_BRAND] = true;
  readonly nullable: boolean;
  readonly doc?: string;
  readonly choices?: readonly string[];

  constructor(readonly type: LeafType, readonly value: V, options: LeafOptions = {}) {
    if (!LEAF_TYPES.includes(type)) {
      throw new TypeError(`unknown config leaf type "${type}"; expected one of ${LEAF_TYPES.join(", ")}`);
    }
    this.nullable = options.nullable ?? value === null;
    if (options.doc !== undefined) this.doc = options.doc;
    if (options.choices !== undefined) this.choices = Object.freeze([...options.choices]);
  }
}

/** A nested declaration: keys map to leaves or to further groups. */
export interface SchemaNode {
  readonly [key: string]: ConfigLeaf | SchemaNode;
}

/** Whether `x` is a declared leaf (rather than a group of keys). */
export function isLeaf(x: unknown): x is ConfigLeaf {
  return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[LEAF_BRAND] === true;
}

type Opts = string | LeafOptions;
type NullOpts = string | (LeafOptions & { nullable?: false });

function options(o: Opts | undefined): LeafOptions {
  return typeof o === "string" ? { doc: o } : o ?? {};
}

/**
 * A leaf of any type.
 *
 * @example
 * ```ts
 * import { leaf } from "./schema.ts";
 * const sizes = leaf("int[][]", [[32, 64]], "anchor sizes per level");
 * ```
 */
export function leaf<V>(type: LeafType, value: V, opts?: Opts): ConfigLeaf<V> {
  return new ConfigLeaf(type, value, options(opts));
}

/** An integer key; a float is rejected. `opts` is a doc string or {@link LeafOptions}. */
export function int(value: number, opts?: NullOpts): ConfigLeaf<number>;
export function int(value: number | null, opts?: Opts): ConfigLeaf<number | null>;
export function int(value: number | null, opts?: Opts): ConfigLeaf<number | null> {
  return leaf("int", value, opts);
}

/** A float key; an int is accepted (as detectron2 does). */
export function float(value: number, opts?: NullOpts): ConfigLeaf<number>;
export function float(value: number | null, opts?: Opts): ConfigLeaf<number | null>;
export function float(value: number | null, opts?: Opts): ConfigLeaf<number | null> {
  return leaf("float", value, opts);
}

/** A boolean key. */
export function bool(value: boolean, opts?: NullOpts): ConfigLeaf<boolean>;
export function bool(value: boolean | null, opts?: Opts): ConfigLeaf<boolean | null>;
export function bool(value: boolean | null, opts?: Opts): ConfigLeaf<boolean | null> {
  return leaf("bool", value, opts);
}

/** A string key. */
export function str(value: string, opts?: NullOpts): ConfigLeaf<string>;
export function str(value: string | null, opts?: Opts): ConfigLeaf<string | null>;
export function str(value: string | null, opts?: Opts): ConfigLeaf<string | null> {
  return leaf("str", value, opts);
}

/** A list (or yacs tuple) of ints. */
export function ints(value: readonly number[], opts?: Opts): ConfigLeaf<readonly number[]> {
  return leaf("int[]", value, opts);
}

/** A list (or yacs tuple) of floats; ints are accepted. */
export function floats(value: readonly number[], opts?: Opts): ConfigLeaf<readonly number[]> {
  return leaf("float[]", value, opts);
}

/** A list of booleans. */
export function bools(value: readonly boolean[], opts?: Opts): ConfigLeaf<readonly boolean[]> {
  return leaf("bool[]", value, opts);
}

/** A list (or yacs tuple) of strings. */
export function strs(value: readonly string[], opts?: Opts): ConfigLeaf<readonly string[]> {
  return leaf("str[]", value, opts);
}

/** A key that takes any YAML value (no type check). Prefer a typed leaf. */
export function anyValue(value: unknown, opts?: Opts): ConfigLeaf<unknown> {
  return leaf("any", value, opts);
}

/** The static type of the config a declaration object produces (deeply readonly). */
export type ConfigOf<S> = {
  readonly [K in keyof S]: S[K] extends ConfigLeaf<infer V> ? V : ConfigOf<S[K]>;
};

/** Raised for a conflicting declaration (same key declared with two types, or as leaf and group). */
export class SchemaError extends Error {
  override name = "SchemaError";
}

type MutableNode = { [key: string]: ConfigLeaf | MutableNode };

/**
 * The declarations of core and the loaded plugins, merged. Declaring a key again with the same type
 * replaces its default (detectron2's `add_*_config` functions do that, e.g. `SINGLE_CATEGORY_MAX_AREA`);
 * declaring it with another type, or a group where a key is, is an error naming both owners.
 */
export class ConfigSchema {
  readonly #root: MutableNode = {};
  readonly #owners = new Map<string, string>();

  /** Merges `defaults` (declared by `owner`, a plugin name or "core") into the schema. */
  add(defaults: SchemaNode, owner: string): this {
    this.#merge(this.#root, defaults, "", owner);
    return this;
  }

  #merge(into: MutableNode, from: SchemaNode, prefix: string, owner: string): void {
    if (typeof from !== "object" || from === null || Array.isArray(from)) {
      throw new SchemaError(`${owner}: config defaults at "${prefix || "<root>"}" must be an object of keys`);
    }
    for (const [key, decl] of Object.entries(from)) {
      const full = prefix ? `${prefix}.${key}` : key;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw new SchemaError(`${owner}: config key "${full}" is not a valid name (letters, digits, _)`);
      }
      const existing = into[key];
      const prior = this.#owners.get(full) ?? "core";
      if (isLeaf(decl)) {
        if (existing !== undefined && !isLeaf(existing)) {
          throw new SchemaError(
            `${owner}: declares key ${full}, but ${prior} declares ${full} as a group of keys`,
          );
        }
        if (existing !== undefined && existing.type !== decl.type) {
          throw new SchemaError(
            `${owner}: declares ${full} as ${decl.type}, but ${prior} declares it as ${existing.type}`,
          );
        }
        into[key] = decl;
        this.#owners.set(full, owner);
      } else {
        if (existing !== undefined && isLeaf(existing)) {
          throw new SchemaError(
            `${owner}: declares ${full} as a group of keys, but ${prior} declares it as a key`,
          );
        }
        if (existing === undefined) this.#owners.set(full, owner);
        const node = (existing ?? (into[key] = {})) as MutableNode;
        this.#merge(node, decl as SchemaNode, full, owner);
      }
    }
  }

  /** The root of the merged declarations (read it, do not change it). */
  get root(): SchemaNode {
    return this.#root;
  }

  /** The leaf declared at a dotted key, or undefined. */
  leaf(key: string): ConfigLeaf | undefined {
    const node = this.node(key);
    return isLeaf(node) ? node : undefined;
  }

  /** The leaf or group at a dotted key, or undefined. */
  node(key: string): ConfigLeaf | SchemaNode | undefined {
    let node: ConfigLeaf | SchemaNode | undefined = this.#root;
    for (const part of key.split(".")) {
      if (node === undefined || isLeaf(node) || !Object.hasOwn(node, part)) return undefined;
      node = (node as SchemaNode)[part];
    }
    return node;
  }

  /** Who declared (last re-declared) a dotted key. */
  ownerOf(key: string): string | undefined {
    return this.#owners.get(key);
  }

  /** Every declared leaf as [dotted key, leaf], in declaration order. */
  leaves(): [string, ConfigLeaf][] {
    const out: [string, ConfigLeaf][] = [];
    const walk = (node: SchemaNode, prefix: string) => {
      for (const [k, v] of Object.entries(node)) {
        const full = prefix ? `${prefix}.${k}` : k;
        if (isLeaf(v)) out.push([full, v]);
        else walk(v, full);
      }
    };
    walk(this.#root, "");
    return out;
  }
}
