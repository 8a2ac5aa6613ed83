/**
 * The one module that talks to the YAML library. Everything else calls {@link parseYaml} and
 * {@link stringifyYaml}. It wraps `npm:yaml` because JSR is unreachable from our build machines; moving to
 * `jsr:@std/yaml` is a one-line change of the import below (plus the `intAsBigInt` note: `@std/yaml`
 * would need a small int/float-preserving schema instead).
 *
 * @example
 * ```ts
 * import { parseYaml, stringifyYaml } from "./yaml.ts";
 * parseYaml("A: [1, 2.5]"); // { A: [1n, 2.5] }: ints as bigint so int and float stay distinct
 * stringifyYaml({ A: [1, 2.5] }); // "A:\n  - 1\n  - 2.5\n"
 * ```
 * @module
 */
import YAML from "yaml";

/**
 * Parses YAML 1.2 text. Integers come back as `bigint` and floats as `number`, so that `5` and `5.0`
 * can be told apart (detectron2 rejects a float where an int is declared).
 */
export function parseYaml(text: string): unknown {
  return YAML.parse(text, { intAsBigInt: true });
}

/** YAML text of a plain value (no anchors, keys in insertion order). */
export function stringifyYaml(value: unknown): string {
  return YAML.stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}
