/**
 * Turning raw values (parsed YAML, yacs-style Python literals, command-line text) into typed config
 * values, and rejecting the ones that do not fit their declared {@link LeafType}.
 *
 * Raw integers are `bigint` (see `parseYaml`), raw floats `number`: that is how `5` and `5.0` stay
 * apart. A string where a non-string is declared is read as a Python literal, as yacs does, so
 * `(40000, 50000)`, `("mevis_test",)`, `()`, `True` and `None` work in YAML files and on the command line.
 *
 * @example
 * ```ts
 * import { coerceValue, parsePythonLiteral } from "./values.ts";
 * import { ints } from "./schema.ts";
 * parsePythonLiteral("(40000, 50000)"); // [40000n, 50000n]
 * coerceValue("(40000, 50000)", ints([]), "SOLVER.STEPS", "command line"); // [40000, 50000]
 * ```
 * @module
 */
import { ConfigError } from "./error.ts";
import type { ConfigLeaf, LeafType } from "./schema.ts";
import { parseYaml } from "./yaml.ts";

/** A typed config value: what a frozen config holds. */
export type ConfigValue = null | boolean | number | string | readonly ConfigValue[] | ConfigNode;

/** A group of config keys. */
export interface ConfigNode {
  readonly [key: string]: ConfigValue;
}

const NO_LITERAL = Symbol("not a python literal");

/**
 * Parses a Python literal of the kinds yacs configs use: tuples and lists (nested), strings in single or
 * double quotes, ints (as `bigint`), floats, `True`, `False`, `None`. Returns undefined when `text` is
 * not such a literal.
 *
 * @example
 * ```ts
 * import { parsePythonLiteral } from "./values.ts";
 * parsePythonLiteral('("mevis_test",)'); // ["mevis_test"]
 * parsePythonLiteral("()"); // []
 * parsePythonLiteral("mevis"); // undefined
 * ```
 */
export function parsePythonLiteral(text: string): unknown {
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const value = (): unknown => {
    skip();
    const c = text[i];
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]";
      i++;
      const items: unknown[] = [];
      skip();
      while (text[i] !== close) {
        const item = value();
        if (item === NO_LITERAL) return NO_LITERAL;
        items.push(item);
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== close) return NO_LITERAL;
        skip();
        if (i >= text.length) return NO_LITERAL;
      }
      i++;
      // "(x)" without a comma is just x in Python.
      const bare = c === "(" && items.length === 1 && !/,\s*\)$/.test(text.slice(0, i));
      return bare ? items[0] : items;
    }
    if (c === "'" || c === '"') {
      let out = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) {
          const e = text[++i];
          out += e === "n" ? "\n" : e === "t" ? "\t" : e;
        } else out += text[i];
        i++;
      }
      if (text[i] !== c) return NO_LITERAL;
      i++;
      return out;
    }
    const m = /^(True|False|None|[-+]?(?:\d[\d_]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf))/.exec(
      text.slice(i),
    );
    if (!m) return NO_LITERAL;
    i += m[0].length;
    const word = m[0];
    if (word === "True") return true;
    if (word === "False") return false;
    if (word === "None") return null;
    const plain = word.replaceAll("_", "");
    if (/^[-+]?\d+$/.test(plain)) return BigInt(plain);
    return Number(plain.replace("inf", "Infinity"));
  };
  const out = value();
  skip();
  return out === NO_LITERAL || i !== text.length ? undefined : out;
}

const DESCRIPTIONS: Record<LeafType, string> = {
  "int": "an int",
  "float": "a float",
  "bool": "a bool (true/false)",
  "str": "a string",
  "int[]": "a list of ints",
  "float[]": "a list of floats",
  "bool[]": "a list of bools",
  "str[]": "a list of strings",
  "int[][]": "a list of lists of ints",
  "float[][]": "a list of lists of floats",
  "any": "any value",
};

/** How a raw value reads in an error message. */
export function showRaw(raw: unknown): string {
  if (typeof raw === "bigint") return `${raw} (int)`;
  if (typeof raw === "number") return `${Number.isInteger(raw) ? raw.toFixed(1) : raw} (float)`;
  if (typeof raw === "string") return `${JSON.stringify(raw)} (string)`;
  if (raw === null || raw === undefined) return "null";
  if (Array.isArray(raw)) return `[${raw.map(showRaw).join(", ")}]`;
  if (typeof raw === "object") return "a mapping";
  return `${raw} (${typeof raw})`;
}

/** A raw tree with every `bigint` turned into a number (for `any` leaves and plain objects). */
export function toPlain(raw: unknown): ConfigValue {
  if (typeof raw === "bigint") return Number(raw);
  if (Array.isArray(raw)) return raw.map(toPlain);
  if (typeof raw === "object" && raw !== null) {
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, toPlain(v)]));
  }
  return raw as ConfigValue;
}

/**
 * Checks `raw` against `leaf` and returns the typed value; throws a {@link ConfigError} naming `source`
 * (a file or "command line"), the full `key`, what was expected and what was given.
 */
export function coerceValue(raw: unknown, leaf: ConfigLeaf, key: string, source: string): ConfigValue {
  const fail = (detail?: string): never => {
    throw new ConfigError(
      `${source}: ${key} expects ${DESCRIPTIONS[leaf.type]}${leaf.nullable ? " or null" : ""}, got ${
        showRaw(raw)
      }${detail ? ` (${detail})` : ""}`,
    );
  };
  if (raw === null || raw === undefined) return leaf.nullable ? null : fail();
  if (leaf.type === "any") return toPlain(raw);
  if (leaf.type === "str") {
    if (typeof raw !== "string") return fail();
    return checkChoice(raw, leaf, key, source);
  }
  // yacs reads a string in a non-string key as a Python literal: "(1, 2)", "True", "None".
  if (typeof raw === "string") {
    const literal = parsePythonLiteral(raw);
    return literal === undefined ? fail() : coerceValue(literal, leaf, key, source);
  }
  const item = (v: unknown, type: "int" | "float" | "bool"): number | boolean | undefined => {
    if (type === "bool") return typeof v === "boolean" ? v : undefined;
    if (typeof v === "bigint") {
      return Number.isSafeInteger(Number(v)) ? Number(v) : undefined;
    }
    // A number here was written as a float: fine for a float key, not for an int key.
    return type === "float" && typeof v === "number" ? v : undefined;
  };
  switch (leaf.type) {
    case "int":
    case "float":
    case "bool": {
      const v = item(raw, leaf.type);
      return v === undefined ? fail() : v;
    }
    case "int[]":
    case "float[]":
    case "bool[]":
    case "str[]": {
      if (!Array.isArray(raw)) return fail();
      const base = leaf.type.slice(0, -2) as "int" | "float" | "bool" | "str";
      return raw.map((v, i) => {
        if (base === "str") {
          return typeof v === "string"
            ? checkChoice(v, leaf, key, source)
            : fail(`item ${i} is ${showRaw(v)}`);
        }
        const x = item(v, base);
        return x === undefined ? fail(`item ${i} is ${showRaw(v)}`) : x;
      });
    }
    case "int[][]":
    case "float[][]": {
      if (!Array.isArray(raw)) return fail();
      const base = leaf.type.slice(0, -4) as "int" | "float";
      return raw.map((row, i) => {
        if (!Array.isArray(row)) return fail(`item ${i} is ${showRaw(row)}`);
        return row.map((v, j) => {
          const x = item(v, base);
          return x === undefined ? fail(`item [${i}][${j}] is ${showRaw(v)}`) : x;
        });
      });
    }
  }
}

function checkChoice(value: string, leaf: ConfigLeaf, key: string, source: string): string {
  if (leaf.choices && !leaf.choices.includes(value)) {
    throw new ConfigError(
      `${source}: ${key} must be one of ${leaf.choices.map((c) => JSON.stringify(c)).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/**
 * Reads the VALUE of a command-line `KEY VALUE` override for `leaf`: YAML first (`[1, 2]`, `true`,
 * `0.5`), yacs tuples as in Python (`(40000, 50000)`, `("mevis_test",)`, `()`). For a string key the text
 * is taken as written unless it is quoted or `null`, so `OUTPUT_DIR 2024` means the folder "2024".
 */
export function parseOverrideValue(text: string, leaf: ConfigLeaf): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith("(")) {
    const literal = parsePythonLiteral(trimmed);
    if (literal !== undefined) return literal;
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch {
    parsed = text;
  }
  if (leaf.type === "str" || leaf.type === "any") {
    if (parsed === null) return leaf.nullable || leaf.type === "any" ? null : text;
    if (leaf.type === "str" && typeof parsed !== "string") return text;
  }
  return parsed;
}
